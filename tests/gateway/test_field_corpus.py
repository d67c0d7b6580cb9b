"""Real units' frames on a real gateway (issue 13): every frame with a valid checksum of
protocol_specs/<protocol>/field.json goes through a real session, after a login with the
frame's own identity where the protocol repeats it (a JT/T 808 header carries the terminal
number: a vehicle is registered for each number and the terminal authenticates with its
password first). None may end its session; each is answered as its protocol expects,
stored once, decoded to the vector's records or kept raw, and counted."""

from __future__ import annotations

import json
from collections import Counter
from itertools import groupby

import pytest
import trio

from drivers.jt808 import frames as jt808_frames
from drivers.teltonika import frames as teltonika_frames
from tests.conftest import eventually, listener_port
from tests.drivers.vectors import Vector, load
from tests.gateway.seed import JT808_MODEL, TELTONIKA_MODEL, unit_body

# the corpus: field.json vectors, which name the frames' origin
JT808 = [v for v in load("jt808") if v.extra.get("origin") and v.valid]
TELTONIKA = [v for v in load("teltonika") if v.extra.get("origin") and v.valid]
JT808_CODE = "corpus-code"  # the password of a terminal whose own 0x0102 is not in the corpus
PARALLEL = 32  # terminals connected at once


@pytest.fixture
def extra_config() -> str:
    return '[store]\nsynchronous = "NORMAL"\n'  # what is tested here is decoding, not durability: fewer fsyncs


def unit_of(vector: Vector) -> str:
    return vector.extra["session"]["unit_id"] if vector.state == "online" else vector.expect["unit_id"]


def kept(vectors: list[Vector]) -> Counter:
    """What the vectors leave in a vehicle's history, as (raw fields) -> count: each record
    once (resends and repeats collapse by device time and content), each frame kept raw."""
    records, undecoded = {}, Counter()
    for vector in vectors:
        expect = vector.expect
        if expect["event"] == "Undecoded":
            undecoded[json.dumps({"message_type": expect["message_type"], "hex": vector.data.hex().upper()})] += 1
        for record in expect.get("records", ()):
            raw = json.dumps({**record["fields"], "position": record["position"]}, sort_keys=True)
            records[(record["device_time"], raw)] = raw
    return undecoded + Counter(records.values())


async def stored(api, vehicle_id: str) -> Counter:
    items = (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 500})).json()["items"]
    return Counter(
        json.dumps({k: item["raw"]["undecoded"][k] for k in ("message_type", "hex")}) if "undecoded" in item["raw"]
        else json.dumps(item["raw"], sort_keys=True)
        for item in items
    )


async def hang_up(gateway, stream: trio.SocketStream, vehicle_id: str) -> None:
    """Close the unit's side and wait until the gateway has ended the session too."""
    await stream.aclose()

    async def ended():
        return gateway.sessions.get(vehicle_id) is None

    await eventually(ended)


def undecoded_counts(vectors: list[Vector]) -> Counter:
    """What the vectors count under fleetgate_frames_undecoded_total, by message type."""
    counts = Counter(v.expect["message_type"] for v in vectors if v.expect["event"] == "Undecoded")
    return counts + Counter(label for v in vectors for label in v.expect.get("undecoded", ()))


def assert_counted(gateway, driver: str, expected: Counter) -> None:
    got = {dict(key)["message_type"]: value
           for key, value in gateway.metrics._values.get("fleetgate_frames_undecoded_total", {}).items()
           if dict(key)["driver"] == driver}
    assert got == dict(expected)
    refused = [dict(key) for key in gateway.metrics._values.get("fleetgate_frames_refused_total", {})]
    assert [r for r in refused if r["driver"] == driver] == []


# --- JT/T 808 ---------------------------------------------------------------------------


class Jt808Link:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream, self.buffer = stream, b""

    async def frames(self, count: int) -> list:
        """The next ``count`` frames from the gateway, parsed."""
        while self.buffer.count(b"\x7e") < 2 * count:
            data = await self.stream.receive_some(4096)
            assert data, "the gateway closed the session"
            self.buffer += data
        out = []
        for _ in range(count):
            end = self.buffer.index(b"\x7e", 1) + 1
            out.append(jt808_frames.WireFrame.parse(self.buffer[:end]).content.value)
            self.buffer = self.buffer[end:]
        return out

    async def answers(self, vector: Vector, result: int) -> None:
        """The 0x8001 for each package of ``vector``, quoting its serial and id, with ``result``."""
        ctx = vector.expect["context"]
        for frame, serial in zip(await self.frames(len(ctx["serials"])), ctx["serials"]):
            assert frame.header.message_id == jt808_frames.PLATFORM_RESPONSE
            answer = jt808_frames.GeneralResponse.parse(frame.body)
            assert (answer.reply_serial, answer.reply_id, answer.result) == (serial, ctx["message_id"], result), vector


