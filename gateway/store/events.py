"""The event log: one row per change, written in the transaction of the change itself.

Readers follow the log by *position*. On SQLite one writer assigns ids in commit order,
so the position is (0, id). On PostgreSQL the nodes of a cluster write at once and their
transactions commit out of id order, so a reader paging by id alone could pass an event
that a slower transaction has yet to commit (DESIGN.md "One node or a cluster"). Each
event there also keeps the id of the transaction that wrote it (``xid``); the position is
(xid, id), and a reader takes only transactions below the oldest one still in flight
(``pg_snapshot_xmin``): every event behind that horizon is committed for good, and every
event that commits later sorts after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

EVENT_TYPES = ("VehicleStateRecorded", "VehicleChanged", "CommandExecuted", "UnitSeen")

Position = tuple[int, int]  # (writing transaction, event id): the log's order
START: Position = (0, 0)

_COLUMNS = "id, type, vehicle_id, brand, unit_id, occurred_at, data"
# PostgreSQL: the transactions every one of which has ended, committed or not.
_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    vehicle_id: str | None
    brand: str | None
    unit_id: str | None
    occurred_at: str
    data: str  # JSON object
    xid: int = 0  # the writing transaction on PostgreSQL; 0 on SQLite

    @property
    def position(self) -> Position:
        return self.xid, self.id

    def to_api(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "type": self.type, "vehicle_id": self.vehicle_id, "brand": self.brand,
            "unit_id": self.unit_id, "occurred_at": self.occurred_at, "data": json.loads(self.data),
        }


class EventWriter:
    """What the writer's connection adds to log events: the events of the open
    transaction, for the live stream once it commits, and their ids.

    SQLite: the single writer counts ids itself in commit order, from the table's
    AUTOINCREMENT high-water mark, and a rolled-back savepoint hands its ids back.
    PostgreSQL: ids come from the table's sequence, a block at a time; one lost to a
    rollback is a gap, which the order by position does not mind.
    """

    pending_events: list[Event]

    def start_events(self) -> None:
        self.pending_events = []
        if not self.dialect.postgresql:
            row = self.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'").fetchone()
            self._next_id = row[0] + 1

    def take_event_id(self) -> int:
        if not self.dialect.postgresql:
            self._next_id += 1
            return self._next_id - 1
        if not getattr(self, "_ids", None):
            self._ids = [row[0] for row in self.execute(
                "SELECT nextval(pg_get_serial_sequence('events', 'id')) FROM generate_series(1, 64)")]
            self._ids.reverse()
        return self._ids.pop()

    def mark(self) -> tuple[int, int]:
        return len(self.pending_events), getattr(self, "_next_id", 0)

    def undo_to(self, mark: tuple[int, int]) -> None:
        del self.pending_events[mark[0]:]
        if not self.dialect.postgresql:
            self._next_id = mark[1]


def new_event(conn: EventWriter, type_: str, vehicle_id: str | None, brand: str | None, unit_id: str | None,
              occurred_at: str, data: dict[str, Any] | str) -> Event:
    """An event for the open transaction; insert it with ``insert_events``."""
    event = Event(conn.take_event_id(), type_, vehicle_id, brand, unit_id, occurred_at,
                  data if isinstance(data, str) else json.dumps(data))
    conn.pending_events.append(event)
    return event


def insert_events(conn: EventWriter, events: list[Event]) -> None:
    if events:
        conn.executemany(
            "INSERT INTO events (id, type, vehicle_id, brand, unit_id, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(e.id, e.type, e.vehicle_id, e.brand, e.unit_id, e.occurred_at, e.data) for e in events],
        )


def log_event(conn: EventWriter, type_: str, vehicle_id: str | None, brand: str | None, unit_id: str | None,
              occurred_at: str, data: dict[str, Any]) -> Event:
    event = new_event(conn, type_, vehicle_id, brand, unit_id, occurred_at, data)
    insert_events(conn, [event])
    return event


def query_events(
    conn, *, after: Position, vehicle_id: str | None, types: list[str] | None,
    occurred_after: str | None, occurred_before: str | None, limit: int,
) -> list[Event]:
    """Events after ``after`` in the log's order, committed for good, with the filters."""
    where, params = [], {"limit": limit}
    if vehicle_id is not None:
        where.append("vehicle_id = :vehicle")
        params["vehicle"] = vehicle_id
    if types:
        where.append("type IN (" + ",".join(f":type{i}" for i in range(len(types))) + ")")
        params.update({f"type{i}": t for i, t in enumerate(types)})
    if occurred_after is not None:
        where.append("occurred_at > :occurred_after")
        params["occurred_after"] = occurred_after
    if occurred_before is not None:
        where.append("occurred_at < :occurred_before")
        params["occurred_before"] = occurred_before
    if conn.dialect.postgresql:
        where += ["(xid, id) > (:after_xid, :after_id)", f"xid < {_HORIZON}"]
        params.update(after_xid=after[0], after_id=after[1])
        sql = f"SELECT {_COLUMNS}, xid FROM events WHERE {' AND '.join(where)} ORDER BY xid, id LIMIT :limit"
    else:
        where.append("id > :after_id")
        params["after_id"] = after[1]
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"
    return [Event(*row) for row in conn.execute(sql, params)]


def last_position(conn) -> Position:
    """Where the log ends now, for a reader that wants only what comes next."""
    if conn.dialect.postgresql:
        row = conn.execute(
            f"SELECT xid, id FROM events WHERE xid < {_HORIZON} ORDER BY xid DESC, id DESC LIMIT 1").fetchone()
        return START if row is None else (row[0], row[1])
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return 0, row[0]


def position_of(conn, event_id: int) -> Position:
    """The position just after event ``event_id``, for a reader resuming after it (SSE's
    Last-Event-ID). An id no longer in the log (pruned) resumes after the newest earlier
    transaction's events."""
    if not conn.dialect.postgresql:
        return 0, event_id
    row = conn.execute("SELECT xid FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None:
        row = conn.execute("SELECT coalesce(max(xid), 0) FROM events WHERE id < ?", (event_id,)).fetchone()
    return row[0], event_id
