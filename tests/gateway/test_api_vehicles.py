"""POST/GET/PATCH/DELETE /vehicles and the unit setup endpoints, over the real admin socket."""

from __future__ import annotations

import re

from tests.gateway.seed import (
    CONCOX_MODEL,
    JT808_MODEL,
    NIU_MODEL_PLAIN,
    TELTONIKA_MODEL,
    niu_credentials,
    niu_vehicle,
    unit_body,
)

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def add_credentials(api) -> str:
    response = await api.post("/credentials", json=niu_credentials())
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_seed_post_vehicle_returns_the_seed_shape(api):
    credentials_id = await add_credentials(api)
    response = await api.post("/vehicles", json=niu_vehicle(credentials_id))
    assert response.status_code == 201, response.text
    vehicle = response.json()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}", vehicle["id"])
    health = (await api.get("/health")).json()
    assert vehicle["fleet_id"] == health["fleet_id"]
    assert RFC3339_MS.match(vehicle["created_at"])
    master = vehicle["master_data"]
    assert RFC3339_MS.match(master.pop("modified_at"))
    assert master == {
        "vin": "WVWZZZ1JZXW000001",
        "license_plate": "RKL-832",
        "brand": "NIU",
        "model": "N1",
        "custom_name": "MyNiuN1",
        "fuel_type": "ELECTRIC",
        "year_of_production": 2020,
        "transmission": "AUTOMATIC",
        "vehicle_type": "MOPED",
        "remark": "Brand new",
    }
    assert vehicle["capabilities"] == {
        "commands": [
            "UNLOCK_TOP_CASE", "LOCK_TOP_CASE", "DISABLE_DRIVING", "ENABLE_DRIVING", "DRAW_ATTENTION",
            "UNLOCK_BATTERY_COMPARTMENT",
        ],
        "vehicle_state": ["FUEL_LEVEL_IN_PERCENT", "TOP_CASE_LOCK", "TOP_CASE_LID", "POSITION", "DRIVING_ENABLED",
                          "MILEAGE_IN_KILOMETERS", "SPEED_IN_KILOMETERS_PER_HOUR", "CELLULAR_SIGNAL_QUALITY"],
    }
    unit = vehicle["telematics_unit"]
    assert (unit["id"], unit["manufacturer"], unit["brand"], unit["type"]) == (
        "NBSG4C7B40647G5M", "NIU", "NIU", "EMBEDDED")
    assert RFC3339_MS.match(unit["attached_at"])
    assert vehicle["life_status"]["value"] == "OFFLINE"
    assert vehicle["operation_status"]["value"] == "GARAGE"
    assert RFC3339_MS.match(vehicle["operation_status"]["modified_at"])
    assert RFC3339_MS.match(vehicle["custom_fields_modified_at"])
    assert vehicle["custom_fields"] == {"seats": "2", "color": "black"}
    assert vehicle["tags"] == ["in_maintenance", "demo_night"]
    assert response.headers["x-flow-id"]

    fetched = (await api.get(f"/vehicles/{vehicle['id']}")).json()
    assert fetched == response.json()


