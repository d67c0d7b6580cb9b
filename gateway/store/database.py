"""The store: one writer connection on its own thread, a few read connections.

Writes are group-committed: the writer task takes every job queued since its last
hop, runs them in one transaction on the writer thread (each job in its own
SAVEPOINT, so one failing job does not undo its neighbours) and commits once. One
thread hop and one fsync then serve many sessions and API requests, and a caller
learns its job's outcome only after the commit, which is what persist-then-ACK needs.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trio

from gateway.store.schema import MINIMUM_SQLITE, migrate

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 1024  # jobs per transaction; bounds the time a batch holds the write lock


class StoreError(Exception):
    """The store could not commit; nothing of the job is durable."""


@dataclass(eq=False)
class _Job:
    fn: Callable[..., Any]
    args: tuple
    done: trio.Event = field(default_factory=trio.Event)
    result: Any = None
    error: BaseException | None = None


class Store:
    def __init__(self, path: Path, *, synchronous: str = "FULL", busy_timeout: float = 5.0, readers: int = 2):
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old; fleetgate needs "
                f"{'.'.join(map(str, MINIMUM_SQLITE))} or newer"
            )
        self.path = path
        # The database holds encrypted secrets and every unit's track: owner-only.
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._synchronous = synchronous
        self._busy_ms = int(busy_timeout * 1000)
        self._writer = self._connect()
        self.schema_version = migrate(self._writer)
        self._readers = [self._connect(read_only=True) for _ in range(readers)]
        self._reader_limiter = trio.CapacityLimiter(readers)
        self._writer_limiter = trio.CapacityLimiter(1)
        self._send, self._receive = trio.open_memory_channel[_Job](10_000)
        self.batches = 0  # commits made, for /metrics
        self.batch_jobs = 0  # jobs committed, for /metrics
        self.commit_seconds = 0.0

    def _connect(self, read_only: bool = False) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, once per batch.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        conn.execute("PRAGMA foreign_keys = ON")
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: an acknowledged record survives power loss, not only a crash.
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    # --- writing -------------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """The writer task: drain the queue, commit each batch in one thread hop."""
        task_status.started()
        async for first in self._receive:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            start = trio.current_time()
            await trio.to_thread.run_sync(self._commit_batch, batch, limiter=self._writer_limiter)
            self.commit_seconds += trio.current_time() - start
            for job in batch:
                job.done.set()

    def _commit_batch(self, batch: list[_Job]) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            for index, job in enumerate(batch):
                conn.execute(f"SAVEPOINT job{index}")
                try:
                    job.result = job.fn(conn, *job.args)
                except Exception as exc:  # the job's own failure goes back to its caller
                    conn.execute(f"ROLLBACK TO job{index}")
                    # A database error is the store's failure, not a rule the job enforced.
                    job.error = StoreError(f"{type(exc).__name__}: {exc}") if isinstance(exc, sqlite3.Error) else exc
                conn.execute(f"RELEASE job{index}")
            conn.execute("COMMIT")
            self.batches += 1
            self.batch_jobs += len(batch)
        except sqlite3.Error as exc:
            log.error("store commit failed for a batch of %d jobs: %s", len(batch), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.error = StoreError(f"commit failed: {exc}")
                job.result = None

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in the next batch; return after the batch commits.

        An exception raised by ``fn`` undoes only that job and is re-raised here.
        """
        job = _Job(fn, args)
        await self._send.send(job)
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    # --- reading -------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._reader_limiter as _:
            conn = self._readers.pop()
            try:
                return await trio.to_thread.run_sync(self._read_in_tx, conn, fn, args)
            finally:
                self._readers.append(conn)

    @staticmethod
    def _read_in_tx(conn: sqlite3.Connection, fn: Callable[..., T], args: tuple) -> T:
        # One snapshot for the whole read, so a list and its count agree.
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        for conn in [*self._readers, self._writer]:
            conn.close()
