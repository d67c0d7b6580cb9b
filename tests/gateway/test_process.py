"""The gateway as a process: restarts, a second instance, signals, key file, bad config."""

from __future__ import annotations

import os
import signal
import sqlite3
import socket as stdlib_socket

import psycopg
import pytest
import trio

from gateway.client import AdminClient
from tests.conftest import gateway_config_toml
from tests.gateway.seed import JT808_MODEL, niu_credentials, niu_vehicle, unit_body
from tests.process import run_cli, start_gateway, wait_exit, wait_until_serving


@pytest.fixture
def paths(tmp_path, short_dir):
    data_dir = tmp_path / "data"
    socket = short_dir / "admin.sock"
    config = tmp_path / "fleetgate.toml"
    config.write_text(gateway_config_toml(data_dir, socket))
    return data_dir, socket, config


def _get(socket, url):
    with AdminClient(socket, timeout=5) as client:
        return client.get(url)


async def test_everything_survives_kill_9(paths):
    data_dir, socket, config = paths
    first = start_gateway(config)
    try:
        health = await wait_until_serving(first, socket)
        with AdminClient(socket) as client:
            credentials = client.post("/credentials", niu_credentials())
            vehicle = client.post("/vehicles", niu_vehicle(credentials["id"]))
    finally:
        first.kill()  # SIGKILL: no clean shutdown, the socket file stays behind
    assert await wait_exit(first) == -signal.SIGKILL
    assert socket.exists()

    second = start_gateway(config)
    try:
        again = await wait_until_serving(second, socket)
        assert again["fleet_id"] == health["fleet_id"]
        assert _get(socket, f"/vehicles/{vehicle['id']}") == vehicle
        assert _get(socket, f"/credentials/{credentials['id']}") == credentials
    finally:
        second.terminate()
        await wait_exit(second)


@pytest.mark.parametrize("shared", ["data dir", "admin socket"])
async def test_second_gateway_on_the_same_data_dir_or_socket_refuses(paths, tmp_path, shared):
    data_dir, socket, config = paths
    second_config, refusal = config, "is already running on data dir {data_dir}"
    if shared == "admin socket":  # another data dir: the socket's own lock must stop it
        second_config, refusal = tmp_path / "other.toml", "serves the admin socket {socket}"
        second_config.write_text(gateway_config_toml(tmp_path / "other-data", socket))
    first = start_gateway(config)
    try:
        health = await wait_until_serving(first, socket)
        second = start_gateway(second_config)
        assert await wait_exit(second) == 1
        message = second.stderr.read()
        assert f"another fleetgate (pid {first.pid}) " + refusal.format(data_dir=data_dir, socket=socket) in message
        assert "Traceback" not in message and len(message.strip().splitlines()) == 1
        # The first gateway still owns its socket: the second neither took it over nor removed it.
        assert _get(socket, "/health")["fleet_id"] == health["fleet_id"]
    finally:
        first.terminate()
        await wait_exit(first)
    assert not socket.exists()


def _listening_socket(path) -> stdlib_socket.socket:
    server = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    return server


async def test_a_socket_another_program_serves_is_not_taken_over(paths):
    data_dir, socket, config = paths
    with _listening_socket(socket):  # e.g. an older gateway, which took no lock
        before = socket.stat().st_ino
        process = start_gateway(config)
        assert await wait_exit(process) == 1
        message = process.stderr.read()
        assert f"something already serves the admin socket {socket}" in message
        assert "Traceback" not in message and len(message.strip().splitlines()) == 1
        assert socket.stat().st_ino == before


async def test_a_socket_file_the_gateway_did_not_create_is_left_in_place(paths):
    data_dir, socket, config = paths
    process = start_gateway(config)
    try:
        await wait_until_serving(process, socket)
        socket.unlink()  # someone replaces the gateway's socket file with their own
        with _listening_socket(socket):
            replaced = socket.stat().st_ino
            process.terminate()
            assert await wait_exit(process) == 0
            assert socket.stat().st_ino == replaced
    finally:
        process.kill()
        await wait_exit(process)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_shuts_down_cleanly_and_removes_the_socket(paths, signum):
    data_dir, socket, config = paths
    process = start_gateway(config)
    await wait_until_serving(process, socket)
    assert oct(socket.stat().st_mode & 0o777) == oct(0o660)
    assert oct((data_dir / "secrets.key").stat().st_mode & 0o777) == oct(0o600)
    process.send_signal(signum)
    assert await wait_exit(process) == 0
    assert not socket.exists()
    assert "Traceback" not in process.stderr.read()


async def test_key_file_readable_by_others_is_refused(paths):
    data_dir, socket, config = paths
    data_dir.mkdir()
    key = data_dir / "secrets.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    process = start_gateway(config)
    assert await wait_exit(process) == 1
    message = process.stderr.read()
    assert "accessible by group or others" in message and "chmod 600" in message
    assert "Traceback" not in message
    assert not socket.exists()


