"""SQL for the registry. Each function takes a connection and runs inside the
caller's transaction (a writer batch or a read snapshot)."""

from __future__ import annotations

import sqlite3
from typing import Any

# --- meta ----------------------------------------------------------------------------


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (key, value))


def put_meta_once(conn: sqlite3.Connection, key: str, value: str) -> str:
    """Store ``value`` unless the key exists; return the stored value either way."""
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
    return get_meta(conn, key)


# --- credentials ---------------------------------------------------------------------

_CREDENTIAL_COLUMNS = "id, brand, name, kind, client_id, created_at, modified_at"


def insert_credentials(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO credentials (id, brand, name, kind, client_id, client_secret, created_at, modified_at)"
        " VALUES (:id, :brand, :name, :kind, :client_id, :client_secret, :created_at, :modified_at)",
        row,
    )


def get_credentials(conn: sqlite3.Connection, credentials_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE id = ?", (credentials_id,)).fetchone()
    return None if row is None else dict(row)


def get_credentials_secret(conn: sqlite3.Connection, credentials_id: str) -> tuple[str, bytes] | None:
    """(kind, encrypted secret) of the credentials."""
    row = conn.execute("SELECT kind, client_secret FROM credentials WHERE id = ?", (credentials_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def list_credentials(conn: sqlite3.Connection, brand: str | None, after: str, limit: int) -> list[dict[str, Any]]:
    of_brand = "" if brand is None else "brand = :brand AND "
    rows = conn.execute(
        f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE {of_brand}id > :after ORDER BY id LIMIT :limit",
        {"brand": brand, "after": after, "limit": limit},
    )
    return [dict(r) for r in rows]


def update_credentials(conn: sqlite3.Connection, credentials_id: str, changes: dict[str, Any]) -> bool:
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    cursor = conn.execute(f"UPDATE credentials SET {assignments} WHERE id = :id", {**changes, "id": credentials_id})
    return cursor.rowcount == 1


def credentials_user(conn: sqlite3.Connection, credentials_id: str) -> str | None:
    row = conn.execute("SELECT id FROM vehicles WHERE credentials_id = ? LIMIT 1", (credentials_id,)).fetchone()
    return None if row is None else row[0]


def delete_credentials(conn: sqlite3.Connection, credentials_id: str) -> bool:
    return conn.execute("DELETE FROM credentials WHERE id = ?", (credentials_id,)).rowcount == 1


# --- vehicles ------------------------------------------------------------------------

_VEHICLE_COLUMNS = (
    "id, created_at, master_data, master_data_modified_at, custom_fields, custom_fields_modified_at,"
    " tags, operation_status, operation_status_modified_at, life_status, life_status_modified_at,"
    " model_id, unit_brand, unit_id, attached_at, credentials_id"
)


def insert_vehicle(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{c}" for c in row)
    conn.execute(f"INSERT INTO vehicles ({columns}) VALUES ({values})", row)


def vehicle_id_taken(conn: sqlite3.Connection, vehicle_id: str) -> bool:
    return conn.execute("SELECT 1 FROM vehicles WHERE id = ?", (vehicle_id,)).fetchone() is not None


def vehicle_of_unit(conn: sqlite3.Connection, brand: str, unit_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {_VEHICLE_COLUMNS} FROM vehicles WHERE unit_brand = ? AND unit_id = ?", (brand, unit_id)
    ).fetchone()
    return None if row is None else dict(row)


def get_vehicle(conn: sqlite3.Connection, vehicle_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {_VEHICLE_COLUMNS} FROM vehicles WHERE id = ?", (vehicle_id,)).fetchone()
    return None if row is None else dict(row)


def get_vehicle_password(conn: sqlite3.Connection, vehicle_id: str) -> bytes | None:
    row = conn.execute("SELECT password FROM vehicles WHERE id = ?", (vehicle_id,)).fetchone()
    return None if row is None else row[0]


def list_vehicles(
    conn: sqlite3.Connection, after: tuple[str, str], limit: int, query: str | None
) -> list[dict[str, Any]]:
    # ?q= matches licence plate, VIN, custom name or unit id, case-insensitively.
    params: dict[str, Any] = {"after_at": after[0], "after_id": after[1], "limit": limit}
    matching = ""
    if query is not None:
        params["like"] = f"%{_escape_like(query.lower())}%"
        searched = ["unit_id"] + [conn.dialect.json_text("master_data", key)
                                  for key in ("license_plate", "vin", "custom_name")]
        matching = " AND (" + " OR ".join(
            f"lower(coalesce({column}, '')) LIKE :like ESCAPE '\\'" for column in searched) + ")"
    rows = conn.execute(
        f"SELECT {_VEHICLE_COLUMNS} FROM vehicles WHERE (created_at, id) > (:after_at, :after_id){matching}"
        " ORDER BY created_at, id LIMIT :limit",
        params,
    )
    return [dict(r) for r in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def update_vehicle(conn: sqlite3.Connection, vehicle_id: str, changes: dict[str, Any]) -> bool:
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    cursor = conn.execute(f"UPDATE vehicles SET {assignments} WHERE id = :id", {**changes, "id": vehicle_id})
    return cursor.rowcount == 1


def delete_vehicle(conn: sqlite3.Connection, vehicle_id: str) -> dict[str, Any] | None:
    row = get_vehicle(conn, vehicle_id)
    if row is not None:
        conn.execute("DELETE FROM vehicles WHERE id = ?", (vehicle_id,))
        conn.execute("DELETE FROM vehicle_state WHERE vehicle_id = ?", (vehicle_id,))
    return row


def open_enrolment(conn: sqlite3.Connection, vehicle_id: str, expires_at: str) -> bool:
    return conn.execute("UPDATE vehicles SET enrolment_expires_at = ? WHERE id = ?",
                        (expires_at, vehicle_id)).rowcount == 1


def take_enrolment(conn: sqlite3.Connection, vehicle_id: str, now: str) -> bool:
    """Close the vehicle's enrolment window; True when it was open until after ``now``."""
    return conn.execute(
        "UPDATE vehicles SET enrolment_expires_at = NULL WHERE id = ? AND enrolment_expires_at > ?", (vehicle_id, now)
    ).rowcount == 1


def units_of_brand(conn: sqlite3.Connection, brand: str) -> list[dict[str, Any]]:
    """What a cloud poller needs of each vehicle of ``brand``."""
    rows = conn.execute(
        "SELECT id, unit_id, model_id, credentials_id, life_status FROM vehicles WHERE unit_brand = ?", (brand,))
    return [dict(r) for r in rows]


def count_vehicles(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM vehicles").fetchone()[0]
