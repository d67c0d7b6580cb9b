"""`fleetgate vehicles ...` beyond registering: master data, custom fields, tags, operation
status, a unit's password or credentials, the record history; as processes on a real gateway."""

from __future__ import annotations

import json

from simulators.teltonika import run_fleet
from tests.conftest import eventually, listener_port
from tests.gateway.seed import CONCOX_MODEL, TELTONIKA_MODEL, niu_credentials, niu_vehicle, unit_body
from tests.process import cli_on as cli


async def test_master_data_custom_fields_tags_and_operation_status(gateway, api):
    vehicle_id = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))
                  ).json()["id"]
    code, out, err = await cli(
        gateway, "vehicles", "set", vehicle_id, "--license-plate", "B-FG-1", "--vin", "WVWZZZ1JZXW000001",
        "--remark", "new tyres", "--fuel-type", "electric", "--year", "2021", "--custom-field", "seats=2",
        "--custom-field", "color=red", "--tag", "night", "--tag", "berlin", "--operation-status", "garage", "--json")
    assert code == 0, err
    shown = json.loads(out)
    stored = (await api.get(f"/vehicles/{vehicle_id}")).json()
    assert shown == stored
    assert {k: stored["master_data"][k] for k in ("license_plate", "vin", "remark", "fuel_type", "year_of_production")
            } == {"license_plate": "B-FG-1", "vin": "WVWZZZ1JZXW000001", "remark": "new tyres",
                  "fuel_type": "ELECTRIC", "year_of_production": 2021}
    assert stored["custom_fields"] == {"seats": "2", "color": "red"}
    assert stored["tags"] == ["night", "berlin"] and stored["operation_status"]["value"] == "GARAGE"

    # null removes a field; custom fields and tags are replaced as a whole, as on the API
    code, out, err = await cli(gateway, "vehicles", "set", vehicle_id, "--unset", "remark", "--custom-field",
                               "color=blue", "--no-tags")
    assert code == 0, err
    stored = (await api.get(f"/vehicles/{vehicle_id}")).json()
    assert "remark" not in stored["master_data"] and stored["master_data"]["license_plate"] == "B-FG-1"
    assert stored["custom_fields"] == {"color": "blue"} and stored["tags"] == []
    assert "remark" not in out and "color = blue" in out

    code, out, err = await cli(gateway, "vehicles", "operate", vehicle_id)
    assert (code, out.strip()) == (0, f"vehicle {vehicle_id} is OPERATING"), err
    code, out, err = await cli(gateway, "vehicles", "garage", vehicle_id)
    assert (code, out.strip()) == (0, f"vehicle {vehicle_id} is GARAGE"), err

    code, out, err = await cli(gateway, "vehicles", "set", vehicle_id)
    assert code == 1 and err.strip() == "fleetgate: nothing to change: see `fleetgate vehicles set --help`"
    code, out, err = await cli(gateway, "vehicles", "set", vehicle_id, "--remark", "x", "--unset", "remark")
    assert code == 1 and "--remark and --unset remark together" in err
    code, out, err = await cli(gateway, "vehicles", "set", vehicle_id, "--vin", "too-short")
    assert code == 1 and err.startswith("fleetgate: 400 ") and "vin" in err
    after = (await api.get(f"/vehicles/{vehicle_id}")).json()  # the refused changes changed nothing
    assert [after[k] for k in ("master_data", "custom_fields", "tags")] == [
        stored[k] for k in ("master_data", "custom_fields", "tags")]


async def test_a_units_password_and_a_cloud_vehicles_credentials(gateway, api):
    concox = (await api.post("/vehicles", json=unit_body("CONCOX", "353413532150362", CONCOX_MODEL,
                                                         password="old-pw"))).json()
    code, out, err = await cli(gateway, "vehicles", "set-password", concox["id"], stdin="new-pw\n")
    assert code == 0, err
    assert await gateway.registry.unit_password(concox["id"]) == "new-pw"
    assert "new-pw" not in out + err

    teltonika = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    code, out, err = await cli(gateway, "vehicles", "set-password", teltonika["id"], stdin="new-pw\n")
    assert code == 1 and err.strip() == "fleetgate: TELTONIKA units have no password of their own"

    first = (await api.post("/credentials", json=niu_credentials("First"))).json()
    second = (await api.post("/credentials", json=niu_credentials("Second"))).json()
    niu = (await api.post("/vehicles", json=niu_vehicle(first["id"]))).json()
    code, out, err = await cli(gateway, "vehicles", "set-credentials", niu["id"], second["id"])
    assert code == 0, err
    assert (await gateway.registry.get_vehicle(niu["id"]))["credentials_id"] == second["id"]


async def test_record_history_by_pages(gateway, api, nursery):
    port = listener_port(gateway, "teltonika")
    report = await nursery.start(lambda task_status: run_fleet(
        "127.0.0.1", port, 1, 0.1, retry_delay=0.2, task_status=task_status))
    vehicle_id = (await api.post("/vehicles", json=unit_body("TELTONIKA", report.units[0].imei, TELTONIKA_MODEL))
                  ).json()["id"]

    async def history():
        items = (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 500})).json()["items"]
        return items if len(items) >= 5 else None

    await eventually(history)
    nursery.cancel_scope.cancel()
    everything = (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 500})).json()["items"]

    code, out, err = await cli(gateway, "vehicles", "records", vehicle_id, "--limit", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [r["recorded_at"] for r in everything[:3]]
    assert "position=" in lines[0] and "speed_in_kilometers_per_hour=" in lines[0]
    token = err.strip().rsplit(" ", 1)[1]
    assert err.strip() == f"fleetgate: more follow; read on with --page-token {token}"

    code, out, err = await cli(gateway, "vehicles", "records", vehicle_id, "--page-token", token, "--limit", "500",
                               "--json")
    assert code == 0 and err == ""
    assert json.loads(out) == everything[3:]

    code, out, err = await cli(gateway, "vehicles", "records", vehicle_id, "--from", "2999-01-01T00:00:00Z")
    assert (code, out.strip()) == (0, "no records in that time")


async def test_an_empty_list_says_so(gateway, api):
    code, out, _ = await cli(gateway, "vehicles", "list")
    assert (code, out.strip()) == (0, "no vehicles yet")
    await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))
    code, out, _ = await cli(gateway, "vehicles", "list", "RKL")
    assert (code, out.strip()) == (0, "no vehicle matches 'RKL'")
    code, out, _ = await cli(gateway, "vehicles", "list", "RKL", "--json")
    assert json.loads(out) == []
