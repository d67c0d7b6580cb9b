"""Teltonika units end to end: the real gateway, the real simulator, real sockets."""

from __future__ import annotations

from collections import Counter

import pytest
import trio

from simulators.fleet import FIELD
from simulators.teltonika import imei_for, run_fleet
from tests.conftest import eventually, listener_port, writer_held
from tests.gateway.history import field_variants_sent, history
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.teltonika_unit import ScriptedUnit


@pytest.fixture
def extra_config() -> str:
    return "[commands]\ntimeout = 5\n"


async def available(api, brand="TELTONIKA") -> list[str]:
    return [u["id"] for u in (await api.get(f"/telematics-brands/{brand}/available-telematics-units")).json()["items"]]


async def stored_records(runtime, vehicle_id: str) -> list[str]:
    """The device time of each stored record (the simulated unit's records are distinct in time)."""
    def rows(conn):
        return [r[0] for r in conn.execute("SELECT recorded_at FROM records WHERE vehicle_id = ?", (vehicle_id,))]
    return await runtime.store.read(rows)


async def test_unit_from_seen_to_commanded_to_removed(gateway, api, nursery):
    port = listener_port(gateway, "teltonika")
    report = await nursery.start(lambda task_status: run_fleet(
        "127.0.0.1", port, 1, 0.2, retry_delay=0.2, task_status=task_status))
    unit = report.units[0]

    # Unknown: refused, and listed as available.
    assert await eventually(lambda: _contains(available(api), unit.imei))
    await eventually(lambda: unit.stats.logins_rejected >= 1)  # listed at its commit, refused just after
    assert unit.stats.acked == 0

    created = await api.post("/vehicles", json=unit_body("TELTONIKA", unit.imei, TELTONIKA_MODEL))
    assert created.status_code == 201
    vehicle_id = created.json()["id"]
    assert unit.imei not in await available(api)

    async def online_with_state():
        vehicle = (await api.get(f"/vehicles/{vehicle_id}")).json()
        state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
        wanted = {"position", "ignition", "mileage_in_kilometers", "cellular_signal_quality", "driving_enabled"}
        return vehicle["life_status"]["value"] == "ONLINE" and wanted <= set(state) and state

    state = await eventually(online_with_state)
    assert state["driving_enabled"]["value"] is True
    assert 54 < state["position"]["value"]["lat"] < 55 and 25 < state["position"]["value"]["lon"] < 26
    assert state["ignition"]["value"] in ("ON", "OFF")
    assert 0 <= state["cellular_signal_quality"]["value"] <= 5

    response = await api.post(f"/vehicles/{vehicle_id}/commands/disable-driving")
    assert response.status_code == 200, response.text
    assert response.json()["driving_enabled"]["value"] is False
    assert unit.outputs[0] == 1  # the unit really switched DOUT1 on
    # ... and its next records say so too.
    records_after = await eventually(lambda: _records_with_dout1(api, vehicle_id))
    assert records_after

    response = await api.post(f"/vehicles/{vehicle_id}/commands/enable-driving")
    assert response.status_code == 200 and response.json()["driving_enabled"]["value"] is True
    audit = await gateway.store.read(
        lambda conn: [tuple(r) for r in conn.execute("SELECT command, result FROM command_audit ORDER BY id")])
    assert audit == [("DISABLE_DRIVING", "SUCCEEDED"), ("ENABLE_DRIVING", "SUCCEEDED")]

    # Drop the connection while a packet waits for its commit: it is committed but never
    # acknowledged, so the unit sends it again. Nothing acknowledged is lost, nothing is stored twice.
    async with writer_held(gateway.store):
        session = gateway.sessions.get(vehicle_id)
        await eventually(lambda: session._unacked)  # a packet decoded, its commit held back
        acked = unit.stats.acked
        gateway.sessions.close_vehicle(vehicle_id)

    async def resent_and_acknowledged():
        return unit.stats.resent and unit.stats.acked > acked and gateway.store.records_duplicate

    await eventually(resent_and_acknowledged)
    acked = unit.stats.acked
    device_times = Counter(await stored_records(gateway, vehicle_id))
    assert set(device_times.values()) == {1}  # the resent records were dropped as duplicates
    assert len(device_times) >= acked

    # DELETE closes the session and the unit is available again.
    assert (await api.delete(f"/vehicles/{vehicle_id}")).status_code == 204
    assert await eventually(lambda: _contains(available(api), unit.imei))
    assert gateway.sessions.get(vehicle_id) is None
    nursery.cancel_scope.cancel()