def jt808_authentication(unit_id: str, version: int | None, code: str) -> bytes:
    body = code.encode()
    if version is not None:
        body = bytes([len(body)]) + body + b"860000000000000" + bytes(20)
    return jt808_frames.frame(jt808_frames.AUTHENTICATION, unit_id, 0, body, version)


async def run_terminal(gateway, api, unit_id: str, vectors: list[Vector]) -> None:
    """One terminal's frames in corpus order on one connection, after its login."""
    registrations = [v for v in vectors if v.expect["event"] == "Registration"]
    (login, *more) = [v for v in vectors if v.expect["event"] == "Login"] or [None]
    assert not more
    online = [v for v in vectors if v.state == "online"]
    password = login.expect["password"] if login else JT808_CODE
    vehicle = (await api.post("/vehicles", json=unit_body("JT808", unit_id, JT808_MODEL, password=password))).json()
    stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "jt808"))
    link = Jt808Link(stream)
    if registrations:
        await api.post(f"/vehicles/{vehicle['id']}/telematics-unit/enrolment", json={"expires_in": 60})
    for n, registration in enumerate(registrations):  # the window's first use closes it
        await stream.send_all(registration.data)
        (reply,) = await link.frames(1)
        answer = jt808_frames.RegistrationReply.parse(reply.body)
        expected = (0, password.encode()) if n == 0 else (3, None)
        assert (answer.result, answer.auth_code) == expected, registration
    (version,) = {v.expect["context"]["protocol_version"] for v in vectors}  # its header edition
    if login:
        await stream.send_all(login.data)
        await link.answers(login, 0)
    else:
        await stream.send_all(jt808_authentication(unit_id, version, password))
        assert [jt808_frames.GeneralResponse.parse(f.body).result for f in await link.frames(1)] == [0]
    for vector in online:
        await stream.send_all(vector.data)
        if vector.expect["event"] != "CommandResponse":  # an answer nobody asked for is answered with nothing
            await link.answers(vector, 3 if vector.expect["event"] == "Undecoded" else 0)
    # The session takes frames in order: once a last heartbeat is answered, every frame before
    # it was stored (records are acknowledged after their commit), and the session still runs.
    await stream.send_all(jt808_frames.frame(jt808_frames.HEARTBEAT, unit_id, 0xFFFF, b"", version))
    assert [f.header.message_id for f in await link.frames(1)] == [jt808_frames.PLATFORM_RESPONSE]
    assert gateway.sessions.get(vehicle["id"]) is not None
    assert await stored(api, vehicle["id"]) == kept(online)
    await hang_up(gateway, stream, vehicle["id"])


async def test_every_real_jt808_frame_is_decoded_or_kept_raw_and_no_session_ends(gateway, api):
    terminals = [(unit, list(group)) for unit, group in groupby(sorted(JT808, key=unit_of), key=unit_of)]
    assert len(JT808) >= 140 and len(terminals) >= 100
    limiter = trio.CapacityLimiter(PARALLEL)

    async def one(unit_id, vectors):
        async with limiter:
            await run_terminal(gateway, api, unit_id, vectors)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for unit_id, vectors in terminals:
                nursery.start_soon(one, unit_id, vectors)
    assert_counted(gateway, "jt808", undecoded_counts(JT808))


# --- Teltonika ----------------------------------------------------------------------------


async def test_every_real_teltonika_frame_is_decoded_or_kept_raw_and_no_session_ends(gateway, api):
    logins = [v for v in TELTONIKA if v.expect["event"] == "Login"]
    packets = [v for v in TELTONIKA if v.state == "online"]
    assert len(packets) >= 50 and logins
    with trio.fail_after(60):
        for login in logins:  # TCP packets do not repeat the IMEI: every login, then all packets on the first
            imei = login.expect["unit_id"]
            vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))).json()
            stream = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "teltonika"))
            await stream.send_all(login.data)
            assert await stream.receive_some(1) == teltonika_frames.LOGIN_ACCEPT
            if login is logins[0]:
                for vector in packets:
                    await stream.send_all(vector.data)
                    answer = bytes.fromhex(vector.expect.get("replies", {}).get("Acknowledge", ""))
                    got = b""
                    while len(got) < len(answer):
                        data = await stream.receive_some(len(answer) - len(got))
                        assert data, f"the gateway closed the session after {vector.name}"
                        got += data
                    assert got == answer, vector.name
                # Packets are taken in order: once a last one without records is counted,
                # everything before it was stored.
                await stream.send_all(teltonika_frames.frame(bytes([teltonika_frames.CODEC_8, 0, 0])))
                assert await stream.receive_some(4) == bytes(4)
                assert await stored(api, vehicle["id"]) == kept(packets)
            assert gateway.sessions.get(vehicle["id"]) is not None
            await hang_up(gateway, stream, vehicle["id"])
    assert_counted(gateway, "teltonika", undecoded_counts(TELTONIKA))
