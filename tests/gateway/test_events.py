"""The event log and the live stream: events exist exactly when their change committed,
arrive in commit order, and a reconnect with the last id replays exactly what was missed."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import trio

from gateway.events import EventBus
from gateway.store.events import Event
from simulators.teltonika import imei_for
from tests.conftest import TEST_TIMEOUT, eventually, listener_port, writer_held
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.teltonika_unit import ScriptedUnit, avl_packet

IMEI = "356307042441013"


class SseReader:
    """Reads a text/event-stream from the admin socket into parsed events."""

    def __init__(self, response):
        self.lines = response.aiter_lines()
        self.events: list[dict] = []

    async def next(self) -> dict:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line.startswith(":"):
                continue  # comments: the opening line and keepalives
            if not line:
                if fields:
                    event = {"id": fields.get("id"), "event": fields.get("event"), "data": json.loads(fields["data"])}
                    self.events.append(event)
                    return event
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        raise EOFError("stream ended")


ANSWER_DELAY = 0.05  # seconds the scripted unit takes to answer a command: the stimulus, not a wait


async def _drive_a_unit(gateway, api):
    """Login, records, a command and a master-data change: the events the issue names. Also
    returns the bounds, in ms, the command's duration must lie in: at least the time the
    unit took to answer, at most the API call's round trip."""
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
    assert await unit.login() == b"\x01"
    await unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 52.5, "lon": 13.4, "io": {239: 1}}))
    assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"

    results, times = [], {}

    async def command():
        times["posted"] = trio.current_time()
        results.append(await api.post(f"/vehicles/{vehicle['id']}/commands/disable-driving"))
        times["answered"] = trio.current_time()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(command)
        assert await unit.read_command() == "setdigout 1"
        times["read"] = trio.current_time()
        await trio.sleep(ANSWER_DELAY)
        times["replied"] = trio.current_time()
        await unit.answer("DOUT1:1 Timeout:INFINITY DOUT2:0 Timeout:INFINITY")
    assert results[-1].status_code == 200
    await api.patch(f"/vehicles/{vehicle['id']}", json={"master_data": {"license_plate": "B-EV-1"}})
    bounds = (math.floor((times["replied"] - times["read"]) * 1000),
              math.ceil((times["answered"] - times["posted"]) * 1000))
    return vehicle, unit, bounds


EXPECTED = [
    ("VehicleChanged", ["CREATED"]),
    ("VehicleChanged", ["LIFE_STATUS_CHANGED"]),
    ("VehicleStateRecorded", None),
    ("CommandExecuted", None),
    ("VehicleChanged", ["MASTER_DATA_CHANGED"]),
]


def _summary(events: list[dict]) -> list[tuple]:
    return [(e["event"], e["data"]["data"].get("reasons")) for e in events]


