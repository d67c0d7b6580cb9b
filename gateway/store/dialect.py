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

    @property
    def postgresql(self) -> bool:
        return self.name == "postgresql"

    def json_text(self, column: str, key: str) -> str:
        """SQL for the string at ``key`` of the JSON object stored as text in ``column``."""
        return self.json_text_template.format(column=column, key=key)


SQLITE = Dialect(
    name="sqlite",
    # IMMEDIATE: take the write lock at BEGIN, so a reader's snapshot never has to be upgraded.
    begin_write="BEGIN IMMEDIATE",
    begin_read="BEGIN",
    json_text_template="json_extract({column}, '$.{key}')",
)

POSTGRESQL = Dialect(
    name="postgresql",
    begin_write="BEGIN",
    # One snapshot for the whole read, as SQLite's deferred BEGIN gives: a list and its
    # count agree, and the event log's horizon is read once.
    begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    json_text_template="({column}::jsonb ->> '{key}')",
)


def placeholders(count: int) -> str:
    """``(?, ?, ...)`` for an IN list of ``count`` values (at least one)."""
    return "(" + ",".join("?" * max(count, 1)) + ")"
