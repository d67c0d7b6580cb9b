"""fleetgate behind a real HAProxy (Debian's package), as deploy/haproxy.cfg sets it up:
units connect through the balancer, which sends the PROXY protocol version 2, and
HAProxy's HTTP health checks ask [cluster] health_listen."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
import trio

from tests.conftest import eventually, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.servers import HAPROXY, HAProxy, free_port, missing
from tests.teltonika_unit import ScriptedUnit, avl_packet

DEPLOY = Path(__file__).parents[2] / "deploy" / "haproxy.cfg"
STRANGER = "356307042441013"
REGISTERED = "356307042441021"


@pytest.fixture
def extra_config() -> str:
    return '[drivers.teltonika]\nproxy_protocol = true\n[cluster]\nhealth_listen = "127.0.0.1:0"\n'


@pytest.fixture
def haproxy_installed() -> None:
    if not HAPROXY.exists():
        missing("HAProxy is not installed (apt-get install haproxy)")


@pytest.fixture
async def balancer(gateway, tmp_path, haproxy_installed):
    """HAProxy in front of the test gateway's Teltonika listener; yields its port."""
    port = free_port()
    proxy = HAProxy(tmp_path, f"""
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
frontend units
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    option httpchk GET /health
    http-check expect status 200
    server gateway1 127.0.0.1:{listener_port(gateway, "teltonika")} send-proxy-v2 check port {gateway.health_port} inter 200ms rise 1
""")
    proxy.start()
    try:
        yield proxy, port
    finally:
        proxy.stop()


def test_the_shipped_configuration_is_valid(haproxy_installed):
    checked = subprocess.run([str(HAPROXY), "-c", "-f", str(DEPLOY)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_units_through_haproxy_keep_their_address_and_its_checks_find_the_gateway(gateway, api, balancer):
    proxy, port = balancer

    async def checked_up():
        found = (await trio.to_thread.run_sync(proxy.servers)).get(("gateways", "gateway1"), {})
        return found.get("status") == "UP" and found.get("check_status") == "L7OK" and found

    with trio.fail_after(30):
        await eventually(checked_up, timeout=20)
        stranger = await ScriptedUnit.connect(port, STRANGER)
        own = "%s:%d" % stranger.stream.socket.getsockname()[:2]
        assert await stranger.login() == b"\x00"
        listed = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
        assert {unit["id"]: unit["remote_address"] for unit in listed}[STRANGER] == own  # not HAProxy's

        vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", REGISTERED, TELTONIKA_MODEL))).json()
        unit = await ScriptedUnit.connect(port, REGISTERED)
        assert await unit.login() == b"\x01"
        await unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 52.5, "lon": 13.4}))
        assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
        assert (await api.get(f"/vehicles/{vehicle['id']}/state")).json()["position"]["value"]["lat"] == 52.5


async def test_the_health_port_says_only_whether_the_gateway_can_work(gateway):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.health_port}", timeout=10) as client:
        health = await client.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert (await client.get("/vehicles")).status_code == 404
        assert (await client.post("/health")).status_code == 404
