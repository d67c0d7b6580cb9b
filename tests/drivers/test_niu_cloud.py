"""The real NIU client against the real NIU cloud simulator on 127.0.0.1 (port 0):
tokens, retries, faults, commands, credential rotation, and a secret that never leaks."""

from __future__ import annotations

import argparse
import logging
import re
import socket
import time

import httpx
import pytest
import trio

from drivers.niu import (
    CLOUD_COMMANDS,
    CloudUnavailable,
    CredentialsRejected,
    FleetLogin,
    NiuClient,
    NiuError,
    RateLimited,
    confirmed,
    state_properties,
)
from drivers.niu.commands import (
    DISABLE_DRIVING,
    DRAW_ATTENTION,
    ENABLE_DRIVING,
    LOCK_TOP_CASE,
    UNLOCK_BATTERY_COMPARTMENT,
    UNLOCK_TOP_CASE,
)
from simulators.niu_cloud import (
    SECRET_ENV,
    SEED_SERIAL,
    SimulatedCloud,
    add_arguments,
    fleet_serials,
    main_async,
    serve,
)
from tests.conftest import eventually

CLIENT_ID = "fleet-berlin"
SECRET = "S3cr3t-qZ7-never-in-a-log"
OTHERS = ["NBSIM00000000001", "NBSIM00000000002"]
LIMIT = 10  # seconds any one test may take


@pytest.fixture
async def cloud(nursery):
    sim = SimulatedCloud([SEED_SERIAL, *OTHERS], client=(CLIENT_ID, SECRET), command_delay=0.05)
    port = await nursery.start(serve, sim, "127.0.0.1", 0)
    sim.url = f"http://127.0.0.1:{port}"
    return sim


def client_for(url: str, secret: str = SECRET, **options) -> NiuClient:
    options = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0, **options}
    return NiuClient.fleet(url, CLIENT_ID, secret, **options)


async def test_lists_scooters_and_reads_their_state(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url) as client:
            listed = await client.list_scooters()
            assert [s.sn for s in listed] == [SEED_SERIAL, *OTHERS]
            for sn in (SEED_SERIAL, *OTHERS):  # one scooter per answer variant
                state = await client.scooter_state(sn)
                props = state_properties(state)
                assert state.connected and state.time is not None
                assert 0 < props["fuel_level_in_percent"] <= 100
                assert set(props["position"]) == {"lat", "lon"}
                assert props["driving_enabled"] is True and props["top_case_lock"] == "LOCKED"
            assert cloud.logins.fleet_grants["client_credentials"] == 1


async def test_refreshes_the_token_before_it_expires(cloud):
    offset = [0.0]
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url, clock=lambda: time.time() + offset[0]) as client:
            await client.scooter_state(SEED_SERIAL)
            offset[0] = cloud.token_lifetime - 30  # inside the renewal margin, not yet expired
            await client.scooter_state(SEED_SERIAL)
            assert cloud.logins.fleet_grants == {"client_credentials": 1, "refresh_token": 1}
            assert client.stats.token_errors == 0 and client.stats.refreshes == 1


async def test_token_expired_at_the_cloud_means_one_new_login(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url) as client:
            await client.list_scooters()
            cloud.faults.expire_tokens()
            assert len(await client.list_scooters()) == 3
            assert cloud.logins.fleet_grants["client_credentials"] == 2 and client.stats.token_errors == 1


async def test_1131_means_one_login_and_one_retry(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url) as client:
            await client.scooter_state(SEED_SERIAL)
            cloud.faults.token_error_next(1)
            await client.scooter_state(SEED_SERIAL)
            assert cloud.logins.fleet_grants["client_credentials"] == 2 and cloud.served["token_error"] == 1
            cloud.faults.token_error_next(2)  # the fresh token is refused too: no third try
            with pytest.raises(NiuError) as raised:
                await client.scooter_state(SEED_SERIAL)
            assert raised.value.status == 1131 and cloud.served["token_error"] == 3
            assert cloud.logins.fleet_grants["client_credentials"] == 3


