"""The Teltonika unit simulator against a tiny in-test gateway built on the driver's codec."""

from __future__ import annotations

import argparse
from collections import defaultdict

import pytest
import trio

from drivers.base import Acknowledge, Login, RecordBatch, Undecoded
from drivers.teltonika import DRIVER, TeltonikaCodec
from drivers.teltonika.codec import encode_command_frame
from simulators.fleet import FIELD
from simulators.teltonika import VIN, WIKI_IMEI, SimulatedUnit, add_arguments, imei_for, main_async, run_fleet
from tests.drivers.simulator_support import Link, Server, count_login, running, serving

FAST = {"retry_delay": 0.02, "response_timeout": 5.0}


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in reversed(number)]
    total = sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits))
    return total % 10 == 0


class Gateway(Server):
    """Accepts or rejects logins, stores batches, acknowledges or drops them, and can push
    commands; ``policy(imei, connection_number, batch_number)`` says what to do with a batch:
    "ack", "short" (answer a count of 0) or "drop" (close without acknowledging)."""

    def __init__(self, reject_first: int = 0, policy=lambda imei, conn, n: "ack") -> None:
        super().__init__(TeltonikaCodec)
        self.reject_first = reject_first
        self.policy = policy
        self.logins: dict[str, int] = defaultdict(int)
        self.kept_raw: dict[str, list[Undecoded]] = defaultdict(list)

    async def on_event(self, link: Link, event) -> bool:
        if isinstance(event, Login):
            count_login(self.logins, link, event)
            return await self.answer_login(link, event, accepted=link.number > self.reject_first)
        if isinstance(event, RecordBatch):
            action = self.policy(link.unit, link.number, link.batches)
            if action == "drop":
                return True
            if action == "short":  # a count below what was sent
                await link.write(bytes(4))
            else:
                await link.send(Acknowledge(event))
        if isinstance(event, Undecoded):
            self.kept_raw[link.unit].append(event)
            await link.send(Acknowledge(event))
        return False

    async def command(self, imei: str, text: str) -> None:
        await self.links[imei].write(encode_command_frame(text))


async def fleet(port: int, units: int, interval: float, *, task_status=trio.TASK_STATUS_IGNORED, **options) -> None:
    await run_fleet("127.0.0.1", port, units, interval, task_status=task_status, **FAST, **options)


async def test_field_profile_sends_signed_io_nx_values_and_codec_13():
    gateway = Gateway()
    async with running(gateway.handle, fleet, 2, 0.01, profile=FIELD) as report:
        await gateway.wait_for(lambda: all(unit.others_sent >= 1 for unit in report.units))
        await gateway.wait_for(lambda: all(len(gateway.kept_raw[u.imei]) >= u.others_sent for u in report.units))
    even, odd = report.units
    assert (even.codec_id, odd.codec_id) == (0x08, 0x8E) and report.reconnects == 0
    for unit in report.units:
        assert {k.message_type for k in gateway.kept_raw[unit.imei]} == {"codec 0x0d"}
        for record in gateway.records(unit.imei):
            io, io_hex = record.fields["io"], record.fields["io_hex"]
            assert io["19"] == -1000 and io_hex["19"] == "fc18" and io["17"] <= 0
            assert io["72"] == -180 + unit.index % 10 and len(io_hex["72"]) == 8
            assert io.get("256") == (VIN.hex() if unit is odd else None)


def test_imeis_are_deterministic_and_luhn_valid():
    assert imei_for(0) == WIKI_IMEI
    imeis = [imei_for(i) for i in range(50)]
    assert len(set(imeis)) == 50
    assert all(len(i) == 15 and i.isdigit() and luhn_valid(i) for i in imeis)
    assert imei_for(1) == "356307042441021"
    assert imei_for(0, "490154203237518") == "490154203237518"
    with pytest.raises(ValueError):
        imei_for(1, "999999999999999")


def test_unit_answers_commands_like_an_fmb():
    unit = SimulatedUnit(WIKI_IMEI)
    assert unit.answer("setdigout 1") == "DOUT1:1 Timeout:INFINITY DOUT2:IGNORED"
    assert unit.outputs == [1, 0]
    assert unit.answer("setdigout ?1") == "DOUT1:IGNORED DOUT2:1 Timeout:INFINITY"
    assert unit.outputs == [1, 1]
    assert unit.answer("setdigout 02") == "DOUT params are invalid"
    assert unit.answer("getio") == "DI1:0 DI2:0 DI3:0 AIN1:0 AIN2:0 DO1:1 DO2:1"
    assert unit.answer("getrecord") == "Record triggered with high priority"
    assert len(unit.pending) == 1
    assert unit.answer("frobnicate") is None  # no answer, as for a failed getrecord


async def test_fleet_logs_in_and_records_are_acknowledged():
    gateway = Gateway()
    async with running(gateway.handle, fleet, 2, 0.02) as report:
        await gateway.wait_for(lambda: all(len(gateway.records(imei_for(i))) >= 3 for i in range(2)))
        await gateway.wait_for(lambda: report.acked >= 6)
    assert set(gateway.logins) == {imei_for(0), imei_for(1)}
    assert report.acked <= sum(len(gateway.records(i)) for i in gateway.logins)
    assert report.resent == 0 and report.logins_rejected == 0
    for imei in gateway.logins:
        records = gateway.records(imei)
        times = [r.device_time for r in records]
        assert times == sorted(times)
        odometers = [r.fields["io"]["16"] for r in records]
        assert odometers == sorted(odometers)
        for record in records:
            assert record.fields["codec"] == 8
            assert {"239", "21", "179", "180", "16", "66"} <= set(record.fields["io"])
            assert record.position.valid and 54 < record.position.latitude < 56
            state = DRIVER.state_from_record(record, {"immobiliser_output": 1})
            assert state["driving_enabled"] is True and state["cellular_signal_quality"] == 4


