"""A PostgreSQL store whose server drops the gateway's connections (a restart, a failover,
an administrator's pg_terminate_backend) is a storage fault like a full disk: nothing is
acknowledged that was not committed, and the gateway reconnects by itself."""

from __future__ import annotations

import pytest
import trio

from simulators.teltonika import imei_for
from tests.conftest import eventually, listener_port
from tests.hostile.conftest import holds
from tests.hostile.test_store_faults import add_vehicle, healthy
from tests.hostile.units import StreamingUnit, assert_acked_stored_once

UNITS = 10
INTERVAL = 0.05  # seconds between a unit's packets

pytestmark = pytest.mark.postgresql_only


async def test_dropped_server_connections_lose_no_acknowledged_record(gateway, api, postgres_server):
    database = gateway.config.store.url.rsplit("/", 1)[1]
    port = listener_port(gateway, "teltonika")
    units = [StreamingUnit(port, imei_for(n), INTERVAL) for n in range(UNITS)]
    for unit in units:
        await add_vehicle(api, unit.imei)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for unit in units:
                nursery.start_soon(unit.run)
            await eventually(lambda: holds(all(unit.acked for unit in units)), timeout=20)
            for _ in range(3):  # mid-stream, more than once: each time every connection of the gateway goes
                acked = [len(unit.acked) for unit in units]
                await trio.to_thread.run_sync(postgres_server.sql, (
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    f" WHERE datname = '{database}' AND pid <> pg_backend_pid()"))
                await eventually(lambda: healthy(api), timeout=10)
                await eventually(lambda: holds(all(len(u.acked) > n for u, n in zip(units, acked))), timeout=20)
            nursery.cancel_scope.cancel()

    await assert_acked_stored_once(gateway.store, units)
    assert gateway.store.fault is None
    # The writer's connection was lost at least once with a commit on it, or between two.
    assert gateway.store.faults["commit"] + gateway.store.faults["probe"] + gateway.store.faults["read"] >= 1


async def test_a_read_after_its_connection_was_dropped_reads_on_a_new_one(gateway, api, postgres_server):
    database = gateway.config.store.url.rsplit("/", 1)[1]
    vehicle = await add_vehicle(api, imei_for(0))
    readers = len(gateway.store._readers)
    await trio.to_thread.run_sync(postgres_server.sql, (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{database}' AND pid <> pg_backend_pid()"))
    for _ in range(2 * readers):  # every reader's connection is gone; none of the reads fails for it
        response = await api.get(f"/vehicles/{vehicle['id']}")
        assert response.status_code == 200, response.text
    assert gateway.store.faults["read"] == 0
