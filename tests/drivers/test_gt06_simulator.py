"""The GT06 unit simulator against a tiny in-test gateway built on the driver's codec."""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import trio

from drivers.base import Acknowledge, Login, LoginAccepted, RecordBatch, TimeAnswer, TimeRequest, Undecoded
from drivers.gt06 import DRIVER, Gt06Codec, frames
from drivers.gt06.records import ALARMS
from simulators.fleet import FIELD
from simulators.gt06 import FIRST_IMEI, SimulatedUnit, add_arguments, imei_for, main_async, run_fleet
from tests.conftest import eventually
from tests.drivers.simulator_support import Link, Server, count_login, running, serving

FAST = {"retry_delay": 0.02, "login_timeout": 2.0, "reply_timeout": 2.0, "heartbeat_every": 3, "alarm_every": 4}
IMEI0, IMEI1 = imei_for(0), imei_for(1)


def password_for(index: int) -> str:
    return f"pw{index}x"


class Gateway(Server):
    """Accepts the logins of ``known`` units (silence and a hang-up for the rest, as the
    gateway does), stores batches and answers them as ``policy(imei, connection, batch)``
    says: "ack", "ignore" (no reply) or "drop" (close without a reply)."""

    def __init__(self, known=(IMEI0, IMEI1), policy=lambda imei, conn, batch: "ack") -> None:
        super().__init__(Gt06Codec)
        self.known, self.policy = set(known), policy
        self.logins: dict[str, int] = defaultdict(int)

    async def on_event(self, link: Link, event) -> bool:
        if isinstance(event, Login):
            count_login(self.logins, link, event)
            # a refusal is no answer in GT06: the unit hears nothing, then the hang-up
            return await self.answer_login(link, event, accepted=link.unit in self.known)
        if isinstance(event, RecordBatch):
            action = self.policy(link.unit, link.number, event)
            if action == "drop":
                return True
            if action == "ack":
                await link.send(Acknowledge(event))
        elif isinstance(event, TimeRequest):
            await link.send(TimeAnswer(event, datetime.now(timezone.utc)))
        return False

    def records(self, imei: str, protocols=frozenset(frames.LAYOUTS)) -> list:
        return [r for batch in self.batches[imei] if batch.context.protocol in protocols for r in batch.records]

    async def command(self, imei: str, request) -> None:
        await self.links[imei].send(request)


async def fleet(port: int, units: int, interval: float, *, task_status=trio.TASK_STATUS_IGNORED, **options) -> None:
    await run_fleet("127.0.0.1", port, units, interval, password_for=password_for, task_status=task_status,
                    **{**FAST, **options})


def is_alarm(imei, conn, batch) -> bool:
    return batch.context.protocol in ALARMS


# --- the unit on its own ----------------------------------------------------------------------


def test_imeis_count_up_from_the_document_unit():
    assert IMEI0 == FIRST_IMEI == "353413532150362"
    assert len({imei_for(i) for i in range(50)}) == 50


def test_unit_obeys_commands_only_with_its_password():
    unit = SimulatedUnit(IMEI0, "s3cret")
    assert unit.answer("DYD,wrong#") == "Password error!" and not unit.oil_cut
    assert unit.answer("DYD,s3cret#") == "DYD=Success!" and unit.oil_cut
    assert unit.answer("DYD,s3cret#").startswith("Already in the state of fuel supply cut off")
    assert unit.answer("HFYD,s3cret") == "Unknown command!"
    assert unit.answer("HFYD,s3cret#") == "HFYD=Success!" and not unit.oil_cut
    with pytest.raises(ValueError):
        SimulatedUnit(IMEI0, "")


def test_unit_packets_decode_with_the_driver():
    unit = SimulatedUnit(IMEI0, "s3cret", tz_minutes=-90, heartbeat_every=1, alarm_every=10**6)
    unit.online = True
    unit.make_location(1.0)  # a location and a heartbeat
    unit.make_alarm(sos=True)
    codec = Gt06Codec()
    codec.receive_data(unit.login_frame(unit.next_serial()))
    login = codec.next_event()
    assert (login.unit_id, login.attributes["time_zone_minutes"]) == (IMEI0, -90)
    codec.send(LoginAccepted(login))
    for packet in unit.pending:
        codec.receive_data(frames.frame(packet.protocol, packet.content, unit.next_serial()))
    batches = [codec.next_event() for _ in unit.pending]
    assert [b.context.protocol for b in batches] == [frames.LOCATION_UTC, frames.STATUS, frames.ALARM]
    times = [b.records[0].device_time for b in batches if b.records[0].device_time]
    assert len(times) == 2 and abs(times[0] - times[1]) < timedelta(minutes=1)  # 0x16 local time undone


