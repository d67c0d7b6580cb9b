"""JT/T 808 terminals end to end: individual passwords presented at every login, enrolment
by registration in a window the operator opens, commands matched by serial. The real gateway and the real simulator."""

from __future__ import annotations

import pytest

from simulators.fleet import FIELD
from simulators.jt808 import COUNTER_ITEM, run_fleet
from tests.conftest import eventually, listener_port
from tests.gateway.history import field_variants_sent, history
from tests.gateway.seed import JT808_MODEL, unit_body


@pytest.fixture
def extra_config() -> str:
    return "[commands]\ntimeout = 5\n"


async def _fleet(gateway, nursery, auth_code, version=2013, units=1, **options):
    port = listener_port(gateway, "jt808")
    return await nursery.start(lambda task_status: run_fleet(
        "127.0.0.1", port, units, 0.3, auth_code_for=lambda i: auth_code, version=version, retry_delay=0.2,
        task_status=task_status, **options))


async def _available(api) -> list[str]:
    return [u["id"] for u in (await api.get("/telematics-brands/JT808/available-telematics-units")).json()["items"]]


async def _wait_online_with_position(api, vehicle_id):
    async def ready():
        vehicle = (await api.get(f"/vehicles/{vehicle_id}")).json()
        state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
        return vehicle["life_status"]["value"] == "ONLINE" and "position" in state and state

    return await eventually(ready, timeout=15)


@pytest.mark.parametrize("version", [2013, 2019])
async def test_provisioned_unit_authenticates_with_its_password(gateway, api, nursery, version):
    report = await _fleet(gateway, nursery, "code-1234", version)
    unit = report.units[0]

    async def listed():
        return unit.phone in await _available(api)

    await eventually(listed)
    assert len(unit.phone) == (12 if version == 2013 else 20)
    vehicle = (await api.post("/vehicles", json=unit_body("JT808", unit.phone, JT808_MODEL,
                                                          password="code-1234"))).json()
    state = await _wait_online_with_position(api, vehicle["id"])
    assert 22 < state["position"]["value"]["lat"] < 23

    response = await api.post(f"/vehicles/{vehicle['id']}/commands/lock-central-lock")
    assert response.status_code == 200, response.text
    assert response.json()["central_lock"]["value"] == "LOCKED"
    assert unit.door_locked is True
    response = await api.post(f"/vehicles/{vehicle['id']}/commands/unlock-central-lock")
    assert response.status_code == 200 and response.json()["central_lock"]["value"] == "UNLOCKED"
    response = await api.post(f"/vehicles/{vehicle['id']}/commands/request-vehicle-state")
    assert response.status_code == 200, response.text
    nursery.cancel_scope.cancel()


async def test_unit_enrols_only_in_the_window_the_operator_opens(gateway, api, nursery):
    report = await _fleet(gateway, nursery, None)
    unit = report.units[0]

    async def refused_as_unknown():
        return unit.phone in await _available(api) and unit.stats.registrations_refused >= 1

    await eventually(refused_as_unknown)
    vehicle = (await api.post("/vehicles", json=unit_body("JT808", unit.phone, JT808_MODEL,
                                                          password="learned-code"))).json()
    # In a vehicle now, but without an open window its registrations are still refused.
    refused = unit.stats.registrations_refused

    async def refused_again():
        return unit.stats.registrations_refused > refused

    await eventually(refused_again)
    assert not unit.enrolled and await gateway.registry.enrol("JT808", unit.phone) == ("closed", None)

    url = f"/vehicles/{vehicle['id']}/telematics-unit/enrolment"
    assert (await api.post(url, json={"expires_in": 60})).status_code == 201
    await _wait_online_with_position(api, vehicle["id"])
    assert unit.enrolled and unit.auth_code == "learned-code"
    # The window closed with its first use.
    assert await gateway.registry.enrol("JT808", unit.phone) == ("closed", None)
    nursery.cancel_scope.cancel()


