"""The TCP session runtime against scripted units: deadlines, bad input, persist-then-ACK,
command timeouts and refusals. Every byte is real, on 127.0.0.1."""

from __future__ import annotations

import os

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from gateway.session_table import DEADLINE_RESOLUTION
from tests.conftest import autojump, eventually, listener_port, writer_held
from tests.drivers.vectors import load
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.teltonika_unit import ScriptedUnit

IMEI = "356307042441013"
VECTORS = {v.name: v for v in load("teltonika")}
CODEC8_EXAMPLE = VECTORS["codec8-example-1"].data


@pytest.fixture
def extra_config() -> str:
    return "[sessions]\nlogin_timeout = 1\nframe_timeout = 1\nidle_timeout = 3\n[commands]\ntimeout = 1\n"


@pytest.fixture
async def vehicle(api):
    return (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()


@pytest.fixture
async def unit(gateway, api, vehicle):
    unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
    assert await unit.login() == b"\x01"
    await eventually(lambda: _life(api, vehicle["id"], "ONLINE"))  # stored: the session waits for its unit
    yield unit
    await unit.stream.aclose()


def refused(gateway, reason: str) -> float:
    return gateway.metrics.value("fleetgate_frames_refused_total", driver="teltonika", reason=reason)


async def test_unknown_unit_is_rejected_and_seen(gateway, api):
    stranger = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), "356307042441099")
    with trio.fail_after(5):
        assert await stranger.login() == b"\x00"
        assert await stranger.closed_by_gateway() == b""
    items = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
    assert [u["id"] for u in items] == ["356307042441099"]
    assert refused(gateway, "unknown_unit") == 1


@pytest.mark.parametrize("name,reason", [
    ("bad-crc", "checksum"),
    ("wrong-preamble", "frame"),
    ("length-beyond-max-frame", "length"),
    ("codec12-command-from-unit", "unexpected"),
])
async def test_bad_frames_close_the_connection_without_ack(gateway, api, vehicle, unit, name, reason):
    with trio.fail_after(5):
        await unit.stream.send_all(VECTORS[name].data)
        assert await unit.closed_by_gateway() == b""  # no ACK, then closed
    assert refused(gateway, reason) == 1
    assert (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"] == []
    metrics = (await api.get("/metrics")).text
    assert f'fleetgate_frames_refused_total{{driver="teltonika",reason="{reason}"}} 1' in metrics
    # The gateway itself is fine: the unit logs in again.
    again = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
    assert await again.login() == b"\x01"


async def test_garbage_before_login(gateway):
    stranger = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
    with trio.fail_after(5):
        await stranger.stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await stranger.closed_by_gateway() == b""
    assert refused(gateway, "frame") + refused(gateway, "length") == 1


# Deadlines on trio's mock clock (tests/conftest.autojump): the seconds pass at once, and the
# time a connection closes is exact, up to the quarter second between deadline sweeps.


async def test_a_client_that_never_sends_meets_the_login_deadline(gateway, clock):
    with autojump(clock), trio.fail_after(60):
        start = trio.current_time()
        silent = await trio.open_tcp_stream("127.0.0.1", listener_port(gateway, "teltonika"))
        assert await silent.receive_some(10) == b""
        closed = trio.current_time() - start
    assert 1 <= closed <= 1 + DEADLINE_RESOLUTION  # by the 1 s login deadline, not before
    assert refused(gateway, "login_timeout") == 1


async def _trickle(stream: trio.SocketStream, data: bytes, every: float) -> None:
    """A unit that sends ``data`` one byte at a time, until the gateway hangs up."""
    for byte in data:
        try:
            await stream.send_all(bytes([byte]))
        except trio.BrokenResourceError:
            return
        await trio.sleep(every)


async def test_one_byte_every_few_hundred_ms_meets_the_frame_deadline(gateway, vehicle, unit, clock):
    with autojump(clock), trio.fail_after(60):
        first_byte = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_trickle, unit.stream, CODEC8_EXAMPLE, 0.3)
            assert await unit.closed_by_gateway() == b""
            closed = trio.current_time() - first_byte
    assert 1 <= closed <= 1 + DEADLINE_RESOLUTION  # by the 1 s frame deadline, though bytes kept coming
    assert refused(gateway, "frame_timeout") == 1


async def test_idle_unit_is_closed(gateway, vehicle, unit, api, clock):
    with autojump(clock), trio.fail_after(60):
        since = trio.current_time()
        assert await unit.closed_by_gateway() == b""
        closed = trio.current_time() - since
    assert closed <= 3 + DEADLINE_RESOLUTION  # the 3 s idle deadline, counted from the unit's last frame
    assert refused(gateway, "idle_timeout") == 1
    await eventually(lambda: _life(api, vehicle["id"], "OFFLINE"))


async def _life(api, vehicle_id, value) -> bool:
    return (await api.get(f"/vehicles/{vehicle_id}")).json()["life_status"]["value"] == value


