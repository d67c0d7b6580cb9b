"""The HTTPS door's config: without a certificate and key the gateway refuses to start (one
line, exit 1), unless the door is on a loopback address and plain HTTP is asked for."""

from __future__ import annotations

import httpx
import pytest
import trio

from gateway.app import StartupError, run_gateway
from gateway.cli.interrupts import leaves as _leaves
from gateway.config import ConfigError, load_config
from tests.conftest import TEST_TIMEOUT, gateway_config_toml
from tests.gateway.door_client import bearer, new_api_client
from tests.process import start_gateway, wait_exit
from tests.tls import make_certificates


def _refusals(tmp_path) -> dict[str, tuple[str, str]]:
    """Door configs a gateway must refuse, each with what its one line must say."""
    mine, theirs = make_certificates(tmp_path / "mine"), make_certificates(tmp_path / "theirs")
    return {
        "plain HTTP off loopback": ('listen = "0.0.0.0:0"\nallow_plain_http = true', "loopback addresses only"),
        "a certificate without its key": (f'listen = "127.0.0.1:0"\ntls_cert = "{mine.cert}"', "go together"),
        "missing files": (f'listen = "127.0.0.1:0"\ntls_cert = "{tmp_path}/no.pem"\ntls_key = "{tmp_path}/no.key"',
                          "cannot read the TLS certificate or key"),
        "another certificate's key": (f'listen = "127.0.0.1:0"\ntls_cert = "{mine.cert}"\ntls_key = "{theirs.key}"',
                                      "are not a PEM certificate and its key"),
    }


async def _start_error(config) -> str | None:
    """Why ``run_gateway`` refused to start, or None if it started."""
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_gateway, config)
            nursery.cancel_scope.cancel()
    except BaseException as exc:  # noqa: BLE001 - a StartupError inside the nursery's group, else re-raised
        refusals = [leaf for leaf in _leaves(exc) if isinstance(leaf, StartupError)]
        if not refusals:
            raise
        return str(refusals[0])
    return None


async def test_a_door_without_tls_refuses_to_start(tmp_path, short_dir):
    config = tmp_path / "fleetgate.toml"
    config.write_text(gateway_config_toml(tmp_path / "data", short_dir / "admin.sock", '[api]\nlisten = "0.0.0.0:0"\n'))
    process = start_gateway(config)
    try:
        assert await wait_exit(process, TEST_TIMEOUT) == 1
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert stderr.startswith("fleetgate: cannot start: [api] listen") and "needs tls_cert and tls_key" in stderr
    assert len(stderr.strip().splitlines()) == 1
    with trio.fail_after(TEST_TIMEOUT):
        for index, (case, (api, message)) in enumerate(_refusals(tmp_path).items()):
            path = tmp_path / f"{index}.toml"
            path.write_text(gateway_config_toml(tmp_path / f"data{index}", short_dir / f"{index}.sock", f"[api]\n{api}\n"))
            refusal = await _start_error(load_config(path))
            assert refusal is not None and message in refusal, (case, refusal)


@pytest.fixture
def extra_config() -> str:
    return '[api]\nlisten = "127.0.0.1:0"\nallow_plain_http = true\n'


async def test_plain_http_on_loopback_when_asked_for(gateway, api):
    assert gateway.door["tls"] is False
    client = await new_api_client(api, "vehicles:read")
    with trio.fail_after(TEST_TIMEOUT):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.door['port']}") as door:
            answer = await door.post("/auth/oauth/token", params={"grant_type": "client_credentials"},
                                     auth=(client["client_id"], client["client_secret"]))
            assert answer.status_code == 200, answer.text
            assert (await door.get("/vehicles", headers=bearer(answer.json()))).status_code == 200
            assert (await door.get("/vehicles")).status_code == 401


def test_the_documented_keys_load_and_a_bad_broker_url_is_not_repeated(tmp_path):
    path = tmp_path / "fleetgate.toml"
    # API.md's "Configuration file", verbatim: the door and the publisher off.
    path.write_text('[api]\nlisten = ""\ntls_cert = ""\ntls_key = ""\ntoken_lifetime = 900\nallow_plain_http = false\n'
                    '[events.amqp]\nurl = ""\nexchange = "fleetgate.events"\n')
    config = load_config(path)
    assert (config.api.listen, config.api.tls_cert, config.api.tls_key) == ("", None, None)
    assert (config.events.amqp.url, config.events.amqp.exchange) == ("", "fleetgate.events")
    for url in ("http://fleetgate:S3cret-Broker-Pass@rabbit:5672/", "amqp://fleetgate:S3cret-Broker-Pass@rabbit:56x2/"):
        path.write_text(f'[events.amqp]\nurl = "{url}"\n')
        with pytest.raises(ConfigError) as refused:
            load_config(path)
        assert "events.amqp.url" in str(refused.value) and "S3cret-Broker-Pass" not in str(refused.value)
