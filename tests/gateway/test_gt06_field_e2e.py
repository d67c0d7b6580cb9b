"""GT06 units as they are in the field, end to end on the real gateway (protocol_specs/gt06
spec.md §11): every real frame of protocol_specs/gt06/field.json with a good CRC through one
session, and a fleet of the simulator's field profile. No frame ends a session; each is
decoded as its vector says or kept raw and counted; every record is stored once."""

from __future__ import annotations

import json
from collections import Counter

import trio

from drivers.gt06 import frames
from simulators import fleet
from simulators.gt06 import imei_for, run_fleet
from tests.conftest import eventually, listener_port
from tests.drivers.vectors import groups
from tests.gateway.seed import CONCOX_MODEL, unit_body
from tests.gateway.test_undecoded import _read_exactly

GT06 = groups("gt06")
LOGIN = GT06.by_name["gt06-login"]
FIELD = [v for v in GT06.valid if v.name.startswith("field-") and v.state == "online"]


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def _reply_frames(data: bytes) -> list[bytes]:
    """The whole frames in ``data``, in order."""
    replies = []
    while data:
        header = 4 if data[:2] == frames.LONG_START else 3
        end = header + int.from_bytes(data[2:header], "big") + 2
        replies.append(data[:end])
        data = data[end:]
    return replies


def _expected_replies() -> list[bytes]:
    expected = []
    for vector in FIELD:
        for kind, reply in vector.expect.get("replies", {}).items():
            if reply:
                expected.append(bytes.fromhex(reply) if kind == "Acknowledge" else kind.encode())
    return expected


def _kept(vector) -> list[str]:
    """What the store holds for the vector's frame: a record's raw fields, or the frame kept raw."""
    expect = vector.expect
    if expect["event"] == "Undecoded":
        return [_canonical({"message_type": expect["message_type"], "hex": vector.data.hex().upper()})]
    kept = []
    for record in expect.get("records", ()):
        raw = dict(record["fields"])
        if record["position"]:
            raw["position"] = record["position"]
        kept.append(_canonical(raw))
    return kept


def _stored(item: dict) -> str:
    raw = item["raw"]
    if "undecoded" in raw:
        return _canonical({k: raw["undecoded"][k] for k in ("message_type", "hex")})
    return _canonical(raw)


async def _records(api, vehicle_id: str) -> list[dict]:
    return (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 500})).json()["items"]


def _series(metrics: str, name: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith(name + "{")}


async def test_every_real_frame_is_decoded_or_kept_raw_and_the_session_goes_on(gateway, api):
    unit_id = LOGIN.expect["unit_id"]
    vehicle = (await api.post("/vehicles", json=unit_body("CONCOX", unit_id, CONCOX_MODEL, password="pw-9"))).json()
    expected_replies = _expected_replies()
    with trio.fail_after(30):
        stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "gt06"))
        await stream.send_all(LOGIN.data)
        await _read_exactly(stream, len(bytes.fromhex(LOGIN.expect["replies"]["LoginAccepted"])))
        await stream.send_all(b"".join(v.data for v in FIELD))
        size = sum(len(r) if r != b"TimeAnswer" else 16 for r in expected_replies)  # 0x8A answers 6 bytes of time
        replies = _reply_frames(await _read_exactly(stream, size))
    assert len(replies) == len(expected_replies)
    for reply, expected in zip(replies, expected_replies):
        if expected == b"TimeAnswer":
            assert frames.parse_frame(reply).protocol == frames.TIME_REQUEST
        else:
            assert reply == expected

    kept = [entry for vector in FIELD for entry in _kept(vector)]

    async def all_stored():
        items = await _records(api, vehicle["id"])
        return {_stored(item) for item in items} == set(kept) and items

    items = await eventually(all_stored, timeout=20)
    # resends collapse; two untimed samples alike are two records unless they arrive in the same millisecond
    assert len(set(kept)) <= len(items) <= len(kept)

    counted = Counter(v.expect["message_type"] for v in FIELD if v.expect["event"] == "Undecoded")
    counted.update(label for v in FIELD for label in v.expect.get("undecoded", ()))
    metrics = (await api.get("/metrics")).text
    assert _series(metrics, "fleetgate_frames_undecoded_total") == {
        f'fleetgate_frames_undecoded_total{{driver="gt06",message_type="{label}"}}': float(n)
        for label, n in counted.items()}
    assert "fleetgate_frames_refused_total{" not in metrics
    assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "ONLINE"
    with trio.fail_after(5):  # and the session still takes the next record
        location = GT06.by_name["gt06-location"]
        await stream.send_all(location.data)
        reply = bytes.fromhex(location.expect["replies"]["Acknowledge"])
        assert await _read_exactly(stream, len(reply)) == reply
    await stream.aclose()


async def test_field_units_stay_connected_answer_commands_and_every_record_is_stored_once(gateway, api):
    imeis = [imei_for(i) for i in range(2)]
    vehicles = [(await api.post("/vehicles", json=unit_body("CONCOX", imei, CONCOX_MODEL, password=f"pw-{n}"))).json()
                for n, imei in enumerate(imeis)]
    async with trio.open_nursery() as units:
        report = await units.start(lambda task_status: run_fleet(
            "127.0.0.1", listener_port(gateway, "gt06"), 2, 0.1, password_for=lambda n: f"pw-{n}", retry_delay=0.2,
            profile=fleet.FIELD, heartbeat_every=2, alarm_every=5, reply_timeout=15, login_timeout=15,
            task_status=task_status))  # generous timeouts: a slow machine is no reason to reconnect

        async def a_while_driven():
            return all(unit.trip.steps >= 31 and unit.online for unit in report.units)

        await eventually(a_while_driven, timeout=20)
        # unit 0 answers in a 0x15 whose length byte is 0, unit 1 in a 0x21
        assert [u.response_protocol for u in report.units] == [frames.SHORT_RESPONSE, frames.LONG_RESPONSE]
        for vehicle in vehicles:
            response = await api.post(f"/vehicles/{vehicle['id']}/commands/disable-driving")
            assert response.status_code == 200, response.text
            assert response.json()["driving_enabled"]["value"] is False
        assert all(unit.oil_cut for unit in report.units)
        units.cancel_scope.cancel()

    for unit, vehicle in zip(report.units, vehicles):
        async def all_stored(unit=unit, vehicle=vehicle):
            return len(await _records(api, vehicle["id"])) == unit.records_sent

        await eventually(all_stored)
    assert report.reconnects == 0 and report.resent == 0  # no session ended, every reply came
    metrics = (await api.get("/metrics")).text
    assert "fleetgate_frames_refused_total{" not in metrics
    undecoded = _series(metrics, "fleetgate_frames_undecoded_total")
    assert set(undecoded) == {f'fleetgate_frames_undecoded_total{{driver="gt06",message_type="{t}"}}'
                              for t in ("0x13", "0xf1")}
    stored = {item["raw"].get("protocol") for item in await _records(api, vehicles[0]["id"])}
    assert {frames.LOCATION, frames.LOCATION_UTC, frames.LOCATION_4G, frames.STATUS, frames.HEARTBEAT_VOLTAGE,
            frames.ALARM, frames.ALARM_UTC, frames.LBS_MULTI, frames.WIFI, frames.INFORMATION} <= stored