async def test_a_burst_of_5xx_is_ridden_out_and_a_longer_one_reported(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url, attempts=4) as client:
            cloud.faults.server_errors_next(3)
            assert (await client.scooter_state(SEED_SERIAL)).connected
            assert client.stats.retries == 3 and cloud.served["server_error"] == 3
            cloud.faults.server_errors_next(50)
            with pytest.raises(CloudUnavailable, match="HTTP 5"):
                await client.scooter_state(SEED_SERIAL)
            cloud.faults.server_errors_next(0)
            assert (await client.scooter_state(SEED_SERIAL)).connected


async def test_a_slow_cloud_times_out_then_recovers(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url, timeout=0.2, attempts=2) as client:
            await client.list_scooters()
            cloud.faults.slow(1.0)
            with pytest.raises(CloudUnavailable, match="no answer"):
                await client.list_scooters()
            cloud.faults.slow(0)
            assert len(await client.list_scooters()) == 3


async def test_login_rate_limit(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url, attempts=4) as client:
            cloud.faults.rate_limit_next(2)
            await client.list_scooters()
            assert cloud.served["rate_limited"] == 2 and client.stats.retries == 2
        async with client_for(cloud.url, attempts=3) as client:
            cloud.faults.rate_limit_next(10)
            with pytest.raises(RateLimited):
                await client.list_scooters()


async def test_wrong_secret_is_credentials_rejected(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url, secret="not-the-secret") as client:
            with pytest.raises(CredentialsRejected) as raised:
                await client.list_scooters()
            assert raised.value.status == 10001
            assert cloud.logins.fleet_grants["client_credentials"] == 0


async def test_unreachable_cloud_is_unavailable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with trio.fail_after(LIMIT):
        async with client_for(f"http://127.0.0.1:{port}", attempts=3) as client:
            with pytest.raises(CloudUnavailable, match="unavailable"):
                await client.list_scooters()
            assert client.stats.requests == 3


async def test_pollers_share_one_login(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url) as client:
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    for sn in (SEED_SERIAL, *OTHERS):
                        nursery.start_soon(client.scooter_state, sn)
            assert cloud.logins.fleet_grants["client_credentials"] == 1


async def poll_until_confirmed(client: NiuClient, sn: str, capability: str) -> dict:
    async def confirmed_state():
        props = state_properties(await client.scooter_state(sn))
        return confirmed(capability, props) and props

    return await eventually(confirmed_state)


async def test_commands_change_the_simulated_state(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url) as client:
            for sn in (SEED_SERIAL, OTHERS[1]):  # OTHERS[1] reports fortification as ""
                for capability in (DISABLE_DRIVING, ENABLE_DRIVING, UNLOCK_TOP_CASE, LOCK_TOP_CASE):
                    await client.send_command(sn, CLOUD_COMMANDS[capability][0])
                    props = await poll_until_confirmed(client, sn, capability)
                    if capability == UNLOCK_TOP_CASE:
                        assert props["top_case_lid"] == "OPEN"
            await client.send_command(SEED_SERIAL, CLOUD_COMMANDS[DRAW_ATTENTION][0])
            await client.send_command(SEED_SERIAL, CLOUD_COMMANDS[UNLOCK_BATTERY_COMPARTMENT][0])

            async def cushion_lock_on():
                return (await client.scooter_state(SEED_SERIAL)).cushion_lock_on

            await eventually(cushion_lock_on)
            assert cloud.scooter(SEED_SERIAL).beeps == 1
            assert (SEED_SERIAL, "acc_off") in cloud.commands


