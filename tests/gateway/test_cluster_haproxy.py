"""Three `fleetgate serve` nodes on one PostgreSQL database behind a real HAProxy (Debian's
package), with 300 units of the three TCP brands connecting through it: a command asked on
one node reaches a unit connected to another; one node killed with SIGKILL mid-stream loses
no acknowledged record and stores none twice; its units are ONLINE again through the others;
and an event stream held open on a surviving node missed no event of any node."""

from __future__ import annotations

import signal

import httpx
import psycopg
import pytest
import trio

from simulators import gt06, jt808
from tests.conftest import TEST_TIMEOUT, eventually
from tests.gateway.seed import CONCOX_MODEL, JT808_MODEL, TELTONIKA_MODEL, unit_body
from tests.hostile.units import StreamingUnit, assert_acked_stored_once
from tests.process import start_gateway, wait_exit, wait_until_serving
from tests.servers import HAPROXY, HAProxy, free_port, missing

TELTONIKA_UNITS, GT06_UNITS, JT808_UNITS = 200, 50, 50
FIRST_TELTONIKA = 356307042400000
LEASE = 5  # seconds: the killed node's claims go this long after its last renewal
BRANDS = {"teltonika": "teltonika", "gt06": "concox", "jt808": "jt808"}  # driver -> HAProxy proxy name


class Node:
    def __init__(self, root, socket_dir, index: int, url: str, key) -> None:
        self.name = f"node{index}"
        self.socket = socket_dir / f"{self.name}.sock"
        self.ports = {driver: free_port() for driver in BRANDS}
        self.health = free_port()
        listeners = "".join(
            f'[drivers.{driver}]\nhost = "127.0.0.1"\nport = {port}\nproxy_protocol = true\n'
            for driver, port in self.ports.items())
        self.config = root / f"{self.name}.toml"
        self.config.write_text(
            f'data_dir = "{root / self.name}"\n[admin]\nsocket = "{self.socket}"\n[store]\nurl = "{url}"\n'
            f'[secrets]\nkey_file = "{key}"\n[cluster]\nhealth_listen = "127.0.0.1:{self.health}"\nlease = {LEASE}\n'
            f'[commands]\ntimeout = 10\n[drivers.niu]\nenabled = false\n{listeners}')
        self.process = None

    def start(self) -> None:
        self.process = start_gateway(self.config, stderr=open(self.config.with_suffix(".log"), "w"))

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(self.socket)), base_url="http://localhost",
                                 timeout=TEST_TIMEOUT)


def balancer_config(nodes: list[Node]) -> tuple[str, dict[str, int]]:
    fronts = {driver: free_port() for driver in BRANDS}
    text = ("defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5m\n    timeout server 5m\n"
            "    retries 3\n    option redispatch\n")
    for driver, proxy in BRANDS.items():
        text += f"frontend {proxy}\n    bind 127.0.0.1:{fronts[driver]}\n    default_backend {proxy}\n"
        text += f"backend {proxy}\n    option httpchk GET /health\n    http-check expect status 200\n"
        text += "".join(f"    server {n.name} 127.0.0.1:{n.ports[driver]} send-proxy-v2 check port {n.health}"
                        " inter 200ms fall 2 rise 1\n" for n in nodes)
    return text, fronts


class Database:
    """The cluster's database as the test reads it, outside every node."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _query(self, fn):
        with psycopg.connect(self.url, autocommit=True) as conn:
            return fn(conn)

    async def read(self, fn):
        return await trio.to_thread.run_sync(self._query, fn)

    async def rows(self, sql: str) -> list[tuple]:
        return await self.read(lambda conn: [tuple(row) for row in conn.execute(sql)])


@pytest.fixture
def cluster_servers(postgres_server):
    if postgres_server is None:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    if not HAPROXY.exists():
        missing("HAProxy is not installed (apt-get install haproxy)")
    return postgres_server


async def collect_stream(api: httpx.AsyncClient, seen: list[int], task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Every event id the node's live stream delivers, in order."""
    async with api.stream("GET", "/events", timeout=httpx.Timeout(TEST_TIMEOUT, read=None)) as stream:
        task_status.started()
        async for line in stream.aiter_lines():
            if line.startswith("id: "):
                seen.append(int(line[4:]))
            elif line.startswith("event: StreamDropped"):
                raise AssertionError("the event stream dropped its client")


