"""Storage faults are a state, not a crash (issue 15, items 1 and 11): the gateway stays
up, says why on /health and /metrics, acknowledges nothing it did not commit, answers
writes with 503, and commits again by itself once the disk works again."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

import pytest
import trio

from gateway.clock import rfc3339
from simulators.teltonika import imei_for
from tests.conftest import eventually, gateway_config_toml, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.hostile.conftest import holds
from tests.hostile.disk import IO_ERROR, Injection
from tests.hostile.units import StreamingUnit
from tests.teltonika_unit import ScriptedUnit, avl_packet

UNITS = 30
INTERVAL = 0.1  # seconds between a unit's packets
RECOVERY = 5  # seconds from the disk working again to a healthy store (issue 15); one probe a second


@pytest.fixture
async def config_file(tmp_path, short_dir, disk, extra_config):
    path = tmp_path / "fleetgate.toml"
    path.write_text(gateway_config_toml(disk.path / "data", short_dir / "admin.sock", extra_config))
    return path


async def metrics(api) -> dict[str, float]:
    """GET /metrics as {'name{labels}': value}."""
    lines = (await api.get("/metrics")).text.splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")}


async def add_vehicle(api, imei: str) -> dict:
    response = await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))
    assert response.status_code == 201, response.text
    return response.json()


async def health_problem(api) -> dict | None:
    response = await api.get("/health")
    if response.status_code == 200:
        return None
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    return response.json()


async def healthy(api) -> bool:
    return (await api.get("/health")).status_code == 200


async def test_disk_full_under_streaming_units(disk, gateway, api):
    port = listener_port(gateway, "teltonika")
    imeis = [imei_for(n) for n in range(UNITS)]
    for imei in imeis:
        await add_vehicle(api, imei)
    units = [StreamingUnit(port, imei, INTERVAL) for imei in imeis]
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            for unit in units:
                nursery.start_soon(unit.run)
            await eventually(lambda: holds(all(unit.acked for unit in units)), timeout=20)

            disk.fill()
            assert (await eventually(lambda: health_problem(api)))["type"] == "/problems/service-unavailable"
            # Full for a while: every unit loses its link and the store retries in vain.
            lost = [unit.links_lost for unit in units]
            await eventually(lambda: holds(all(unit.links_lost > before + 1 for unit, before in zip(units, lost))))
            await eventually(lambda: _metric_at_least(api, 'fleetgate_store_faults_total{kind="probe"}', 3))
            problem = await health_problem(api)
            assert "database or disk is full" in problem["detail"] or "No space left" in problem["detail"], problem
            assert (await metrics(api))["fleetgate_store_healthy"] == 0

            disk.free()
            await eventually(lambda: healthy(api), timeout=RECOVERY)
            acked = [len(unit.acked) for unit in units]
            await eventually(lambda: holds(all(len(u.acked) > before for u, before in zip(units, acked))), timeout=20)
            nursery.cancel_scope.cancel()

    stored = Counter(await gateway.store.read(
        lambda conn: [tuple(row) for row in conn.execute("SELECT unit_id, recorded_at FROM records")]))
    for unit in units:
        for ms in unit.acked:
            assert stored[(unit.imei, rfc3339(datetime.fromtimestamp(ms / 1000, UTC)))] == 1, (unit.imei, ms)

    async def settled() -> dict[str, float] | None:
        # A batch the units queued before they stopped may still commit: wait for the
        # count and the rows to agree, which they must once the writer is idle.
        rows = await gateway.store.read(lambda conn: conn.execute("SELECT count(*) FROM records").fetchone()[0])
        values = await metrics(api)
        return values if values["fleetgate_records_stored_total"] == rows else None

    values = await eventually(settled)
    assert values["fleetgate_store_healthy"] == 1
    assert values['fleetgate_store_faults_total{kind="commit"}'] + values[
        'fleetgate_store_faults_total{kind="checkpoint"}'] >= 1
    assert values['fleetgate_frames_refused_total{driver="teltonika",reason="commit_failed"}'] >= 1
    assert not [name for name in values if 'reason="internal_error"' in name]


async def test_writes_answer_503_while_faulted_and_work_after(disk, gateway, api):
    vehicle = await add_vehicle(api, imei_for(0))
    unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), vehicle["telematics_unit"]["id"])
    with trio.fail_after(30):
        assert await unit.login() == b"\x01"
        await eventually(lambda: _life_status(api, vehicle["id"], "ONLINE"))
        disk.fill()
        # A commit may still fit the slack of a file's last page: the unit streams on until
        # one cannot be committed, which gets no ACK and closes its connection.
        acked = 0
        for ms in itertools.count(1_700_000_000_000):
            await unit.stream.send_all(avl_packet({"ms": ms, "lat": 54.7, "lon": 25.3}))
            try:
                assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
            except EOFError:
                assert unit.buffer == b""  # not even part of an ACK
                break
            acked += 1
        await eventually(lambda: health_problem(api))
        # A new login is not taken: a hang-up, not a refusal, so the unit keeps its records.
        again = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), vehicle["telematics_unit"]["id"])
        with pytest.raises(EOFError):
            await again.login()
        assert gateway.metrics.value("fleetgate_frames_refused_total", driver="teltonika",
                                     reason="store_unavailable") == 1

        refused = await api.post("/vehicles", json=unit_body("TELTONIKA", imei_for(1), TELTONIKA_MODEL))
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/service-unavailable"
        patched = await api.patch(f"/vehicles/{vehicle['id']}", json={"tags": ["x"]})
        assert patched.status_code == 503 and patched.json()["type"] == "/problems/service-unavailable"
        # Reads go on while SQLite can read.
        listing = await api.get("/vehicles")
        assert listing.status_code == 200 and [v["id"] for v in listing.json()["items"]] == [vehicle["id"]]
        assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["tags"] == []
        assert len((await api.get(f"/vehicles/{vehicle['id']}/records?limit=500")).json()["items"]) == acked

        disk.free()
        await eventually(lambda: healthy(api), timeout=RECOVERY)
        # The session's end could not be stored during the fault; recovery settles it.
        await eventually(lambda: _life_status(api, vehicle["id"], "OFFLINE"))
        added = await api.post("/vehicles", json=unit_body("TELTONIKA", imei_for(1), TELTONIKA_MODEL))
        assert added.status_code == 201, added.text
        patched = await api.patch(f"/vehicles/{vehicle['id']}", json={"tags": ["x"]})
        assert patched.status_code == 200 and patched.json()["tags"] == ["x"]


@pytest.fixture
def injection(disk):
    """Injected on every machine: no file system here can be made to return EIO. Listed
    before ``gateway`` in a test, so that the gateway's connections are wrapped."""
    if disk.injection is not None:
        yield disk.injection
        return
    injection = Injection()
    injection.install()
    yield injection
    injection.uninstall()


