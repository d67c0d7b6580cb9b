"""The store's two lanes: write() jobs (commands, audits, API requests) jump the queue of
ingest jobs, and a stream of them never starves ingest."""

from __future__ import annotations

import sqlite3

import pytest
import trio

from gateway.store import Store, database, telemetry
from tests.conftest import eventually


@pytest.fixture
async def store(tmp_path, nursery):
    store = Store(tmp_path / "test.db")
    await nursery.start(store.run)
    yield store
    nursery.cancel_scope.cancel()
    store.close()


def _rows(n: int) -> telemetry.BatchRows:
    record = telemetry.RecordRow(f"2020-01-01T00:00:{n % 60:02d}.000Z", n.to_bytes(16, "big"), "{}", "{}")
    return telemetry.BatchRows(f"V{n % 50}", "TELTONIKA", "356307042441013", "2020-01-01T00:00:00.000Z", b"frame",
                               (record,), {})


def _audit(conn: sqlite3.Connection, key: str) -> int:
    """The command's audit row, and how many records were committed before it."""
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 'audit')", (key,))
    return conn.execute("SELECT count(*) FROM records").fetchone()[0]


async def test_a_command_write_commits_before_a_long_ingest_queue_drains(store):
    queued = 3 * database.MAX_BATCH
    acked = []
    with trio.fail_after(60):
        for n in range(queued):
            await store.ingest_then(_rows(n), acked.append)
        # Queued behind three full batches of packets: first in the lane's order, it still
        # commits before any of them.
        records_before = await store.write(_audit, "command-1")
        assert records_before == 0
        assert len(acked) == 0
        await eventually(lambda: len(acked) == queued)
    assert acked == [None] * queued
    assert await store.read(lambda conn: conn.execute("SELECT count(*) FROM records").fetchone()[0]) == queued


async def test_a_stream_of_writes_does_not_starve_ingest(store):
    queued = 2 * database.MAX_BATCH
    acked = []
    audits = 0

    async def operator(name: str) -> None:
        nonlocal audits
        while len(acked) < queued:  # never idle while packets wait: there is always a write queued
            await store.write(_audit, f"{name}-{audits}")
            audits += 1

    with trio.fail_after(60):
        for n in range(queued):
            await store.ingest_then(_rows(n), acked.append)
        async with trio.open_nursery() as nursery:
            for name in ("a", "b", "c"):
                nursery.start_soon(operator, name)
    assert acked == [None] * queued
    assert audits >= 3
