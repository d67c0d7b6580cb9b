"""GET /telematics-brands/{brand}/available-telematics-units is paged like every list,
for units seen on a listener and for units a vendor cloud lists alike."""

from __future__ import annotations

import pytest

from simulators.niu_cloud import SimulatedCloud, serve

SERIALS = ["NBSG4C7B40647G5M", "NBSG0000000000A2"]
SECRET = "fleet-secret-Berlin-42"


@pytest.fixture
async def extra_config(nursery) -> str:
    cloud = SimulatedCloud(SERIALS, client=("fleet-client", SECRET))
    port = await nursery.start(serve, cloud, "127.0.0.1", 0)
    return f'[drivers.niu]\nbase_url = "http://127.0.0.1:{port}"\n'


async def pages(api, brand: str, limit: int) -> list[list[tuple[str, str]]]:
    found, token = [], None
    while True:
        params = {"limit": limit, **({"page_token": token} if token else {})}
        response = await api.get(f"/telematics-brands/{brand}/available-telematics-units", params=params)
        assert response.status_code == 200, response.text
        found.append([(unit["id"], unit["remote_address"]) for unit in response.json()["items"]])
        token = response.json()["next_page_token"]
        if token is None:
            return found


async def test_cloud_units_of_every_credentials_are_paged_in_one_stable_order(gateway, api):
    credentials = sorted([
        (await api.post("/credentials", json={"brand": "NIU", "name": name, "client_id": "fleet-client",
                                              "client_secret": SECRET})).json()["id"]
        for name in ("Berlin", "Hamburg")])
    # The same two scooters under both credentials records: four entries, by serial, then credentials.
    expected = [(serial, c) for serial in sorted(SERIALS) for c in credentials]
    assert await pages(api, "NIU", 3) == [expected[:3], expected[3:]]
    assert await pages(api, "niu", 500) == [expected]


async def test_units_seen_on_a_listener_are_paged_by_unit_id(gateway, api):
    imeis = [f"35630704244{n:04d}" for n in range(7)]
    for imei in reversed(imeis):
        await gateway.registry.record_seen("TELTONIKA", imei, "10.0.0.1:4000")
    found = await pages(api, "TELTONIKA", 3)
    assert [[unit_id for unit_id, _ in page] for page in found] == [imeis[:3], imeis[3:6], imeis[6:]]
    bad = await api.get("/telematics-brands/TELTONIKA/available-telematics-units", params={"page_token": "xyz"})
    assert bad.status_code == 400
