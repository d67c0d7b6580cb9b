"""The store: one writer connection on its own thread, a few read connections, over an
engine: SQLite in the data dir (sqlite.py) or PostgreSQL for a cluster (postgres.py).

Writes are group-committed: the writer task takes every job queued since its last
hop, runs them in one transaction on the writer thread (each job in its own
SAVEPOINT, so one failing job does not undo its neighbours) and commits once. One
thread hop and one fsync then serve many sessions and API requests, and a caller
learns its job's outcome only after the commit, which is what persist-then-ACK needs.

Jobs wait in two lanes. ``write`` jobs (commands, their audit, API requests, logins)
jump the queue of ingest jobs: a batch holding them commits them alone, so an operator's
command never waits for the thousands of packets queued before it. The batch after such a
batch always takes ingest, so a stream of writes cannot starve the units. A write queued
while an ingest batch is in flight joins that batch's transaction, which stops taking
packets at its next chunk (the engine's ingest_chunk, _persist_ingest): the write waits for
one chunk and a commit, not for the whole batch and a commit of its own. Ingest batches are
sized to commit in about BATCH_SECONDS. And unless one is full, ingest batches start at most
every ``commit_interval`` seconds ([store] commit_interval), so that at a modest rate a
commit serves tens of packets, not three (see _due).

Reads run on the read connections, on worker threads; on SQLite a read by key (a vehicle,
its state) runs in the event loop instead, on a connection of its own (lookup).

A storage fault (faults.py) is a state, not a crash: the batch it hit fails, every job
after it is refused at once without touching the disk, and run_maintenance probes once
a round until the store can commit again.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from gateway.clock import now_text
from gateway.store.events import Event
from gateway.store.faults import Fault, describe
from gateway.store.sqlite import SqliteEngine
from gateway.store.telemetry import BatchRows, persist_batches

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 1024  # jobs of each lane per transaction; bounds the time a batch holds the write lock
BATCH_SECONDS = 0.015  # what an ingest batch should take to commit; see _ingest_taken
MIN_INGEST_BATCH = 32  # ingest jobs a batch may take, however slow commits get
MAX_QUEUED = 10_000  # ingest jobs waiting; a session queueing more waits for room
COMMIT_INTERVAL = 0.02  # seconds between the starts of two ingest batches, unless the second is full; see _due
MAINTAIN_EVERY = 1.0  # seconds between maintenance rounds (WAL checkpoints), and between probes while faulted


class StoreError(Exception):
    """The store could not commit (nothing of the job is durable) or could not read."""


class IntegrityError(StoreError):
    """A job broke a constraint of the schema (a unique key, a foreign key)."""


@dataclass(eq=False)
class _Job:
    fn: Callable[..., Any] | None  # None: an ingest job, args[0] is its BatchRows
    args: tuple
    guarded: bool
    # How the submitter learns the outcome: an event it waits on, or a call it asked for.
    done: trio.Event | None = None
    then: Callable[[BaseException | None], None] | None = None
    result: Any = None
    error: BaseException | None = None


class Store:
    def __init__(self, engine: Path | Any, *, synchronous: str = "FULL", busy_timeout: float = 5.0, readers: int = 2,
                 commit_interval: float = COMMIT_INTERVAL):
        """``engine``: a path opens SQLite there (the embedded default); otherwise an
        engine such as postgres.PostgresEngine."""
        self.commit_interval = commit_interval
        if isinstance(engine, Path):
            engine = SqliteEngine(engine, synchronous=synchronous, busy_timeout=busy_timeout)
        self.engine = engine
        self.dialect = engine.dialect
        self.batches = 0  # commits made, for /metrics
        self.fault: Fault | None = None  # set while the store cannot commit
        self.faults = dict.fromkeys(("commit", "checkpoint", "read", "probe"), 0)  # failed operations, for /metrics
        try:
            self._writer = engine.open_writer()
            self.schema_version = engine.schema_version
            self._readers = [engine.open_reader() for _ in range(readers)]
            # For lookup(): its own connection, used only by the event loop's thread.
            self._local_reader = engine.open_reader() if engine.local_reads else None
            # A full or read-only disk must stop the start, not fault the first commit.
            engine.probe(self._writer)
        except (engine.Error, OSError) as exc:
            self.close()
            raise StoreError(f"cannot use the database {engine.where}: {describe(exc)}") from None
        self._reader_limiter = trio.CapacityLimiter(readers)
        self._writer_limiter = trio.CapacityLimiter(1)
        self._urgent: deque[_Job] = deque()  # write() jobs: taken before any ingest job
        self._ingest: deque[_Job] = deque()
        self._wake: trio.Event | None = None  # set by a job that makes a batch due while the writer waits
        self._wake_at = 1  # ingest jobs queued that make a batch due
        self._ingest_due = 0.0  # when the next ingest batch may start (see _due; hurry brings it forward)
        self._room = trio.lowlevel.ParkingLot()  # sessions waiting for the ingest lane to shrink
        self._last_urgent_only = False
        # Of the batch on the writer thread: write() jobs that joined it, ingest jobs it left.
        self._joined: list[_Job] = []
        self._deferred: list[_Job] = []
        self._ingest_limit = MAX_BATCH  # ingest jobs the next batch may take
        self.batch_jobs = 0  # jobs committed, for /metrics
        self.commit_seconds = 0.0
        self.records_new = 0  # records committed
        self.records_duplicate = 0  # records dropped as resends of committed ones
        # Called in the event loop with the events of each commit, in commit order.
        self.on_events: Callable[[list[Event]], None] = lambda events: None
        # Called in the event loop when the store commits again after a fault.
        self.on_recovered: Callable[[], None] = lambda: None

    def _as_store_error(self, exc: Exception) -> Exception:
        # A database error is the store's failure, not a rule the job enforced.
        if isinstance(exc, self.engine.IntegrityError):
            return IntegrityError(f"{type(exc).__name__}: {exc}")
        return StoreError(f"{type(exc).__name__}: {exc}") if isinstance(exc, self.engine.Error) else exc

    # --- writing -------------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """The writer task: drain the lanes, commit each batch in one thread hop."""
        token = trio.lowlevel.current_trio_token()
        task_status.started()
        while True:
            await self._due()
            batch, ingest = self._next_batch()
            if len(self._ingest) < MAX_QUEUED:
                self._room.unpark_all()
            start = trio.current_time()
            if ingest:
                self._ingest_due = start + self.commit_interval
            if self.fault is None:
                deferred = await trio.to_thread.run_sync(self._commit_and_report, batch, token,
                                                         limiter=self._writer_limiter)
                taken = trio.current_time() - start
                self.commit_seconds += taken
                # Cut short by a write (_persist_ingest): the rest go first next time.
                self._ingest.extendleft(reversed(deferred))
                if ingest:
                    self._ingest_taken(ingest - len(deferred), taken)
            else:
                # Not even tried: a failing disk is not hammered, and run_maintenance's
                # probe finds out when it works again.
                for job in batch:
                    job.error = StoreError(f"the store cannot commit: {self.fault.reason}")
                self._report(batch, [], None)

    def _commit_and_report(self, batch: list[_Job], token: trio.lowlevel.TrioToken) -> list[_Job]:
        """On the writer thread: commit ``batch``, hand its outcome to the event loop at
        once (_report), and return the ingest jobs left for the next batch.

        Handed over from here, the outcome reaches the submitters one trip through the event
        loop sooner than through the writer task, which would have to be woken first; under
        load each trip waits behind the units' packets, and every ACK and write takes one."""
        finished, deferred, events, fault = self._commit_batch(batch)
        token.run_sync_soon(self._report, finished, events, fault)
        return deferred

    def _report(self, jobs: list[_Job], events: list[Event], fault: Exception | None) -> None:
        """In the event loop: the fault, then the events, then each job's outcome in order."""
        try:
            if fault is not None:
                self._faulted("commit", fault)
            if events:
                self.on_events(events)
        except Exception:  # a run_sync_soon callback that raises would end the gateway
            log.exception("publishing a commit failed")
        for job in jobs:
            if job.then is None:
                job.done.set()
                continue
            try:
                job.then(job.error)
            except Exception:  # the submitter's bug must not stop the writer
                log.exception("a commit callback failed")

    async def _due(self) -> None:
        """Return once a batch is due: a write() job waits, or ingest jobs do and either
        fill a batch or the time ``_ingest_due`` has come.

        A commit costs the writer a fixed share of CPU (its statements, the thread hop, the
        fsync) whatever its size. Committing whenever one job waits made 1,000 packets a
        second into ~300 commits of 3 or 4 packets, and that fixed share into most of a
        packet's CPU. Ingest batches now start at most every ``commit_interval``: an ACK
        may wait that much longer, a command's write() never does.
        """
        while not self._urgent:
            if self._ingest and (len(self._ingest) >= self._ingest_limit or trio.current_time() >= self._ingest_due):
                return
            self._wake = trio.Event()
            self._wake_at = self._ingest_limit if self._ingest else 1
            with trio.move_on_at(self._ingest_due if self._ingest else math.inf):
                await self._wake.wait()

    def _next_batch(self) -> tuple[list[_Job], int]:
        """The next batch and how many ingest jobs it holds: the waiting write() jobs
        alone, unless the batch before was theirs alone too; then ingest jobs after them."""
        urgent, ingest = self._urgent, self._ingest
        batch = [urgent.popleft() for _ in range(min(len(urgent), MAX_BATCH))]
        self._last_urgent_only = bool(batch) and not self._last_urgent_only and bool(ingest)
        if self._last_urgent_only:
            return batch, 0
        taken = min(len(ingest), self._ingest_limit)
        batch.extend(ingest.popleft() for _ in range(taken))
        return batch, taken

    def _ingest_taken(self, jobs: int, seconds: float) -> None:
        """Size the next ingest batches from how long this one took: a full batch that took
        longer than BATCH_SECONDS shrinks the limit in proportion, one that took less lets it
        grow by a quarter. Only full batches say how many jobs fit; a commit's fixed cost
        (its fsync) then settles the limit where the batch time meets the target."""
        if jobs < self._ingest_limit:
            return
        if seconds > BATCH_SECONDS:
            self._ingest_limit = max(MIN_INGEST_BATCH, int(jobs * BATCH_SECONDS / seconds))
        else:
            self._ingest_limit = min(MAX_BATCH, max(jobs + 1, int(jobs * 1.25)))

    def _commit_batch(self, batch: list[_Job]) -> tuple[list[_Job], list[_Job], list[Event], Exception | None]:
        """Commit ``batch``; return the jobs it finished, the ingest jobs it left for the
        next batch, the events its transaction logged (none if it failed) and the storage
        fault that failed it, if one did.

        The jobs finished are not quite ``batch``: write() jobs queued while it ran join
        it, and ingest jobs it did not reach before they came are left (_persist_ingest)."""
        pending = list(batch)
        self._joined, self._deferred = [], []
        events, fault = [], None
        while pending:
            try:
                failed = self._try_transaction(pending)
            except self.engine.Error as exc:
                fault = exc if self.engine.is_fault(exc) else None
                if fault is None:  # a fault is logged once, when it starts (_faulted)
                    log.error("store commit failed for a batch of %d jobs: %s", len(pending), exc)
                for job in pending:
                    job.error = StoreError(f"commit failed: {exc}")
                    job.result = None
                break
            if not failed:
                events = self._writer.pending_events
                break
            # Unguarded work failed and took the transaction with it: run the others again.
            pending = [job for job in pending if job not in failed]
        left = set(self._deferred)
        return [job for job in batch if job not in left] + self._joined, self._deferred, events, fault

    def _persist_ingest(self, conn, batch: list[_Job], ingest: list[_Job]) -> int:
        """Persist the ingest jobs of ``batch`` a chunk at a time; return the records new.

        A write() job queued meanwhile cuts this short: the ingest jobs not yet persisted
        leave ``batch`` (for the head of the next one) and the write joins this transaction
        (_join_writes). So a command's audit row waits for one chunk and this commit, not
        for a whole batch of packets and then a commit of its own."""
        new, chunk = 0, self.engine.ingest_chunk
        for start in range(0, len(ingest), chunk):
            if start and self._urgent:
                rest = ingest[start:]
                self._deferred.extend(rest)
                left = set(rest)
                batch[:] = [job for job in batch if job not in left]
                break
            new += persist_batches(conn, [job.args[0] for job in ingest[start:start + chunk]])
        return new

    def _join_writes(self, batch: list[_Job]) -> None:
        """Take into ``batch`` the write() jobs queued since it started (MAX_BATCH at most).
        Runs on the writer thread while the writer task waits for it, so nothing else takes
        from the lane meanwhile; deque appends and pops are atomic."""
        while self._urgent and len(self._joined) < MAX_BATCH:
            job = self._urgent.popleft()
            batch.append(job)
            self._joined.append(job)

    def _try_transaction(self, batch: list[_Job]) -> list[_Job]:
        """Run ``batch`` in one transaction. Returns the unguarded jobs whose failure
        rolled the whole transaction back (their errors set), [] when the batch committed.
        Raises the database's error when the transaction failed as a whole: at BEGIN or
        COMMIT, or a storage fault in any job, which would fail every job after it too."""
        conn = self._writer
        ingest = [job for job in batch if job.fn is None]
        new = 0
        try:
            conn.execute(self.dialect.begin_write)
            conn.start_events()
            for job in batch:
                job.result, job.error = None, None
            if ingest:
                # Ingest first, in bulk: a vehicle deleted by a later job in this batch
                # then loses the state these records just wrote.
                try:
                    new = self._persist_ingest(conn, batch, ingest)
                except Exception as exc:
                    if self.engine.is_fault(exc):
                        raise
                    for job in ingest:
                        job.error = self._as_store_error(exc)
                    conn.execute("ROLLBACK")
                    return ingest
            self._join_writes(batch)
            for job in batch:
                if job.fn is None:
                    continue
                if not job.guarded:
                    try:
                        job.result = job.fn(conn, *job.args)
                    except Exception as exc:
                        if self.engine.is_fault(exc):
                            raise
                        job.error = self._as_store_error(exc)
                        conn.execute("ROLLBACK")
                        return [job]
                    continue
                # The same savepoint name each time: SQLite reuses the compiled statement.
                conn.execute("SAVEPOINT job")
                mark = conn.mark()
                try:
                    job.result = job.fn(conn, *job.args)
                except Exception as exc:  # the job's own failure goes back to its caller
                    if self.engine.is_fault(exc):
                        raise
                    conn.execute("ROLLBACK TO job")
                    conn.undo_to(mark)
                    job.error = self._as_store_error(exc)
                conn.execute("RELEASE job")
            self.engine.before_commit(conn)
            conn.execute("COMMIT")
        except self.engine.Error:
            if conn.in_transaction:  # SQLite rolls back by itself after some faults
                with suppress(self.engine.Error):
                    conn.execute("ROLLBACK")
            raise
        # Counted once committed: a failed COMMIT stored nothing.
        self.batches += 1
        self.batch_jobs += len(batch)
        self.records_new += new
        self.records_duplicate += sum(len(job.args[0].records) for job in batch if job.fn is None) - new
        return []

    # --- faults --------------------------------------------------------------------

    def _faulted(self, kind: str, exc: BaseException) -> None:
        self.faults[kind] += 1
        if self.fault is None:
            self.fault = Fault(kind, describe(exc), now_text())
            log.error("store fault (%s failed): %s; writes are refused until the store can commit again",
                      kind, self.fault.reason)

    async def _retry(self) -> None:
        try:
            await trio.to_thread.run_sync(self.engine.probe, self._writer, limiter=self._writer_limiter)
        except (self.engine.Error, OSError) as exc:
            self.faults["probe"] += 1
            self.fault = replace(self.fault, reason=describe(exc))
            log.debug("store still faulted: %s", self.fault.reason)
            return
        log.warning("store recovered: commits again after a fault since %s (%s)", self.fault.since, self.fault.reason)
        self.fault = None
        self.on_recovered()

    async def ingest(self, rows: BatchRows) -> None:
        """Commit one unit's records and their state; return once they are durable.

        Every ingest job of a writer batch is stored together in a few multi-row
        statements (telemetry.persist_batches). Raises StoreError when it was not.
        """
        await self._submit(_Job(None, (rows,), guarded=False))

    async def ingest_then(self, rows: BatchRows, then: Callable[[BaseException | None], None]) -> None:
        """Queue ``rows`` like ingest(), but return at once: ``then(error)`` is called in
        the event loop once the batch holding them has committed (error None) or failed
        (a StoreError), in the order the jobs were queued.

        For acknowledgements: the caller is spared the park and wake-up that waiting for
        its own commit costs, once per packet.
        """
        await self._queue(_Job(None, (rows,), guarded=False, then=then))

    def hurry(self) -> None:
        """Make the ingest jobs queued now due at once, not at the next commit_interval:
        a command waits for the ACKs its unit is owed before its own bytes go out
        (UnitSession.command), and the person at the vehicle should not wait for the pacing.
        With none queued, the owed ACKs' packets are in the batch on the writer already."""
        if not self._ingest:
            return
        # Until the batch that takes them (run() sets the next due time then), even if a
        # batch of write() jobs alone goes first.
        self._ingest_due = -math.inf
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    async def write(self, fn: Callable[..., T], *args: Any, guarded: bool = True) -> T:
        """Run ``fn(conn, *args)`` in the next batch; return after the batch commits.

        A guarded job runs in a savepoint: an exception it raises (a rule it enforces)
        undoes only that job and is re-raised here. ``guarded=False`` skips the savepoint,
        which costs as much as a small insert, for jobs that fail only when the database
        does (ingest); should one fail, the batch is rolled back and run again without it.
        """
        return await self._submit(_Job(fn, args, guarded))

    async def _submit(self, job: _Job) -> Any:
        job.done = trio.Event()
        await self._queue(job)
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    async def _queue(self, job: _Job) -> None:
        # No checkpoint on the common path: each one is a trip through the scheduler,
        # and ingest submits thousands of jobs per second.
        if job.fn is not None:
            self._urgent.append(job)
        else:
            while len(self._ingest) >= MAX_QUEUED:
                await self._room.park()
            self._ingest.append(job)
        if self._wake is not None and (job.fn is not None or len(self._ingest) >= self._wake_at):
            self._wake.set()
            self._wake = None

    # --- reading -------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(conn, *args, **kwargs)`` on a read connection, in one snapshot."""
        async with self._reader_limiter as _:
            conn = self._readers.pop()
            try:
                return await trio.to_thread.run_sync(self._read_in_tx, conn, partial(fn, **kwargs), args)
            except self.engine.Error as exc:
                if not self.engine.is_fault(exc):
                    raise
                raise self._read_fault(exc) from None
            finally:
                self._readers.append(conn)

    async def lookup(self, fn: Callable[..., T], *args: Any) -> T:
        """Like read(), for a read of a few rows by key (a vehicle, its state).

        Where reads are of a local file (SQLite, in WAL mode: no lock a commit holds stops
        them) it runs in the event loop, on a connection of the loop's own: tens of
        microseconds of the loop's time instead of a thread hop. Under load the hop cost
        more than the read. The reader thread waits for the interpreter, held by the event
        loop and the writer, at each of its statements, and its result waits for a pass of
        the loop behind the units' packets. On PostgreSQL (a round trip to a server) it is
        read()."""
        conn = self._local_reader
        if conn is None:
            return await self.read(fn, *args)
        # Cancellable, but no pass of the scheduler: under load that pass is what this saves.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            return self._snapshot(conn, fn, args)
        except self.engine.Error as exc:
            if not self.engine.is_fault(exc):
                raise
            raise self._read_fault(exc) from None

    def _read_fault(self, exc: Exception) -> StoreError:
        # Answered where it happens; the store stays healthy for commits, so a damaged
        # page behind one query does not stop the fleet's ingest.
        self.faults["read"] += 1
        log.warning("store read failed: %s", exc)
        return StoreError(f"the store cannot read: {describe(exc)}")

    def _read_in_tx(self, conn, fn: Callable[..., T], args: tuple) -> T:
        try:
            return self._snapshot(conn, fn, args)
        except self.engine.Error:
            # A server connection lost since this reader's last read (a restart, a failover,
            # a killed backend) gave nothing: read again, once, on a new one. On the worker
            # thread, as connecting is network I/O.
            if not self.engine.reconnect_reader(conn):
                raise
            return self._snapshot(conn, fn, args)

    def _snapshot(self, conn, fn: Callable[..., T], args: tuple) -> T:
        # One snapshot for the whole read, so a list and its count agree.
        conn.execute(self.dialect.begin_read)
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    async def in_writers_turn(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a worker thread while no batch commits (e.g. the last
        step of a WAL checkpoint)."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self._writer_limiter)

    async def run_maintenance(self, interval: float = MAINTAIN_EVERY, *, task_status=trio.TASK_STATUS_IGNORED):
        """The engine's maintenance round every ``interval`` seconds (SQLite: a WAL
        checkpoint, see SqliteEngine.maintain).

        A failed round faults the store; while it is faulted each round is a probe
        instead, and the first that succeeds ends the fault.
        """
        task_status.started()
        while True:
            await trio.sleep(interval)
            if self.fault is not None:
                await self._retry()
                continue
            try:
                await self.engine.maintain(self)
            except (self.engine.Error, OSError) as exc:
                self._faulted("checkpoint", exc)

    def close(self) -> None:
        self.engine.close()
