"""What SQLite and PostgreSQL spell differently in the store's queries.

Everything else the store writes is the common subset of the two. A query asks its
connection's ``dialect`` for these few fragments instead of testing which database it
runs on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    begin_write: str  # opens a writer transaction
    begin_read: str  # opens a read-only snapshot
    json_text_template: str  # a JSON text column's top-level string member: {column}, {key}
    clock_template: str  # the database's clock now plus {seconds}, as the store writes times (RFC 3339, ms, Z)
    seconds_until_template: str  # seconds from the database's clock now to the stored time in {column}

    @property
    def postgresql(self) -> bool:
        return self.name == "postgresql"

    def clock(self, seconds: float = 0) -> str:
        """SQL for the database's own clock, ``seconds`` ahead, written as the store writes
        times. Leases and command deadlines are read against it, so the nodes of a cluster
        agree on them whatever their own clocks say."""
        return self.clock_template.format(seconds=float(seconds))

    def seconds_until(self, column: str) -> str:
        """SQL for the seconds from the database's clock now to the time stored in ``column``."""
        return self.seconds_until_template.format(column=column)

    def json_text(self, column: str, key: str) -> str:
        """SQL for the string at ``key`` of the JSON object stored as text in ``column``."""
        return self.json_text_template.format(column=column, key=key)


SQLITE = Dialect(
    name="sqlite",
    # IMMEDIATE: take the write lock at BEGIN, so a reader's snapshot never has to be upgraded.
    begin_write="BEGIN IMMEDIATE",
    begin_read="BEGIN",
    json_text_template="json_extract({column}, '$.{key}')",
    clock_template="strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '{seconds:+} seconds')",
    seconds_until_template="((julianday({column}) - julianday('now')) * 86400)",
)

POSTGRESQL = Dialect(
    name="postgresql",
    begin_write="BEGIN",
    # One snapshot for the whole read, as SQLite's deferred BEGIN gives: a list and its
    # count agree, and the event log's horizon is read once.
    begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    json_text_template="({column}::jsonb ->> '{key}')",
    clock_template=("to_char((clock_timestamp() + interval '{seconds} seconds') AT TIME ZONE 'UTC',"
                    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"),
    seconds_until_template="extract(epoch FROM ({column}::timestamptz - clock_timestamp()))::float8",
)


def placeholders(count: int) -> str:
    """``(?, ?, ...)`` for an IN list of ``count`` values (at least one)."""
    return "(" + ",".join("?" * max(count, 1)) + ")"
