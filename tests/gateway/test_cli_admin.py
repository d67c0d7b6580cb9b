"""`fleetgate` credentials, brands, units, events, health and help, as processes on a real gateway."""

from __future__ import annotations

import json

import trio

from gateway.catalog import load_catalog
from gateway.cli.parser import build_parser
from gateway.version import gateway_version
from tests.conftest import TEST_TIMEOUT, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, niu_account, niu_credentials, unit_body
from tests.process import cli_on as cli
from tests.process import run_cli


async def test_credentials_rotate_either_kind_and_rename(gateway, api):
    client = (await api.post("/credentials", json=niu_credentials())).json()
    account = (await api.post("/credentials", json=niu_account())).json()
    for credentials, secret in ((client, "rotated-client-secret"), (account, "rotated-Passw0rd")):
        code, out, err = await cli(gateway, "credentials", "rotate", credentials["id"], stdin=secret + "\n")
        assert code == 0, err
        assert out.startswith(f"credentials {credentials['id']}: new ")
        assert await gateway.registry.credentials_secret(credentials["id"]) == secret
        assert secret not in out + err

    code, out, err = await cli(gateway, "credentials", "set", client["id"], "--name", "Fleet Hamburg", "--json")
    assert code == 0, err
    assert json.loads(out) == (await api.get(f"/credentials/{client['id']}")).json()
    assert json.loads(out)["name"] == "Fleet Hamburg"
    code, out, err = await cli(gateway, "credentials", "show", account["id"])
    assert code == 0 and "rider@example.com" in out and "account" in out
    code, out, err = await cli(gateway, "credentials", "list", "--brand", "niu", "--json")
    assert {c["id"] for c in json.loads(out)} == {client["id"], account["id"]}


async def test_brands_as_the_api_names_them_and_hints_for_protocol_names(gateway):
    await gateway.registry.record_seen("TELTONIKA", "356307042441013", "127.0.0.1:4242")
    await gateway.registry.record_seen("CONCOX", "353413532150362", "127.0.0.1:4343")
    code, out, err = await cli(gateway, "units", "available")  # every brand's
    assert code == 0, err
    assert sorted(line.split()[:2] for line in out.splitlines()[1:]) == [
        ["353413532150362", "CONCOX"], ["356307042441013", "TELTONIKA"]]
    code, out, err = await cli(gateway, "units", "available", "--brand", "concox")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["353413532150362"]
    code, out, err = await cli(gateway, "units", "available", "--brand", "JT808")
    assert out.strip() == ("no JT808 units available: a unit is listed once it connects (or its cloud lists it) "
                           "while it is in no vehicle")

    for given, meant in (("GT06", "CONCOX"), ("jt/t808", "JT808"), ("JT/T 808", "JT808")):
        code, out, err = await cli(gateway, "units", "available", "--brand", given)
        assert code == 2 and f"unknown brand '{given}'; did you mean {meant}?" in err, err
    code, out, err = await cli(gateway, "models", "list", "--brand", "Teltonika", "--json")
    assert code == 0 and {m["brand"] for m in json.loads(out)} == {"TELTONIKA"}
    code, out, err = await cli(gateway, "brands", "list")
    assert code == 0 and out.splitlines()[2].split() == ["CONCOX", "INDIVIDUAL", "TCP",
                                                         str(listener_port(gateway, "gt06"))]


async def test_events_query_and_pages(gateway, api):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    for status in ("GARAGE", "OPERATING", "GARAGE"):
        await api.patch(f"/vehicles/{vehicle['id']}", json={"operation_status": status})
    code, out, err = await cli(gateway, "events", "query", "--vehicle", vehicle["id"], "--types", "VehicleChanged",
                               "--limit", "2")
    assert code == 0, err
    assert [line.split()[-1] for line in out.splitlines()] == ["CREATED", "OPERATION_STATUS_CHANGED"]
    token = err.strip().rsplit(" ", 1)[1]
    code, out, err = await cli(gateway, "events", "query", "--vehicle", vehicle["id"], "--page-token", token, "--json")
    assert [e["data"]["reasons"] for e in json.loads(out)] == [["OPERATION_STATUS_CHANGED"]] * 2
    code, out, err = await cli(gateway, "events", "query", "--after", "2999-01-01T00:00:00Z")
    assert (code, out.strip()) == (0, "no events")


async def test_health_metrics_and_version(gateway, short_dir):
    code, out, err = await cli(gateway, "health")
    assert code == 0, err
    assert out.startswith(f"ok: fleet {gateway.registry.fleet_id}, fleetgate {gateway_version()}, listening for ")
    assert len(out.splitlines()) == 1
    code, out, err = await cli(gateway, "metrics")
    assert code == 0 and "# TYPE fleetgate_" in out
    with trio.fail_after(TEST_TIMEOUT):
        nobody = await run_cli("health", "--socket", str(short_dir / "none.sock"))
        version = await run_cli("--version")
    assert nobody.returncode == 1 and len(nobody.stderr.decode().splitlines()) == 1
    assert version.stdout.decode().strip() == f"fleetgate {gateway_version()}"


def _parsers(parser):
    yield parser
    for action in parser._actions:
        for sub in (action.choices or {}).values() if hasattr(action, "_name_parser_map") else ():
            yield from _parsers(sub)


def test_every_argument_has_help():
    missing = [f"{parser.prog} {action.dest}" for parser in _parsers(build_parser(every=True))
               for action in parser._actions if not action.help]
    assert missing == []


async def test_command_help_lists_the_commands_and_the_models_that_have_them():
    with trio.fail_after(TEST_TIMEOUT):
        done = await run_cli("vehicles", "command", "--help")
    lines = done.stdout.decode().splitlines()
    entries: dict[str, str] = {}
    for line in lines[lines.index("commands, and the vehicle models that have them (a vehicle takes those of its "
                                  "model):") + 1:]:
        if not line.startswith("   "):
            command, _, line = line.strip().partition(" ")
        entries[command] = entries.get(command, "") + " " + line.strip()
    for model in load_catalog().values():
        for capability in model.commands:
            assert f"{model.brand} {model.vehicle_model}" in entries[capability.lower().replace("_", "-")]
    assert "NIU N1 with top case" in entries["unlock-top-case"] and "TELTONIKA" not in entries["unlock-top-case"]
