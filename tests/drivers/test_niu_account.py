"""A NIU account through our client, and the simulator answering the way public clients
sign in and ask (spec.md §3-§7): paths, methods, body encodings, envelopes and errors."""

from __future__ import annotations

import argparse
import logging
import re
import time

import httpx
import pytest
import trio

from drivers.niu import CredentialsRejected, NiuClient, NiuError, state_properties
from drivers.niu.login import APP_ID, password_md5
from simulators.niu_cloud import (
    ACCOUNT_PASSWORD_ENV,
    SEED_SERIAL,
    STATUS_UNKNOWN_SCOOTER,
    SimulatedCloud,
    add_arguments,
    main_async,
    serve,
)
from simulators.niu_logins import STATUS_BAD_ACCOUNT, STATUS_BAD_REQUEST
from tests.process import run_cli

ACCOUNT = "rider@example.com"
PASSWORD = "Sc00ter-Passw0rd-42"
SERIALS = [SEED_SERIAL, "NBSIM00000000001", "NBSIM00000000002", "NBSIM00000000003"]
LIMIT = 10


@pytest.fixture
async def cloud(nursery):
    sim = SimulatedCloud(SERIALS, account=(ACCOUNT, PASSWORD), command_delay=0.05)
    sim.url = f"http://127.0.0.1:{await nursery.start(serve, sim, '127.0.0.1', 0)}"
    return sim


def account_client(url: str, password: str = PASSWORD, **options) -> NiuClient:
    options = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0, **options}
    return NiuClient.account(url, url, ACCOUNT, password, **options)


async def test_signs_in_as_the_app_and_reads_state_with_mileage(cloud):
    with trio.fail_after(LIMIT):
        async with account_client(cloud.url) as client:
            assert [s.sn for s in await client.list_scooters()] == SERIALS
            for sn in SERIALS:
                state = await client.scooter_state(sn)
                props = state_properties(state)
                assert props["mileage_in_kilometers"] == pytest.approx(cloud.scooter(sn).odometer_km, abs=0.1)
                assert props["cellular_signal_quality"] == 4  # gsm 22 on the modem's 0-31 scale
                assert set(props["position"]) == {"lat", "lon"} and 0 < props["fuel_level_in_percent"] <= 100
    # the simulator takes only the MD5 of the password with a known app id: one sign-in did it
    assert cloud.logins.account_grants == {"password": 1}
    assert cloud.requests["/v5/scooter/motor_data/index_info"] == len(SERIALS)
    assert cloud.requests["/motoinfo/overallTally"] == len(SERIALS)


async def test_refresh_then_sign_in_again_after_1131(cloud):
    offset = [0.0]
    with trio.fail_after(LIMIT):
        async with account_client(cloud.url, clock=lambda: time.time() + offset[0]) as client:
            await client.list_scooters()
            offset[0] = cloud.token_lifetime - 30  # inside the renewal margin
            await client.list_scooters()
            assert cloud.logins.account_grants == {"password": 1, "refresh_token": 1}
            cloud.faults.expire_tokens()
            await client.list_scooters()
            assert cloud.logins.account_grants["password"] == 2 and client.stats.token_errors == 1


