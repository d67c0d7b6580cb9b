"""The store: group commit, per-job isolation inside a batch, migrations, and the write lane
that jumps the ingest queue without starving it."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from gateway.store import Store, database, sqlite
from gateway.store.schema import MIGRATIONS
from tests.conftest import eventually


@pytest.fixture
async def store(tmp_path):
    store = Store(tmp_path / "test.db")
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        yield store
        nursery.cancel_scope.cancel()
    store.close()  # once the writer has stopped: closing under a commit in flight crashes sqlite3


def _insert(conn: sqlite3.Connection, key: str) -> str:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
    return key


def _fail(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
    raise ValueError("refused by the rules")


def _count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM meta").fetchone()[0]


async def test_concurrent_writes_share_commits(store):
    async with trio.open_nursery() as nursery:
        for n in range(200):
            nursery.start_soon(store.write, _insert, f"k{n}")
    assert await store.read(_count) == 200
    assert store.batch_jobs == 200
    # Many callers, few transactions: that is the point of group commit.
    assert store.batches < 200


async def test_a_failing_job_undoes_only_itself(store):
    results = {}

    async def attempt(fn, key):
        try:
            results[key] = await store.write(fn, key)
        except ValueError as exc:
            results[key] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(attempt, _insert, "good-1")
        nursery.start_soon(attempt, _fail, "bad")
        nursery.start_soon(attempt, _insert, "good-2")
    assert results["good-1"] == "good-1" and results["good-2"] == "good-2"
    assert isinstance(results["bad"], ValueError)
    keys = await store.read(lambda conn: [r[0] for r in conn.execute("SELECT key FROM meta ORDER BY key")])
    assert keys == ["good-1", "good-2"]


async def test_a_lookup_runs_in_the_event_loop_beside_busy_read_connections(store):
    """A vehicle or its state is looked up in the event loop on SQLite: not on a reader
    thread, and not behind the long reads (a history export) holding every read connection."""
    release = threading.Event()

    def long_read(conn):
        release.wait(30)
        return _count(conn)

    def where(conn):
        return threading.get_ident(), _count(conn)

    await store.write(_insert, "k")
    async with trio.open_nursery() as nursery:
        for _ in range(2):  # the store's read connections
            nursery.start_soon(store.read, long_read)
        await eventually(lambda: not store._readers)
        try:
            with trio.fail_after(5):
                assert await store.lookup(where) == (threading.get_ident(), 1)
        finally:
            release.set()
    assert store._readers  # the long reads gave their connections back, untouched by the lookup


async def test_schema_version_and_pragmas(tmp_path):
    store = Store(tmp_path / "fresh.db", synchronous="NORMAL")
    try:
        assert store.schema_version == len(MIGRATIONS)
        conn = sqlite3.connect(tmp_path / "fresh.db")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA page_size").fetchone()[0] == sqlite.PAGE_SIZE
        conn.close()
    finally:
        store.close()
    # Reopening migrates nothing and keeps the version.
    again = Store(tmp_path / "fresh.db")
    assert again.schema_version == len(MIGRATIONS)
    again.close()


async def test_an_existing_database_keeps_its_page_size(tmp_path, nursery):
    path = tmp_path / "older.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA journal_mode = WAL")  # fixes the size, as an older fleetgate did
    conn.close()
    store = Store(path)
    await nursery.start(store.run)
    await store.write(_insert, "kept")
    assert await store.read(lambda conn: conn.execute("PRAGMA page_size").fetchone()[0]) == 4096
    assert await store.read(_count) == 1
    nursery.cancel_scope.cancel()
    store.close()


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this fleetgate knows"):
        Store(path)


async def test_retention_prunes_old_records_in_batches(store):
    from gateway.store import telemetry

    def rows(received_at: str, n: int):
        return telemetry.BatchRows("V1", "TELTONIKA", "356307042441013", received_at, b"frame", tuple(
            telemetry.RecordRow(f"2020-01-01T00:00:0{n}.000Z", bytes([n]) * 16, '{"ignition":"ON"}', "{}")
            for n in range(n)), {"ignition": ("2020-01-01T00:00:00.000Z", '"ON"')})

    await store.ingest(rows("2020-01-01T00:00:00.000Z", 3))
    await store.ingest(rows("2020-06-01T00:00:00.000Z", 1))

    def frames(conn):
        return [(r[0], r[1]) for r in conn.execute("SELECT received_at, frame FROM records ORDER BY id")]

    # The fourth record is a duplicate of the first; each frame is kept once, on its first record.
    assert await store.read(frames) == [("2020-01-01T00:00:00.000Z", b"frame"), ("2020-01-01T00:00:00.000Z", None),
                                        ("2020-01-01T00:00:00.000Z", None)]
    assert (store.records_new, store.records_duplicate) == (3, 1)
    await store.ingest(rows("2030-01-01T00:00:00.000Z", 5))  # 3 duplicates, 2 new
    assert await store.write(telemetry.prune_before, "records", "received_at", "2025-01-01T00:00:00.000Z", 2) == 2
    assert await store.write(telemetry.prune_before, "records", "received_at", "2025-01-01T00:00:00.000Z", 2) == 1
    assert await store.write(telemetry.prune_before, "records", "received_at", "2025-01-01T00:00:00.000Z", 2) == 0
    assert [r[0] for r in await store.read(frames)] == ["2030-01-01T00:00:00.000Z"] * 2


def _fail_unguarded(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
    conn.execute("INSERT INTO no_such_table VALUES (1)")


async def test_a_failing_unguarded_job_does_not_take_its_batch_with_it(store):
    from gateway.store import StoreError

    results = {}

    async def attempt(key, fn, guarded):
        try:
            results[key] = await store.write(fn, key, guarded=guarded)
        except (StoreError, ValueError) as exc:
            results[key] = type(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(attempt, "a", _insert, False)
        nursery.start_soon(attempt, "b", _fail_unguarded, False)
        nursery.start_soon(attempt, "c", _fail, True)
        nursery.start_soon(attempt, "d", _insert, True)
    assert results == {"a": "a", "b": StoreError, "c": ValueError, "d": "d"}
    keys = await store.read(lambda conn: [r[0] for r in conn.execute("SELECT key FROM meta ORDER BY key")])
    assert keys == ["a", "d"]


async def test_wal_is_checkpointed_by_the_checkpointer(tmp_path, nursery):
    store = Store(tmp_path / "wal.db")
    await nursery.start(store.run)
    await nursery.start(store.run_maintenance, 0.05)
    for n in range(20):
        await store.write(_insert, f"k{n}")
    wal = tmp_path / "wal.db-wal"
    assert wal.stat().st_size > 0
    # The writer never checkpoints by itself; the database file catches up only through
    # run_maintenance, and then holds every committed row without the WAL.
    copy = tmp_path / "copy.db"

    def rows_in_the_database_file() -> int:
        copy.write_bytes((tmp_path / "wal.db").read_bytes())
        conn = sqlite3.connect(copy)
        try:
            return conn.execute("SELECT count(*) FROM meta").fetchone()[0]
        except sqlite3.DatabaseError:  # copied in the middle of a checkpoint's writes
            return 0
        finally:
            conn.close()

    await eventually(lambda: rows_in_the_database_file() == 20)
    nursery.cancel_scope.cancel()


async def test_the_wal_is_truncated_once_commits_stop(tmp_path, nursery, monkeypatch):
    monkeypatch.setattr(sqlite, "TRUNCATE_AT_PAGES", 0)
    store = Store(tmp_path / "wal.db")
    await nursery.start(store.run)
    await nursery.start(store.run_maintenance, 0.2)
    wal = tmp_path / "wal.db-wal"
    # While commits go on (many per round), a round copies them but keeps the file:
    # shrinking it would only make the next commits grow it again.
    await store.write(_insert, "k0")
    for n in range(1, 40):
        await trio.sleep(0.01)  # the pace of the commits, spread over rounds
        assert wal.stat().st_size > 0
        await store.write(_insert, f"k{n}")
    # A round that finds no commit since the last one truncates it.
    await eventually(lambda: wal.stat().st_size == 0)
    assert await store.read(lambda conn: conn.execute("SELECT count(*) FROM meta").fetchone()[0]) == 40
    nursery.cancel_scope.cancel()


def _batch(vehicle_id: str, count: int, first: int = 0):
    from gateway.store import telemetry

    return telemetry.BatchRows(vehicle_id, "TELTONIKA", "356307042441013", "2020-01-01T00:00:00.000Z", b"frame", tuple(
        telemetry.RecordRow(f"2020-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z", n.to_bytes(16, "big"), "{}", "{}")
        for n in range(first, first + count)), {})


async def test_ingest_then_reports_each_outcome_after_the_commit_in_queue_order(store):
    calls = []

    def stored(conn):
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]

    await store.ingest_then(_batch("V1", 2), lambda error: calls.append(("first", error)))
    await store.ingest_then(_batch("V2", 3, first=2), lambda error: calls.append(("second", error)))
    await eventually(lambda: len(calls) == 2)
    assert calls == [("first", None), ("second", None)]
    assert await store.read(stored) == 5


async def test_ingest_then_passes_the_store_error_when_the_commit_fails(store):
    from gateway.store import StoreError

    await store.write(lambda conn: conn.execute("ALTER TABLE records RENAME TO records_away"))
    errors = []
    await store.ingest_then(_batch("V1", 1), errors.append)
    await eventually(lambda: errors)
    assert isinstance(errors[0], StoreError) and "records" in str(errors[0])


async def test_batches_of_every_size_are_stored_whole(store):
    """Many units' packets of odd sizes in one transaction: every row lands, in statements
    of a few fixed sizes (telemetry._statement_chunks)."""
    sizes = [1, 7, 255, 256, 257, 300, 3]
    async with trio.open_nursery() as nursery:
        first = 0
        for n, size in enumerate(sizes):
            nursery.start_soon(store.ingest, _batch(f"V{n}", size, first))
            first += size
    counts = await store.read(lambda conn: dict(conn.execute(
        "SELECT vehicle_id, count(*) FROM records GROUP BY vehicle_id").fetchall()))
    assert counts == {f"V{n}": size for n, size in enumerate(sizes)}
    assert store.records_new == sum(sizes)


@given(st.integers(min_value=0, max_value=5000), st.sampled_from([1, 2, 256, 1024]))
def test_statement_chunks_cover_the_rows_in_few_distinct_sizes(count, largest):
    from gateway.store.telemetry import _statement_chunks

    items = list(range(count))
    chunks = _statement_chunks(items, largest)
    assert [item for chunk in chunks for item in chunk] == items
    sizes = [len(chunk) for chunk in chunks]
    assert sizes == sorted(sizes, reverse=True)
    # Only powers of two up to ``largest``: a bounded set of SQL texts, whatever the count.
    assert all(size <= largest and size & (size - 1) == 0 for size in sizes)
    assert len(chunks) <= count // largest + largest.bit_length()


# --- the two lanes: write() jobs (commands, audits, API requests) before queued ingest ---


def _audit(conn: sqlite3.Connection, key: str) -> int:
    """The command's audit row, and how many records were committed before it."""
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 'audit')", (key,))
    return conn.execute("SELECT count(*) FROM records").fetchone()[0]


