"""NIU polling shared by the nodes of a cluster: each scooter is polled by one live node, and
the scooters of a node that leaves are polled by the others at once, not a poll interval
later. Two nodes in this test's trio run on one PostgreSQL database and one simulated cloud."""

from __future__ import annotations

import pytest
import trio

from gateway.app import run_gateway
from gateway.config import load_config
from simulators.niu_cloud import SimulatedCloud, serial_for, serve
from tests.conftest import TEST_TIMEOUT, eventually, gateway_config_toml
from tests.gateway.seed import NIU_MODEL_PLAIN, unit_body

pytestmark = pytest.mark.postgresql_only

SCOOTERS = 20
POLL_INTERVAL = 60  # seconds: longer than the test, so only a take-over explains a second poll
SECRET = "fleet-secret-Cluster-7"


@pytest.fixture
async def cloud(nursery):
    cloud = SimulatedCloud(SCOOTERS, client=("fleet-client", SECRET))
    cloud.port = await nursery.start(serve, cloud, "127.0.0.1", 0)
    return cloud


@pytest.fixture
async def extra_config(cloud, tmp_path) -> str:
    return (f'[drivers.niu]\nbase_url = "http://127.0.0.1:{cloud.port}"\npoll_interval = {POLL_INTERVAL}\n'
            f'request_timeout = 2\n[secrets]\nkey_file = "{tmp_path / "cluster.key"}"\n[cluster]\nlease = 1\n')


def polls(runtime) -> float:
    """Polls the node made, whatever the cloud answered (a loaded machine may time one out)."""
    return sum(runtime.metrics.value("fleetgate_cloud_polls_total", result=result)
               for result in ("ok", "error", "credentials_rejected", "internal_error"))


async def test_each_scooter_is_polled_by_one_node_and_a_leaving_nodes_by_the_others_at_once(
        gateway, api, extra_config, tmp_path, short_dir, store_url):
    credentials = await api.post("/credentials", json={"brand": "NIU", "name": "Cluster", "client_id": "fleet-client",
                                                       "client_secret": SECRET})
    for i in range(SCOOTERS):
        body = unit_body("NIU", serial_for(i), NIU_MODEL_PLAIN, credentials_id=credentials.json()["id"])
        assert (await api.post("/vehicles", json=body)).status_code == 201
    everything = {v["id"] for v in (await api.get("/vehicles", params={"limit": 100})).json()["items"]}
    await eventually(lambda: polls(gateway) == SCOOTERS)  # each polled at once where it was added

    path = tmp_path / "other.toml"
    path.write_text(gateway_config_toml(tmp_path / "other", short_dir / "other.sock", extra_config, "", store_url))
    async with trio.open_nursery() as other_nursery:
        with trio.fail_after(TEST_TIMEOUT):
            other = await other_nursery.start(run_gateway, load_config(path))
            # Both nodes see each other: each polls its own share, once.

            async def split() -> bool:
                ours, theirs = gateway.cloud.share, other.cloud.share
                return (ours | theirs) == everything and ours and theirs and not ours & theirs

            await eventually(split)
            theirs = set(other.cloud.share)
            assert theirs == {v for v in everything if other.node.owns(v)}
            await eventually(lambda: polls(other) == len(theirs))
            # This node polled its share once when the other joined (it polled none in a cycle yet).
            await eventually(lambda: polls(gateway) == SCOOTERS + len(gateway.cloud.share))
            before = polls(gateway)
        other_nursery.cancel_scope.cancel()  # the other node leaves: its row and claims go

    with trio.fail_after(TEST_TIMEOUT):
        await eventually(lambda: polls(gateway) == before + len(theirs))
    assert gateway.cloud.share == everything