async def test_command_refusals(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url) as client:
            cloud.faults.offline(OTHERS[0])
            assert (await client.scooter_state(OTHERS[0])).connected is False
            with pytest.raises(NiuError) as raised:
                await client.send_command(OTHERS[0], "acc_off")
            assert raised.value.status == 10005
            with pytest.raises(NiuError):
                await client.send_command(SEED_SERIAL, "self_destruct")
            with pytest.raises(NiuError):
                await client.scooter_state("NBSG0000000000X0")
            cloud.faults.online(OTHERS[0])
            assert (await client.scooter_state(OTHERS[0])).connected


async def test_rotation_without_restart(cloud):
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url) as client:
            await client.list_scooters()
            cloud.logins.set_client("fleet-berlin-2", "rotated-" + SECRET)  # operator rotates at NIU
            with pytest.raises(CredentialsRejected):
                await client.list_scooters()
            client.rotate(FleetLogin.of(cloud.url, "fleet-berlin-2", "rotated-" + SECRET))  # then PATCH /credentials
            assert len(await client.list_scooters()) == 3
            assert client.login.client_id == "fleet-berlin-2"


async def test_the_secret_never_leaks(cloud, caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []
    with trio.fail_after(LIMIT):
        async with client_for(cloud.url, attempts=2) as client:
            cloud.faults.server_errors_next(1)
            cloud.faults.token_error_next(1)
            await client.list_scooters()
            cloud.faults.token_error_next(2)
            try:
                await client.list_scooters()
            except NiuError as exc:
                errors.append(exc)
            cloud.faults.rate_limit_next(5)
            client.rotate(FleetLogin.of(cloud.url, CLIENT_ID, SECRET))
            try:
                await client.list_scooters()
            except CloudUnavailable as exc:
                errors.append(exc)
            text = repr(client) + repr(vars(client)) + repr(client.login) + repr(client.login.secret)
        async with client_for(cloud.url, secret=SECRET + "-wrong") as client:
            try:
                await client.list_scooters()
            except CredentialsRejected as exc:
                errors.append(exc)
    assert len(errors) == 3
    assert "rejected the credentials of client id fleet-berlin" in caplog.text
    for seen in (caplog.text, text, repr(cloud), *(f"{e!s} {e!r}" for e in errors)):
        assert SECRET not in seen


async def test_text_from_the_cloud_is_scrubbed_of_the_secret():
    def echo(request: httpx.Request) -> httpx.Response:  # a cloud that quotes the form back
        return httpx.Response(401, json={"status": 7, "desc": f"bad client: {request.content.decode()}"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(echo)) as http:
        client = NiuClient.fleet("http://niu.invalid", CLIENT_ID, SECRET, http=http)
        with pytest.raises(CredentialsRejected) as raised:
            await client.list_scooters()
    assert SECRET not in str(raised.value) and "***" in str(raised.value)


# --- the command line -------------------------------------------------------------------


def test_fleet_serials():
    assert fleet_serials(f"{SEED_SERIAL.lower()}, NBSIM00000000000", 4) == [
        SEED_SERIAL, "NBSIM00000000000", "NBSIM00000000001", "NBSIM00000000002"]
    assert fleet_serials("", None) == ["NBSIM00000000000"]
    with pytest.raises(ValueError):
        fleet_serials("NO-SERIAL", None)


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


async def test_no_default_secret(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SystemExit, match=SECRET_ENV):
        await main_async(parsed("--client-id", CLIENT_ID, "--port", "0"))


async def test_simulate_niu_cloud_serves_the_seed_scooter(monkeypatch, capsys, nursery):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    args = parsed("--client-id", CLIENT_ID, "--port", "0", "--serials", SEED_SERIAL, "--scooters", "3")
    nursery.start_soon(main_async, args)
    with trio.fail_after(LIMIT):
        while "http://" not in (out := capsys.readouterr().out):
            await trio.sleep(0.01)
        assert SECRET not in out
        url = re.search(r"http://\S+", out).group(0)
        async with client_for(url) as client:
            assert [s.sn for s in await client.list_scooters()][0] == SEED_SERIAL
