"""SQLite, the embedded store of one node: its connections, pragmas and WAL checkpoints.

The Store (database.py) drives an engine; this one opens one file in the data dir. What
is SQLite's own lives here: WAL mode, synchronous=FULL, 1 KiB pages, checkpoints run
beside the writer, and which of its errors mean the disk failed (faults.py).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import suppress
from pathlib import Path

import trio

from gateway.store.dialect import SQLITE
from gateway.store.events import EventWriter
from gateway.store.faults import check_free_space, is_fault
from gateway.store.schema import MINIMUM_SQLITE, migrate

PAGE_SIZE = 1024  # bytes, for new databases: see SqliteEngine._connect
TRUNCATE_AT_PAGES = 1_000  # an idle WAL larger than this is truncated (SQLite's default size)

# macOS has no fdatasync; fsync does the same and more.
_datasync = getattr(os, "fdatasync", os.fsync)


class ReaderConnection(sqlite3.Connection):
    dialect = SQLITE


class WriterConnection(EventWriter, sqlite3.Connection):
    """The writer's connection: it also collects the events of the open transaction."""

    dialect = SQLITE


class SqliteEngine:
    dialect = SQLITE
    # Ingest jobs persisted between two looks for a waiting write() (Store._persist_ingest).
    # Under load a chunk of 64 took 7 ms at the median, and a command's writes waited for
    # one each; 16 take 1 ms, and the smaller statements did not lower the rate the gateway
    # takes (README "Commands and reads beside ingest").
    ingest_chunk = 16
    local_reads = True  # a read is of a file on this machine: Store.lookup runs it in the event loop
    Error = sqlite3.Error
    IntegrityError = sqlite3.IntegrityError
    is_fault = staticmethod(is_fault)

    def __init__(self, path: Path, *, synchronous: str = "FULL", busy_timeout: float = 5.0) -> None:
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old; fleetgate needs "
                               f"{'.'.join(map(str, MINIMUM_SQLITE))} or newer")
        self.path = path
        self.where = str(path)
        self._directory = os.path.dirname(os.path.abspath(path))
        self._synchronous = synchronous
        self._busy_ms = int(busy_timeout * 1000)
        self._connections: list[sqlite3.Connection] = []
        self._db_fd = -1
        self._checkpointer: sqlite3.Connection | None = None
        self._batches_at_checkpoint = 0
        self.schema_version = 0

    def open_writer(self) -> WriterConnection:
        """Create the file if needed, connect the writer and bring the schema up to date."""
        # On a full disk SQLite fails at its first file it cannot grow, saying "disk I/O
        # error" for its -shm file: say what is wrong instead.
        check_free_space(self._directory)
        # The database holds encrypted secrets and every unit's track: owner-only.
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        writer = self._connect(WriterConnection)
        self.schema_version = migrate(writer)
        self._checkpointer = self._connect(ReaderConnection)
        # For fdatasync beside the writer (checkpoint). Closed only after the connections:
        # closing any descriptor of the file drops the process's POSIX locks on it,
        # SQLite's included.
        self._db_fd = os.open(self.path, os.O_RDONLY)
        return writer

    def open_reader(self) -> ReaderConnection:
        return self._connect(ReaderConnection)

    def _connect(self, factory: type[sqlite3.Connection]) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, once per batch.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, factory=factory)
        self._connections.append(conn)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        conn.execute("PRAGMA foreign_keys = ON")
        if factory is ReaderConnection:
            conn.execute("PRAGMA query_only = ON")
        else:
            # For a new file only (an existing one keeps its size). Each live packet updates
            # three B-tree pages at random places (its vehicle's state, its vehicle's entry in
            # the records and events indexes), and every commit writes each page it touched
            # to the WAL whole, then the checkpoint writes it again: 1 KiB pages write about
            # a third of the bytes that SQLite's default 4 KiB do for the same packets.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: an acknowledged record survives power loss, not only a crash.
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            # Checkpoints run between the writer's batches (maintain), once a second,
            # not inside a commit every 1,000 pages, which stalled the ACKs waiting on it.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        return conn

    def probe(self, writer: WriterConnection) -> None:
        """Raise unless the store can commit and checkpoint: free space, a commit that
        rewrites the database header (no row to leave behind), a checkpoint round."""
        check_free_space(self._directory)
        writer.execute("BEGIN IMMEDIATE")
        try:
            writer.execute(f"PRAGMA user_version = {self.schema_version}")
            writer.execute("COMMIT")
        except sqlite3.Error:
            if writer.in_transaction:
                with suppress(sqlite3.Error):
                    writer.execute("ROLLBACK")
            raise
        self.copy_wal()
        self.finish_checkpoint(0)

    def before_commit(self, writer: WriterConnection) -> None:
        """Nothing to announce: this process's writer is the only one (on_events)."""

    async def maintain(self, store) -> None:
        """A checkpoint round, in two steps so that the writer, and with it every ACK,
        waits only for the second, short one:
        1. Beside the writer: a PASSIVE checkpoint copies what the WAL holds, and an
           fdatasync flushes it. SQLite syncs the database only when a checkpoint
           reaches the end of the WAL, which one running beside commits never does.
        2. In the writer's turn: a PASSIVE checkpoint copies what was committed during
           step 1 and syncs. The WAL is then fully copied, so the next commit starts it
           again from the beginning instead of growing it.

        One step in the writer's turn doing both held the writer 27-44 ms a second at
        5,000 units (benchmarks/ingest.py), most of it in the database's fdatasync; the
        second step alone takes 5-15 ms. The WAL file keeps its size while commits go
        on, because shrinking it made every commit grow it again; it is truncated once a
        round finds no commit since the last.
        """
        await trio.to_thread.run_sync(self.copy_wal)
        await store.in_writers_turn(self.finish_checkpoint, store.batches)

    def copy_wal(self) -> None:
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        _datasync(self._db_fd)

    def finish_checkpoint(self, batches: int) -> None:
        busy, wal_pages, moved = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        idle = batches == self._batches_at_checkpoint
        self._batches_at_checkpoint = batches
        if idle and not busy and wal_pages == moved and wal_pages > TRUNCATE_AT_PAGES:
            self._checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def reconnect_reader(self, conn) -> bool:
        """A reader has no server connection to lose on SQLite."""
        return False

    def close(self) -> None:
        for conn in reversed(self._connections):  # the writer last, once no reader holds a snapshot
            with suppress(sqlite3.Error):  # a failing disk must not turn a stop into a crash
                conn.close()
        self._connections.clear()
        if self._db_fd >= 0:
            os.close(self._db_fd)
            self._db_fd = -1
