"""What the simulators of TCP units (teltonika, gt06, jt808) have in common: the made-up
drive, the counters and their fleet totals, reconnecting with a growing delay, running a
fleet for a while, the command-line arguments every one of them takes, and IMEI numbering.
Only the protocol -- what a unit says on a connection -- stays in each simulator."""

from __future__ import annotations

import argparse
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import trio


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)  # the check digit will sit to the right
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def imei_for(index: int, first_imei: str) -> str:
    """The index-th IMEI of a fleet: serial numbers counted up from ``first_imei``."""
    serial = int(first_imei[:14]) + index
    body = f"{serial:014d}"
    if len(body) != 14 or index < 0:
        raise ValueError(f"no 15-digit IMEI at index {index} from {first_imei}")
    return body + luhn_digit(body)


class Trip:
    """A unit's drive, the same on every run so that tests can rely on it: unit ``index``
    starts on a grid of 0.001° steps from ``origin``, turns 15° a step at 30-50 km/h and
    stops now and then (4 steps in 20)."""

    def __init__(self, index: int, origin: tuple[float, float]) -> None:
        self.latitude = origin[0] + (index % 100) * 0.001
        self.longitude = origin[1] + (index // 100) * 0.001
        self.heading = (index * 37) % 360
        self.odometer_m = 10_000 * index
        self.speed = 0  # km/h
        self.steps = 0

    def step(self, interval: float) -> bool:
        """Drive on for ``interval`` seconds (0: a step without moving); True while parked."""
        self.steps += 1
        parked = self.steps % 20 >= 16
        self.speed = 0 if parked or not interval else 30 + (self.steps * 7) % 21
        if self.speed:
            self.heading = (self.heading + 15) % 360
            distance_km = self.speed * interval / 3600
            self.latitude += distance_km / 111.32 * math.cos(math.radians(self.heading))
            km_per_degree_lon = 111.32 * math.cos(math.radians(self.latitude))
            self.longitude += distance_km / km_per_degree_lon * math.sin(math.radians(self.heading))
            self.odometer_m += round(distance_km * 1000)
        return parked


@dataclass
class UnitStats:
    """A unit's counters. One set for every protocol: each moves those that apply to it (a
    GT06 login is never refused, only unanswered), and its report says which it shows."""

    generated: int = 0  # records, locations or alarms made
    sent: int = 0  # transmissions, resends included
    acked: int = 0  # what the server acknowledged (GT06: replies to packets waiting for one)
    resent: int = 0
    reconnects: int = 0
    commands: int = 0
    dropped: int = 0  # oldest kept while offline, lost to a full buffer
    logins_rejected: int = 0
    logins_unanswered: int = 0
    registrations: int = 0
    registrations_refused: int = 0
    connect_failed: int = 0  # connections the server's address refused or never answered
    connected: bool = False  # a link to the server is open now


COUNTED = ("generated", "sent", "acked", "resent", "reconnects", "connect_failed")
# How each protocol's server says no: Teltonika and JT/T 808 refuse a login, a GT06
# server leaves it unanswered, a JT/T 808 one may refuse a registration.
REFUSALS = ("logins_rejected", "logins_unanswered", "registrations_refused")


@dataclass
class FleetReport:
    """The live view of a running fleet: each name in ``counted`` reads as the sum of that
    counter over the units, and summary() shows them in that order."""

    units: list = field(default_factory=list)
    counted: ClassVar[tuple[str, ...]] = COUNTED

    def total(self, name: str) -> int:
        return sum(getattr(unit.stats, name) for unit in self.units)

    def __getattr__(self, name: str) -> int:
        if name in self.counted:
            return self.total(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def summary(self) -> str:
        return " ".join([f"units={len(self.units)}", *(f"{name}={getattr(self, name)}" for name in self.counted)])

    def status(self) -> str:
        """The fleet now, in one line: links open, logins refused, records sent, acknowledged
        and sent again, connections that failed."""
        refused = sum(self.total(name) for name in REFUSALS)
        return (f"units={len(self.units)} connected={self.total('connected')} refused={refused} "
                f"sent={self.sent} acked={self.acked} resent={self.resent} connect_failed={self.connect_failed}")


MAX_BUFFERED = 100_000  # what a unit keeps while offline before the oldest is dropped


def keep(unit: Any, item: Any) -> None:
    """Buffer ``item`` in ``unit.pending`` until the server has it and wake the sender; a
    full buffer loses its oldest item, as a real unit's does."""
    unit.pending.append(item)
    if len(unit.pending) > MAX_BUFFERED:
        unit.pending.popleft()
        unit.stats.dropped += 1
    unit.has_data.set()


async def wait_for_data(unit: Any) -> None:
    """Return once ``unit.pending`` holds something to send (keep() wakes the waiter)."""
    if not unit.pending:
        unit.has_data = trio.Event()
        await unit.has_data.wait()


class Disconnected(Exception):
    """The link is no good any more (closed, silent, garbled): the unit connects again."""


LINK_LOST = (Disconnected, trio.BrokenResourceError, trio.ClosedResourceError, OSError)


Session = Callable[[trio.SocketStream, Callable[[], None]], Awaitable[Any]]


async def run_unit(
    unit: Any, host: str, port: int, interval: float, sample: Callable[[float], None], session: Session
) -> None:
    """A unit's life: ``sample(interval)`` every ``interval`` seconds, connected or not,
    while it stays connected to the server (stay_connected)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sample_every, interval, sample)
        await stay_connected(unit, host, port, session)


async def _sample_every(interval: float, sample: Callable[[float], None]) -> None:
    while True:
        await trio.sleep(interval)
        sample(interval)


async def stay_connected(unit: Any, host: str, port: int, session: Session) -> None:
    """Connect and run ``session(stream, welcomed)`` on the connection, again and again.
    Between tries the unit waits ``unit.retry_delay``, doubled after each try up to
    ``unit.max_retry_delay``; calling ``welcomed()`` (the server took the unit) puts the wait
    back to the start. A lost link ends a session quietly: what the server did not
    acknowledge is still in the unit's buffer."""
    delay, first = unit.retry_delay, True

    def welcomed() -> None:
        nonlocal delay
        delay = unit.retry_delay

    while True:
        if not first:
            unit.stats.reconnects += 1
        first = False
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError:
            unit.stats.connect_failed += 1
        else:
            unit.stats.connected = True
            async with stream:
                try:
                    await session(stream, welcomed)
                except* LINK_LOST:
                    pass
                finally:
                    unit.stats.connected = False
        await trio.sleep(delay)
        delay = min(delay * 2, unit.max_retry_delay)


async def run_units(
    report: FleetReport, duration: float | None, task_status: trio.TaskStatus, *run_args: Any
) -> FleetReport:
    """Run ``unit.run(*run_args)`` for every unit until ``duration`` elapses (or forever).
    The live report goes to ``task_status.started()`` and is returned at the end."""
    with trio.move_on_after(math.inf if duration is None else duration):
        async with trio.open_nursery() as nursery:
            for unit in report.units:
                nursery.start_soon(unit.run, *run_args)
            task_status.started(report)
    return report


# What a simulated unit sends: the document alone, or the document and what units in the
# field send besides (other message types, variants, odd identities), as a real fleet does.
STANDARD, FIELD = "standard", "field"
PROFILES = (STANDARD, FIELD)


def add_common_arguments(
    parser: argparse.ArgumentParser, *, protocol: str, port: int, units: str = "units", samples: str = "locations"
) -> None:
    """--units --host --port --interval --duration; each simulator adds its own after these."""
    parser.add_argument("--units", type=int, default=1, help=f"number of simulated {units} (default 1)")
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help=f"gateway {protocol} port (default {port})")
    parser.add_argument("--interval", type=float, default=10.0, help=f"seconds between {samples} (default 10)")
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: run until interrupted)"
    )
    parser.add_argument(
        "--profile", choices=PROFILES, default=STANDARD,
        help=f"'{STANDARD}': only what the {protocol} document describes; '{FIELD}': mix in the message types, "
             "variants and identities real units send beside it (default standard)",
    )