async def test_subscriber_sees_every_change_in_commit_order_and_resumes_without_gaps(gateway, api):
    with trio.fail_after(20):
        async with api.stream("GET", "/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = SseReader(response)
            vehicle, unit, (shortest, longest) = await _drive_a_unit(gateway, api)
            for _ in EXPECTED:
                await reader.next()
        events = reader.events
        assert _summary(events) == EXPECTED
        ids = [int(e["id"]) for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        state = events[2]["data"]
        assert state["vehicle_id"] == vehicle["id"] and state["unit_id"] == IMEI and state["brand"] == "TELTONIKA"
        assert state["data"]["position"]["value"] == {"lat": 52.5, "lon": 13.4}
        assert state["data"]["ignition"] == {"timestamp": "2023-11-14T22:13:20.000Z", "value": "ON"}
        command = events[3]["data"]["data"]
        assert command["command"] == "DISABLE_DRIVING" and command["result"] == "SUCCEEDED"
        assert ANSWER_DELAY * 1000 <= shortest <= command["duration_ms"] <= longest

        # Missed while disconnected: the unit goes away, the vehicle is parked.
        await unit.stream.aclose()
        await eventually(lambda: _offline(api, vehicle["id"]))
        await api.patch(f"/vehicles/{vehicle['id']}", json={"operation_status": "GARAGE"})
        async with api.stream("GET", "/events", headers={"Last-Event-ID": events[-1]["id"]}) as response:
            reader = SseReader(response)
            missed = [await reader.next(), await reader.next()]
        assert _summary(missed) == [("VehicleChanged", ["LIFE_STATUS_CHANGED"]),
                                    ("VehicleChanged", ["OPERATION_STATUS_CHANGED"])]
        assert int(missed[0]["id"]) == ids[-1] + 1

        # The same through ?after= and a filter.
        async with api.stream("GET", "/events", params={"after": str(ids[0]), "event_types": "CommandExecuted",
                                                         "vehicle_id": vehicle["id"]}) as response:
            assert _summary([await SseReader(response).next()]) == [("CommandExecuted", None)]


async def _offline(api, vehicle_id) -> bool:
    return (await api.get(f"/vehicles/{vehicle_id}")).json()["life_status"]["value"] == "OFFLINE"


async def test_event_log_query_filters_and_pages(gateway, api):
    vehicle, unit, _ = await _drive_a_unit(gateway, api)
    stranger = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), "356307042441099")
    assert await stranger.login() == b"\x00"
    everything = (await api.post("/event-log-entries/query", json={})).json()["items"]
    assert [e["type"] for e in everything] == [t for t, _ in EXPECTED] + ["UnitSeen"]
    seen = everything[-1]
    assert (seen["vehicle_id"], seen["unit_id"], seen["brand"]) == (None, "356307042441099", "TELTONIKA")

    only = (await api.post("/event-log-entries/query",
                           json={"vehicle_id": vehicle["id"], "event_types": ["VehicleChanged"]})).json()["items"]
    assert [e["data"]["reasons"] for e in only] == [["CREATED"], ["LIFE_STATUS_CHANGED"], ["MASTER_DATA_CHANGED"]]

    first = (await api.post("/event-log-entries/query", json={"limit": 2})).json()
    second = (await api.post("/event-log-entries/query", json={"limit": 2, "page_token": first["next_page_token"]})).json()
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in everything[:4]]
    window = (await api.post("/event-log-entries/query", json={"occurred_after": "2000-01-01T00:00:00Z",
                                                               "occurred_before": "2000-01-02T00:00:00Z"})).json()
    assert window["items"] == []

    bad = await api.post("/event-log-entries/query", json={"event_types": ["Nonsense"]})
    assert bad.status_code == 400 and bad.json()["type"] == "/problems/validation-error"
    bad = await api.get("/events", params={"event_types": "Nonsense"})
    assert bad.status_code == 400 and "Nonsense" in bad.json()["detail"]


async def test_resent_records_log_no_second_event(gateway, api):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
    assert await unit.login() == b"\x01"
    packet = avl_packet({"ms": 1_700_000_000_000, "lat": 52.5, "lon": 13.4, "io": {239: 1}})
    for _ in range(3):
        await unit.stream.send_all(packet)
        assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
    items = (await api.post("/event-log-entries/query", json={"event_types": ["VehicleStateRecorded"]})).json()["items"]
    assert len(items) == 1 and items[0]["vehicle_id"] == vehicle["id"]


async def test_a_failed_change_logs_no_event(gateway, api):
    await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))
    conflict = await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))
    assert conflict.status_code == 409
    items = (await api.post("/event-log-entries/query", json={})).json()["items"]
    assert [e["data"]["reasons"] for e in items] == [["CREATED"]]


def _event(n: int, vehicle: str = "V1", type_: str = "VehicleChanged") -> Event:
    return Event(n, type_, vehicle, "TELTONIKA", "1", "2026-01-01T00:00:00.000Z", "{}")


async def test_a_subscriber_that_never_reads_is_dropped_not_waited_for():
    bus = EventBus(max_buffered=3)
    stuck = bus.subscribe()
    idle = bus.subscribe(vehicle_id="OTHER")
    reader = bus.subscribe(vehicle_id="V1")
    for n in range(1, 6):
        bus.publish([_event(n)])  # never blocks, whatever the subscribers do
        if n <= 3:
            assert [e.id for e in await reader.next_events()] == [n]
    assert stuck.dropped and await stuck.next_events() == []
    assert not idle.dropped and not reader.dropped
    bus.unsubscribe(stuck)
    bus.unsubscribe(idle)
    bus.unsubscribe(reader)
    assert bus.subscribers == 0


async def _logged(api, after: int) -> list[dict]:
    """The event log after event ``after``, as the stream shows its events."""
    items = (await api.post("/event-log-entries/query", json={"limit": 500})).json()["items"]
    return [{"id": e["id"], "event": e["type"], "data": e} for e in items if int(e["id"]) > after]


