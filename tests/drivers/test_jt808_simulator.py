"""The JT808 terminal simulator against a tiny in-test platform built on the driver's codec."""

from __future__ import annotations

import argparse
from collections import defaultdict

import pytest
import trio

from drivers.base import (
    Acknowledge,
    CommandRequest,
    Heartbeat,
    Login,
    RecordBatch,
    RefusalReason,
    Registration,
    RegistrationAccepted,
    RegistrationRefused,
    Undecoded,
)
from drivers.jt808 import DRIVER, Jt808Codec, frames
from simulators.fleet import FIELD
from simulators.jt808 import SimulatedUnit, add_arguments, auth_codes, main_async, phone_for, run_fleet
from tests.conftest import eventually
from tests.drivers.simulator_support import Link, Server, running, serving

FAST = {"retry_delay": 0.02, "response_timeout": 5.0}
PHONE = phone_for(0)


class Platform(Server):
    """Takes logins whose code matches ``codes``, enrols the units in ``enrollable`` once
    (then answers "already registered"), stores and acknowledges records unless ``policy(unit,
    connection, batch number)`` says "hold" (no answer), and pushes commands."""

    def __init__(self, codes: dict | None = None, enrollable: dict | None = None,
                 policy=lambda unit, conn, n: "ack") -> None:
        super().__init__(Jt808Codec)
        self.codes = dict(codes or {})
        self.enrollable = dict(enrollable or {})
        self.policy = policy
        self.connections: dict[str, int] = defaultdict(int)
        self.logins: dict[str, list[str]] = defaultdict(list)
        self.registrations: dict[str, list[str]] = defaultdict(list)
        self.heartbeats: dict[str, int] = defaultdict(int)
        self.kept_raw: dict[str, list[Undecoded]] = defaultdict(list)

    async def on_event(self, link: Link, event) -> bool:
        if isinstance(event, Registration):
            code = self.enrollable_code(event.unit_id)
            self.registrations[event.unit_id].append("accepted" if code else "refused")
            await link.send(RegistrationAccepted(event, code) if code else
                            RegistrationRefused(event, RefusalReason.ALREADY_REGISTERED))
        elif isinstance(event, Login):
            link.unit = event.unit_id
            self.logins[link.unit].append(event.password)
            accepted = self.codes.get(link.unit) == event.password
            if accepted:
                self.connections[link.unit] += 1
                link.number = self.connections[link.unit]
            return await self.answer_login(link, event, accepted)
        elif isinstance(event, Heartbeat):
            self.heartbeats[event.context.unit_id] += 1
            await link.send(Acknowledge(event))
        elif isinstance(event, RecordBatch):
            if self.policy(link.unit, link.number, link.batches) == "ack":
                await link.send(Acknowledge(event))
        elif isinstance(event, Undecoded):
            self.kept_raw[link.unit].append(event)
            await link.send(Acknowledge(event))
        return False

    def enrollable_code(self, unit: str) -> str | None:
        code = self.enrollable.pop(unit, None)
        if code is not None:
            self.codes[unit] = code
        return code

    async def command(self, unit: str, text: str, correlation: int) -> CommandRequest:
        request = CommandRequest(text, correlation=correlation)
        await self.links[unit].send(request)
        return request


async def fleet(port: int, units: int, interval: float, *, task_status=trio.TASK_STATUS_IGNORED, **options) -> None:
    await run_fleet("127.0.0.1", port, units, interval, task_status=task_status, **FAST, **options)


def test_phone_numbers_and_codes():
    assert [phone_for(i) for i in range(3)] == ["013912345678", "013912345679", "013912345680"]
    assert phone_for(1, 2019) == "00000000013912345679"
    with pytest.raises(ValueError):
        phone_for(1, first_phone="999999999999")
    with pytest.raises(ValueError):
        SimulatedUnit("12345", version=2013)
    assert auth_codes("pw-{phone}")(1) == "pw-013912345679"
    assert auth_codes("same")(5) == "same" and auth_codes(None)(0) is None


def test_field_profile_numbers():
    phones = [phone_for(i, profile=FIELD) for i in range(8)]
    assert phones[3] == "4E3912345681" and phones[7] == "4E3912345685"
    assert all(p.isdigit() for i, p in enumerate(phones) if i % 4 != 3)
    assert phone_for(3, 2019, profile=FIELD) == "4E000000013912345681"


