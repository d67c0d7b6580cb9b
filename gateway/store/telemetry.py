"""SQL for records, vehicle state, life status and the command audit."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from gateway.store.events import EventWriter, log_event, new_event


# NamedTuples, not frozen dataclasses: one of each is built per packet, and a frozen
# dataclass's __init__ sets every field through object.__setattr__.
class RecordRow(NamedTuple):
    recorded_at: str
    duplicate_key: bytes  # hash of brand, unit id, device time and content
    state: str  # JSON object: the properties this record gives
    raw: str  # JSON: protocol fields and position


class BatchRows(NamedTuple):
    vehicle_id: str
    brand: str
    unit_id: str
    received_at: str
    raw_frame: bytes
    records: tuple[RecordRow, ...]
    # The newest value of each property among the records, as (recorded_at, JSON value):
    # one upsert per property per batch, not one per record.
    state: dict[str, tuple[str, str]]


_STATE_CONFLICT = (
    " ON CONFLICT (vehicle_id, property) DO UPDATE SET value = excluded.value, recorded_at = excluded.recorded_at"
    # Buffered records arrive late: an older sample never overwrites a newer value.
    " WHERE excluded.recorded_at >= vehicle_state.recorded_at"
)
_UPSERT_STATE = "INSERT INTO vehicle_state (vehicle_id, property, value, recorded_at) VALUES (?, ?, ?, ?)" + _STATE_CONFLICT


def persist_batches(conn: EventWriter, batches: list[BatchRows]) -> int:
    """Store many units' records, frames, state and VehicleStateRecorded events (for
    records that gave state) in a few multi-row statements; return how many records were
    new (resends of stored records are dropped by their duplicate key).

    A vehicle deleted while its unit was still streaming gets no state and no event after
    its deletion: its session's last packets are kept as records only.

    One statement per table, not per row: the sqlite3 module releases the GIL around
    every statement, and a writer thread that must win the GIL back from the busy event
    loop thousands of times per batch spends most of its time waiting for it.
    """
    stored = _found(conn, "SELECT duplicate_key FROM records WHERE duplicate_key",
                    [record.duplicate_key for batch in batches for record in batch.records])
    vehicles = _found(conn, "SELECT id FROM vehicles WHERE id", list({batch.vehicle_id for batch in batches}))
    records, events = [], []
    # One row per vehicle and property, the newest, in key order: PostgreSQL refuses to
    # update a row twice in one statement, and rows locked in one order cannot deadlock
    # two nodes' writers.
    states: dict[tuple[str, str], tuple[str, str]] = {}
    for batch in batches:
        fresh = [record for record in batch.records if record.duplicate_key not in stored]
        if not fresh:
            continue  # a resend: stored, state applied and event logged the first time
        frame = batch.raw_frame
        for record in fresh:
            records.append((batch.vehicle_id, batch.brand, batch.unit_id, record.recorded_at, batch.received_at,
                            record.duplicate_key, record.state, record.raw, frame))
            frame = None
        if not batch.state or batch.vehicle_id not in vehicles:
            # nothing a subscriber could read (a frame kept raw, a record without a fix),
            # or the vehicle was deleted while its unit streamed
            continue
        for prop, (at, value) in batch.state.items():
            newest = states.get((batch.vehicle_id, prop))
            if newest is None or newest[0] <= at:
                states[(batch.vehicle_id, prop)] = (at, value)
        data = ",".join(f'"{prop}":{{"timestamp":"{at}","value":{value}}}' for prop, (at, value) in batch.state.items())
        events.append(new_event(conn, "VehicleStateRecorded", batch.vehicle_id, batch.brand, batch.unit_id,
                                batch.received_at, "{" + data + "}"))
    # DO NOTHING still: one batch may carry the same record twice (a unit resending before its ACK).
    new = _insert_rows(conn, "INSERT INTO records (vehicle_id, brand, unit_id, recorded_at, received_at,"
                             " duplicate_key, state, raw, frame)", records, " ON CONFLICT (duplicate_key) DO NOTHING")
    _insert_rows(conn, "INSERT INTO vehicle_state (vehicle_id, property, value, recorded_at)",
                 [(vehicle, prop, value, at) for (vehicle, prop), (at, value) in sorted(states.items())],
                 _STATE_CONFLICT)
    _insert_rows(conn, "INSERT INTO events (id, type, vehicle_id, brand, unit_id, occurred_at, data)",
                 [(e.id, e.type, e.vehicle_id, e.brand, e.unit_id, e.occurred_at, e.data) for e in events])
    return new


def _found(conn: sqlite3.Connection, select: str, values: list) -> set:
    """Which of ``values`` ``select`` (a query of one indexed column, ending in that
    column's name) finds: a few look-up statements, and only the values found come back
    as rows (for duplicate keys: only the rare resends)."""
    found = set()
    for chunk in _statement_chunks(values, 1024):
        found.update(row[0] for row in conn.execute(f"{select} IN ({','.join('?' * len(chunk))})", chunk))
    return found


def _insert_rows(conn: sqlite3.Connection, head: str, rows: list[tuple], tail: str = "") -> int:
    """Insert ``rows`` in a few multi-row statements; return how many rows they changed."""
    if not rows:
        return 0
    width, changed = len(rows[0]), 0
    for chunk in _statement_chunks(rows, 256):
        placeholders = ",".join(["(" + ",".join("?" * width) + ")"] * len(chunk))
        changed += conn.execute(f"{head} VALUES {placeholders}{tail}", [value for row in chunk for value in row]).rowcount
    return changed


def _statement_chunks(items: list, largest: int) -> list[list]:
    """``items`` cut into pieces of ``largest`` and then of halving powers of two.

    Each piece size is its own SQL text, and the sqlite3 module keeps a prepared
    statement per text (128 of them): a statement per batch size kept hundreds of MB of
    large statements alive after a burst. Now each statement has a dozen texts at most.
    (``largest`` rows stay under SQLITE_MAX_VARIABLE_NUMBER, 32,766, at every width used.)
    """
    chunks, start, size = [], 0, largest
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        chunks.append(items[start:start + size])
        start += size
    return chunks


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


def set_life_status(conn: EventWriter, vehicle_id: str, value: str, at: str) -> bool:
    """True when the status changed (a vehicle deleted meanwhile changes nothing)."""
    row = conn.execute(
        "UPDATE vehicles SET life_status = ?, life_status_modified_at = ? WHERE id = ? AND life_status != ?"
        " RETURNING unit_brand, unit_id",
        (value, at, vehicle_id, value),
    ).fetchone()
    if row is None:
        return False
    log_event(conn, "VehicleChanged", vehicle_id, row[0], row[1], at,
              {"reasons": ["LIFE_STATUS_CHANGED"], "life_status": value})
    return True


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


def prune_before(conn: sqlite3.Connection, table: str, column: str, before: str, limit: int) -> int:
    """Delete up to ``limit`` rows of ``table`` (records or events) logged before ``before``."""
    cut = first_id_at_or_after(conn, table, column, before)
    return conn.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE id < ? ORDER BY id LIMIT ?)", (cut, limit)
    ).rowcount


def first_id_at_or_after(conn: sqlite3.Connection, table: str, column: str, moment: str) -> int:
    """Binary search by rowid: ids grow with the time the gateway logged a row (one writer,
    a clock that moves forward), so no index on that time is needed to cut by it."""
    low, high = conn.execute(f"SELECT coalesce(min(id), 0), coalesce(max(id), 0) + 1 FROM {table}").fetchone()
    while low < high:
        middle = (low + high) // 2
        row = conn.execute(f"SELECT id, {column} FROM {table} WHERE id >= ? ORDER BY id LIMIT 1", (middle,)).fetchone()
        if row is None or row[1] >= moment:
            high = middle
        else:
            low = row[0] + 1
    return low


def audit_command(conn: sqlite3.Connection, row: dict[str, Any], timeout: float) -> int:
    """The audit row of a command about to be sent (by ``row["node_id"]``), due within
    ``timeout`` seconds of the database's clock. A second unfinished row for the same
    vehicle breaks the unique index command_in_flight: the store's IntegrityError."""
    return conn.execute(
        "INSERT INTO command_audit (vehicle_id, brand, unit_id, command, requested_at, requested_by,"
        " requested_by_client, node_id, deadline)"
        " VALUES (:vehicle_id, :brand, :unit_id, :command, :requested_at, :requested_by, :requested_by_client,"
        f" :node_id, {conn.dialect.clock(timeout)}) RETURNING id",
        row,
    ).fetchone()[0]


def finish_command(
    conn: EventWriter, audit_id: int, result: str, detail: str, at: str, vehicle_id: str,
    state: dict[str, Any] | None = None, duration_ms: int | None = None,
) -> bool:
    """Close the audit row and, in the same transaction, apply the state the unit's
    answer implies (e.g. driving_enabled after an immobiliser command) and log it. A
    vehicle deleted while its command ran keeps only the audit row. A row is closed once:
    False when another node (or a timeout) closed it first."""
    row = conn.execute(
        "UPDATE command_audit SET finished_at = ?, result = ?, detail = ? WHERE id = ? AND finished_at IS NULL"
        " RETURNING brand, unit_id, command",
        (at, result, detail, audit_id),
    ).fetchone()
    if row is None:
        return False
    if conn.execute("SELECT 1 FROM vehicles WHERE id = ?", (vehicle_id,)).fetchone() is None:
        return True
    if state:
        set_state(conn, vehicle_id, state, at)
    log_event(conn, "CommandExecuted", vehicle_id, row[0], row[1], at,
              {"command": row[2], "result": result, "duration_ms": duration_ms, "detail": detail})
    return True


def command_audit(conn: sqlite3.Connection, vehicle_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM command_audit WHERE vehicle_id = ? ORDER BY id", (vehicle_id,))
    return [dict(r) for r in rows]
