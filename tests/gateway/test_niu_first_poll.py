"""A scooter just added is polled at once, not a poll interval later."""

from __future__ import annotations

import pytest

from simulators.niu_cloud import SimulatedCloud, serve
from tests.conftest import eventually
from tests.gateway.seed import niu_vehicle


@pytest.fixture
async def cloud(nursery):
    cloud = SimulatedCloud(["NBSG4C7B40647G5M"], client=("fleet-client", "fleet-secret"))
    cloud.port = await nursery.start(serve, cloud, "127.0.0.1", 0)
    return cloud


@pytest.fixture
async def extra_config(cloud) -> str:
    return f'[drivers.niu]\nbase_url = "http://127.0.0.1:{cloud.port}"\npoll_interval = 3600\n'


async def test_new_scooter_is_polled_at_once(gateway, api, cloud):
    credentials = (await api.post("/credentials", json={"brand": "NIU", "name": "F", "client_id": "fleet-client",
                                                        "client_secret": "fleet-secret"})).json()
    vehicle = (await api.post("/vehicles", json=niu_vehicle(credentials["id"]))).json()

    async def online_with_state():
        online = (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "ONLINE"
        return online and "position" in (await api.get(f"/vehicles/{vehicle['id']}/state")).json()

    await eventually(online_with_state, timeout=10)  # the regular cycle would take an hour