def test_field_unit_mixes_in_what_units_send_in_the_field():
    unit = SimulatedUnit(IMEI0, "s3cret", profile=FIELD, heartbeat_every=2, alarm_every=5, tz_minutes=60)
    unit.online = True
    for _ in range(30):
        unit.make_location(1.0)
    codec = Gt06Codec()
    codec.receive_data(unit.login_frame(unit.next_serial()))
    codec.send(LoginAccepted(codec.next_event()))
    events = []
    for packet in unit.pending:
        codec.receive_data(frames.frame(packet.protocol, packet.content, unit.next_serial(), long=packet.long))
        events.append(codec.next_event())
    kinds = Counter((type(e).__name__, e.context.protocol) for e in events)
    assert set(kinds) == {
        ("RecordBatch", p) for p in (frames.LOCATION, frames.LOCATION_UTC, frames.LOCATION_4G, frames.STATUS,
                                     frames.HEARTBEAT_VOLTAGE, frames.ALARM, frames.ALARM_UTC, frames.LBS_MULTI,
                                     frames.WIFI, frames.INFORMATION)
    } | {("Undecoded", frames.STATUS), ("Undecoded", 0xF1), ("Heartbeat", frames.LOCATION),
         ("TimeRequest", frames.TIME_REQUEST)}
    stored = [e for e in events if isinstance(e, RecordBatch | Undecoded)]
    assert len(stored) == sum(p.stored for p in unit.pending)
    # ignition in the course word of 0x12, a 3-digit MNC behind the MCC's top bit
    (location, *_) = [e.records[0] for e in events
                      if isinstance(e, RecordBatch) and e.context.protocol == frames.LOCATION]
    assert (location.fields["mcc"], location.fields["mnc"]) == (460, 11)
    assert location.fields["acc"] == (location.position.speed_kmh > 0)
    # a DYD answer with the length byte 0
    answer = unit.response_frame(7, unit.answer("DYD,s3cret#"))
    assert frames.parse_frame(answer).content[0] == 0
    codec.receive_data(answer)
    response = codec.next_event()
    assert (response.text, response.correlation) == ("DYD=Success!", 7)


# --- against a gateway ------------------------------------------------------------------------


def heartbeats(gateway: Gateway, imei: str) -> list:
    """(location, heartbeat) records: a heartbeat follows the location of its step, and its
    ACC is on while that location moves."""
    batches = gateway.batches[imei]
    return [(location.records[0], status.records[0]) for location, status in zip(batches, batches[1:])
            if status.context.protocol == frames.STATUS]


async def test_fleet_logs_in_and_everything_is_answered():
    gateway = Gateway()
    async with running(gateway.handle, fleet, 2, 0.01) as report:
        await gateway.wait_for(lambda: all(
            {frames.LOCATION_UTC, frames.STATUS, frames.ALARM, frames.ALARM_UTC}
            <= {b.context.protocol for b in gateway.batches[imei]}
            and any(location.position.speed_kmh == 0 for location, _ in heartbeats(gateway, imei))  # parked
            for imei in (IMEI0, IMEI1)))
    assert dict(gateway.logins) == {IMEI0: 1, IMEI1: 1}
    assert report.resent == 0 and report.logins_unanswered == 0 and report.acked > 0
    for imei in (IMEI0, IMEI1):
        locations = gateway.records(imei, {frames.LOCATION_UTC})
        assert all(r.position.valid and 22 < r.position.latitude < 23 for r in locations)
        mileage = [r.fields["mileage"] for r in locations]
        assert mileage == sorted(mileage)
        ignitions = []
        for location, heartbeat in heartbeats(gateway, imei):
            ignition = "ON" if location.position.speed_kmh > 0 else "OFF"
            state = DRIVER.state_from_record(heartbeat, {})
            assert state == {"ignition": ignition, "driving_enabled": True, "cellular_signal_quality": 5}
            ignitions.append(ignition)
        assert set(ignitions) == {"ON", "OFF"}  # it drove, and it parked
        alarms = {r.fields["alarm_type"] for r in gateway.records(imei, ALARMS)}
        assert alarms == {"sos", "vibration"}


async def test_unknown_unit_gets_no_reply_and_reconnects_with_backoff():
    gateway = Gateway(known=())
    async with running(gateway.handle, fleet, 1, 0.01) as report:
        await gateway.wait_for(lambda: gateway.logins[IMEI0] >= 3)
    assert report.logins_unanswered >= 2 and report.reconnects >= 2
    assert not gateway.batches[IMEI0]


