"""A well-framed frame with a good checksum never ends a session by itself (DESIGN.md "How
bytes flow" 8): a message type the driver does not decode is kept raw beside the unit's
records, counted, answered as its protocol expects, and the unit's next record is stored
and acknowledged on the same connection. The real gateway, a raw socket per unit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio

from drivers.jt808 import frames as jt808_frames
from drivers.teltonika import frames as teltonika_frames
from tests.conftest import eventually, listener_port
from tests.drivers.vectors import groups
from tests.gateway.seed import CONCOX_MODEL, JT808_MODEL, TELTONIKA_MODEL, unit_body

GT06 = groups("gt06").by_name
JT808 = groups("jt808").by_name
TELTONIKA = groups("teltonika").by_name
JT808_CODE = b"e2e-code"


@dataclass(frozen=True)
class Case:
    driver: str
    brand: str
    model: str
    unit_id: str
    password: str | None
    login: bytes
    login_reply: int  # bytes the gateway answers an accepted login with
    unknown: str  # vector name of the frame the driver keeps raw
    record: str  # vector name of a location frame that follows it
    vectors: dict

    def __str__(self) -> str:
        return self.driver


CASES = [
    Case("gt06", "CONCOX", CONCOX_MODEL, "123456789012345", "e2e-pass", GT06["gt06-login"].data, 10,
         "unknown-protocol", "gt06-location", GT06),
    Case("teltonika", "TELTONIKA", TELTONIKA_MODEL, "356307042441013", None,
         teltonika_frames.ImeiPacket.build({"imei": b"356307042441013"}), 1, "codec13-not-supported",
         "codec8-example-1", TELTONIKA),
    Case("jt808", "JT808", JT808_MODEL, "002002604323", JT808_CODE.decode(),
         jt808_frames.frame(jt808_frames.AUTHENTICATION, "002002604323", 0, JT808_CODE), 20, "unsupported-message",
         "location-huabao", JT808),
]


async def _read_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        assert chunk, f"the gateway closed the connection after {data.hex()}"
        data += chunk
    return data


def _jt808_replies(data: bytes) -> list:
    """The 0x8001 bodies in ``data``, one per frame."""
    pieces = [b"\x7e" + part + b"\x7e" for part in data.strip(b"\x7e").split(b"\x7e\x7e")]
    parsed = [jt808_frames.WireFrame.parse(piece).content.value for piece in pieces]
    assert all(p.header.message_id == jt808_frames.PLATFORM_RESPONSE for p in parsed)
    return [jt808_frames.GeneralResponse.parse(p.body) for p in parsed]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_unknown_frame_is_kept_raw_counted_answered_and_the_session_goes_on(gateway, api, case: Case):
    auth = {"password": case.password} if case.password else {}
    vehicle = (await api.post("/vehicles", json=unit_body(case.brand, case.unit_id, case.model, **auth))).json()
    unknown, record = case.vectors[case.unknown], case.vectors[case.record]
    with trio.fail_after(20):
        stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, case.driver))
        await stream.send_all(case.login)
        await _read_exactly(stream, case.login_reply)
        await stream.send_all(unknown.data + record.data)
        unknown_reply = bytes.fromhex(unknown.expect["replies"]["Acknowledge"])
        record_reply = bytes.fromhex(record.expect["replies"]["Acknowledge"])
        replies = await _read_exactly(stream, len(unknown_reply) + len(record_reply))
        if case.driver == "jt808":  # the platform's own serials differ from the vectors'
            answers = _jt808_replies(replies)
            answered = [(v.expect["context"]["serials"][0], v.expect["context"]["message_id"]) for v in (unknown, record)]
            assert [(a.reply_serial, a.reply_id, a.result) for a in answers] == [(*answered[0], 3), (*answered[1], 0)]
        else:
            assert replies == unknown_reply + record_reply

    async def both_stored():
        items = (await api.get(f"/vehicles/{vehicle['id']}/records", params={"limit": 10})).json()["items"]
        return len(items) == 2 and items

    items = await eventually(both_stored)
    kept = [item for item in items if "undecoded" in item["raw"]]
    assert len(kept) == 1 and kept[0]["state"] == {}
    assert kept[0]["raw"]["undecoded"]["message_type"] == unknown.expect["message_type"]
    assert kept[0]["raw"]["undecoded"]["hex"] == unknown.data.hex().upper()
    assert kept[0]["recorded_at"] == kept[0]["received_at"]  # no device time: stamped on arrival
    assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "ONLINE"
    metrics = (await api.get("/metrics")).text
    series = f'fleetgate_frames_undecoded_total{{driver="{case.driver}",message_type="{unknown.expect["message_type"]}"}} 1'
    assert series in metrics.splitlines()
    assert f'fleetgate_frames_refused_total{{driver="{case.driver}"' not in metrics
    events = (await api.post("/event-log-entries/query", json={"vehicle_id": vehicle["id"],
                                                              "event_types": ["VehicleStateRecorded"]})).json()
    assert len(events["items"]) == 1  # the frame kept raw gave no state, so it logs no event
    await stream.aclose()