async def all_events(api: httpx.AsyncClient) -> list[int]:
    ids, token = [], None
    while True:
        body = {"limit": 500, **({"page_token": token} if token else {})}
        page = (await api.post("/event-log-entries/query", json=body)).json()
        ids += [int(event["id"]) for event in page["items"]]
        token = page.get("next_page_token")
        if not token:
            return ids


async def test_three_nodes_behind_haproxy_share_units_commands_events_and_outlive_a_killed_node(
        tmp_path, short_dir, cluster_servers):
    url = cluster_servers.new_database()
    db = Database(url)
    nodes = [Node(tmp_path, short_dir, i, url, tmp_path / "cluster.key") for i in range(3)]
    proxy = None
    try:
        for node in nodes:
            node.start()
            await wait_until_serving(node.process, node.socket, timeout=60)
        config, fronts = balancer_config(nodes)
        proxy = HAProxy(tmp_path, config)
        proxy.start()
        async with nodes[0].api() as api, trio.open_nursery() as nursery:
            with trio.fail_after(12 * TEST_TIMEOUT):
                await _run(nursery, api, nodes, proxy, fronts, db)
            nursery.cancel_scope.cancel()
    finally:
        if proxy is not None:
            proxy.stop()
        for node in nodes:
            if node.process.poll() is None:
                node.process.terminate()
                await wait_exit(node.process, timeout=30)


async def _run(nursery, api, nodes, proxy, fronts, db) -> None:
    seen: list[int] = []  # the live stream on node 0, from an empty log on
    await nursery.start(collect_stream, api, seen)

    streaming = [StreamingUnit(fronts["teltonika"], str(FIRST_TELTONIKA + i), 1.0) for i in range(TELTONIKA_UNITS)]
    concox_password = "gt06-pass-1"
    for unit in streaming:
        assert (await api.post("/vehicles", json=unit_body("TELTONIKA", unit.imei, TELTONIKA_MODEL))).status_code == 201
    for i in range(GT06_UNITS):
        body = unit_body("CONCOX", gt06.imei_for(i), CONCOX_MODEL, password=concox_password)
        assert (await api.post("/vehicles", json=body)).status_code == 201
    jt808_ids = {}
    for i in range(JT808_UNITS):
        created = await api.post("/vehicles", json=unit_body("JT808", jt808.phone_for(i), JT808_MODEL,
                                                             password=f"code-{i}"))
        assert created.status_code == 201, created.text
        jt808_ids[jt808.phone_for(i)] = created.json()["id"]
    total = TELTONIKA_UNITS + GT06_UNITS + JT808_UNITS

    async def balancer_ready() -> bool:
        found = await trio.to_thread.run_sync(proxy.servers)
        return all(found.get((proxy_name, n.name), {}).get("status") == "UP"
                   for proxy_name in BRANDS.values() for n in nodes)

    await eventually(balancer_ready, timeout=20)
    async with trio.open_nursery() as units:
        for unit in streaming:
            units.start_soon(unit.run)
        await units.start(lambda task_status: gt06.run_fleet(
            "127.0.0.1", fronts["gt06"], GT06_UNITS, 1.0, password_for=lambda i: concox_password, retry_delay=0.2,
            task_status=task_status))
        jt808_fleet = await units.start(lambda task_status: jt808.run_fleet(
            "127.0.0.1", fronts["jt808"], JT808_UNITS, 1.0, auth_code_for=lambda i: f"code-{i}", retry_delay=0.2,
            task_status=task_status))
        await _command_and_kill(nodes, db, api, streaming, jt808_ids, jt808_fleet, total)
        units.cancel_scope.cancel()  # the units stop: what they were acknowledged is final

    stored = await assert_acked_stored_once(db, streaming)
    # Nor any of their records stored twice, acknowledged or not. (A JT/T 808 terminal's
    # times have whole seconds: two of its records may share one and differ in content.)
    imeis = {unit.imei for unit in streaming}
    assert {count for (unit_id, _), count in stored.items() if unit_id in imeis} == {1}
    # The log may still grow: a unit's last session closes, the killed node's vehicles go
    # OFFLINE when its lease runs out. Read it again until the stream has reached its end.
    logged: list[int] = []

    async def stream_reached_the_log_end() -> bool:
        logged[:] = await all_events(api)
        return seen[-1:] == logged[-1:]

    await eventually(stream_reached_the_log_end, timeout=30, interval=0.5)
    streamed = seen[:len(logged)]
    assert len(streamed) == len(set(streamed))  # none repeated
    assert streamed == logged  # none missed, in the log's order


