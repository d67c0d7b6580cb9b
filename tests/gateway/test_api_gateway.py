"""/health, /metrics, /telematics-brands and the OpenAPI description."""

from __future__ import annotations

import re

from tests.gateway.seed import NIU_MODEL_PLAIN, NIU_MODEL_WITH_TOP_CASE, TELTONIKA_MODEL, unit_body


async def test_health(api, gateway):
    health = (await api.get("/health")).json()
    assert health["status"] == "ok"
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}", health["fleet_id"])
    assert health["version"] == gateway.version
    assert health["listeners"] == gateway.listeners


async def test_brands(api):
    brands = (await api.get("/telematics-brands")).json()["items"]
    by_name = {b["brand"]: b for b in brands}
    assert set(by_name) == {"TELTONIKA", "CONCOX", "JT808", "NIU"}
    assert (by_name["TELTONIKA"]["credential_kind"], by_name["TELTONIKA"]["transport"]) == ("NONE", "TCP")
    assert by_name["CONCOX"]["credential_kind"] == "INDIVIDUAL"
    assert by_name["JT808"]["credential_kind"] == "INDIVIDUAL"
    assert (by_name["NIU"]["credential_kind"], by_name["NIU"]["transport"]) == ("SHARED", "CLOUD")
    assert "port" not in by_name["NIU"]


async def test_vehicle_models_per_brand(api):
    niu = (await api.get("/telematics-brands/NIU/available-vehicle-models")).json()["items"]
    by_id = {m["id"]: m for m in niu}
    assert by_id[NIU_MODEL_WITH_TOP_CASE] == {
        "id": NIU_MODEL_WITH_TOP_CASE,
        "brand": "NIU",
        "vehicle_brand": "NIU",
        "vehicle_model": "N1 with top case",
        "vehicle_type": "MOPED",
        "capabilities": {
            "commands": ["UNLOCK_TOP_CASE", "LOCK_TOP_CASE", "DISABLE_DRIVING", "ENABLE_DRIVING", "DRAW_ATTENTION",
                         "UNLOCK_BATTERY_COMPARTMENT"],
            "vehicle_state": ["FUEL_LEVEL_IN_PERCENT", "TOP_CASE_LOCK", "TOP_CASE_LID", "POSITION",
                              "DRIVING_ENABLED", "MILEAGE_IN_KILOMETERS", "SPEED_IN_KILOMETERS_PER_HOUR",
                              "CELLULAR_SIGNAL_QUALITY"],
        },
    }
    assert by_id[NIU_MODEL_PLAIN]["vehicle_model"] == "N1"
    for brand in ("TELTONIKA", "CONCOX", "JT808"):
        models = (await api.get(f"/telematics-brands/{brand.lower()}/available-vehicle-models")).json()["items"]
        assert models and all(m["brand"] == brand for m in models)
        assert all("options" not in m for m in models)


async def test_available_units_both_spellings(api, gateway):
    await gateway.registry.record_seen("TELTONIKA", "356307042441013", "10.1.2.3:5555")
    await gateway.registry.record_seen("TELTONIKA", "356307042441013", "10.1.2.3:6666")
    for path in ("available-telematics-units", "available-telematics-unit"):
        items = (await api.get(f"/telematics-brands/TELTONIKA/{path}")).json()["items"]
        assert len(items) == 1
        unit = items[0]
        assert (unit["id"], unit["brand"], unit["remote_address"]) == ("356307042441013", "TELTONIKA", "10.1.2.3:6666")
        assert unit["first_seen_at"] <= unit["last_seen_at"]
    assert (await api.get("/telematics-brands/CONCOX/available-telematics-units")).json()["items"] == []
    assert (await api.get("/telematics-brands/ACME/available-telematics-units")).status_code == 404


async def test_metrics_count_requests_and_vehicles(api):
    await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))
    await api.get("/vehicles/NOPE1")
    text = (await api.get("/metrics")).text
    assert "# TYPE fleetgate_admin_requests_total counter" in text
    assert 'fleetgate_admin_requests_total{method="POST",status="201"} 1' in text
    assert 'fleetgate_admin_requests_total{method="GET",status="404"} 1' in text
    assert "fleetgate_vehicles 1" in text


async def test_openapi_is_served(api):
    spec = (await api.get("/openapi.json")).json()
    assert "/vehicles" in spec["paths"] and "/credentials/{credentials_id}" in spec["paths"]
    assert (await api.get("/docs")).status_code == 200


async def test_authorization_header_is_accepted_and_ignored(api):
    response = await api.get("/vehicles", headers={"Authorization": "Bearer whatever"})
    assert response.status_code == 200
