"""The store's fault state on its own: what a failed COMMIT counts, what is refused while
faulted, and the probe that ends the fault. Errors are injected here on every machine,
so that the COMMIT itself fails (a real full disk may fail an INSERT first)."""

from __future__ import annotations

import pytest
import trio

from gateway.store import Store, StoreError, telemetry
from tests.conftest import eventually
from tests.hostile.conftest import holds
from tests.hostile.disk import FULL, Injection


@pytest.fixture
async def faulty(tmp_path, nursery):
    """A running store whose connections fail while ``injection.error`` is set."""
    injection = Injection()
    injection.install()
    try:
        store = Store(tmp_path / "store.db")
    finally:
        injection.uninstall()  # the store's connections stay wrapped
    await nursery.start(store.run)
    await nursery.start(store.run_maintenance, 0.05)
    yield store, injection
    nursery.cancel_scope.cancel()
    store.close()


def records(count: int) -> telemetry.BatchRows:
    return telemetry.BatchRows("V1", "TELTONIKA", "356307042441013", "2020-01-01T00:00:00.000Z", b"frame", tuple(
        telemetry.RecordRow(f"2020-01-01T00:00:{n:02d}.000Z", n.to_bytes(16, "big"), "{}", "{}")
        for n in range(count)), {})


async def test_a_failed_commit_counts_nothing_and_the_store_recovers_by_itself(faulty):
    store, injection = faulty
    recoveries = []
    store.on_recovered = lambda: recoveries.append(store.fault)
    injection.error = FULL
    with trio.fail_after(10):
        with pytest.raises(StoreError, match="database or disk is full"):
            await store.ingest(records(3))
        assert (store.records_new, store.records_duplicate, store.batches, store.faults["commit"]) == (0, 0, 0, 1)
        assert store.fault.kind == "commit" and store.fault.reason == "database or disk is full"
        # Refused while faulted, without another try at the disk.
        with pytest.raises(StoreError, match="the store cannot commit: database or disk is full"):
            await store.ingest(records(3))
        assert store.faults["commit"] == 1
        await eventually(lambda: holds(store.faults["probe"] >= 2))  # retried, in vain
        assert store.fault is not None

        injection.error = None
        await eventually(lambda: holds(store.fault is None))
        assert recoveries == [None]
        await store.ingest(records(3))
    assert (store.records_new, store.batches) == (3, 1)
    assert await store.read(lambda conn: conn.execute("SELECT count(*) FROM records").fetchone()[0]) == 3
