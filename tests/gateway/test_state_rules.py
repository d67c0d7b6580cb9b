"""State follows DESIGN.md's rules: per property, by device time; no fix, no position;
a clock far in the future is stored but does not update state."""

from __future__ import annotations

import time

import pytest
import trio

from tests.conftest import listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.teltonika_unit import ScriptedUnit, avl_packet

IMEI = "356307042441013"
NOW_MS = int(time.time() * 1000)


@pytest.fixture
async def setup(gateway, api):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
    assert await unit.login() == b"\x01"

    async def send(*records):
        await unit.stream.send_all(avl_packet(*records))
        with trio.fail_after(5):
            assert int.from_bytes(await unit.read_exactly(4), "big") == len(records)

    async def state():
        return (await api.get(f"/vehicles/{vehicle['id']}/state")).json()

    yield vehicle, send, state
    await unit.stream.aclose()


async def test_older_record_does_not_overwrite_newer_state(setup):
    vehicle, send, state = setup
    await send({"ms": NOW_MS, "lat": 52.5, "lon": 13.4, "io": {239: 1, 16: 5000}})
    await send({"ms": NOW_MS - 60_000, "lat": 48.1, "lon": 11.6, "io": {239: 0, 16: 4000}})  # buffered, late
    current = await state()
    assert current["position"]["value"] == {"lat": 52.5, "lon": 13.4}
    assert current["ignition"]["value"] == "ON"
    assert current["mileage_in_kilometers"]["value"] == 5.0
    assert current["position"]["timestamp"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(NOW_MS / 1000)))


async def test_properties_update_independently(setup):
    vehicle, send, state = setup
    await send({"ms": NOW_MS, "lat": 52.5, "lon": 13.4, "io": {239: 1}})
    # Later record without a fix: ignition moves on, position stays where the fix was.
    await send({"ms": NOW_MS + 1000, "lat": 0, "lon": 0, "sats": 0, "io": {239: 0}})
    current = await state()
    assert current["ignition"]["value"] == "OFF"
    assert current["ignition"]["timestamp"] > current["position"]["timestamp"]
    assert current["position"]["value"] == {"lat": 52.5, "lon": 13.4}


async def test_far_future_record_is_stored_but_does_not_update_state(setup, api):
    vehicle, send, state = setup
    await send({"ms": NOW_MS, "lat": 52.5, "lon": 13.4, "io": {239: 1}})
    await send({"ms": NOW_MS + 3600_000, "lat": 10.0, "lon": 10.0, "io": {239: 0}})
    current = await state()
    assert current["position"]["value"] == {"lat": 52.5, "lon": 13.4}
    assert current["ignition"]["value"] == "ON"
    items = (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"]
    assert len(items) == 2
    assert items[1]["state"]["position"] == {"lat": 10.0, "lon": 10.0}


async def test_distinct_records_at_the_same_instant_are_both_kept(setup, api):
    vehicle, send, state = setup
    await send({"ms": NOW_MS, "lat": 52.5, "lon": 13.4, "io": {239: 1}},
               {"ms": NOW_MS, "lat": 52.6, "lon": 13.4, "io": {239: 1}})
    await send({"ms": NOW_MS, "lat": 52.5, "lon": 13.4, "io": {239: 1}})  # a resend of the first
    items = (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"]
    assert sorted(i["state"]["position"]["lat"] for i in items) == [52.5, 52.6]


async def test_records_history_pages_by_device_time(setup, api):
    vehicle, send, state = setup
    for n in range(5):
        await send({"ms": NOW_MS + (4 - n) * 1000, "lat": 50 + n, "lon": 10, "io": {21: n}})
    url = f"/vehicles/{vehicle['id']}/records"
    first = (await api.get(url, params={"limit": 2})).json()
    assert [i["state"]["cellular_signal_quality"] for i in first["items"]] == [4, 3]
    second = (await api.get(url, params={"limit": 2, "page_token": first["next_page_token"]})).json()
    assert [i["state"]["cellular_signal_quality"] for i in second["items"]] == [2, 1]
    item = first["items"][0]
    assert set(item) == {"recorded_at", "received_at", "state", "raw"}
    assert item["raw"]["io"] == {"21": 4} and item["raw"]["codec"] == 8
    assert item["raw"]["position"]["latitude"] == 54
    # from is inclusive, to exclusive
    window = (await api.get(url, params={"from": first["items"][1]["recorded_at"],
                                         "to": second["items"][1]["recorded_at"]})).json()["items"]
    assert [i["state"]["cellular_signal_quality"] for i in window] == [3, 2]
    bad = await api.get(url, params={"from": "yesterday"})
    assert bad.status_code == 400 and "'from'" in bad.json()["detail"]
    assert (await api.get("/vehicles/NOPE1/records")).status_code == 404
    assert (await api.get("/vehicles/NOPE1/state")).status_code == 404
