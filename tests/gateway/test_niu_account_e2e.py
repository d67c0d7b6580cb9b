"""A NIU owner's account end to end: stored with the CLI, its scooters listed from the
(simulated) cloud, one registered with the seed's body, its state within one poll
interval, commands confirmed by the cloud's own state, and neither the password nor its
MD5 anywhere they could leak. The fleet API's host is dead here: only account_url and
app_url may be used."""

from __future__ import annotations

import json
import logging

import pytest

from drivers.niu.login import password_md5
from gateway.config import load_config
from simulators.niu_cloud import SimulatedCloud, serve
from tests.conftest import eventually
from tests.gateway.seed import niu_account, niu_vehicle
from tests.process import run_cli

SEED = "NBSG4C7B40647G5M"
OTHER = "NBSG0000000000A2"
ACCOUNT, PASSWORD = niu_account()["account"], niu_account()["password"]
SECRETS = (PASSWORD, password_md5(PASSWORD))


@pytest.fixture
async def cloud(nursery):
    cloud = SimulatedCloud([SEED, OTHER], account=(ACCOUNT, PASSWORD), command_delay=0.2)
    cloud.port = await nursery.start(serve, cloud, "127.0.0.1", 0)
    return cloud


@pytest.fixture
async def extra_config(cloud) -> str:
    # A poll interval far beyond the test: all state must come from the poll a new vehicle gets at once.
    url = f"http://127.0.0.1:{cloud.port}"
    return (f'[drivers.niu]\nbase_url = "http://127.0.0.1:9"\naccount_url = "{url}"\napp_url = "{url}"\n'
            "poll_interval = 3600\nrequest_timeout = 2\n[commands]\ntimeout = 8\n")


async def test_an_account_end_to_end(gateway, api, cloud, caplog, store_files):
    caplog.set_level(logging.DEBUG)
    done = await run_cli("credentials", "add", "--account", ACCOUNT, "--json", stdin=PASSWORD + "\n",
                         env={"FLEETGATE_SOCKET": str(gateway.config.admin_socket)})
    assert done.returncode == 0, done.stderr.decode()
    credentials = json.loads(done.stdout)
    assert (credentials["kind"], credentials["account"], credentials["name"]) == ("account", ACCOUNT, ACCOUNT)

    available = (await api.get("/telematics-brands/NIU/available-telematics-units")).json()["items"]
    assert sorted((u["id"], u["remote_address"]) for u in available) == sorted(
        [(SEED, credentials["id"]), (OTHER, credentials["id"])])
    response = await api.post("/vehicles", json=niu_vehicle(credentials["id"]))
    assert response.status_code == 201, response.text
    vehicle_id = response.json()["id"]

    async def polled():
        state = (await api.get(f"/vehicles/{vehicle_id}/state")).json()
        wanted = {"position", "fuel_level_in_percent", "mileage_in_kilometers", "top_case_lock", "driving_enabled"}
        return state if wanted <= set(state) else None

    state = await eventually(polled, timeout=15)
    assert state["mileage_in_kilometers"]["value"] == pytest.approx(cloud.scooter(SEED).odometer_km, abs=0.1)
    charge = cloud.scooter(SEED).charges()["compartmentA"]
    assert state["fuel_level_in_percent"]["value"] == pytest.approx(charge, abs=1)
    assert state["top_case_lock"]["value"] == "LOCKED" and state["driving_enabled"]["value"] is True
    assert (await api.get(f"/vehicles/{vehicle_id}")).json()["life_status"]["value"] == "ONLINE"

    for command, enabled in (("disable-driving", False), ("enable-driving", True)):
        response = await api.post(f"/vehicles/{vehicle_id}/commands/{command}")
        assert response.status_code == 200, response.text
        assert response.json()["driving_enabled"]["value"] is enabled
    assert [kind for _, kind in cloud.commands] == ["acc_off", "acc_on"]
    assert cloud.logins.account_grants == {"password": 1}  # one sign-in served every call

    answers = [done.stdout.decode(), (await api.get("/credentials")).text,
               (await api.get(f"/credentials/{credentials['id']}")).text]
    stored = b"".join(path.read_bytes() for path in await store_files(gateway))
    for secret in SECRETS:
        assert secret not in caplog.text and secret.encode() not in stored
        assert all(secret not in answer for answer in answers)


async def test_a_wrong_password_is_credentials_rejected(gateway, api, cloud, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-" + PASSWORD
    created = (await api.post("/credentials", json={**niu_account(), "password": wrong})).json()
    response = await api.post("/vehicles", json=niu_vehicle(created["id"]))
    assert response.status_code == 400 and response.json()["type"] == "/problems/credentials-rejected"
    assert "account or password" in response.json()["detail"]
    assert f"account {ACCOUNT}" in caplog.text
    for secret in (wrong, password_md5(wrong)):
        assert secret not in caplog.text and secret not in response.text
    # The owner fixes the password: it takes effect without a restart.
    assert (await api.patch(f"/credentials/{created['id']}", json={"password": PASSWORD})).status_code == 200
    assert (await api.post("/vehicles", json=niu_vehicle(created["id"]))).status_code == 201


def test_account_and_app_hosts_default_to_base_url(tmp_path):
    config = tmp_path / "fleetgate.toml"
    config.write_text('[drivers.niu]\nbase_url = "http://niu.test:1"\n')
    niu = load_config(config).drivers.niu
    assert (niu.account_host, niu.app_host) == ("http://niu.test:1", "http://niu.test:1")
    config.write_text('[drivers.niu]\naccount_url = "https://account-fk.niu.com"\n'
                      'app_url = "https://app-api-fk.niu.com"\n')
    niu = load_config(config).drivers.niu
    assert (niu.account_host, niu.app_host) == ("https://account-fk.niu.com", "https://app-api-fk.niu.com")
