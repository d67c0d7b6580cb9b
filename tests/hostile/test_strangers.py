"""Strangers cost bounded space: logins with unknown ids leave one row per unit id in a
capped table and UnitSeen events within their limits, and the list of them is paged."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from gateway.clock import rfc3339
from gateway.strangers import Sighting
from tests.conftest import listener_port

FLOOD = Path(__file__).parents[2] / "benchmarks" / "flood.py"  # the benchmark's fake logins
CAP, EVENTS_PER_MINUTE = 100, 30
LOGINS, CONNECTIONS = 5000, 50


@pytest.fixture
def extra_config() -> str:
    return (f"[sessions]\nmax_seen_units = {CAP}\nunit_seen_events_per_minute = {EVENTS_PER_MINUTE}\n"
            "[drivers.teltonika]\naccepts_per_second = 100000\n")  # the accept rate is not the subject


async def unit_seen_events(gateway) -> int:
    return await gateway.store.read(
        lambda conn: conn.execute("SELECT count(*) FROM events WHERE type = 'UnitSeen'").fetchone()[0])


async def seen_rows(gateway) -> list[tuple]:
    return await gateway.store.read(lambda conn: [tuple(r) for r in conn.execute(
        "SELECT unit_id, first_seen_at, seen_count, announced_at IS NOT NULL FROM seen_units ORDER BY unit_id")])


async def test_a_flood_of_random_ids_leaves_the_cap_in_rows_and_the_limit_in_events(gateway, api):
    started = trio.current_time()
    with trio.fail_after(60):
        flood = await trio.run_process(
            [sys.executable, str(FLOOD), "logins", "--port", str(listener_port(gateway, "teltonika")),
             "--count", str(LOGINS), "--connections", str(CONNECTIONS)], capture_stdout=True)
    assert json.loads(flood.stdout)["refused"] == LOGINS
    minutes = math.ceil((trio.current_time() - started) / 60)
    assert gateway.metrics.value("fleetgate_frames_refused_total", driver="teltonika", reason="unknown_unit") == LOGINS
    assert len(await seen_rows(gateway)) == CAP
    assert EVENTS_PER_MINUTE <= await unit_seen_events(gateway) <= EVENTS_PER_MINUTE * minutes

    # The list is paged in a stable order: two pages of 50 hold the 100 units once each.
    url = "/telematics-brands/TELTONIKA/available-telematics-units"
    first = (await api.get(url, params={"limit": 50})).json()
    second = (await api.get(url, params={"limit": 50, "page_token": first["next_page_token"]})).json()
    assert second["next_page_token"] is None
    listed = [unit["id"] for unit in first["items"] + second["items"]]
    assert listed == sorted(set(listed)) and len(listed) == CAP
    assert (await api.get(url, params={"limit": 501})).status_code == 400


async def test_one_unit_one_row_and_one_event_until_it_was_quiet(gateway):
    """Sightings at chosen times, stored as the gateway stores them."""
    seen = sightings(gateway)

    await seen("356307042441001", 0)
    await seen("356307042441001", 9)
    assert (await unit_seen_events(gateway), await seen_rows(gateway)) == (1, [
        ("356307042441001", start_text(), 2, True)])
    await seen("356307042441001", 19.5)  # quiet for more than ten minutes: announced again
    assert await unit_seen_events(gateway) == 2
    assert (await seen_rows(gateway))[0][2] == 3


async def test_an_evicted_unit_returning_within_the_quiet_time_keeps_its_row_and_logs_nothing(gateway):
    gateway.registry.strangers.max_seen_units = 2
    seen = sightings(gateway)

    for minute, unit_id in enumerate(("356307042441001", "356307042441002", "356307042441003")):
        await seen(unit_id, minute)  # the third evicts the first
    assert [row[0] for row in await seen_rows(gateway)] == ["356307042441002", "356307042441003"]
    await seen("356307042441001", 5)  # back within ten minutes: its row returns, no event
    assert await unit_seen_events(gateway) == 3
    assert await seen_rows(gateway) == [("356307042441001", start_text(), 2, True),
                                        ("356307042441003", start_text(2), 1, True)]
    await seen("356307042441002", 20)  # evicted and quiet for long: a new sighting, announced
    assert await unit_seen_events(gateway) == 4


async def test_a_unit_held_back_by_the_fleet_limit_is_announced_at_a_later_sighting(gateway):
    gateway.registry.strangers.events_per_minute = 1
    seen = sightings(gateway)
    await seen("356307042441001", 0)
    await seen("356307042441002", 1 / 60)  # over the fleet-wide limit: listed, not announced
    assert await unit_seen_events(gateway) == 1
    assert [row[3] for row in await seen_rows(gateway)] == [True, False]
    await seen("356307042441002", 61 / 60)
    assert await unit_seen_events(gateway) == 2
    assert [row[3] for row in await seen_rows(gateway)] == [True, True]


START = datetime(2030, 1, 1, tzinfo=UTC)


def sightings(gateway):
    """Store one sighting at START + ``minutes``, as the gateway stores a batch of them."""
    async def seen(unit_id: str, minutes: float) -> None:
        at = START + timedelta(minutes=minutes)
        await gateway.store.write(gateway.registry.strangers.flush, [Sighting("TELTONIKA", unit_id, "10.0.0.1:4000", at)])

    return seen


def start_text(minutes: float = 0) -> str:
    return rfc3339(START + timedelta(minutes=minutes))
