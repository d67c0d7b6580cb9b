"""The HTTPS door: booking software on another machine uses the admin API over TLS with
OAuth2 client credentials; the admin socket stays the administrator's, with every right."""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
from pathlib import Path

import pytest
import trio

from gateway.store import telemetry
from tests.conftest import TEST_TIMEOUT, eventually, listener_port
from tests.gateway.door_client import bearer, door_client, door_config, door_url, new_api_client, token_of
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.gateway.test_events import SseReader
from tests.teltonika_unit import ScriptedUnit, avl_packet

IMEI = "356307042441013"
REPOSITORY = Path(__file__).parents[2]


@pytest.fixture
def extra_config(certificates) -> str:
    return door_config(certificates) + "[events]\nheartbeat = 0.2\n"


async def _vehicle_of_unit(api, imei: str) -> str | None:
    items = (await api.get("/vehicles", params={"q": imei})).json()["items"]
    return items[0]["id"] if items else None


async def test_a_booking_system_on_another_machine_adds_reads_and_commands(gateway, api, certificates):
    client = await new_api_client(api, "vehicles:read", "vehicles:write", "commands")
    env = {**os.environ, "CLIENT_ID": client["client_id"], "CLIENT_SECRET": client["client_secret"]}
    command = [sys.executable, "-m", "tests.gateway.oneapi_client", door_url(gateway), str(certificates.ca), IMEI]
    finished = []
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            async def booking_system():
                finished.append(await trio.run_process(command, cwd=REPOSITORY, env=env, capture_stdout=True,
                                                       capture_stderr=True, check=False))
            nursery.start_soon(booking_system)
            # The unit in the vehicle: it logs in once the booking system has added its vehicle.
            vehicle_id = await eventually(lambda: _vehicle_of_unit(api, IMEI), timeout=TEST_TIMEOUT)
            unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
            assert await unit.login() == b"\x01"
            await unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 52.5, "lon": 13.4}))
            assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
            assert await unit.read_command() == "setdigout 1"
            await unit.answer("DOUT1:1 Timeout:INFINITY DOUT2:0 Timeout:INFINITY")
    process = finished[0]
    assert process.returncode == 0, process.stderr.decode()
    steps = {step["step"]: step for step in map(json.loads, process.stdout.decode().splitlines())}
    assert {name: step["status"] for name, step in steps.items()} == {
        "token": 200, "add-vehicle": 201, "state": 200, "command": 200}
    token = steps["token"]["body"]
    assert token["token_type"] == "bearer" and token["expires_in"] == 900
    assert token["scope"] == "commands vehicles:read vehicles:write"
    assert steps["add-vehicle"]["body"]["id"] == vehicle_id
    assert steps["add-vehicle"]["body"]["master_data"]["license_plate"] == "RKL-832"
    assert steps["state"]["body"]["position"]["value"] == {"lat": 52.5, "lon": 13.4}
    assert steps["command"]["body"]["driving_enabled"]["value"] is False
    # The audit names the API client, not a uid.
    (audit,) = await gateway.store.read(telemetry.command_audit, vehicle_id)
    assert (audit["requested_by_client"], audit["requested_by"], audit["result"]) == (
        client["client_id"], None, "SUCCEEDED")