async def _command_and_kill(nodes, db, api, streaming, jt808_ids, jt808_fleet, total) -> None:
    async def nodes_by_pid() -> dict[int, str]:
        rows = await db.rows("SELECT id, name FROM nodes")
        return {int(name.rsplit(":", 1)[1]): node_id for node_id, name in rows}

    seen = {}

    async def all_online_on(live: set[str]) -> bool:
        online = await db.rows("SELECT count(*) FROM vehicles WHERE life_status = 'ONLINE'")
        held = dict(await db.rows("SELECT node_id, count(*) FROM unit_sessions GROUP BY node_id"))
        seen.update(online=online[0][0], held=held, live=live)  # for the failure's message
        return online[0][0] == total and set(held) == live and sum(held.values()) == total

    async def wait_all_online_on(live: set[str], timeout: float) -> None:
        try:
            await eventually(lambda: all_online_on(live), timeout=timeout)
        except trio.TooSlowError:
            raise AssertionError(f"not every unit online on the live nodes: {seen}") from None

    ids = await nodes_by_pid()
    node_ids = [ids[n.process.pid] for n in nodes]
    await wait_all_online_on(set(node_ids), 120)  # every node holds some of the units

    # A command asked on node 0 for a JT/T 808 terminal connected to another node.
    holders = dict(await db.rows("SELECT vehicle_id, node_id FROM unit_sessions"))
    phone, vehicle_id = next((p, v) for p, v in jt808_ids.items() if holders[v] != node_ids[0])
    answer = await api.post(f"/vehicles/{vehicle_id}/commands/lock-central-lock")
    assert answer.status_code == 200, answer.text
    assert answer.json()["central_lock"]["value"] == "LOCKED"
    assert next(u for u in jt808_fleet.units if u.phone == phone).door_locked is True
    audit = await db.rows(f"SELECT result, node_id FROM command_audit WHERE vehicle_id = '{vehicle_id}'")
    assert audit == [("SUCCEEDED", holders[vehicle_id])]

    # SIGKILL one node mid-stream: no word to the others, its claims go with its lease.
    await trio.sleep(2)
    victim = nodes[2]
    acked_before = sum(len(unit.acked) for unit in streaming)
    victim.process.send_signal(signal.SIGKILL)
    assert await wait_exit(victim.process) == -signal.SIGKILL
    await wait_all_online_on(set(node_ids[:2]), 60)

    async def only_survivors_listed() -> bool:  # the killed node's row goes once its lease ran out
        return sorted(row[0] for row in await db.rows("SELECT id FROM nodes")) == sorted(node_ids[:2])

    await eventually(only_survivors_listed, timeout=4 * LEASE)
    await trio.sleep(2)  # streaming on through the two survivors
    assert sum(len(unit.acked) for unit in streaming) > acked_before + TELTONIKA_UNITS
