"""SQL for records, vehicle state, life status and the command audit."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordRow:
    recorded_at: str
    content_hash: bytes
    state: dict[str, Any]  # properties this record gives
    raw: dict[str, Any]
    updates_state: bool  # False for a device time too far in the future


@dataclass(frozen=True)
class BatchRows:
    vehicle_id: str
    brand: str
    unit_id: str
    received_at: str
    raw_frame: bytes
    records: tuple[RecordRow, ...]


_UPSERT_STATE = (
    "INSERT INTO vehicle_state (vehicle_id, property, value, recorded_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (vehicle_id, property) DO UPDATE SET value = excluded.value, recorded_at = excluded.recorded_at"
    # Buffered records arrive late: an older sample never overwrites a newer value.
    " WHERE excluded.recorded_at >= vehicle_state.recorded_at"
)


def persist_batch(conn: sqlite3.Connection, batch: BatchRows) -> int:
    """Store the frame, its records and the state they imply; return how many records
    were new (resends of stored records are dropped by the unique key)."""
    frame_id = conn.execute(
        "INSERT INTO frames (brand, unit_id, received_at, raw) VALUES (?, ?, ?, ?)",
        (batch.brand, batch.unit_id, batch.received_at, batch.raw_frame),
    ).lastrowid
    new = 0
    for record in batch.records:
        inserted = conn.execute(
            "INSERT OR IGNORE INTO records (vehicle_id, brand, unit_id, recorded_at, received_at, content_hash,"
            " state, raw, frame_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (batch.vehicle_id, batch.brand, batch.unit_id, record.recorded_at, batch.received_at,
             record.content_hash, json.dumps(record.state), json.dumps(record.raw), frame_id),
        ).rowcount
        new += inserted
        if inserted and record.updates_state:
            set_state(conn, batch.vehicle_id, record.state, record.recorded_at)
    return new


def set_state(conn: sqlite3.Connection, vehicle_id: str, state: dict[str, Any], recorded_at: str) -> None:
    conn.executemany(
        _UPSERT_STATE, [(vehicle_id, prop, json.dumps(value), recorded_at) for prop, value in state.items()]
    )


def get_state(conn: sqlite3.Connection, vehicle_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        "SELECT property, value, recorded_at FROM vehicle_state WHERE vehicle_id = ? ORDER BY property",
        (vehicle_id,),
    )
    return {r["property"]: {"timestamp": r["recorded_at"], "value": json.loads(r["value"])} for r in rows}


def delete_state(conn: sqlite3.Connection, vehicle_id: str) -> None:
    conn.execute("DELETE FROM vehicle_state WHERE vehicle_id = ?", (vehicle_id,))


def set_life_status(conn: sqlite3.Connection, vehicle_id: str, value: str, at: str) -> bool:
    """True when the status changed (a vehicle deleted meanwhile changes nothing)."""
    cursor = conn.execute(
        "UPDATE vehicles SET life_status = ?, life_status_modified_at = ? WHERE id = ? AND life_status != ?",
        (value, at, vehicle_id, value),
    )
    return cursor.rowcount == 1


def reset_life_status(conn: sqlite3.Connection, brands: list[str], at: str) -> int:
    """At start no unit of ``brands`` has a session yet, whatever a crash left behind."""
    return conn.execute(
        "UPDATE vehicles SET life_status = 'OFFLINE', life_status_modified_at = ? WHERE life_status = 'ONLINE'"
        " AND unit_brand IN (SELECT value FROM json_each(?))",
        (at, json.dumps(brands)),
    ).rowcount


def list_records(
    conn: sqlite3.Connection, vehicle_id: str, start: str, end: str, after: tuple[str, int], limit: int
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, recorded_at, received_at, state, raw FROM records"
        " WHERE vehicle_id = ? AND recorded_at >= ? AND recorded_at < ? AND (recorded_at, id) > (?, ?)"
        " ORDER BY recorded_at, id LIMIT ?",
        (vehicle_id, start, end, after[0], after[1], limit),
    )
    return [
        {"id": r["id"], "recorded_at": r["recorded_at"], "received_at": r["received_at"],
         "state": json.loads(r["state"]), "raw": json.loads(r["raw"])}
        for r in rows
    ]


def prune_before(conn: sqlite3.Connection, before: str, limit: int) -> int:
    """Delete up to ``limit`` records and frames received before ``before``."""
    deleted = conn.execute(
        "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE received_at < ? LIMIT ?)", (before, limit)
    ).rowcount
    deleted += conn.execute(
        "DELETE FROM frames WHERE id IN (SELECT id FROM frames WHERE received_at < ? LIMIT ?)", (before, limit)
    ).rowcount
    return deleted


def audit_command(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
    return conn.execute(
        "INSERT INTO command_audit (vehicle_id, brand, unit_id, command, requested_at, requested_by)"
        " VALUES (:vehicle_id, :brand, :unit_id, :command, :requested_at, :requested_by)",
        row,
    ).lastrowid


def finish_command(
    conn: sqlite3.Connection, audit_id: int, result: str, detail: str, at: str, vehicle_id: str,
    state: dict[str, Any] | None = None,
) -> None:
    """Close the audit row and, in the same transaction, apply the state the unit's
    answer implies (e.g. driving_enabled after an immobiliser command)."""
    conn.execute(
        "UPDATE command_audit SET finished_at = ?, result = ?, detail = ? WHERE id = ?",
        (at, result, detail, audit_id),
    )
    if state:
        set_state(conn, vehicle_id, state, at)


def command_audit(conn: sqlite3.Connection, vehicle_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM command_audit WHERE vehicle_id = ? ORDER BY id", (vehicle_id,))
    return [dict(r) for r in rows]