@pytest.mark.parametrize(
    "toml,expected",
    [
        ('[drivers.teltonika]\nport = "many"\n', "drivers.teltonika.port: Input should be a valid integer"),
        ('[drivers.gt06]\nport = 70000\n', "drivers.gt06.port: Input should be less than or equal to 65535"),
        ("[sessions]\nlogin_timout = 5\n", "sessions.login_timout: unknown key"),
        ('[store]\nsynchronous = "OFF"\n', "store.synchronous: Input should be 'FULL' or 'NORMAL'"),
        ("[log\nlevel = 1\n", "not valid TOML"),
    ],
)
async def test_bad_config_is_one_clear_line(tmp_path, toml, expected):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    result = await run_cli("serve", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"fleetgate: config error: {config}: ")
    assert expected in lines[0]


async def test_missing_config_file_is_one_clear_line(tmp_path):
    result = await run_cli("serve", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert result.stderr.decode().strip() == f"fleetgate: config error: {tmp_path / 'absent.toml'}: cannot read: No such file or directory"


async def test_json_logs_on_stderr(tmp_path, short_dir):
    import json

    socket = short_dir / "admin.sock"
    config = tmp_path / "json.toml"
    config.write_text(gateway_config_toml(tmp_path / "data", socket, '[log]\nformat = "json"\n'))
    process = start_gateway(config)
    await wait_until_serving(process, socket)
    process.terminate()
    await wait_exit(process)
    entries = [json.loads(line) for line in process.stderr.read().splitlines()]
    started = next(e for e in entries if "serving fleet" in e["message"])
    assert started["level"] == "info" and started["logger"] == "gateway.app"
    assert started["time"].endswith("Z")
    assert any("SIGTERM received" in e["message"] for e in entries)


async def test_listener_port_in_use_is_one_clear_line(tmp_path, short_dir):
    taken = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = taken.socket.getsockname()[1]
    config = tmp_path / "busy.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[admin]\nsocket = "{short_dir / "admin.sock"}"\n'
        f'[drivers.teltonika]\nhost = "127.0.0.1"\nport = {port}\n'
    )
    process = start_gateway(config)
    assert await wait_exit(process) == 1
    message = process.stderr.read().strip()
    assert message.endswith(f"cannot listen for teltonika on 127.0.0.1:{port}: Address already in use")
    assert "Traceback" not in message
    await taken.aclose()


WRONG_KEY = "is not the key this store's secrets were encrypted with"


@pytest.fixture
def keyed(tmp_path, short_dir, store_url):
    """``config(key_name)``: a config of one data dir and store whose [secrets] key_file is
    ``keys/<key_name>``; and the admin socket."""
    keys, socket = tmp_path / "keys", short_dir / "admin.sock"
    keys.mkdir()

    def config(key: str):
        path = tmp_path / f"{key}.toml"
        path.write_text(gateway_config_toml(tmp_path / "data", socket, f'[secrets]\nkey_file = "{keys / key}"\n',
                                            store_url=store_url))
        return path

    return config, socket


async def _start_and_stop(config, socket, code: int) -> None:
    """Start a gateway: it serves and stops cleanly (code 0), or refuses with WRONG_KEY (1)."""
    process = start_gateway(config)
    if code == 0:
        await wait_until_serving(process, socket)
        process.terminate()
    assert await wait_exit(process) == code
    message = process.stderr.read()
    assert "Traceback" not in message
    assert (WRONG_KEY in message) == (code == 1), message


async def test_a_key_that_did_not_write_the_stores_secrets_is_refused(tmp_path, keyed):
    """Nodes share [secrets] key_file. A gateway started with another key would write
    passwords that no other node, and no later start, could read: it does not start."""
    config, socket = keyed
    for key, code in (("shared.key", 0), ("other.key", 1), ("shared.key", 0)):
        await _start_and_stop(config(key), socket, code)
    assert not (tmp_path / "data" / "secrets.key").exists()  # the key lives where key_file says
    assert oct((tmp_path / "keys" / "shared.key").stat().st_mode & 0o777) == oct(0o600)


async def test_a_store_from_before_the_check_value_takes_only_the_key_of_its_secrets(tmp_path, keyed, store_url):
    """A store written before it kept a check value: its first secret decides which key it takes."""
    config, socket = keyed
    process = start_gateway(config("old.key"))
    await wait_until_serving(process, socket)
    with AdminClient(socket, timeout=10) as client:
        client.post("/vehicles", unit_body("JT808", "013912345678", JT808_MODEL, password="code-1234"))
    process.terminate()
    assert await wait_exit(process) == 0
    forget = "DELETE FROM meta WHERE key = 'secrets_check'"
    if store_url:
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute(forget)
    else:
        with sqlite3.connect(tmp_path / "data" / "fleetgate.db") as conn:
            conn.execute(forget)
    await _start_and_stop(config("new.key"), socket, 1)
    await _start_and_stop(config("old.key"), socket, 0)