async def test_field_profile_speaks_as_units_in_the_field():
    phones = [phone_for(i, profile=FIELD) for i in range(4)]
    platform = Platform(codes={phone: "pw" for phone in phones})
    async with running(platform.handle, fleet, 4, 0.01, auth_code_for=lambda i: "pw", profile=FIELD) as report:
        await platform.wait_for(lambda: all(unit.others_sent >= 2 for unit in report.units))
    assert report.logins_rejected == 0 and report.reconnects == 0
    for unit, phone in zip(report.units, phones):
        records = platform.records(phone)
        vendor = [r.fields["raw_items"] for r in records]
        assert all(items.keys() == {"e1", "eb", "fa"} for items in vendor)
        assert {items["eb"] for items in vendor} == {"000600890000ffef0004002d0fa5"}
        assert [int(items["fa"], 16) for items in vendor] == list(range(len(records)))  # each location once
        assert {r.fields.get("truncated_item") for r in records} == {None, "e3040064"}
        for batch in platform.batches[phone]:  # each item that runs past its body counted, by carrying message
            cut = sum(1 for r in batch.records if "truncated_item" in r.fields)
            assert batch.undecoded == (f"{batch.context.message_id:#06x} item 0xe3",) * cut
        assert {k.message_type for k in platform.kept_raw[phone]} == {"0x0900"}
        assert len(platform.kept_raw[phone]) >= unit.others_sent
        assert all(b.context.protocol_version is None for b in platform.batches[phone])
    def flagged(phone):  # the version flag of each location frame, read as 2013 all the same
        return {frames.BodyProperties.parse(frames.unescape(b.raw[1:b.raw.index(0x7E, 1)])[2:4]).version_flag
                for b in platform.batches[phone]}

    assert [flagged(phone) for phone in phones] == [{False}, {True}, {False}, {False}]


def test_control_follows_each_edition_polarity():
    old, new = SimulatedUnit(PHONE), SimulatedUnit(phone_for(0, 2019), version=2019)
    old.control(frames.VehicleControl2013.build({"flags": 1}))
    new.control(frames.VehicleControl2019.build({"controls": [{"type": 1, "value": 0}]}))
    assert old.door_locked and new.door_locked
    new.control(frames.VehicleControl2019.build({"controls": [{"type": 1, "value": 1}]}))
    assert not new.door_locked


async def test_provisioned_units_authenticate_and_locations_are_acknowledged():
    platform = Platform(codes={phone_for(i): f"pw-{phone_for(i)}" for i in range(2)})
    async with running(platform.handle, fleet, 2, 0.02, auth_code_for=auth_codes("pw-{phone}")) as report:
        await platform.wait_for(lambda: all(len(platform.records(phone_for(i))) >= 3 for i in range(2)))
        await platform.wait_for(lambda: report.acked >= 6)
    assert report.logins_rejected == 0 and report.registrations == 0
    for i in range(2):
        records = platform.records(phone_for(i))
        times = [r.device_time for r in records]
        assert times == sorted(times)
        mileage = [r.fields["mileage_km"] for r in records]
        assert mileage == sorted(mileage)
        for record in records:
            assert record.position.valid and 22 < record.position.latitude < 23
            state = DRIVER.state_from_record(record, {})
            assert state["central_lock"] == "UNLOCKED" and state["cellular_signal_quality"] == 4


async def test_unit_without_code_registers_then_authenticates_and_enrols_again_when_refused():
    platform = Platform(enrollable={PHONE: "enrolled-1"})
    async with running(platform.handle, fleet, 1, 0.02) as report:
        await platform.wait_for(lambda: platform.batches[PHONE])
        assert platform.registrations[PHONE] == ["accepted"] and platform.logins[PHONE] == ["enrolled-1"]
        # The operator sets a new password: the old code fails, the unit enrols again.
        platform.codes[PHONE], platform.enrollable[PHONE] = "enrolled-2", "enrolled-2"
        await platform.links[PHONE].stream.aclose()
        await platform.wait_for(lambda: platform.logins[PHONE][-1:] == ["enrolled-2"] and
                                platform.connections[PHONE] == 2)
    assert platform.logins[PHONE] == ["enrolled-1", "enrolled-1", "enrolled-2"]
    assert platform.registrations[PHONE] == ["accepted", "accepted"]
    assert report.registrations == 2 and report.logins_rejected == 1


