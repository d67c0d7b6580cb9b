"""SQL for API clients of the HTTPS door and their bearer tokens."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

_COLUMNS = "id, name, client_id, scopes, created_at, rotated_at"


def _client(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else {**dict(row), "scopes": json.loads(row["scopes"])}


def insert_client(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO api_clients (id, name, client_id, secret_hash, scopes, created_at)"
        " VALUES (:id, :name, :client_id, :secret_hash, :scopes, :created_at)",
        {**row, "scopes": json.dumps(row["scopes"])},
    )


def list_clients(conn: sqlite3.Connection, after: str, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_clients WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
    return [_client(row) for row in rows]


def get_client(conn: sqlite3.Connection, row_id: str) -> dict[str, Any] | None:
    return _client(conn.execute(f"SELECT {_COLUMNS} FROM api_clients WHERE id = ?", (row_id,)).fetchone())


def client_secret_hash(conn: sqlite3.Connection, client_id: str) -> tuple[dict[str, Any], str] | None:
    """The client known by ``client_id`` (the OAuth2 identifier) and its secret's hash."""
    row = conn.execute(f"SELECT {_COLUMNS}, secret_hash FROM api_clients WHERE client_id = ?", (client_id,)).fetchone()
    return None if row is None else (_client(row), row["secret_hash"])


def rotate_secret(conn: sqlite3.Connection, row_id: str, secret_hash: str, at: str) -> dict[str, Any] | None:
    """Replace the secret and revoke every token issued under the old one."""
    if conn.execute("UPDATE api_clients SET secret_hash = ?, rotated_at = ? WHERE id = ?",
                    (secret_hash, at, row_id)).rowcount != 1:
        return None
    conn.execute("DELETE FROM api_tokens WHERE client = ?", (row_id,))
    return get_client(conn, row_id)


def delete_client(conn: sqlite3.Connection, row_id: str) -> bool:
    """Remove the client; its tokens go with it (ON DELETE CASCADE)."""
    return conn.execute("DELETE FROM api_clients WHERE id = ?", (row_id,)).rowcount == 1


def insert_token(conn: sqlite3.Connection, token_hash: bytes, client: str, scopes: list[str], expires_at: str,
                 now: str) -> None:
    # Expired tokens go as new ones come: the table holds about one lifetime's worth.
    conn.execute("DELETE FROM api_tokens WHERE expires_at <= ?", (now,))
    conn.execute("INSERT INTO api_tokens (token_hash, client, scopes, expires_at) VALUES (?, ?, ?, ?)",
                 (token_hash, client, json.dumps(scopes), expires_at))


def token_grant(conn: sqlite3.Connection, token_hash: bytes, now: str) -> tuple[str, list[str]] | None:
    """(client_id, scopes) of an unexpired token."""
    row = conn.execute(
        "SELECT c.client_id, t.scopes FROM api_tokens t JOIN api_clients c ON c.id = t.client"
        " WHERE t.token_hash = ? AND t.expires_at > ?",
        (token_hash, now),
    ).fetchone()
    return None if row is None else (row[0], json.loads(row[1]))