async def test_ack_waits_for_the_commit(gateway, api, vehicle, unit):
    """Hold the store's writer thread; the ACK must not come until the records are committed."""
    def decoded() -> float:
        return gateway.metrics.value("fleetgate_frames_received_total", driver="teltonika")

    before = decoded()
    async with writer_held(gateway.store):
        await unit.stream.send_all(CODEC8_EXAMPLE)
        await eventually(lambda: decoded() > before)
        await wait_all_tasks_blocked()  # decoded, its commit queued; whatever the session sends is sent
        with pytest.raises(BlockingIOError):
            os.read(unit.stream.socket.fileno(), 4)  # nothing to read: no ACK before the commit
        assert (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"] == []
    with trio.fail_after(5):
        assert await unit.read_exactly(4) == bytes.fromhex(VECTORS["codec8-example-1"].expect["replies"]["Acknowledge"])
    items = (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"]
    assert [i["recorded_at"] for i in items] == ["2019-06-10T10:04:46.000Z"]


async def test_resent_records_are_stored_once(gateway, api, vehicle, unit):
    with trio.fail_after(5):
        for _ in range(3):
            await unit.stream.send_all(CODEC8_EXAMPLE)
            assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"  # each resend is acknowledged
    items = (await api.get(f"/vehicles/{vehicle['id']}/records")).json()["items"]
    assert len(items) == 1
    assert (gateway.store.records_new, gateway.store.records_duplicate) == (1, 2)
    metrics = (await api.get("/metrics")).text
    assert "fleetgate_records_stored_total 1\n" in metrics and "fleetgate_records_duplicate_total 2\n" in metrics


async def test_failed_commit_means_no_ack_and_a_closed_connection(gateway, vehicle, unit):
    await gateway.store.write(lambda conn: conn.execute("ALTER TABLE records RENAME TO records_away"))
    with trio.fail_after(5):
        await unit.stream.send_all(CODEC8_EXAMPLE)
        assert await unit.closed_by_gateway() == b""
    assert refused(gateway, "commit_failed") == 1


async def test_command_timeout_then_late_answer_is_never_taken(gateway, api, vehicle, unit):
    url = f"/vehicles/{vehicle['id']}/commands"
    async with trio.open_nursery() as nursery:
        responses = []

        async def post(command):
            responses.append(await api.post(f"{url}/{command}"))

        nursery.start_soon(post, "disable-driving")
        assert await unit.read_command() == "setdigout 1"
        # A second command while the first waits: conflicting.
        busy = await api.post(f"{url}/enable-driving")
        assert busy.status_code == 409 and busy.json()["type"] == "/problems/vehicle/conflicting-command"
    timeout = responses[0]
    assert timeout.status_code == 504 and timeout.json()["type"] == "/problems/telematics-unit/timeout"
    # Codec 12 has no correlation: the session is closed, so the late answer can reach nobody.
    with trio.fail_after(5):
        try:
            await unit.answer("DOUT1:1 Timeout:INFINITY DOUT2:0 Timeout:INFINITY")
        except trio.BrokenResourceError:
            pass
        await unit.closed_by_gateway()
    assert refused(gateway, "idle_timeout") == 0  # closed by the command's timeout, not by the idle deadline
    after = await api.post(f"{url}/disable-driving")
    assert after.status_code == 409 and after.json()["type"] == "/problems/vehicle/conflicting-state"
    state = (await api.get(f"/vehicles/{vehicle['id']}/state")).json()
    assert "driving_enabled" not in state
    audit = await gateway.store.read(
        lambda conn: [tuple(r) for r in conn.execute("SELECT command, result FROM command_audit ORDER BY id")])
    assert audit == [("DISABLE_DRIVING", "TIMEOUT")]


async def test_refusal_is_502_with_the_units_answer(gateway, api, vehicle, unit):
    async with trio.open_nursery() as nursery:
        responses = []

        async def post():
            responses.append(await api.post(f"/vehicles/{vehicle['id']}/commands/disable-driving"))

        nursery.start_soon(post)
        assert await unit.read_command() == "setdigout 1"
        await unit.answer("DOUT1:IGNORED DOUT2:IGNORED")
    refusal = responses[0]
    assert refusal.status_code == 502
    assert refusal.json()["type"] == "/problems/telematics-unit/error"
    assert "DOUT1:IGNORED" in refusal.json()["detail"]


async def test_newer_login_replaces_the_old_session(gateway, api, vehicle, unit):
    newer = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
    with trio.fail_after(5):
        assert await newer.login() == b"\x01"
        assert await unit.closed_by_gateway() == b""
    # The old session has ended once every task waits; what it queued commits before this write.
    await wait_all_tasks_blocked()
    await gateway.store.write(lambda conn: None)
    assert await _life(api, vehicle["id"], "ONLINE")
    await newer.stream.send_all(CODEC8_EXAMPLE)
    with trio.fail_after(5):
        assert await newer.read_exactly(4) == b"\x00\x00\x00\x01"


async def test_delete_closes_the_session(gateway, api, vehicle, unit):
    assert (await api.delete(f"/vehicles/{vehicle['id']}")).status_code == 204
    with trio.fail_after(5):
        assert await unit.closed_by_gateway() == b""
    assert refused(gateway, "idle_timeout") == 0  # closed by the deletion, not by the idle deadline