async def test_seed_put_setup_changes_the_capabilities(api):
    credentials_id = await add_credentials(api)
    vehicle = (await api.post("/vehicles", json=niu_vehicle(credentials_id))).json()
    response = await api.put(
        f"/vehicles/{vehicle['id']}/telematics-unit/setup", json={"vehicle_model_id": NIU_MODEL_PLAIN}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"vehicle_model_id": NIU_MODEL_PLAIN, "status": "SUCCEEDED"}
    capabilities = (await api.get(f"/vehicles/{vehicle['id']}")).json()["capabilities"]
    assert capabilities == {
        "commands": ["DISABLE_DRIVING", "ENABLE_DRIVING", "DRAW_ATTENTION", "UNLOCK_BATTERY_COMPARTMENT"],
        "vehicle_state": ["FUEL_LEVEL_IN_PERCENT", "POSITION", "DRIVING_ENABLED", "MILEAGE_IN_KILOMETERS",
                          "SPEED_IN_KILOMETERS_PER_HOUR", "CELLULAR_SIGNAL_QUALITY"],
    }
    # A model of another brand is refused and changes nothing.
    response = await api.put(
        f"/vehicles/{vehicle['id']}/telematics-unit/setup", json={"vehicle_model_id": TELTONIKA_MODEL}
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/referenced-resource-not-found"
    assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["capabilities"] == capabilities


async def test_brand_is_case_insensitive_and_upper_case_on_output(api):
    response = await api.post("/vehicles", json=unit_body("teltonika", "356307042441013", TELTONIKA_MODEL))
    assert response.status_code == 201, response.text
    assert response.json()["telematics_unit"]["brand"] == "TELTONIKA"


async def test_each_credential_kind(api):
    assert (await api.post("/vehicles", json=unit_body("CONCOX", "359710049095095", CONCOX_MODEL,
                                                       password="ab12"))).status_code == 201
    assert (await api.post("/vehicles", json=unit_body("JT808", "013912345678", JT808_MODEL,
                                                       password="auth-code-1"))).status_code == 201
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441014", TELTONIKA_MODEL))).json()
    # No secret is ever part of a vehicle.
    listing = await api.get("/vehicles")
    assert "ab12" not in listing.text and "auth-code-1" not in listing.text
    assert listing.json()["items"][-1]["id"] == vehicle["id"]


async def test_list_pages_and_search(api):
    ids = []
    for n in range(7):
        body = unit_body("TELTONIKA", f"35630704244{1000 + n}", TELTONIKA_MODEL)
        body["master_data"] = {"license_plate": f"B-FG-{n}", "custom_name": f"car {n}"}
        ids.append((await api.post("/vehicles", json=body)).json()["id"])
    seen, token = [], None
    while True:
        params = {"limit": 3, **({"page_token": token} if token else {})}
        page = (await api.get("/vehicles", params=params)).json()
        assert len(page["items"]) <= 3
        seen += [v["id"] for v in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == ids
    found = (await api.get("/vehicles", params={"q": "b-fg-4"})).json()["items"]
    assert [v["id"] for v in found] == [ids[4]]
    found = (await api.get("/vehicles", params={"q": "356307042441006"})).json()["items"]
    assert [v["id"] for v in found] == [ids[6]]
    assert (await api.get("/vehicles", params={"q": "nothing-like-this"})).json()["items"] == []
    bad = await api.get("/vehicles", params={"page_token": "garbage"})
    assert bad.status_code == 400 and bad.json()["type"] == "/problems/validation-error"
    bad = await api.get("/vehicles", params={"limit": 501})
    assert bad.status_code == 400 and "limit" in bad.json()["detail"]


async def test_patch_merges_master_data_and_bumps_modified_at(api):
    body = unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL)
    body["master_data"] = {"license_plate": "B-AB-1", "custom_name": "blue", "remark": "old"}
    vehicle = (await api.post("/vehicles", json=body)).json()
    before = vehicle["master_data"]["modified_at"]
    response = await api.patch(
        f"/vehicles/{vehicle['id']}",
        json={"master_data": {"custom_name": "red", "remark": None, "year_of_production": "2019"},
              "tags": ["a", "a", "b"], "operation_status": "GARAGE", "custom_fields": {"n": 1, "ok": True}},
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    master = dict(patched["master_data"])
    assert master.pop("modified_at") >= before
    assert master == {"license_plate": "B-AB-1", "custom_name": "red", "year_of_production": 2019}
    assert patched["tags"] == ["a", "b"]
    assert patched["custom_fields"] == {"n": 1, "ok": True}
    assert patched["operation_status"]["value"] == "GARAGE"
    assert patched["operation_status"]["modified_at"] >= vehicle["operation_status"]["modified_at"]
    # Parts not sent are untouched.
    again = (await api.patch(f"/vehicles/{vehicle['id']}", json={"tags": []})).json()
    assert again["custom_fields"] == {"n": 1, "ok": True} and again["tags"] == []
    assert again["master_data"]["modified_at"] == patched["master_data"]["modified_at"]


async def test_delete_detaches_the_unit(api, gateway):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    await gateway.registry.record_seen("TELTONIKA", "356307042441013", "127.0.0.1:40000")
    units = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
    assert units == []  # attached units are not available
    assert (await api.delete(f"/vehicles/{vehicle['id']}")).status_code == 204
    assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["type"] == "/problems/resource-not-found"
    assert (await api.get("/vehicles")).json()["items"] == []
    units = (await api.get("/telematics-brands/TELTONIKA/available-telematics-units")).json()["items"]
    assert [u["id"] for u in units] == ["356307042441013"]
    again = await api.delete(f"/vehicles/{vehicle['id']}")
    assert again.status_code == 404
    # The unit can be attached again to a new vehicle.
    assert (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).status_code == 201


async def test_change_authentication(api, gateway):
    vehicle = (await api.post("/vehicles", json=unit_body("JT808", "013912345678", JT808_MODEL,
                                                          password="first"))).json()
    url = f"/vehicles/{vehicle['id']}/telematics-unit/authentication"
    assert (await api.put(url, json={"password": "second"})).status_code == 204
    assert await gateway.registry.unit_password(vehicle["id"]) == "second"
    wrong = await api.put(url, json={"credentials_id": "01F6AAAAAAAAAAAAAAAAAAAAAA"})
    assert wrong.status_code == 400 and wrong.json()["type"] == "/problems/validation-error"
    assert await gateway.registry.unit_password(vehicle["id"]) == "second"
    teltonika = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    refused = await api.put(f"/vehicles/{teltonika['id']}/telematics-unit/authentication", json={"password": "x"})
    assert refused.status_code == 400
