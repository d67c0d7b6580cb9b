"""Opening a JT/T 808 unit's enrolment window: POST /vehicles/{id}/telematics-unit/enrolment
and `fleetgate vehicles enrol`. The window closes with its first use or at its expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.clock import parse_rfc3339, utc_now
from tests.gateway.seed import JT808_MODEL, TELTONIKA_MODEL, unit_body
from tests.process import run_cli

PHONE = "013912345678"


@pytest.fixture
async def vehicle(api) -> dict:
    return (await api.post("/vehicles", json=unit_body("JT808", PHONE, JT808_MODEL, password="code-1"))).json()


def url(vehicle_id: str) -> str:
    return f"/vehicles/{vehicle_id}/telematics-unit/enrolment"


async def changes(api, vehicle_id: str) -> list[dict]:
    query = {"vehicle_id": vehicle_id, "event_types": ["VehicleChanged"]}
    return [event["data"] for event in (await api.post("/event-log-entries/query", json=query)).json()["items"]]


async def test_a_window_opens_for_one_registration_and_is_evented(gateway, api, vehicle):
    # No window after POST /vehicles, nor after a new password.
    assert await gateway.registry.enrol("JT808", PHONE) == ("closed", None)
    put = await api.put(f"/vehicles/{vehicle['id']}/telematics-unit/authentication", json={"password": "code-2"})
    assert put.status_code == 204
    assert await gateway.registry.enrol("JT808", PHONE) == ("closed", None)

    before = utc_now()
    response = await api.post(url(vehicle["id"]), json={"expires_in": 90})
    assert response.status_code == 201, response.text
    expires_at = parse_rfc3339(response.json()["expires_at"])
    assert before + timedelta(seconds=89) < expires_at < utc_now() + timedelta(seconds=91)

    assert await gateway.registry.enrol("JT808", PHONE) == ("accepted", "code-2")
    assert await gateway.registry.enrol("JT808", PHONE) == ("closed", None)
    assert [data["reasons"] for data in await changes(api, vehicle["id"])][-2:] == [["ENROLMENT_OPENED"],
                                                                                  ["ENROLLED"]]
    assert (await changes(api, vehicle["id"]))[-2]["enrolment_expires_at"] == response.json()["expires_at"]


async def test_an_expired_window_gives_nothing(gateway, api, vehicle):
    assert (await api.post(url(vehicle["id"]), json={})).status_code == 201  # 600 s by default
    # Expired: the stored expiry moved into the past rather than a test that waits for it.
    await gateway.store.write(lambda conn: conn.execute(
        "UPDATE vehicles SET enrolment_expires_at = '2020-01-01T00:00:00.000Z'"))
    assert await gateway.registry.enrol("JT808", PHONE) == ("closed", None)


@pytest.mark.parametrize("body", [{"expires_in": 0}, {"expires_in": 86_401}, {"expires_in": "600"},
                                  {"expires_in": 1.5}, {"expires_in": 600, "unit": "x"}])
async def test_bad_bodies_are_400(api, vehicle, body):
    response = await api.post(url(vehicle["id"]), json=body)
    assert response.status_code == 400 and response.json()["type"] == "/problems/validation-error"


async def test_unknown_vehicles_and_brands_without_enrolment(api):
    response = await api.post(url("NOPE1"), json={"expires_in": 60})
    assert response.status_code == 404 and response.json()["type"] == "/problems/resource-not-found"
    teltonika = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    response = await api.post(url(teltonika["id"]), json={"expires_in": 60})
    assert response.status_code == 409 and response.json()["type"] == "/problems/conflicting-resource"
    assert "do not enrol" in response.json()["detail"]


async def test_the_cli_opens_a_window(gateway, vehicle):
    env = {"FLEETGATE_SOCKET": str(gateway.config.admin_socket)}
    result = await run_cli("vehicles", "enrol", vehicle["id"], "--expires-in", "120", env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith(f"vehicle {vehicle['id']}: its unit may register once, until ")
    assert await gateway.registry.enrol("JT808", PHONE) == ("accepted", "code-1")
