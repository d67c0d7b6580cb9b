"""Where a vector has no reply, the real gateway sends nothing: a unit's answer that no
command waits for is taken without a word (every other vector lists its replies, checked
byte for byte by the driver tests). Each such vector of protocol_specs goes through a live
session, followed by a probe: the next bytes from the gateway are the probe's answer alone."""

from __future__ import annotations

from itertools import groupby

import trio

from drivers.jt808 import frames as jt808_frames
from drivers.teltonika import frames as teltonika_frames
from tests.conftest import listener_port
from tests.drivers.vectors import Vector, groups, replies
from tests.gateway.seed import CONCOX_MODEL, JT808_MODEL, TELTONIKA_MODEL, unit_body
from tests.gateway.test_undecoded import _read_exactly

GT06, JT808, TELTONIKA = groups("gt06"), groups("jt808"), groups("teltonika")


def unanswered(vectors: list[Vector]) -> list[Vector]:
    found = [v for v in vectors if not replies(v)]
    assert found and {v.expect["event"] for v in found} == {"CommandResponse"}
    return found


async def _probe_answers_alone(stream: trio.SocketStream, vectors: list[Vector], probe: bytes, answer: bytes) -> None:
    for vector in vectors:
        await stream.send_all(vector.data + probe)
        assert await _read_exactly(stream, len(answer)) == answer, vector.name


async def test_gt06_answers_no_command_answer(gateway, api):
    login, probe = GT06.by_name["gt06-login"], GT06.by_name["vl-heartbeat"]
    await api.post("/vehicles", json=unit_body("CONCOX", login.expect["unit_id"], CONCOX_MODEL, password="pw-1"))
    with trio.fail_after(20):
        stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "gt06"))
        await stream.send_all(login.data)
        accepted = replies(login)["LoginAccepted"]
        assert await _read_exactly(stream, len(accepted)) == accepted
        await _probe_answers_alone(stream, unanswered(GT06.valid), probe.data, replies(probe)["Acknowledge"])
    await stream.aclose()


async def test_teltonika_answers_no_command_answer(gateway, api):
    imei = "356307042441013"
    await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))
    with trio.fail_after(20):
        stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "teltonika"))
        await stream.send_all(teltonika_frames.ImeiPacket.build({"imei": imei.encode()}))
        assert await _read_exactly(stream, 1) == teltonika_frames.LOGIN_ACCEPT
        empty = teltonika_frames.frame(bytes([teltonika_frames.CODEC_8, 0, 0]))  # no records: counted 0
        await _probe_answers_alone(stream, unanswered(TELTONIKA.valid), empty, bytes(4))
    await stream.aclose()


def _session(vector: Vector) -> tuple[str, int | None]:
    return vector.extra["session"]["unit_id"], vector.extra["session"]["protocol_version"]


async def _jt808_answer(stream: trio.SocketStream) -> tuple[int, int, int]:
    """(answered id, answered serial, result) of the next frame, which must be a lone 0x8001."""
    data = b""
    while data.count(b"\x7e") < 2:
        chunk = await stream.receive_some(4096)
        assert chunk, "the gateway closed the session"
        data += chunk
    assert data.count(b"\x7e") == 2, data.hex()
    frame = jt808_frames.WireFrame.parse(data).content.value
    assert frame.header.message_id == jt808_frames.PLATFORM_RESPONSE
    answer = jt808_frames.GeneralResponse.parse(frame.body)
    return answer.reply_id, answer.reply_serial, answer.result


async def test_jt808_answers_no_command_answer(gateway, api):
    code = "probe-code"
    with trio.fail_after(20):
        for (unit_id, version), vectors in groupby(sorted(unanswered(JT808.valid), key=_session), key=_session):
            await api.post("/vehicles", json=unit_body("JT808", unit_id, JT808_MODEL, password=code))
            stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "jt808"))
            body = code.encode() if version is None else bytes([len(code)]) + code.encode() + bytes(35)
            await stream.send_all(jt808_frames.frame(jt808_frames.AUTHENTICATION, unit_id, 0, body, version))
            assert await _jt808_answer(stream) == (jt808_frames.AUTHENTICATION, 0, 0)
            for serial, vector in enumerate(vectors, start=1):
                probe = jt808_frames.frame(jt808_frames.HEARTBEAT, unit_id, serial, b"", version)
                await stream.send_all(vector.data + probe)
                assert await _jt808_answer(stream) == (jt808_frames.HEARTBEAT, serial, 0), vector.name
            await stream.aclose()
