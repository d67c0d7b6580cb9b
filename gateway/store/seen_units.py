"""SQL for units seen on a listener while in no vehicle (gateway/strangers.py decides
what they may cost). Each function runs inside the caller's transaction.

Rows go in and out as one JSON array (SQLite's json_each, PostgreSQL's
jsonb_array_elements): one statement per flush, however many units it holds (the writer
thread pays for every GIL hand-back per statement).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

COLUMNS = ("brand", "unit_id", "first_seen_at", "last_seen_at", "remote_address", "seen_count", "announced_at")
_SELECT = ", ".join(COLUMNS)
_FROM_JSON = ", ".join(f"json_extract(value, '$[{n}]')" for n in range(len(COLUMNS)))
_FROM_JSONB = ", ".join(f"(value ->> {n})::bigint" if column == "seen_count" else f"value ->> {n}"
                        for n, column in enumerate(COLUMNS))
_UPDATE_ALL = ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[2:])


def get_many(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    elements = ("SELECT value ->> 0, value ->> 1 FROM jsonb_array_elements(?::jsonb)" if conn.dialect.postgresql
                else "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)")
    rows = conn.execute(f"SELECT {_SELECT} FROM seen_units WHERE (brand, unit_id) IN ({elements})",
                        (json.dumps(keys),))
    return {(row["brand"], row["unit_id"]): dict(row) for row in rows}


def put_many(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert each row, or replace the stored row of its (brand, unit_id)."""
    values = json.dumps([[row[column] for column in COLUMNS] for row in rows])
    if conn.dialect.postgresql:
        conn.execute(f"INSERT INTO seen_units ({_SELECT}) SELECT {_FROM_JSONB} FROM jsonb_array_elements(?::jsonb)"
                     f" ON CONFLICT (brand, unit_id) DO UPDATE SET {_UPDATE_ALL}", (values,))
    else:
        conn.execute(f"INSERT OR REPLACE INTO seen_units ({_SELECT}) SELECT {_FROM_JSON} FROM json_each(?)", (values,))


def evict_beyond(conn: sqlite3.Connection, cap: int) -> list[dict[str, Any]]:
    """Delete the rows seen longest ago until at most ``cap`` remain; return them."""
    excess = conn.execute("SELECT count(*) FROM seen_units").fetchone()[0] - cap
    if excess <= 0:
        return []
    rows = conn.execute(
        "DELETE FROM seen_units WHERE (brand, unit_id) IN"
        " (SELECT brand, unit_id FROM seen_units ORDER BY last_seen_at LIMIT ?)"
        f" RETURNING {_SELECT}", (excess,))
    return [dict(row) for row in rows]


def available(conn: sqlite3.Connection, brand: str, after: str, limit: int) -> list[dict[str, Any]]:
    """Units of ``brand`` seen and in no vehicle, by unit id: an order that holds while
    the same units are seen again, so pages neither skip nor repeat one."""
    rows = conn.execute(
        "SELECT s.unit_id AS id, s.brand, s.first_seen_at, s.last_seen_at, s.remote_address, s.seen_count"
        " FROM seen_units s WHERE s.brand = ? AND s.unit_id > ?"
        " AND NOT EXISTS (SELECT 1 FROM vehicles v WHERE v.unit_brand = s.brand AND v.unit_id = s.unit_id)"
        " ORDER BY s.unit_id LIMIT ?",
        (brand, after, limit),
    )
    return [dict(row) for row in rows]
