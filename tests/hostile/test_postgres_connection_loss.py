"""A PostgreSQL store whose server drops the gateway's connections (a restart, a failover,
an administrator's pg_terminate_backend) is a storage fault like a full disk: nothing is
acknowledged that was not committed, and the gateway reconnects by itself."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
import trio

from gateway.clock import rfc3339
from simulators.teltonika import imei_for
from tests.conftest import eventually, listener_port
from tests.hostile.conftest import holds
from tests.hostile.test_store_faults import add_vehicle, healthy
from tests.hostile.units import StreamingUnit

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

    stored = Counter(await gateway.store.read(
        lambda conn: [tuple(row) for row in conn.execute("SELECT unit_id, recorded_at FROM records")]))
    for unit in units:
        for ms in unit.acked:
            assert stored[(unit.imei, rfc3339(datetime.fromtimestamp(ms / 1000, UTC)))] == 1, (unit.imei, ms)
    assert gateway.store.fault is None
    # The writer's connection was lost at least once with a commit on it, or between two.
    assert gateway.store.faults["commit"] + gateway.store.faults["probe"] + gateway.store.faults["read"] >= 1