async def test_a_command_write_commits_before_a_long_ingest_queue_drains(store):
    queued = 3 * database.MAX_BATCH
    acked = []
    with trio.fail_after(60):
        for n in range(queued):
            await store.ingest_then(_batch(f"V{n % 50}", 1, n), acked.append)
        # Queued after three full batches of packets, the write still commits before any of them.
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
            await store.ingest_then(_batch(f"V{n % 50}", 1, n), acked.append)
        async with trio.open_nursery() as nursery:
            for name in ("a", "b", "c"):
                nursery.start_soon(operator, name)
    assert acked == [None] * queued
    assert audits >= 3



async def test_a_write_joins_the_ingest_batch_in_flight_and_cuts_it_short(store, monkeypatch):
    persisting = threading.Event()
    real_persist = database.persist_batches

    def first_chunk_meets_a_write(conn, batches):
        new = real_persist(conn, batches)
        if not persisting.is_set():
            persisting.set()
            deadline = time.monotonic() + 30
            while not store._urgent and time.monotonic() < deadline:  # the write arrives meanwhile
                time.sleep(0.001)
        return new

    monkeypatch.setattr(database, "persist_batches", first_chunk_meets_a_write)
    queued = 3 * store.engine.ingest_chunk
    acked = []
    with trio.fail_after(60):
        for n in range(queued):
            await store.ingest_then(_batch(f"V{n % 50}", 1, n), lambda error, n=n: acked.append((n, error)))
        await trio.to_thread.run_sync(persisting.wait)  # one batch holds all three chunks
        # It ran in that batch's transaction, after the first chunk, and committed with it.
        assert await store.write(_audit, "command-1") == store.engine.ingest_chunk
        assert acked == [(n, None) for n in range(store.engine.ingest_chunk)]
        assert store.batches == 1
        await eventually(lambda: len(acked) == queued)
    assert acked == [(n, None) for n in range(queued)]  # the rest went first in the next batch
    assert store.batches == 2
    assert await store.read(lambda conn: conn.execute("SELECT count(*) FROM records").fetchone()[0]) == queued