async def test_a_subscriber_dropped_behind_real_units_resumes_with_nothing_missed_or_repeated(gateway, api):
    """Four units stream; one commit brings more events than a subscriber may fall behind by,
    so it is dropped. The id its StreamDropped names is that of the last event it got, and
    resuming from there gives the log's events after it, each once."""
    gateway.events._max = 2
    units = []
    for n in range(4):
        imei = imei_for(n)
        await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))
        units.append(await ScriptedUnit.connect(listener_port(gateway, "teltonika"), imei))
        assert await units[-1].login() == b"\x01"

    async def online():
        items = (await api.get("/vehicles")).json()["items"]
        return [v["life_status"]["value"] for v in items] == ["ONLINE"] * len(units)

    await eventually(online)
    device_times = itertools.count(1_700_000_000_000, 1000)

    async def record(unit) -> None:
        await unit.stream.send_all(avl_packet({"ms": next(device_times), "lat": 52.5, "lon": 13.4, "io": {239: 1}}))

    with trio.fail_after(TEST_TIMEOUT):
        async with api.stream("GET", "/events") as response:
            reader = SseReader(response)
            start = int((await _logged(api, 0))[-1]["id"])
            await eventually(lambda: _subscribers(gateway, 1))
            await record(units[0])
            assert await units[0].read_exactly(4) == b"\x00\x00\x00\x01"
            delivered = [await reader.next()]
            async with writer_held(gateway.store):  # every unit's record in one commit: four events at once
                def decoded() -> float:  # and so queued behind the held writer
                    return gateway.metrics.value("fleetgate_frames_received_total", driver="teltonika")

                before = decoded()
                for unit in units:
                    await record(unit)
                await eventually(lambda: decoded() == before + len(units))
            for unit in units:
                assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
            dropped = await reader.next()
    assert dropped == {"id": None, "event": "StreamDropped",
                       "data": {"reason": "too far behind", "resume_after": delivered[-1]["id"]}}
    for unit in units:  # more while the subscriber is away
        await record(unit)
        assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
    missed = await _logged(api, int(dropped["data"]["resume_after"]))
    assert [e["event"] for e in missed] == ["VehicleStateRecorded"] * 8
    async with api.stream("GET", "/events", headers={"Last-Event-ID": dropped["data"]["resume_after"]}) as response:
        reader = SseReader(response)
        with trio.fail_after(TEST_TIMEOUT):
            resumed = [await reader.next() for _ in missed]
    assert resumed == missed
    assert delivered + resumed == await _logged(api, start)


async def test_events_tail_prints_readable_lines_and_json(gateway, api):
    from tests.process import fleetgate_command
    import os
    import subprocess

    env = {**os.environ, "FLEETGATE_SOCKET": str(gateway.config.admin_socket)}
    readable = subprocess.Popen(fleetgate_command("events", "tail"), env=env, stdout=subprocess.PIPE, text=True)
    as_json = subprocess.Popen(fleetgate_command("events", "tail", "--json", "--event-types", "VehicleChanged"),
                               env=env, stdout=subprocess.PIPE, text=True)
    try:
        await eventually(lambda: _subscribers(gateway, 2), timeout=TEST_TIMEOUT)  # two processes start
        vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
        line = await trio.to_thread.run_sync(readable.stdout.readline)
        event = json.loads(await trio.to_thread.run_sync(as_json.stdout.readline))
        assert event["type"] == "VehicleChanged" and event["data"]["reasons"] == ["CREATED"]
        assert line == (f"{event['occurred_at']}  #{event['id']}  VehicleChanged       "
                        f"vehicle {vehicle['id']} (TELTONIKA {IMEI})  CREATED\n")
    finally:
        readable.terminate()
        as_json.terminate()


async def _subscribers(gateway, count) -> bool:
    return gateway.events.subscribers == count


@pytest.fixture
def extra_config() -> str:
    return "[events]\nheartbeat = 0.2\n"


async def test_idle_stream_gets_keepalives(gateway, api):
    with trio.fail_after(5):
        async with api.stream("GET", "/events") as response:
            lines = response.aiter_lines()
            assert await lines.__anext__() == ": fleetgate event stream"
            seen = [await lines.__anext__() for _ in range(4)]
    assert seen.count(": keepalive") >= 2
