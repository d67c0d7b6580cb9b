"""Concox GT06 units end to end: the real gateway and the real GT06 simulator."""

from __future__ import annotations

import pytest
import trio

from simulators.gt06 import run_fleet
from tests.conftest import eventually, listener_port
from tests.drivers.vectors import load
from tests.gateway.seed import CONCOX_MODEL, unit_body

VECTORS = {v.name: v for v in load("gt06")}


@pytest.fixture
def extra_config() -> str:
    return "[commands]\ntimeout = 5\n[sessions]\nlogin_timeout = 2\nframe_timeout = 1\n"


async def _fleet(gateway, nursery, password_for, units=1):
    port = listener_port(gateway, "gt06")
    return await nursery.start(lambda task_status: run_fleet(
        "127.0.0.1", port, units, 0.3, password_for=password_for, retry_delay=0.2, task_status=task_status))


async def _available(api) -> list[str]:
    return [u["id"] for u in (await api.get("/telematics-brands/CONCOX/available-telematics-units")).json()["items"]]


async def test_unit_from_seen_to_commanded(gateway, api, nursery):
    report = await _fleet(gateway, nursery, lambda i: "s3cret-7")
    unit = report.units[0]

    async def listed():
        return unit.imei in await _available(api)

    await eventually(listed)
    assert unit.stats.acked == 0  # an unknown unit gets no reply at all

    created = await api.post("/vehicles", json=unit_body("CONCOX", unit.imei, CONCOX_MODEL, password="s3cret-7"))
    assert created.status_code == 201, created.text
    vehicle_id = created.json()["id"]

    async def online_with_position():
        vehicle = (await api.get(f"/vehicles/{vehicle_id}")).json()
        state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
        # position from a location packet, driving_enabled from a status heartbeat
        ready = vehicle["life_status"]["value"] == "ONLINE" and {"position", "driving_enabled"} <= set(state)
        return ready and state

    state = await eventually(online_with_position, timeout=15)
    assert 22 < state["position"]["value"]["lat"] < 23 and 114 < state["position"]["value"]["lon"] < 115
    assert state["driving_enabled"]["value"] is True

    response = await api.post(f"/vehicles/{vehicle_id}/commands/disable-driving")
    assert response.status_code == 200, response.text
    assert response.json()["driving_enabled"]["value"] is False
    assert unit.oil_cut is True

    async def next_record_says_cut():
        items = (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 500})).json()["items"]
        return any(i["state"].get("driving_enabled") is False for i in items)

    await eventually(next_record_says_cut)
    nursery.cancel_scope.cancel()


async def test_wrong_password_is_a_502_with_the_units_answer(gateway, api, nursery):
    report = await _fleet(gateway, nursery, lambda i: "the-real-one")
    unit = report.units[0]
    created = await api.post("/vehicles", json=unit_body("CONCOX", unit.imei, CONCOX_MODEL, password="a-wrong-one"))
    vehicle_id = created.json()["id"]

    async def has_state():
        state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
        return "driving_enabled" in state and state

    before = await eventually(has_state, timeout=15)
    response = await api.post(f"/vehicles/{vehicle_id}/commands/disable-driving")
    assert response.status_code == 502
    problem = response.json()
    assert problem["type"] == "/problems/telematics-unit/error"
    assert "Password error" in problem["detail"]
    assert "a-wrong-one" not in response.text
    assert unit.oil_cut is False
    after = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
    assert after["driving_enabled"] == before["driving_enabled"] or after["driving_enabled"]["value"] is True
    nursery.cancel_scope.cancel()


async def _until_closed(stream: trio.SocketStream) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    received = b""
    with trio.fail_after(5):
        while True:
            try:
                data = await stream.receive_some(100)
            except trio.BrokenResourceError:
                return received
            if not data:
                return received
            received += data


async def test_unknown_unit_hears_nothing_and_is_hung_up(gateway, api):
    login = VECTORS["gt06-login"]
    stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "gt06"))
    await stream.send_all(login.data)
    assert await _until_closed(stream) == b""  # no login reply: GT06 servers stay silent to a stranger
    # Why it was hung up first: a store that cannot commit also hangs up without a word.
    refused = gateway.metrics._values["fleetgate_frames_refused_total"]
    assert {dict(labels)["reason"]: count for labels, count in refused.items()} == {"unknown_unit": 1}
    assert await _available(api) == [login.expect["unit_id"]], f"store faults: {gateway.store.faults}"


@pytest.mark.parametrize("name", [v.name for v in VECTORS.values() if v.from_unit and v.error is not None
                                  and v.state in (None, "login")])
async def test_bad_frames_before_login_close_without_reply(gateway, name):
    vector = VECTORS[name]
    stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "gt06"))
    await stream.send_all(vector.data)
    assert await _until_closed(stream) == b""
    refused = {k: v for k, v in gateway.metrics._values["fleetgate_frames_refused_total"].items()}
    assert sum(refused.values()) == 1
    assert dict(next(iter(refused)))["reason"] in (vector.error.reason, "frame_timeout")


async def test_garbage_then_a_valid_login_is_not_lost(gateway, api):
    login = next(v for v in VECTORS.values() if v.from_unit and v.error is None and v.expect
                 and v.expect.get("event") == "Login")
    stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "gt06"))
    await stream.send_all(b"\x00\x11garbage\r\n" + login.data)
    imei = login.expect["unit_id"]

    async def listed():
        return imei in await _available(api)

    await eventually(listed)
    text = (await api.get("/metrics")).text
    assert 'fleetgate_bytes_discarded_total{driver="gt06"} 11' in text
    await stream.aclose()


@pytest.mark.parametrize("name", [v.name for v in VECTORS.values() if v.from_unit and v.error is not None
                                  and v.state == "online"])
async def test_bad_frames_after_login_close_without_reply(gateway, api, name):
    vector, login = VECTORS[name], VECTORS["gt06-login"]
    await api.post("/vehicles", json=unit_body("CONCOX", login.expect["unit_id"], CONCOX_MODEL, password="pw-1"))
    stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "gt06"))
    with trio.fail_after(5):
        await stream.send_all(login.data)
        reply = bytes.fromhex(login.expect["replies"]["LoginAccepted"])
        received = b""
        while len(received) < len(reply):
            received += await stream.receive_some(100)
        assert received == reply
        await stream.send_all(vector.data)
        assert await stream.receive_some(100) == b""
    reasons = [dict(k)["reason"] for k in gateway.metrics._values["fleetgate_frames_refused_total"]]
    assert reasons == [vector.error.reason]

    async def offline():
        return (await api.get("/vehicles")).json()["items"][0]["life_status"]["value"] == "OFFLINE"

    await eventually(offline)  # the closed session took the vehicle offline
