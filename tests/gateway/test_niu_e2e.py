"""NIU scooters through the (simulated) NIU cloud: the seed's example end to end,
credentials the cloud rejects, faults that must not stop polling."""

from __future__ import annotations

import logging

import pytest

from simulators.niu_cloud import SimulatedCloud, serve
from tests.conftest import eventually
from tests.gateway.seed import NIU_MODEL_PLAIN, NIU_MODEL_WITH_TOP_CASE, niu_vehicle

SEED = "NBSG4C7B40647G5M"
OTHER = "NBSG0000000000A2"
SECRET = "fleet-secret-Berlin-42"


@pytest.fixture
async def cloud(nursery):
    cloud = SimulatedCloud([SEED, OTHER], client=("fleet-client", SECRET), command_delay=0.2)
    cloud.port = await nursery.start(serve, cloud, "127.0.0.1", 0)
    return cloud


@pytest.fixture
async def extra_config(cloud) -> str:
    return (f'[drivers.niu]\nbase_url = "http://127.0.0.1:{cloud.port}"\npoll_interval = 0.3\n'
            "request_timeout = 2\n[commands]\ntimeout = 8\n")


async def _credentials(api, secret=SECRET, name="Fleet Berlin") -> str:
    response = await api.post("/credentials", json={"brand": "NIU", "name": name, "client_id": "fleet-client",
                                                    "client_secret": secret})
    assert response.status_code == 201
    return response.json()["id"]


async def _state_with(api, vehicle_id, *names):
    async def ready():
        state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
        return state if set(names) <= set(state) else None

    return await eventually(ready, timeout=15)


async def test_seed_example_end_to_end(gateway, api, cloud):
    credentials_id = await _credentials(api)
    available = (await api.get("/telematics-brands/NIU/available-telematics-units")).json()["items"]
    assert sorted(u["id"] for u in available) == sorted([SEED, OTHER])
    assert all(u["remote_address"] == credentials_id for u in available)

    response = await api.post("/vehicles", json=niu_vehicle(credentials_id))
    assert response.status_code == 201, response.text
    vehicle = response.json()
    assert vehicle["capabilities"]["commands"][0] == "UNLOCK_TOP_CASE"
    assert vehicle["master_data"]["year_of_production"] == 2020
    available = (await api.get("/telematics-brands/NIU/available-telematics-units")).json()["items"]
    assert [u["id"] for u in available] == [OTHER]

    async def online():
        return (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "ONLINE"

    await eventually(online, timeout=15)
    state = await _state_with(api, vehicle["id"], "fuel_level_in_percent", "position", "driving_enabled",
                              "top_case_lock")
    assert 0 <= state["fuel_level_in_percent"]["value"] <= 100
    assert state["top_case_lock"]["value"] == "LOCKED" and state["driving_enabled"]["value"] is True

    response = await api.post(f"/vehicles/{vehicle['id']}/commands/unlock-top-case")
    assert response.status_code == 200, response.text
    assert response.json()["top_case_lock"]["value"] == "UNLOCKED"
    response = await api.post(f"/vehicles/{vehicle['id']}/commands/disable-driving")
    assert response.status_code == 200, response.text
    assert response.json()["driving_enabled"]["value"] is False
    response = await api.post(f"/vehicles/{vehicle['id']}/commands/draw-attention")
    assert response.status_code == 200, response.text
    audit = await gateway.store.read(lambda conn: [tuple(r) for r in conn.execute(
        "SELECT command, result FROM command_audit ORDER BY id")])
    assert audit == [("UNLOCK_TOP_CASE", "SUCCEEDED"), ("DISABLE_DRIVING", "SUCCEEDED"),
                     ("DRAW_ATTENTION", "SUCCEEDED")]
    # The model without a top case lacks the command, and its state shows no top case.
    await api.put(f"/vehicles/{vehicle['id']}/telematics-unit/setup", json={"vehicle_model_id": NIU_MODEL_PLAIN})
    refused = await api.post(f"/vehicles/{vehicle['id']}/commands/lock-top-case")
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/vehicle/command-not-supported"
    plain = (await api.get(f"/vehicles/{vehicle['id']}/state")).json()
    assert not [name for name in plain if name.startswith("top_case")]
    assert {"position", "fuel_level_in_percent", "driving_enabled"} <= set(plain)
    # Stored all the same: switched back, the vehicle shows its top case again.
    await api.put(f"/vehicles/{vehicle['id']}/telematics-unit/setup",
                  json={"vehicle_model_id": NIU_MODEL_WITH_TOP_CASE})
    assert (await api.get(f"/vehicles/{vehicle['id']}/state")).json()["top_case_lock"]["value"] == "UNLOCKED"


async def test_cloud_checks_on_post_vehicles(gateway, api, cloud, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = await _credentials(api, secret="not-the-secret", name="Wrong")
    response = await api.post("/vehicles", json=niu_vehicle(wrong))
    assert response.status_code == 400 and response.json()["type"] == "/problems/credentials-rejected"
    right = await _credentials(api)
    response = await api.post("/vehicles", json=niu_vehicle(right, unit_id="NBSGNOTLISTED0001"))
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/referenced-resource-not-found"
    assert "NBSGNOTLISTED0001" in response.json()["detail"]
    assert (await api.get("/vehicles")).json()["items"] == []
    assert "not-the-secret" not in caplog.text and SECRET not in caplog.text


async def test_unreachable_cloud_is_a_503(gateway, api, cloud):
    credentials_id = await _credentials(api)
    gateway.cloud.config.base_url = "http://127.0.0.1:9"  # nothing listens there
    gateway.cloud.forget(credentials_id)
    response = await api.post("/vehicles", json=niu_vehicle(credentials_id))
    assert response.status_code == 503 and response.json()["type"] == "/problems/service-unavailable"


async def test_rotated_secret_takes_effect_without_restart(gateway, api, cloud):
    credentials_id = await _credentials(api)
    cloud.logins.set_client("fleet-client", "rotated-secret")  # the vendor rotated it
    assert (await api.post("/vehicles", json=niu_vehicle(credentials_id))).status_code == 400
    await api.patch(f"/credentials/{credentials_id}", json={"client_secret": "rotated-secret"})
    assert (await api.post("/vehicles", json=niu_vehicle(credentials_id))).status_code == 201


async def test_faults_never_stop_polling(gateway, api, cloud):
    credentials_id = await _credentials(api)
    first = (await api.post("/vehicles", json=niu_vehicle(credentials_id))).json()
    second = (await api.post("/vehicles", json=niu_vehicle(credentials_id, unit_id=OTHER))).json()
    await _state_with(api, first["id"], "position")
    cloud.faults.expire_tokens()
    cloud.faults.token_error_next(2)
    cloud.faults.server_errors_next(6)
    polls_before = gateway.metrics.value("fleetgate_cloud_polls_total", result="ok")

    async def both_polled_again():
        return gateway.metrics.value("fleetgate_cloud_polls_total", result="ok") >= polls_before + 4

    await eventually(both_polled_again, timeout=20)
    cloud.faults.offline(OTHER)

    async def other_offline():
        return (await api.get(f"/vehicles/{second['id']}")).json()["life_status"]["value"] == "OFFLINE"

    await eventually(other_offline, timeout=15)
    assert (await api.get(f"/vehicles/{first['id']}")).json()["life_status"]["value"] == "ONLINE"
    refused = await api.post(f"/vehicles/{second['id']}/commands/draw-attention")
    assert refused.status_code == 409 and "offline" in refused.json()["detail"]
