"""The event log: one row per change, written in the transaction of the change itself.

Ids are assigned here, by the single writer, in commit order: the writer connection
remembers the next id, and a rollback hands the ids it used back. A store with several
writers (PostgreSQL, later) could not count this way: it would need a sequence read at
commit time, or a (commit timestamp, id) cursor, so that a reader never passes an id
that a slower transaction has yet to commit.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

EVENT_TYPES = ("VehicleStateRecorded", "VehicleChanged", "CommandExecuted", "UnitSeen")


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    vehicle_id: str | None
    brand: str | None
    unit_id: str | None
    occurred_at: str
    data: str  # JSON object

    def to_api(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "type": self.type, "vehicle_id": self.vehicle_id, "brand": self.brand,
            "unit_id": self.unit_id, "occurred_at": self.occurred_at, "data": json.loads(self.data),
        }


class WriterConnection(sqlite3.Connection):
    """The writer's connection: it also collects the events of the open transaction."""

    pending_events: list[Event]
    next_event_id: int

    def start_events(self) -> None:
        self.pending_events = []
        row = self.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'").fetchone()
        self.next_event_id = row[0] + 1

    def mark(self) -> tuple[int, int]:
        return len(self.pending_events), self.next_event_id

    def undo_to(self, mark: tuple[int, int]) -> None:
        del self.pending_events[mark[0]:]
        self.next_event_id = mark[1]


def new_event(conn: WriterConnection, type_: str, vehicle_id: str | None, brand: str | None, unit_id: str | None,
              occurred_at: str, data: dict[str, Any] | str) -> Event:
    """An event for the open transaction; insert it with ``insert_events``."""
    event = Event(conn.next_event_id, type_, vehicle_id, brand, unit_id, occurred_at,
                  data if isinstance(data, str) else json.dumps(data))
    conn.next_event_id += 1
    conn.pending_events.append(event)
    return event


def insert_events(conn: WriterConnection, events: list[Event]) -> None:
    if events:
        conn.executemany(
            "INSERT INTO events (id, type, vehicle_id, brand, unit_id, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(e.id, e.type, e.vehicle_id, e.brand, e.unit_id, e.occurred_at, e.data) for e in events],
        )


def log_event(conn: WriterConnection, type_: str, vehicle_id: str | None, brand: str | None, unit_id: str | None,
              occurred_at: str, data: dict[str, Any]) -> Event:
    event = new_event(conn, type_, vehicle_id, brand, unit_id, occurred_at, data)
    insert_events(conn, [event])
    return event


def query_events(
    conn: sqlite3.Connection, *, after: int, vehicle_id: str | None, types: list[str] | None,
    occurred_after: str | None, occurred_before: str | None, limit: int,
) -> list[Event]:
    rows = conn.execute(
        "SELECT id, type, vehicle_id, brand, unit_id, occurred_at, data FROM events"
        " WHERE id > :after AND (:vehicle IS NULL OR vehicle_id = :vehicle)"
        " AND (:types IS NULL OR type IN (SELECT value FROM json_each(:types)))"
        " AND (:occurred_after IS NULL OR occurred_at > :occurred_after)"
        " AND (:occurred_before IS NULL OR occurred_at < :occurred_before)"
        " ORDER BY id LIMIT :limit",
        {"after": after, "vehicle": vehicle_id, "types": None if types is None else json.dumps(types),
         "occurred_after": occurred_after, "occurred_before": occurred_before, "limit": limit},
    )
    return [Event(*row) for row in rows]


def last_event_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return row[0]

