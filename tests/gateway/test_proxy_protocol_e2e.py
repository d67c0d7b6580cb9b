"""Units behind a TCP load balancer that sends the PROXY protocol (`[drivers.*]
proxy_protocol = true`): the gateway sees each unit's own address, and a connection
without the header is closed and counted."""

from __future__ import annotations

import pytest
import trio

from tests.conftest import eventually, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.gateway.test_proxy_protocol import V2_TCP4
from tests.teltonika_unit import ScriptedUnit, avl_packet

STRANGER = "356307042441013"
REGISTERED = "356307042441021"


@pytest.fixture
def extra_config() -> str:
    return "[drivers.teltonika]\nproxy_protocol = true\n"


async def _available(api) -> dict[str, str]:
    items = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
    return {unit["id"]: unit["remote_address"] for unit in items}


async def test_units_are_known_by_the_address_the_balancer_reports(gateway, api):
    port = listener_port(gateway, "teltonika")
    with trio.fail_after(20):
        stranger = await ScriptedUnit.connect(port, STRANGER)
        await stranger.stream.send_all(V2_TCP4)  # from 203.0.113.7:40001
        assert await stranger.login() == b"\x00"
        assert (await eventually(lambda: _available(api)))[STRANGER] == "203.0.113.7:40001"

        vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", REGISTERED, TELTONIKA_MODEL))).json()
        unit = await ScriptedUnit.connect(port, REGISTERED)
        await unit.stream.send_all(b"PROXY TCP6 2001:db8::7 2001:db8::1 40002 5027\r\n")
        assert await unit.login() == b"\x01"
        await unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 52.5, "lon": 13.4}))
        assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
        state = (await api.get(f"/vehicles/{vehicle['id']}/state")).json()
        assert state["position"]["value"]["lat"] == 52.5


async def test_a_connection_without_the_header_is_closed_and_counted(gateway, api):
    unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), STRANGER)
    with trio.fail_after(20):
        with pytest.raises(EOFError):
            await unit.login()  # its login where the header should be
    assert gateway.metrics.value("fleetgate_frames_refused_total", driver="teltonika", reason="proxy_header") == 1
    assert STRANGER not in await _available(api)


@pytest.mark.parametrize("extra_config", [
    '[drivers.teltonika]\nproxy_protocol = true\nproxy_protocol_from = ["10.0.0.5", "192.0.2.0/24"]\n'])
async def test_a_header_from_a_peer_that_is_not_a_balancer_is_not_believed(gateway, api):
    unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), STRANGER)
    with trio.fail_after(20):  # 127.0.0.1 is not a balancer: hung up before it says a word
        assert await unit.stream.receive_some(64) == b""
    assert gateway.metrics.value("fleetgate_frames_refused_total", driver="teltonika",
                                 reason="proxy_untrusted") == 1
    assert STRANGER not in await _available(api)
