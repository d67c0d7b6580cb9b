"""A listener's own caps: connections not logged in (the oldest make room), all its
connections, and its accept rate."""

from __future__ import annotations

import pytest
import trio

from gateway.config import ListenerConfig
from gateway.listeners import UnitConnections, UnitListener
from gateway.metrics import Metrics
from tests.conftest import eventually, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.hostile.conftest import holds
from tests.teltonika_unit import ScriptedUnit, avl_packet

IMEIS = ["356307042441013", "356307042441014", "356307042441015"]


@pytest.fixture
def extra_config() -> str:
    return "[drivers.teltonika]\nmax_unauthenticated = 5\nmax_connections = 7\n"


def shed(gateway, reason: str) -> float:
    return gateway.metrics.value("fleetgate_connections_shed_total", driver="teltonika", reason=reason)


async def silent(port: int, count: int) -> list[trio.SocketStream]:
    connections = []
    for _ in range(count):
        connections.append(await trio.open_tcp_stream("127.0.0.1", port))
    return connections


async def closed(stream: trio.SocketStream) -> bool:
    return await stream.receive_some(16) == b""


async def test_the_oldest_strangers_make_room_and_logged_in_units_never_do(gateway, api):
    port = listener_port(gateway, "teltonika")
    for imei in IMEIS:
        await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))

    async def logs_in(imei: str) -> ScriptedUnit:
        unit = await ScriptedUnit.connect(port, imei)
        assert await unit.login() == b"\x01"
        return unit

    with trio.fail_after(20):
        strangers = await silent(port, 8)
        # Five may wait for their login at once: the three oldest were closed for the newest.
        for stranger in strangers[:3]:
            assert await closed(stranger)
        # A unit arriving then pushes out the oldest stranger left, logs in, and stays.
        units = [await logs_in(IMEIS[0])]
        assert await closed(strangers[3])
        units.append(await logs_in(IMEIS[1]))  # four strangers waiting, six connections: room
        strangers += await silent(port, 1)  # seven connections, five strangers
        units.append(await logs_in(IMEIS[2]))
        assert await closed(strangers[4])
        strangers += await silent(port, 1)  # over seven: the oldest stranger makes room
        assert await closed(strangers[5])
        await eventually(lambda: holds(shed(gateway, "evicted") == 6))
        assert shed(gateway, "connection_cap") == 0
        for stream in strangers[6:]:
            await stream.aclose()
        # Only logged-in units left and the cap reached: a newcomer is closed at once.
        await eventually(lambda: holds(_open(gateway) == 3))
        gateway.config.drivers.teltonika.max_connections = 3  # the listener reads its config live
        assert await closed((await silent(port, 1))[0])
        assert shed(gateway, "connection_cap") == 1
        for n, unit in enumerate(units):  # the logged-in units were never closed
            await unit.stream.send_all(avl_packet({"ms": 1_600_000_000_000 + n, "lat": 54.6872, "lon": 25.2797}))
            assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"


async def test_accepts_are_paced(autojump_clock):
    """Virtual time: a tenth of a second's worth at once, then one every 1/rate seconds."""
    listener = UnitListener("teltonika", ListenerConfig(port=0, accepts_per_second=20),
                            UnitConnections(fd_reserve=0, metrics=Metrics()), [])
    for _ in range(2):
        await listener._pace()
    assert trio.current_time() == 0
    for _ in range(3):
        await listener._pace()
    assert trio.current_time() == pytest.approx(0.15)


def _open(gateway) -> float:
    text = gateway.metrics.render()
    line = next(line for line in text.splitlines() if line.startswith('fleetgate_connections_open{driver="teltonika"}'))
    return float(line.split()[-1])
