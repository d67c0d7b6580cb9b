"""Deleting a vehicle whose unit is streaming leaves no state row and no later event of
it (issue 15, item 9), however its unit's last packets and the deletion interleave."""

from __future__ import annotations

import trio

from gateway.clock import now_text
from simulators.teltonika import imei_for
from tests.conftest import eventually, listener_port
from tests.hostile.conftest import holds
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.hostile.units import StreamingUnit

ROUNDS = 5
UNITS = 5


def leftovers(conn, vehicle_ids: list[str]) -> list[tuple]:
    """State rows of the vehicles, and events of them logged after their deletion."""
    placeholders = ",".join("?" * len(vehicle_ids))
    state = conn.execute(
        f"SELECT 'state', vehicle_id, property FROM vehicle_state WHERE vehicle_id IN ({placeholders})", vehicle_ids,
    ).fetchall()
    later = conn.execute(
        f"SELECT 'event', e.vehicle_id, e.type FROM events e JOIN events deleted ON deleted.vehicle_id = e.vehicle_id"
        f" WHERE e.vehicle_id IN ({placeholders}) AND deleted.type = 'VehicleChanged'"
        " AND deleted.data LIKE '%\"DELETED\"%' AND e.id > deleted.id", vehicle_ids).fetchall()
    return [tuple(row) for row in state + later]


async def test_deleting_streaming_vehicles_leaves_no_state_and_no_later_event(gateway, api):
    imeis = [imei_for(n) for n in range(UNITS)]
    units = [StreamingUnit(listener_port(gateway, "teltonika"), imei, interval=0) for imei in imeis]
    deleted: list[str] = []
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for unit in units:
                nursery.start_soon(unit.run)
            for _ in range(ROUNDS):
                vehicles = []
                for imei in imeis:
                    response = await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))
                    vehicles.append(response.json()["id"])
                acked = [len(unit.acked) for unit in units]
                await eventually(lambda: holds(all(len(u.acked) > before + 10 for u, before in zip(units, acked))))

                started = now_text()
                async with trio.open_nursery() as deleting:
                    for vehicle_id in vehicles:
                        deleting.start_soon(api.delete, f"/vehicles/{vehicle_id}")
                deleted += vehicles
                # Once every unit has been refused as unknown since, each of its old
                # session's packets has been committed: they were queued before.
                await eventually(lambda: _all_seen_since(api, imeis, started))
            nursery.cancel_scope.cancel()
    assert await gateway.store.read(leftovers, deleted) == []


async def _all_seen_since(api, imeis: list[str], moment: str) -> bool:
    listed = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
    return {unit["id"] for unit in listed if unit["last_seen_at"] > moment} == set(imeis)