async def test_wrong_code_is_refused_every_time_and_stores_nothing(gateway, api, nursery):
    report = await _fleet(gateway, nursery, "not-the-code")
    unit = report.units[0]
    vehicle = (await api.post("/vehicles", json=unit_body("JT808", unit.phone, JT808_MODEL,
                                                          password="the-code"))).json()

    async def refused_twice():  # by password, not as an unknown unit before the POST
        return gateway.metrics.value("fleetgate_frames_refused_total", driver="jt808", reason="auth_failure") >= 2

    await eventually(refused_twice, timeout=15)
    # Counted when the gateway decides; the unit reads its refusal after the brake's delay.
    await eventually(lambda: unit.stats.logins_rejected >= 2, timeout=15)
    assert (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"] == []
    assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "OFFLINE"
    assert gateway.store.records_new == 0
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("unit_id", "status"), [
    ("4EB6FB4AD628", 201), ("4E000000013912345681", 201), ("013912345678", 201),
    ("4eb6fb4ad628", 400), ("4EB6FB4AD62", 400), ("4EB6FB4AD6280", 400), ("4EB6FB4AD62G", 400),
])
async def test_unit_ids_are_the_hex_digits_of_the_terminal_number(api, unit_id, status):
    created = await api.post("/vehicles", json=unit_body("JT808", unit_id, JT808_MODEL, password="pw-1"))
    assert created.status_code == status, created.text
    if status == 400:  # the hint says how the id is written
        assert "hex digits, upper case" in created.json()["detail"]


async def test_units_as_in_the_field_from_seen_to_state_every_location_stored_once(gateway, api, nursery):
    """--profile field: a terminal number that is not BCD, the 2019 flag on a 2013 header,
    vendor items, an item that runs past its body, 0x0900 messages. No session ends."""
    report = await _fleet(gateway, nursery, "code-1234", units=4, profile=FIELD)
    odd = report.units[3]
    assert not odd.phone.isdigit() and report.units[1].version_flag

    async def listed():
        return {unit.phone for unit in report.units} <= set(await _available(api))

    await eventually(listed)
    vehicles = {}
    for unit in report.units:
        created = await api.post("/vehicles", json=unit_body("JT808", unit.phone, JT808_MODEL, password="code-1234"))
        assert created.status_code == 201, created.text
        vehicles[unit.phone] = created.json()["id"]
    for unit in report.units:
        state = await _wait_online_with_position(api, vehicles[unit.phone])
        assert 22 < state["position"]["value"]["lat"] < 23

    await field_variants_sent(report)
    for unit in report.units:
        acked, kept = unit.stats.acked, unit.others_sent
        raw, locations = await history(api, vehicles[unit.phone])
        sequence = [int(location["raw"]["raw_items"][f"{COUNTER_ITEM:02x}"], 16) for location in locations]
        assert len(sequence) == len(set(sequence))  # each location stored once ...
        assert set(range(acked)) <= set(sequence)  # ... and every acknowledged one is there
        assert set(raw) == {"0x0900"} and len(raw) >= kept
    assert report.resent == 0  # no location had to go twice: no session ended after the login
    reasons = {dict(key)["reason"] for key in gateway.metrics._values["fleetgate_frames_refused_total"]}
    assert reasons == {"unknown_unit"}  # before the vehicles were added, nothing since
    counted = {dict(key)["message_type"] for key in gateway.metrics._values["fleetgate_frames_undecoded_total"]}
    assert "0x0900" in counted and counted & {"0x0200 item 0xe3", "0x0704 item 0xe3"}
    nursery.cancel_scope.cancel()


# --- bad input on a real connection: closed, counted, nothing stored -------------------

import trio  # noqa: E402

from drivers.jt808 import frames  # noqa: E402
from tests.drivers.vectors import load  # noqa: E402

BAD = [v for v in load("jt808") if v.from_unit and v.error is not None and v.state == "online"
       and v.extra.get("session", {}).get("protocol_version") is None and not v.eof]


@pytest.mark.parametrize("vector", BAD, ids=str)
async def test_bad_frames_after_authentication_close_without_reply(gateway, api, vector):
    unit_id = vector.extra["session"]["unit_id"]
    vehicle = (await api.post("/vehicles", json=unit_body("JT808", unit_id, JT808_MODEL, password="pw-1"))).json()
    stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "jt808"))
    with trio.fail_after(5):
        await stream.send_all(frames.frame(0x0102, unit_id, 1, b"pw-1"))
        reply = b""
        while reply.count(b"\x7e") < 2:
            reply += await stream.receive_some(100)
        assert reply[1:3] == b"\x80\x01" and reply[-3] == 0  # 0x8001, result 0: authenticated
        await stream.send_all(vector.data)
        assert await stream.receive_some(100) == b""  # closed, no reply
    reasons = [dict(k)["reason"] for k in gateway.metrics._values["fleetgate_frames_refused_total"]]
    assert reasons == [vector.error.reason]
    assert (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"] == []
