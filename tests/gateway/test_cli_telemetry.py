"""CLI for state, commands, the simulator and the demo, as processes against real gateways."""

from __future__ import annotations

import os

import trio

from simulators.teltonika import run_fleet
from tests.conftest import eventually, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.process import run_cli


async def cli(gateway, *args: str):
    result = await run_cli(*args, env={"FLEETGATE_SOCKET": str(gateway.config.admin_socket)})
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def test_state_and_command_from_the_cli(gateway, api, nursery):
    port = listener_port(gateway, "teltonika")
    units = trio.CancelScope()

    async def fleet(task_status):
        with units:
            await run_fleet("127.0.0.1", port, 1, 0.3, retry_delay=0.2, task_status=task_status)

    report = await nursery.start(fleet)
    imei = report.units[0].imei
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))).json()

    async def has_position():
        return "position" in (await api.get(f"/vehicles/{vehicle['id']}/state")).json()

    await eventually(has_position)
    code, out, err = await cli(gateway, "vehicles", "command", vehicle["id"], "DISABLE_DRIVING")
    assert code == 0, err
    assert out.splitlines()[0] == "disable-driving: done"
    assert any(line.split()[:2] == ["driving_enabled", "False"] for line in out.splitlines())
    assert report.units[0].outputs[0] == 1

    # The audit knows who asked: the uid on the other end of the admin socket.
    audit = await gateway.store.read(lambda conn: conn.execute(
        "SELECT command, result, requested_by FROM command_audit").fetchall())
    assert [tuple(row) for row in audit] == [("DISABLE_DRIVING", "SUCCEEDED", os.getuid())]

    code, out, err = await cli(gateway, "vehicles", "command", vehicle["id"], "unlock-top-case")
    assert code == 1 and "409" in err and "does not support" in err

    units.cancel()  # the unit goes: its state stands still

    async def offline():
        return (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "OFFLINE"

    await eventually(offline)
    state = (await api.get(f"/vehicles/{vehicle['id']}/state")).json()
    code, out, err = await cli(gateway, "vehicles", "state", vehicle["id"])
    assert code == 0, err
    lines = out.splitlines()
    position = "{lat:.6f}, {lon:.6f}".format(**state["position"]["value"])
    assert f"position                      {position:<24} at {state['position']['timestamp']}" in lines
    assert f"driving_enabled               False                    at {state['driving_enabled']['timestamp']}" in lines
    assert len(lines) == len(state)
    nursery.cancel_scope.cancel()


async def test_simulate_command_reports_counts(gateway, api):
    port = listener_port(gateway, "teltonika")
    await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))
    with trio.fail_after(30):
        result = await run_cli("simulate", "teltonika", "--units", "2", "--port", str(port),
                               "--interval", "0.2", "--duration", "2")
    assert result.returncode == 0, result.stderr.decode()
    *status_lines, report = result.stdout.decode().splitlines()
    assert status_lines[0].startswith("[0s] units=2 connected=")  # not a terminal: plain lines, the first at once
    summary = dict(item.split("=") for item in report.split())
    assert summary["units"] == "2"
    assert int(summary["acked"]) > 0  # the registered unit's records
    assert int(summary["logins_rejected"]) > 0  # the other one is unknown
    units = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
    assert [u["id"] for u in units] == ["356307042441021"]


async def test_demo_runs_end_to_end():
    with trio.fail_after(60):
        result = await run_cli("demo")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode() + out
    assert out.count("disable-driving -> 200: driving_enabled was True, is now False") == 2  # Teltonika, GT06
    assert "lock-central-lock -> 200: central_lock was UNLOCKED, is now LOCKED" in out
    assert "vehicles: 8, 8 online" in out
    assert "unlock-top-case -> 200: top_case_lock was LOCKED, is now UNLOCKED" in out