# --- pacing: ingest batches start at most every COMMIT_INTERVAL, unless full ---
# On trio's autojump clock time moves only when every task waits on a deadline, so these
# read how long the store made a job wait, not how fast this machine commits.


async def test_a_packet_right_behind_a_commit_waits_for_the_next_due_time(store, autojump_clock):
    before = trio.current_time()
    await store.ingest(_batch("V1", 1, 0))
    assert trio.current_time() == before  # after a pause: committed at once
    await store.ingest(_batch("V2", 1, 1))
    assert trio.current_time() >= before + database.COMMIT_INTERVAL
    assert store.batches == 2


async def test_packets_arriving_within_the_interval_share_one_commit(store, autojump_clock):
    await store.ingest(_batch("V0", 1, 0))
    acked = []
    for n in range(1, 10):
        await store.ingest_then(_batch(f"V{n}", 1, n), acked.append)
        await trio.sleep(database.COMMIT_INTERVAL / 20)  # a unit's packet every 1/20 of the interval
    await store.ingest(_batch("V10", 1, 10))  # no eventually(): its sleeps would move this clock
    assert acked == [None] * 9
    assert store.batches == 2


async def test_a_hurried_packet_does_not_wait_for_the_due_time(store, autojump_clock):
    # What a command does when its unit is owed an ACK: the ACK goes before the command.
    before = trio.current_time()
    await store.ingest(_batch("V1", 1, 0))
    committed = trio.Event()
    await store.ingest_then(_batch("V1", 1, 1), lambda error: committed.set())
    store.hurry()
    await committed.wait()
    assert trio.current_time() == before
    store.hurry()  # nothing queued: nothing to hurry
    await store.ingest(_batch("V2", 1, 2))  # the pacing holds again for the next one
    assert trio.current_time() >= before + database.COMMIT_INTERVAL
    assert store.batches == 3


async def test_a_write_or_a_full_batch_does_not_wait_for_the_due_time(store, autojump_clock):
    before = trio.current_time()
    await store.ingest(_batch("V1", 1, 0))
    assert await store.write(_insert, "command") == "command"  # a command's audit row
    acked = []
    full = database.MAX_BATCH
    for n in range(1, full):
        await store.ingest_then(_batch(f"V{n}", 1, n), acked.append)
        await trio.sleep(0)  # the writer sees each packet come, and waits for the due time
    await store.ingest(_batch("V0", 1, full))
    assert trio.current_time() == before
    assert acked == [None] * (full - 1)
    assert store.batches == 3