async def test_wrong_password_is_rejected_and_never_shown(cloud, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-" + PASSWORD
    with trio.fail_after(LIMIT):
        async with account_client(cloud.url, password=wrong) as client:
            with pytest.raises(CredentialsRejected) as raised:
                await client.list_scooters()
            seen = f"{raised.value!s} {raised.value!r} {client!r} {vars(client)!r} {client.login!r}"
    assert raised.value.status == STATUS_BAD_ACCOUNT
    assert f"rejected the credentials of account {ACCOUNT}" in caplog.text
    for secret in (wrong, password_md5(wrong)):
        assert secret not in caplog.text and secret not in seen


async def test_unknown_serial_and_offline_scooter(cloud):
    with trio.fail_after(LIMIT):
        async with account_client(cloud.url) as client:
            with pytest.raises(NiuError) as raised:
                await client.scooter_state("NBSG0000000000X0")
            assert raised.value.status == STATUS_UNKNOWN_SCOOTER
            cloud.faults.offline(SERIALS[1])
            assert (await client.scooter_state(SERIALS[1])).connected is False


# --- the simulator as other clients use it ------------------------------------------------


async def test_sign_ins_of_every_public_client(cloud):
    with trio.fail_after(LIMIT):
        async with httpx.AsyncClient(base_url=cloud.url) as http:
            # the older login: plain password and a country code, data.token a string
            older = (await http.post("/appv2/login", data={"account": ACCOUNT, "password": PASSWORD,
                                                           "countryCode": "49"})).json()
            assert older["status"] == 0 and isinstance(older["data"]["token"], str)
            # JSON instead of a form, and another app id (ioBroker.niu, NiuAPI)
            form = {"account": ACCOUNT, "password": password_md5(PASSWORD), "grant_type": "password",
                    "scope": "base", "app_id": "niu_fksss2ws", "countryCode": 49}
            token = (await http.post("/v3/api/oauth2/token", json=form)).json()["data"]["token"]
            assert set(token) == {"access_token", "refresh_token", "token_expires_in", "refresh_token_expires_in"}
            assert token["token_expires_in"] > time.time()  # epoch seconds, not a duration
            refreshed = (await http.post("/v3/api/oauth2/token", data={
                "grant_type": "refresh_token", "refresh_token": token["refresh_token"], "app_id": APP_ID})).json()
            assert refreshed["status"] == 0 and refreshed["data"]["token"]["access_token"]
            unknown_app = (await http.post("/v3/api/oauth2/token", data={**form, "app_id": "niu_nobody"})).json()
            plain = (await http.post("/v3/api/oauth2/token", data={**form, "password": PASSWORD})).json()
    assert unknown_app["status"] == STATUS_BAD_REQUEST and plain["status"] == STATUS_BAD_ACCOUNT
    assert cloud.logins.account_grants == {"appv2": 1, "password": 1, "refresh_token": 1}


async def test_every_data_path_answers_as_clients_read_it(cloud):
    with trio.fail_after(LIMIT):
        async with httpx.AsyncClient(base_url=cloud.url) as http:
            assert (await http.get("/v5/scooter/list")).json()["status"] == 1131  # no token
            login = {"account": ACCOUNT, "password": password_md5(PASSWORD), "grant_type": "password",
                     "scope": "base", "app_id": APP_ID}
            token = (await http.post("/v3/api/oauth2/token", data=login)).json()["data"]["token"]["access_token"]
            http.headers["token"] = token
            items = (await http.get("/v5/scooter/list")).json()["data"]["items"]
            assert [i["sn_id"] for i in items] == SERIALS
            older = (await http.post("/motoinfo/list", data={"masterOnly": 0})).json()["data"]
            assert [i["sn"] for i in older] == SERIALS and older[3]["isDoubleBattery"] is True
            detail = (await http.get(f"/v5/scooter/detail/{SEED_SERIAL}")).json()["data"]
            assert detail["sn_id"] == SEED_SERIAL and detail["is_double_battery"] is False
            for path in ("/v3/motor_data/index_info", "/v5/scooter/motor_data/index_info"):
                status = (await http.get(path, params={"sn": SERIALS[3]})).json()["data"]
                assert set(status["postion"]) == {"lat", "lng"}  # sic
                assert set(status["batteries"]) == {"compartmentA", "compartmentB"}
            battery = (await http.get("/v3/motor_data/battery_info", params={"sn": SEED_SERIAL})).json()["data"]
            assert {"temperature", "chargedTimes", "gradeBattery"} <= set(battery["batteries"]["compartmentA"])
            tally_form = (await http.post("/motoinfo/overallTally", data={"sn": SEED_SERIAL})).json()["data"]
            tally_json = (await http.post("/motoinfo/overallTally", json={"sn": SEED_SERIAL})).json()["data"]
            assert tally_form["totalMileage"] == tally_json["totalMileage"] > 0
            unknown = (await http.get("/v3/motor_data/battery_info", params={"sn": "NBSG0000000000X0"})).json()
            assert unknown["status"] == STATUS_UNKNOWN_SCOOTER
            # a command as a form with the token repeated in it, the way one integration sends it
            del http.headers["token"]
            sent = (await http.post("/v5/cmd/creat", data={"token": token, "sn": SEED_SERIAL, "type": "acc_off"}))
            assert sent.json()["status"] == 0 and cloud.commands == [(SEED_SERIAL, "acc_off")]


# --- the command line ------------------------------------------------------------------------


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


async def test_no_account_without_its_password():
    with trio.fail_after(LIMIT):
        done = await run_cli("simulate", "niu-cloud", "--account", ACCOUNT, "--port", "0",
                             env={ACCOUNT_PASSWORD_ENV: ""})
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and ACCOUNT_PASSWORD_ENV in lines[0]
    with pytest.raises(SystemExit, match="--account EMAIL and/or --client-id ID"):
        await main_async(parsed("--port", "0"))


async def test_simulate_serves_an_account(monkeypatch, capsys, nursery):
    monkeypatch.setenv(ACCOUNT_PASSWORD_ENV, PASSWORD)
    nursery.start_soon(main_async, parsed("--account", ACCOUNT, "--port", "0", "--serials", SEED_SERIAL))
    with trio.fail_after(LIMIT):
        while "http://" not in (out := capsys.readouterr().out):
            await trio.sleep(0.01)
        assert PASSWORD not in out and f"account {ACCOUNT}" in out
        url = re.search(r"http://\S+", out).group(0)
        async with account_client(url) as client:
            assert [s.sn for s in await client.list_scooters()] == [SEED_SERIAL]