async def _contains(listing, item) -> bool:
    return item in await listing


async def _records_with_dout1(api, vehicle_id) -> bool:
    items = (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 500})).json()["items"]
    return any(item["state"].get("driving_enabled") is False for item in items)


async def test_commands_follow_every_rule(gateway, api, nursery):
    port = listener_port(gateway, "teltonika")
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    url = f"/vehicles/{vehicle['id']}/commands"

    offline = await api.post(f"{url}/disable-driving")
    assert offline.status_code == 409 and offline.json()["type"] == "/problems/vehicle/conflicting-state"
    assert "offline" in offline.json()["detail"]
    unsupported = await api.post(f"{url}/unlock-top-case")
    assert unsupported.status_code == 409
    assert unsupported.json()["type"] == "/problems/vehicle/command-not-supported"
    assert (await api.post("/vehicles/NOPE1/commands/disable-driving")).status_code == 404

    # A scripted unit that answers only when told: the first command is still waiting for
    # it when the second arrives, however busy the machine.
    unit = await ScriptedUnit.connect(port, "356307042441013")
    assert await unit.login() == b"\x01"
    await eventually(lambda: _is_online(api, vehicle["id"]))

    # Two at once: one runs, the other is refused as conflicting.
    results = []

    async def send():
        results.append(await api.post(f"{url}/disable-driving"))

    async with trio.open_nursery() as inner:
        inner.start_soon(send)
        inner.start_soon(send)
        assert await unit.read_command() == "setdigout 1"  # the first reached the unit
        await eventually(lambda: len(results) == 1)  # the second was refused meanwhile
        busy = results[0]
        assert busy.status_code == 409, busy.text
        assert busy.json()["type"] == "/problems/vehicle/conflicting-command"
        await unit.answer("DOUT1:1 Timeout:INFINITY DOUT2:0 Timeout:INFINITY")
    assert results[1].status_code == 200, results[1].text
    assert results[1].json()["driving_enabled"]["value"] is False
    nursery.cancel_scope.cancel()


async def _is_online(api, vehicle_id) -> bool:
    return (await api.get(f"/vehicles/{vehicle_id}")).json()["life_status"]["value"] == "ONLINE"


async def test_units_as_in_the_field_every_record_acknowledged_and_stored_once(gateway, api, nursery):
    """--profile field: signed IO values, Codec 8 Extended with NX values, Codec 13 messages.
    No session ends, every record is acknowledged and stored once, the rest kept raw."""
    vehicles = {}
    for i in range(4):
        created = await api.post("/vehicles", json=unit_body("TELTONIKA", imei_for(i), TELTONIKA_MODEL))
        vehicles[imei_for(i)] = created.json()["id"]
    port = listener_port(gateway, "teltonika")
    report = await nursery.start(lambda task_status: run_fleet(
        "127.0.0.1", port, 4, 0.2, retry_delay=0.2, profile=FIELD, task_status=task_status))

    await field_variants_sent(report)
    for unit in report.units:
        acked, kept = unit.stats.acked, unit.others_sent

        async def all_kept(unit=unit, kept=kept) -> bool:
            # A Codec 13 message gets no answer, so the unit cannot tell when it was stored.
            raw, _ = await history(api, vehicles[unit.imei])
            return len(raw) >= kept

        await eventually(all_kept)
        raw, records = await history(api, vehicles[unit.imei])
        assert len({item["recorded_at"] for item in records}) == len(records) >= acked  # once each, none lost
        assert set(raw) == {"codec 0x0d"}
        for item in records:  # signed values as Teltonika's table types them, their bytes beside them
            assert item["raw"]["io"]["19"] == -1000 and item["raw"]["io_hex"]["19"] == "fc18"
            assert item["raw"]["io"].get("256") == ("WVWZZZ1JZXW000001".encode().hex() if unit.index % 2 else None)
        state = (await api.get(f"/vehicles/{vehicles[unit.imei]}/state")).json()
        assert 54 < state["position"]["value"]["lat"] < 55
    assert report.resent == 0 and report.reconnects == 0 and report.logins_rejected == 0
    assert not gateway.metrics._values.get("fleetgate_frames_refused_total")  # no session ended
    assert gateway.metrics.value("fleetgate_frames_undecoded_total", driver="teltonika", message_type="codec 0x0d") >= 4
    nursery.cancel_scope.cancel()