async def test_an_idle_unit_sends_heartbeats():
    platform = Platform(codes={PHONE: "pw"})
    async with running(platform.handle, fleet, 1, 60, auth_code_for=lambda i: "pw", heartbeat_interval=0.02):
        await platform.wait_for(lambda: platform.heartbeats[PHONE] >= 3)
    assert platform.connections[PHONE] == 1 and not platform.batches[PHONE]


async def test_a_wrong_code_is_refused_every_time_and_no_record_is_taken():
    platform = Platform(codes={PHONE: "right"})
    async with running(platform.handle, fleet, 1, 0.01, auth_code_for=lambda i: "wrong") as report:
        await platform.wait_for(lambda: len(platform.logins[PHONE]) >= 3)
    assert set(platform.logins[PHONE]) == {"wrong"} and not platform.batches[PHONE]
    assert report.logins_rejected >= 3 and report.acked == 0 and report.generated > 0


async def test_unacknowledged_locations_come_back_as_a_batch_after_a_reconnect():
    platform = Platform(codes={PHONE: "pw"}, policy=lambda unit, conn, n: "hold" if conn == 1 else "ack")
    async with running(platform.handle, fleet, 1, 0.02, auth_code_for=lambda i: "pw") as report:
        await platform.wait_for(lambda: platform.batches[PHONE])
        await eventually(lambda: len(report.units[0].pending) >= 3)  # it waits for its answer and keeps recording
        await platform.links[PHONE].stream.aclose()
        await platform.wait_for(lambda: len(platform.batches[PHONE]) >= 2)
    dropped, resent = platform.batches[PHONE][:2]
    assert dropped.context.message_id == frames.LOCATION
    assert resent.context.message_id == frames.BATCH  # the backlog, with the dropped location first
    assert resent.records[0] == dropped.records[0] and len(resent.records) >= 3
    assert report.resent >= 1 and report.reconnects >= 1 and platform.connections[PHONE] == 2


@pytest.mark.parametrize("version", [2013, 2019])
async def test_vehicle_control_and_position_query(version):
    phone = phone_for(0, version)
    platform = Platform(codes={phone: "pw"})
    async with running(platform.handle, fleet, 1, 0.02, auth_code_for=lambda i: "pw", version=version) as report:
        await platform.wait_for(lambda: platform.batches[phone])
        lock = await platform.command(phone, DRIVER.encode_command("LOCK_CENTRAL_LOCK", {}, "pw").text, 41)
        await platform.wait_for(lambda: platform.responses[phone])
        query = await platform.command(phone, "8201", 42)
        await platform.wait_for(lambda: len(platform.responses[phone]) == 2)
        await platform.wait_for(lambda: platform.records(phone)[-1].fields["door_locked"])
    control, position = platform.responses[phone]
    assert (control.context.message_id, control.correlation) == (frames.CONTROL_REPLY, 41)
    assert (position.context.message_id, position.correlation) == (frames.POSITION_REPLY, 42)
    verdict = DRIVER.judge_response("LOCK_CENTRAL_LOCK", lock, control)
    assert verdict.succeeded and dict(verdict.state) == {"central_lock": "LOCKED"}
    assert DRIVER.judge_response("REQUEST_VEHICLE_STATE", query, position).succeeded
    assert report.doors == {phone: "LOCKED"}
    assert platform.batches[phone][0].context.protocol_version == (1 if version == 2019 else None)


async def test_cli_arguments_run_a_fleet_for_a_duration():
    platform = Platform(enrollable={phone_for(0, 2019): "a", phone_for(1, 2019): "b"})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    async with serving(platform.handle) as port:
        args = parser.parse_args(["--units", "2", "--port", str(port), "--interval", "0.02", "--duration", "1.0",
                                  "--version", "2019"])
        report = await main_async(args)
    assert [u.phone for u in report.units] == [phone_for(0, 2019), phone_for(1, 2019)]
    assert report.registrations == 2 and report.summary().startswith("units=2 ")
    args = parser.parse_args(["--units", "4", "--interval", "60", "--duration", "0.01", "--profile", "field",
                              "--auth-code", "pw-{phone}", "--port", "1"])
    report = await main_async(args)  # nobody listens on port 1: the units only try
    assert [u.auth_code for u in report.units][3] == "pw-4E3912345681" and report.units[3].field
