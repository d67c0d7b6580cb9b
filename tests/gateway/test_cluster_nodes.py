"""Two gateways on one PostgreSQL database are two nodes of one cluster (DESIGN.md "One node
or a cluster"): a command asked on either reaches the unit wherever it is connected, the
newest login wins across nodes, and a node that stops renewing its lease loses its units'
sessions. Both nodes run in this test's trio run, each with its own data dir, admin socket
and listeners, and the key every node of a cluster shares."""

from __future__ import annotations

import httpx
import pytest
import trio

from gateway.app import run_gateway
from gateway.cluster.node import ClusterNode
from gateway.config import load_config
from gateway.store import cluster as q
from tests.conftest import TEST_TIMEOUT, eventually, gateway_config_toml, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.teltonika_unit import ScriptedUnit, avl_packet

pytestmark = pytest.mark.postgresql_only

IMEI = "356307042441013"
LEASE = 2  # seconds: a node silent this long is taken for dead


@pytest.fixture
def extra_config(tmp_path) -> str:
    return f'[secrets]\nkey_file = "{tmp_path / "cluster.key"}"\n[cluster]\nlease = {LEASE}\n[commands]\ntimeout = 5\n'


@pytest.fixture
async def other(tmp_path, short_dir, extra_config, store_url, gateway, nursery):
    """A second node on the first one's database; yields (its runtime, an API client on it)."""
    path = tmp_path / "other.toml"
    path.write_text(gateway_config_toml(tmp_path / "other", short_dir / "other.sock", extra_config, "", store_url))
    with trio.fail_after(TEST_TIMEOUT):
        runtime = await nursery.start(run_gateway, load_config(path))
    transport = httpx.AsyncHTTPTransport(uds=str(runtime.config.admin_socket))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=TEST_TIMEOUT) as client:
        yield runtime, client


async def _online_on(api, vehicle_id: str, store, node_id: str) -> bool:
    vehicle = (await api.get(f"/vehicles/{vehicle_id}")).json()
    return vehicle["life_status"]["value"] == "ONLINE" and await store.read(q.session_holder, vehicle_id) == node_id


async def _events(api, vehicle_id: str, event_type: str) -> list[dict]:
    query = await api.post("/event-log-entries/query", json={"vehicle_id": vehicle_id, "event_types": [event_type]})
    return query.json()["items"]


async def _logged_in(node, api, vehicle_id: str) -> ScriptedUnit:
    """The vehicle's unit, logged in on ``node`` and claimed there."""
    unit = await ScriptedUnit.connect(listener_port(node, "teltonika"), IMEI)
    assert await unit.login() == b"\x01"
    await eventually(lambda: _online_on(api, vehicle_id, node.store, node.node.node_id))
    return unit


async def test_a_command_asked_on_one_node_reaches_the_unit_connected_to_another(gateway, api, other):
    node_b, api_b = other
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    with trio.fail_after(TEST_TIMEOUT):
        unit = await _logged_in(node_b, api, vehicle["id"])
        async with trio.open_nursery() as nursery:
            answers = []

            async def ask() -> None:
                answers.append(await api.post(f"/vehicles/{vehicle['id']}/commands/disable-driving"))

            nursery.start_soon(ask)
            assert await unit.read_command() == "setdigout 1"
            # One command in flight per vehicle on all nodes: asked again on the unit's own node.
            busy = await api_b.post(f"/vehicles/{vehicle['id']}/commands/enable-driving")
            assert busy.status_code == 409 and busy.json()["type"] == "/problems/vehicle/conflicting-command"
            await unit.answer("DOUT1:1 Timeout:INFINITY DOUT2:0 Timeout:INFINITY")
    (answer,) = answers
    assert answer.status_code == 200, answer.text
    node = (await api_b.get("/health")).json()["node"]
    assert (node["id"], node["live_nodes"]) == (node_b.node.node_id, 2)
    assert answer.json()["driving_enabled"]["value"] is False
    audit = await gateway.store.read(lambda conn: [tuple(row) for row in conn.execute(
        "SELECT command, result, node_id, sent_at IS NOT NULL FROM command_audit")])
    assert audit == [("DISABLE_DRIVING", "SUCCEEDED", node_b.node.node_id, True)]
    executed = await _events(api, vehicle["id"], "CommandExecuted")
    assert [e["data"]["result"] for e in executed] == ["SUCCEEDED"]