async def test_rejected_login_is_retried_and_records_are_kept():
    gateway = Gateway(reject_first=2)
    async with running(gateway.handle, fleet, 1, 0.01) as report:
        await gateway.wait_for(lambda: gateway.batches[WIKI_IMEI])
    assert gateway.logins[WIKI_IMEI] == 3
    assert report.logins_rejected == 2 and report.reconnects >= 2
    # at least 0.06 s of back-off passed while rejected: those records come in the first packet
    assert len(gateway.batches[WIKI_IMEI][0].records) >= 2


async def test_unacknowledged_records_are_resent_after_a_dropped_connection():
    gateway = Gateway(policy=lambda imei, conn, n: "drop" if conn == 1 else "ack")
    async with running(gateway.handle, fleet, 1, 0.02) as report:
        await gateway.wait_for(lambda: len(gateway.batches[WIKI_IMEI]) >= 2)
        dropped = gateway.batches[WIKI_IMEI][0].records
        await gateway.wait_for(lambda: report.acked >= len(dropped))
    first, second = gateway.batches[WIKI_IMEI][:2]
    assert second.records[: len(first.records)] == first.records  # the same records, again
    assert report.resent >= len(first.records) and report.reconnects >= 1
    assert gateway.logins[WIKI_IMEI] == 2


async def test_a_short_count_makes_the_unit_send_the_same_records_again():
    gateway = Gateway(policy=lambda imei, conn, n: "short" if n == 1 else "ack")
    async with running(gateway.handle, fleet, 1, 0.02) as report:
        await gateway.wait_for(lambda: len(gateway.batches[WIKI_IMEI]) >= 2)
        await gateway.wait_for(lambda: report.acked >= 1)
    first, second = gateway.batches[WIKI_IMEI][:2]
    assert second.records[: len(first.records)] == first.records
    assert gateway.logins[WIKI_IMEI] == 1  # same connection
    assert report.resent >= len(first.records)


async def test_commands_switch_outputs_and_trigger_records():
    gateway = Gateway()
    options = {"immobiliser_output": 1, "immobiliser_active_high": True}
    async with running(gateway.handle, fleet, 1, 0.02) as report:
        await gateway.wait_for(lambda: gateway.batches[WIKI_IMEI])
        request = DRIVER.encode_command("DISABLE_DRIVING", options, None)
        await gateway.command(WIKI_IMEI, request.text)
        await gateway.wait_for(lambda: gateway.responses[WIKI_IMEI])
        verdict = DRIVER.judge_response("DISABLE_DRIVING", request, gateway.responses[WIKI_IMEI][0])
        await gateway.wait_for(lambda: any(r.fields["io"]["179"] == 1 for r in gateway.records(WIKI_IMEI)))
        await gateway.command(WIKI_IMEI, "getrecord")
        await gateway.wait_for(lambda: any(r.fields["priority"] == 1 for r in gateway.records(WIKI_IMEI)))
        await gateway.command(WIKI_IMEI, "getio")
        await gateway.wait_for(lambda: len(gateway.responses[WIKI_IMEI]) == 3)
    assert verdict.succeeded and dict(verdict.state) == {"driving_enabled": False}
    assert [r.text for r in gateway.responses[WIKI_IMEI]] == [
        "DOUT1:1 Timeout:INFINITY DOUT2:IGNORED",
        "Record triggered with high priority",
        "DI1:0 DI2:0 DI3:0 AIN1:0 AIN2:0 DO1:1 DO2:0",
    ]
    # records made before the command still carry the old level; every later one the new
    records = gateway.records(WIKI_IMEI)
    levels = [r.fields["io"]["179"] for r in records]
    switched = levels.index(1)
    assert set(levels[:switched]) == {0} and set(levels[switched:]) == {1}
    assert {DRIVER.state_from_record(r, options)["driving_enabled"] for r in records[switched:]} == {False}
    assert report.outputs == {WIKI_IMEI: (1, 0)}


async def test_cli_arguments_run_a_fleet_for_a_duration():
    gateway = Gateway()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    async with serving(gateway.handle) as port:
        args = parser.parse_args(["--units", "2", "--port", str(port), "--interval", "0.02", "--duration", "0.3"])
        report = await main_async(args)
    assert [u.imei for u in report.units] == [imei_for(0), imei_for(1)]
    assert report.summary().startswith("units=2 ")
    assert not any(unit.field for unit in report.units)
    async with serving(gateway.handle) as port:
        args = parser.parse_args(["--units", "2", "--port", str(port), "--interval", "0.02", "--duration", "0.3",
                                  "--profile", "field"])
        report = await main_async(args)
    assert all(unit.field for unit in report.units) and [u.codec_id for u in report.units] == [0x08, 0x8E]