async def test_silent_server_makes_the_unit_log_in_again():
    logins = []

    async def silent(stream):
        logins.append(await stream.receive_some(64))
        await trio.sleep_forever()

    async with running(silent, fleet, 1, 1.0, login_timeout=0.05) as report:
        await eventually(lambda: len(logins) >= 2)
    assert report.logins_unanswered >= 1
    assert frames.parse_frame(logins[0]).protocol == frames.LOGIN


async def test_an_unanswered_alarm_is_sent_again_after_reconnecting():
    gateway = Gateway(policy=lambda imei, conn, batch: "drop" if conn == 1 and is_alarm(imei, conn, batch) else "ack")
    async with running(gateway.handle, fleet, 1, 0.01) as report:
        await gateway.wait_for(lambda: len(gateway.records(IMEI0, ALARMS)) >= 2)
    first, second = gateway.records(IMEI0, ALARMS)[:2]
    assert first == second  # the same alarm, again
    assert gateway.logins[IMEI0] == 2 and report.resent >= 1


async def test_locations_are_resent_only_by_firmware_that_requires_replies():
    def ignore_first(imei, conn, batch):
        return "ignore" if conn == 1 and batch.context.protocol == frames.LOCATION_UTC else "ack"

    for required in (False, True):
        gateway = Gateway(policy=ignore_first)
        async with running(gateway.handle, fleet, 1, 0.01, require_location_replies=required, reply_timeout=0.2,
                           alarm_every=10**6) as report:
            await gateway.wait_for(lambda: len(gateway.records(IMEI0, {frames.LOCATION_UTC})) >= 6)
        locations = gateway.records(IMEI0, {frames.LOCATION_UTC})
        if required:
            assert locations[0] == locations[1] and report.resent >= 1 and gateway.logins[IMEI0] >= 2
        else:
            assert len(set(map(repr, locations))) == len(locations) and report.resent == 0


async def test_commands_need_the_password_and_change_the_next_status():
    gateway = Gateway()

    def relay_state(imei):  # driving_enabled by the unit's last status
        statuses = gateway.records(imei, {frames.STATUS})
        return DRIVER.state_from_record(statuses[-1], {})["driving_enabled"] if statuses else None

    async with running(gateway.handle, fleet, 2, 0.01) as report:
        await gateway.wait_for(lambda: IMEI0 in gateway.links and IMEI1 in gateway.links)
        verdicts = []
        for n, (imei, capability, password) in enumerate([
            (IMEI0, "DISABLE_DRIVING", "wrong"),
            (IMEI0, "DISABLE_DRIVING", password_for(0)),
            (IMEI1, "DISABLE_DRIVING", password_for(1)),
            (IMEI1, "ENABLE_DRIVING", password_for(1)),
        ]):
            request = DRIVER.encode_command(capability, {}, password)
            answered = len(gateway.responses[imei])
            await gateway.command(imei, replace(request, correlation=1000 + n))
            await gateway.wait_for(lambda: len(gateway.responses[imei]) > answered)
            response = gateway.responses[imei][-1]
            assert response.correlation == 1000 + n
            verdicts.append(DRIVER.judge_response(capability, request, response))
            if verdicts[-1].succeeded:
                # heartbeats made before the answer may still be queued: wait for one made after it
                wanted = verdicts[-1].state["driving_enabled"]
                await gateway.wait_for(lambda: relay_state(imei) is wanted)
    assert [(v.succeeded, dict(v.state)) for v in verdicts] == [
        (False, {}), (True, {"driving_enabled": False}), (True, {"driving_enabled": False}),
        (True, {"driving_enabled": True}),
    ]
    assert verdicts[0].detail == "Password error!"
    assert report.driving_enabled == {IMEI0: False, IMEI1: True}
    # the status after the command carries the relay state
    assert (relay_state(IMEI0), relay_state(IMEI1)) == (False, True)
    # unit 0 answers in 0x15, unit 1 in 0x21 (long frame)
    assert [frames.parse_frame(gateway.responses[i][0].raw).protocol for i in (IMEI0, IMEI1)] == [0x15, 0x21]


async def test_cli_arguments_run_a_fleet_for_a_duration():
    gateway = Gateway()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--units", "2"])  # no password, no default
    async with serving(gateway.handle) as port:
        args = parser.parse_args(["--units", "2", "--port", str(port), "--interval", "0.02", "--duration", "0.3",
                                  "--password", "pw0x", "--profile", "field"])
        report = await main_async(args)
    assert [u.imei for u in report.units] == [IMEI0, IMEI1]
    assert all(u.field for u in report.units)
    assert {u.password for u in report.units} == {"pw0x"}
    assert report.summary().startswith("units=2 ")
    assert gateway.logins[IMEI0] == 1
