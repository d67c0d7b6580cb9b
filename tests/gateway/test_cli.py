"""The CLI for people, run as a process against a real gateway's admin socket."""

from __future__ import annotations

import json

from tests.gateway.seed import NIU_MODEL_PLAIN, NIU_MODEL_WITH_TOP_CASE, TELTONIKA_MODEL
from tests.process import run_cli


async def cli(gateway, *args: str, stdin: str = ""):
    result = await run_cli(*args, stdin=stdin, env={"FLEETGATE_SOCKET": str(gateway.config.admin_socket)})
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def test_operator_workflow(gateway):
    code, out, err = await cli(gateway, "credentials", "add", "--name", "Fleet Berlin", "--client-id", "cid",
                               "--json", stdin="the-secret\n")
    assert code == 0, err
    credentials = json.loads(out)
    assert credentials["name"] == "Fleet Berlin" and "the-secret" not in out
    assert await gateway.registry.credentials_secret(credentials["id"]) == "the-secret"

    code, out, err = await cli(gateway, "vehicles", "add", "--brand", "niu", "--unit-id", "NBSG4C7B40647G5M",
                               "--model", NIU_MODEL_WITH_TOP_CASE, "--credentials", credentials["id"],
                               "--plate", "RKL-832", "--name", "MyNiuN1", "--json")
    assert code == 0, err
    vehicle = json.loads(out)
    assert vehicle["master_data"]["license_plate"] == "RKL-832"

    code, out, err = await cli(gateway, "vehicles", "add", "--brand", "TELTONIKA", "--unit-id", "356307042441013",
                               "--model", TELTONIKA_MODEL, "--plate", "B-FG-1")
    assert code == 0, err
    assert "TELTONIKA 356307042441013" in out

    code, out, err = await cli(gateway, "vehicles", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "BRAND", "UNIT", "PLATE", "NAME", "LIFE", "OPERATION"]
    assert lines[1].split() == [vehicle["id"], "NIU", "NBSG4C7B40647G5M", "RKL-832", "MyNiuN1", "OFFLINE", "OPERATING"]
    assert len(lines) == 3

    code, out, _ = await cli(gateway, "vehicles", "list", "rkl", "--json")
    assert [v["id"] for v in json.loads(out)] == [vehicle["id"]]

    code, out, err = await cli(gateway, "vehicles", "set-model", vehicle["id"], NIU_MODEL_PLAIN)
    assert code == 0, err
    assert out == f"vehicle {vehicle['id']} now uses model {NIU_MODEL_PLAIN} (SUCCEEDED)\n"
    code, out, _ = await cli(gateway, "vehicles", "show", vehicle["id"])
    assert "TOP_CASE" not in out and "DISABLE_DRIVING" in out

    code, out, err = await cli(gateway, "credentials", "remove", credentials["id"])
    assert code == 1
    assert "409" in err and "already being used" in err and "Traceback" not in err

    code, out, err = await cli(gateway, "vehicles", "remove", vehicle["id"])
    assert code == 0, err
    code, out, err = await cli(gateway, "credentials", "remove", credentials["id"])
    assert code == 0, err
    code, out, _ = await cli(gateway, "credentials", "list", "--json")
    assert json.loads(out) == []


async def test_models_and_available_units(gateway):
    code, out, err = await cli(gateway, "models", "list", "--brand", "niu")
    assert code == 0, err
    assert NIU_MODEL_WITH_TOP_CASE in out and NIU_MODEL_PLAIN in out and TELTONIKA_MODEL not in out
    code, out, _ = await cli(gateway, "models", "list", "--json")
    assert {m["brand"] for m in json.loads(out)} == {"NIU", "TELTONIKA", "CONCOX", "JT808"}

    await gateway.registry.record_seen("TELTONIKA", "356307042441013", "127.0.0.1:4242")
    code, out, err = await cli(gateway, "units", "available", "--brand", "teltonika")
    assert code == 0, err
    assert out.splitlines()[1].split()[:2] == ["356307042441013", "TELTONIKA"]
    assert "127.0.0.1:4242" in out


async def test_password_is_read_from_stdin_never_argv(gateway):
    code, out, err = await cli(gateway, "vehicles", "add", "--brand", "JT808", "--unit-id", "013912345678",
                               "--model", "01M8A3J4HQXHE7A2J2G01ZH06Q", "--json", stdin="unit-pass\n")
    assert code == 0, err
    vehicle = json.loads(out)
    assert await gateway.registry.unit_password(vehicle["id"]) == "unit-pass"
    assert "unit-pass" not in out


async def test_no_gateway_running_is_a_clear_message(short_dir):
    result = await run_cli("vehicles", "list", "--socket", str(short_dir / "admin.sock"))
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.startswith(f"fleetgate: no fleetgate is answering on {short_dir / 'admin.sock'}")
    assert "Traceback" not in err


async def test_api_errors_are_one_line(gateway):
    code, out, err = await cli(gateway, "vehicles", "show", "NOPE1")
    assert code == 1
    assert err.strip() == "fleetgate: 404 Resource not found: There is no vehicle with id 'NOPE1'."