async def test_a_command_for_a_unit_that_answers_nothing_times_out_on_the_asking_node(gateway, api, other):
    node_b, _ = other
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    with trio.fail_after(TEST_TIMEOUT):
        unit = await _logged_in(node_b, api, vehicle["id"])
        answer = await api.post(f"/vehicles/{vehicle['id']}/commands/disable-driving")
        assert await unit.read_command() == "setdigout 1"  # it reached the unit, which kept silent
    assert answer.status_code == 504 and answer.json()["type"] == "/problems/telematics-unit/timeout"
    audit = await gateway.store.read(lambda conn: [tuple(row) for row in conn.execute(
        "SELECT result FROM command_audit")])
    assert audit == [("TIMEOUT",)]


async def test_the_newest_login_wins_across_nodes(gateway, api, other):
    node_b, api_b = other
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    with trio.fail_after(TEST_TIMEOUT):
        first = await _logged_in(gateway, api, vehicle["id"])
        second = await ScriptedUnit.connect(listener_port(node_b, "teltonika"), IMEI)
        assert await second.login() == b"\x01"
        assert await first.closed_by_gateway() == b""  # the older session, on the other node, ends at once
        await eventually(lambda: _online_on(api_b, vehicle["id"], gateway.store, node_b.node.node_id))
        # The old session's end did not take the vehicle OFFLINE: the new one holds it.
        await second.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 54.7, "lon": 25.3}))
        assert await second.read_exactly(4) == b"\x00\x00\x00\x01"
    changes = await _events(api, vehicle["id"], "VehicleChanged")
    assert [e["data"]["life_status"] for e in changes if "life_status" in e["data"]] == ["ONLINE"]
    assert gateway.sessions.get(vehicle["id"]) is None and node_b.sessions.get(vehicle["id"]) is not None


async def test_a_node_that_stops_renewing_its_lease_loses_its_units_sessions(gateway, api):
    """A node killed without a word: its row and claim stay until its lease runs out; then
    the live node releases the claim and the vehicle goes OFFLINE, with its event."""
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    dead = ClusterNode(gateway.store, gateway.config.store.url, LEASE, sessions=None)
    await gateway.store.write(q.register_node, dead.node_id, "killed:1", LEASE)
    await gateway.store.write(q.claim_session, vehicle["id"], dead.node_id, 1, "2026-11-30T12:00:00.000Z")
    assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "ONLINE"
    live = await gateway.store.read(q.live_nodes)
    assert {node["id"] for node in live} == {gateway.node.node_id, dead.node_id}

    async def offline() -> bool:
        return (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "OFFLINE"

    with trio.fail_after(TEST_TIMEOUT):
        await eventually(offline, timeout=4 * LEASE)
    assert [node["id"] for node in await gateway.store.read(q.live_nodes)] == [gateway.node.node_id]
    assert await gateway.store.read(q.session_holder, vehicle["id"]) is None


def test_each_key_has_one_owner_among_the_live_nodes_and_a_dead_nodes_keys_move_alone():
    nodes = [ClusterNode(None, None, LEASE, sessions=None) for _ in range(3)]
    everyone = [node.node_id for node in nodes]
    for node in nodes:
        node.live = everyone
    keys = [f"vehicle-{i}" for i in range(300)]
    owners = {key: [node.node_id for node in nodes if node.owns(key)] for key in keys}
    assert all(len(owner) == 1 for owner in owners.values())
    assert all(sum(owner == [node.node_id] for owner in owners.values()) > 50 for node in nodes)  # spread
    survivors = nodes[:2]
    for node in survivors:
        node.live = everyone[:2]
    for key in keys:
        now = [node.node_id for node in survivors if node.owns(key)]
        assert len(now) == 1
        if owners[key][0] != everyone[2]:
            assert now == owners[key]  # a live node keeps what it had


async def test_a_node_taken_for_dead_while_it_lived_claims_its_sessions_again(gateway, api):
    """A stall longer than the lease: the others release the node's claims (its vehicles go
    OFFLINE). At its next renewal it joins again and claims its live sessions again."""
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    node_id = gateway.node.node_id
    with trio.fail_after(TEST_TIMEOUT):
        unit = await _logged_in(gateway, api, vehicle["id"])
        await gateway.store.write(q.leave, node_id, "2026-11-30T12:00:00.000Z")  # as a reaper does
        assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["life_status"]["value"] == "OFFLINE"
        await eventually(lambda: _online_on(api, vehicle["id"], gateway.store, node_id), timeout=4 * LEASE)
        await unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 54.7, "lon": 25.3}))
        assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"  # the session never ended
    statuses = [e["data"]["life_status"] for e in await _events(api, vehicle["id"], "VehicleChanged")
                if "life_status" in e["data"]]
    assert statuses == ["ONLINE", "OFFLINE", "ONLINE"]
