"""Connections that never send, up to the open-file limit: the admin API keeps its
descriptors, logged-in units keep their ACKs, a real unit still gets in, and running out
of descriptors is a counted, rate-limited log line, not a traceback per accept. The
gateway runs as a process with a low open-file limit."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest
import trio

from tests.conftest import eventually, gateway_config_toml
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.process import start_gateway, wait_exit, wait_until_serving
from tests.teltonika_unit import ScriptedUnit, avl_packet

OPEN_FILES, RESERVE = 300, 64
FLOOD = 600  # twice what the gateway could hold


@pytest.fixture
async def gateway_process(tmp_path, short_dir):
    socket_path = short_dir / "admin.sock"
    config = tmp_path / "fleetgate.toml"
    config.write_text(gateway_config_toml(
        tmp_path / "data", socket_path,
        f"[sessions]\nfd_reserve = {RESERVE}\nlogin_timeout = 120\n"
        # Only the descriptor budget limits the strangers here, not the listener's own caps.
        "[drivers.teltonika]\nmax_unauthenticated = 100000\naccepts_per_second = 100000\n"))
    log = tmp_path / "gateway.log"
    with open(log, "w") as stderr:
        process = start_gateway(config, stderr=stderr, open_files=OPEN_FILES)
    try:
        health = await wait_until_serving(process, socket_path)
        port = next(item["port"] for item in health["listeners"] if item["driver"] == "teltonika")
        transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=10) as api:
            yield api, port, socket_path, log
    finally:
        process.terminate()
        await wait_exit(process)


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = re.escape(name + (f"{{{wanted}}}" if wanted else "")) + r" (\S+)"
    found = re.search(f"^{pattern}$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def flood(port: int, count: int) -> list[trio.socket.SocketType]:
    """``count`` connections that never send; the kernel completes them before the gateway
    accepts, so they are all there at once."""
    silent = []
    for _ in range(count):
        sock = trio.socket.socket()
        await sock.connect(("127.0.0.1", port))
        silent.append(sock)
    return silent


async def acked(unit: ScriptedUnit) -> bool:
    await unit.stream.send_all(avl_packet({"ms": int(time.time() * 1000), "lat": 54.6872, "lon": 25.2797}))
    return await unit.read_exactly(4) == b"\x00\x00\x00\x01"


async def test_a_flood_of_silent_connections_leaves_the_admin_api_and_logged_in_units_alone(gateway_process):
    api, port, socket_path, log = gateway_process
    for imei in ("356307042441013", "356307042441014"):
        assert (await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))).status_code == 201
    with trio.fail_after(60):
        online = await ScriptedUnit.connect(port, "356307042441013")
        assert await online.login() == b"\x01"
        budget = metric((await api.get("/metrics")).text, "fleetgate_unit_fd_budget")
        assert 0 < budget < OPEN_FILES - RESERVE

        silent = await flood(port, FLOOD)

        async def at_the_budget():
            text = (await api.get("/metrics")).text
            return (metric(text, "fleetgate_connections_open", driver="teltonika") == budget
                    and metric(text, "fleetgate_connections_shed_total", driver="teltonika", reason="evicted")
                    == FLOOD - (budget - 1))

        # The newest strangers pushed the oldest out; the logged-in unit stayed.
        await eventually(at_the_budget)
        assert (await api.get("/vehicles")).status_code == 200
        assert await acked(online)
        # A unit arriving now gets in: the oldest stranger makes room.
        arriving = await ScriptedUnit.connect(port, "356307042441014")
        assert await arriving.login() == b"\x01"
        assert await acked(arriving)
        for sock in silent:
            sock.close()

        # Now the reserve is taken by admin clients (event-stream subscribers), so units
        # run into the open-file limit itself before their budget.
        subscribers = []
        for _ in range(RESERVE + 40):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(str(socket_path))
            client.sendall(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            subscribers.append(client)
        silent = await flood(port, FLOOD)
        await eventually(lambda: _logged(log, "Too many open files"), timeout=20)
        for client in subscribers:
            client.close()
        text = (await api.get("/metrics")).text  # the admin API has its descriptors back
        assert metric(text, "fleetgate_accept_errors_total", driver="teltonika", error="EMFILE") > 0
        assert await acked(online)
        for sock in silent:
            sock.close()
        # Units gone before the gateway stops, so that it stops at once.
        for unit in (online, arriving):
            await unit.stream.aclose()
        await eventually(lambda: _offline(api))
    gateway_log = log.read_text()
    assert "Traceback" not in gateway_log
    # One line now and then with a count, not one per failed accept.
    reports = [line for line in gateway_log.splitlines() if "Too many open files" in line]
    assert 1 <= len(reports) <= 3, reports


async def _logged(log, text: str) -> bool:
    return text in log.read_text()


async def _offline(api) -> bool:
    return metric((await api.get("/metrics")).text, "fleetgate_sessions", driver="teltonika") == 0