async def test_an_io_error_on_checkpoint_does_not_end_the_gateway(injection, gateway, api):
    injection.on_commit = False
    injection.error = IO_ERROR
    with trio.fail_after(30):
        problem = await eventually(lambda: health_problem(api))
        assert "disk I/O error" in problem["detail"] and "checkpoint" in problem["detail"]
        assert (await metrics(api))['fleetgate_store_faults_total{kind="checkpoint"}'] >= 1
        injection.error = None
        await eventually(lambda: healthy(api), timeout=RECOVERY)
        added = await api.post("/vehicles", json=unit_body("TELTONIKA", imei_for(0), TELTONIKA_MODEL))
        assert added.status_code == 201, added.text


async def test_a_read_error_answers_503_and_leaves_commits_alone(injection, gateway, api):
    vehicle = await add_vehicle(api, imei_for(0))
    injection.on_commit = injection.on_checkpoint = False
    injection.on_read = True
    injection.error = IO_ERROR
    with trio.fail_after(30):
        response = await api.get(f"/vehicles/{vehicle['id']}")
        assert response.status_code == 503 and response.json()["type"] == "/problems/service-unavailable"
        assert "disk I/O error" in response.json()["detail"]
        # Caught where it happens: /metrics still shows it, and the store still commits.
        assert (await metrics(api))['fleetgate_store_faults_total{kind="read"}'] >= 1
        assert await healthy(api)
        injection.error = None
        assert (await api.get(f"/vehicles/{vehicle['id']}")).json() == vehicle


async def _metric_at_least(api, name: str, minimum: float) -> bool:
    return (await metrics(api)).get(name, 0) >= minimum


async def _life_status(api, vehicle_id: str, value: str) -> bool:
    return (await api.get(f"/vehicles/{vehicle_id}")).json()["life_status"]["value"] == value
