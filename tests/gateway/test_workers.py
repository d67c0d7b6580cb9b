"""`fleetgate serve --workers N`: a supervisor binds the listeners and the admin socket once
and runs N worker nodes on the PostgreSQL store that accept on them (gateway/cluster/)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg
import pytest
import trio

from gateway.client import AdminClient
from tests.conftest import eventually, gateway_config_toml
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.process import closed_port, start_gateway, wait_exit, wait_until_serving
from tests.teltonika_unit import ScriptedUnit, avl_packet

UNITS = 12  # enough that each of two workers takes some
IMEIS = [f"3563070424{n:05d}" for n in range(UNITS)]


@pytest.fixture
def paths(tmp_path, short_dir, store_url):
    data_dir, socket, config = tmp_path / "data", short_dir / "admin.sock", tmp_path / "fleetgate.toml"
    config.write_text(gateway_config_toml(data_dir, socket, store_url=store_url))
    return data_dir, socket, config


def _sessions(url: str) -> dict[str, int]:
    """Which worker (by pid) holds each vehicle's session, from the cluster's tables."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT s.vehicle_id, n.name FROM unit_sessions s JOIN nodes n ON n.id = s.node_id")
        return {vehicle_id: int(name.rpartition(":")[2]) for vehicle_id, name in rows}


def _node_pids(url: str) -> set[int]:
    with psycopg.connect(url) as conn:
        return {int(name.rpartition(":")[2]) for (name,) in conn.execute("SELECT name FROM nodes")}


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _add_vehicles(socket) -> dict[str, str]:
    with AdminClient(socket) as client:
        return {client.post("/vehicles", unit_body("TELTONIKA", imei, TELTONIKA_MODEL))["id"]: imei for imei in IMEIS}


@pytest.mark.postgresql_only
async def test_two_workers_share_the_port_and_one_killed_is_started_again(paths, store_url, tmp_path):
    data_dir, socket, config = paths
    with open(tmp_path / "stderr", "w") as stderr:
        supervisor = start_gateway(config, stderr=stderr, args=("--workers", "2"))
    try:
        with trio.fail_after(60):
            health = await wait_until_serving(supervisor, socket)  # one worker serves: the other may still start
            await eventually(lambda: "2 workers serving" in (tmp_path / "stderr").read_text(), timeout=20)
            port = next(b["port"] for b in health["listeners"] if b["driver"] == "teltonika")
            imei_of = await trio.to_thread.run_sync(_add_vehicles, socket)
            # Which worker accepts a connection is the kernel's choice: a loaded machine may
            # give one worker every unit of a round. Then the units log in again.
            for _ in range(10):
                units, held = await _log_in_all(port, store_url)
                workers = set(held.values())
                if len(workers) == 2:
                    break
                for unit in units.values():
                    await unit.stream.aclose()
                await eventually(lambda: not _sessions(store_url))  # every claim of the round released
            assert len(workers) == 2 and {_parent(pid) for pid in workers} == {supervisor.pid}

            victim, survivor = sorted(workers)
            os.kill(victim, signal.SIGKILL)
            for vehicle_id, pid in held.items():
                unit = units[imei_of[vehicle_id]]
                if pid == victim:
                    assert await unit.closed_by_gateway() == b""
                else:  # the other worker keeps serving its units
                    await unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 54.6, "lon": 25.2}))
                    assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
            replaced = await eventually(lambda: _node_pids(store_url) - workers, timeout=20)
            assert {_parent(pid) for pid in replaced} == {supervisor.pid}
            for vehicle_id, pid in held.items():  # the killed worker's units come back
                if pid == victim:
                    unit = await ScriptedUnit.connect(port, imei_of[vehicle_id])
                    assert await unit.login() == b"\x01"
            assert (await trio.to_thread.run_sync(_health, socket))["fleet_id"] == health["fleet_id"]

            supervisor.send_signal(signal.SIGTERM)
            assert await wait_exit(supervisor, timeout=30) == 0
    finally:
        supervisor.kill()
    assert not socket.exists()
    for pid in (survivor, *replaced):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    said = (tmp_path / "stderr").read_text()
    assert f"worker 2 (pid {victim}) was killed by SIGKILL; starting it again" in said or \
        f"worker 1 (pid {victim}) was killed by SIGKILL; starting it again" in said
    assert "Traceback" not in said


async def _log_in_all(port: int, store_url: str) -> tuple[dict, dict]:
    """Every unit connected at once and logged in; the units by IMEI and the worker pid
    holding each vehicle's session once all are claimed."""
    units = {}

    async def log_in(imei: str) -> None:
        units[imei] = await ScriptedUnit.connect(port, imei)
        assert await units[imei].login() == b"\x01"

    async with trio.open_nursery() as nursery:
        for imei in IMEIS:
            nursery.start_soon(log_in, imei)
    held = await eventually(lambda: len(found := _sessions(store_url)) == UNITS and found)
    return units, held


def _health(socket) -> dict:
    with AdminClient(socket, timeout=5) as client:
        return client.get("/health")


@pytest.mark.sqlite_only
async def test_workers_on_sqlite_stop_with_one_line(paths):
    data_dir, socket, config = paths
    process = start_gateway(config, args=("--workers", "2"))
    assert await wait_exit(process) == 1
    said = process.stderr.read()
    assert said == ("fleetgate: cannot start: 2 workers need the PostgreSQL store ([store] url): each worker is a "
                    "node of a cluster, and an SQLite data dir serves one process\n")
    assert not data_dir.exists() and not socket.exists()


async def test_a_worker_that_cannot_start_stops_the_start(tmp_path, short_dir):
    """The database is not there: the worker says so and the supervisor stops, exit 1,
    instead of starting it again and again. (Workers asked for by the config this time.)"""
    socket = short_dir / "admin.sock"
    config = tmp_path / "fleetgate.toml"
    config.write_text(gateway_config_toml(tmp_path / "data", socket, "[cluster]\nworkers = 2\n",
                                          store_url=f"postgresql://fleetgate@127.0.0.1:{await closed_port()}/none"))
    process = start_gateway(config)
    assert await wait_exit(process, timeout=30) == 1
    said = process.stderr.read()
    assert "Connection refused" in said
    assert "fleetgate: cannot start: worker 1 exited with status 1 before it served" in said or \
        "fleetgate: cannot start: worker 2 exited with status 1 before it served" in said
    assert "Traceback" not in said
    assert not socket.exists()