async def test_each_route_asks_for_its_scope(gateway, api, certificates):
    reader = await new_api_client(api, "vehicles:read", name="dashboard")
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    async with door_client(gateway, certificates) as door:
        headers = bearer(await token_of(door, reader))
        assert (await door.get(f"/vehicles/{vehicle['id']}", headers=headers)).json()["id"] == vehicle["id"]
        assert (await door.get(f"/vehicles/{vehicle['id']}/state", headers=headers)).status_code == 200
        assert (await door.get("/telematics-brands", headers=headers)).status_code == 200
        for method, url, scope in [("POST", f"/vehicles/{vehicle['id']}/commands/disable-driving", "commands"),
                                   ("DELETE", f"/vehicles/{vehicle['id']}", "vehicles:write"),
                                   ("GET", "/credentials", "credentials"),
                                   ("POST", "/event-log-entries/query", "events:read")]:
            refused = await door.request(method, url, headers=headers, json={} if method == "POST" else None)
            assert refused.status_code == 403, (url, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"] == "/problems/forbidden" and refused.json()["error"] == "insufficient_scope"
            assert refused.headers["www-authenticate"] == (
                f'Bearer realm="fleetgate", error="insufficient_scope", scope="{scope}"')
    assert (await gateway.registry.get_vehicle(vehicle["id"]))["id"] == vehicle["id"]  # not deleted
    assert await gateway.store.read(telemetry.command_audit, vehicle["id"]) == []  # nothing sent


async def test_without_a_token_only_health_and_the_document_answer(gateway, api, certificates):
    async with door_client(gateway, certificates) as door:
        health = await door.get("/health")
        assert health.status_code == 200 and health.json()["api"] == {"host": "127.0.0.1",
                                                                      "port": gateway.door["port"], "tls": True}
        assert (await door.get("/openapi.json")).json()["components"]["securitySchemes"]["oauth2"]
        missing = await door.get("/vehicles")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="fleetgate"'
        assert missing.json()["type"] == "/problems/unauthorized" and missing.json()["error"] == "invalid_token"
        made_up = await door.get("/vehicles", headers={"Authorization": "Bearer not-a-token-this-gateway-gave"})
        assert made_up.status_code == 401
        assert made_up.headers["www-authenticate"] == 'Bearer realm="fleetgate", error="invalid_token"'
        # The administrator's routes are not there at all, token or not.
        client = await new_api_client(api, "vehicles:read")
        headers = bearer(await token_of(door, client))
        for url in ("/api-clients", f"/api-clients/{client['id']}", "/metrics", "/docs", "/console/"):
            answer = await door.get(url, headers=headers)
            assert answer.status_code == 404, url
            assert answer.json()["type"] == "/problems/resource-not-found"
        assert (await door.post(f"/api-clients/{client['id']}/rotate", headers=headers)).status_code == 404
    # The socket: every right with no token, an Authorization header ignored, no token endpoint.
    assert (await api.get("/vehicles", headers={"Authorization": "Bearer nonsense"})).status_code == 200
    assert (await api.get("/metrics")).status_code == 200
    assert (await api.post("/auth/oauth/token", params={"grant_type": "client_credentials"},
                           auth=(client["client_id"], client["client_secret"]))).status_code == 404


async def test_plain_http_to_the_door_gets_no_http_answer(gateway):
    with trio.fail_after(TEST_TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", gateway.door["port"])
        async with stream:
            await stream.send_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            received = b""
            try:
                while chunk := await stream.receive_some():
                    received += chunk
            except trio.BrokenResourceError:  # reset instead of FIN
                pass
    assert b"HTTP/" not in received
    assert received[:1] in (b"", b"\x15")  # nothing, or a TLS alert record


def _handshake(port: int, newest: ssl.TLSVersion) -> str:
    """The TLS version agreed with a client offering TLS 1.0 up to ``newest``, or the failure."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = newest
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer what the door must refuse
    with socket.create_connection(("127.0.0.1", port), timeout=TEST_TIMEOUT) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                return tls.version()
        except (ssl.SSLError, ConnectionError) as exc:
            return f"refused: {exc}"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_the_door_speaks_tls_1_2_or_newer_only(gateway):
    port = gateway.door["port"]
    with trio.fail_after(TEST_TIMEOUT):
        assert await trio.to_thread.run_sync(_handshake, port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        assert await trio.to_thread.run_sync(_handshake, port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert (await trio.to_thread.run_sync(_handshake, port, ssl.TLSVersion.TLSv1_1)).startswith("refused")


async def test_an_event_stream_ends_when_its_client_is_removed(gateway, api, certificates):
    client = await new_api_client(api, "events:read", "vehicles:write")
    async with door_client(gateway, certificates) as door:
        headers = bearer(await token_of(door, client))
        with trio.fail_after(TEST_TIMEOUT):
            async with door.stream("GET", "/events", headers=headers) as response:
                assert response.status_code == 200
                reader = SseReader(response)
                vehicle = (await door.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL),
                                           headers=headers)).json()
                created = await reader.next()
                assert (created["event"], created["data"]["vehicle_id"]) == ("VehicleChanged", vehicle["id"])
                assert (await api.delete(f"/api-clients/{client['id']}")).status_code == 204
                dropped = await reader.next()
                assert dropped == {"id": None, "event": "StreamDropped",
                                   "data": {"reason": "token expired or revoked", "resume_after": created["id"]}}
