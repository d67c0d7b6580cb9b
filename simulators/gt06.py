"""A fleet of simulated Concox GT06N-style units (fuel/electricity cut relay) for bench tests.

Each unit behaves as protocol_specs/gt06/spec.md describes a real one: it logs in with its
IMEI (plus type id and time zone) and expects the server's 0x01 reply within 5 s, else it
hangs up and reconnects with a growing delay. Every ``interval`` it makes a 0x22 location
(kept while offline and re-uploaded with the re-upload flag), every few ticks a 0x13
status heartbeat while connected, and now and then an alarm (0x26 vibration, 0x16 SOS).
Locations are sent and forgotten -- unless ``require_location_replies`` models firmware
that waits for their reply. Alarms (and those locations) are kept until the server's reply
echoes their serial number; heartbeats, alarms and such locations without a reply within
``reply_timeout`` make the unit drop the link, reconnect and send what it kept again.
Online commands (0x80): ``DYD,<password>#`` cuts fuel/electricity and ``HFYD,<password>#``
restores it, only with the unit's password; the answer (0x15 or 0x21) echoes the server
flag, and the next status packets carry the relay state.

    fleetgate simulate gt06 --units 10 --port 5023 --interval 5 --password <the units' password>
"""

from __future__ import annotations

import argparse
import hmac
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import trio

from drivers.gt06 import frames
from simulators.teltonika import imei_for as _imei_for

FIRST_IMEI = "353413532150362"  # the unit of [GT06] Appendix B; Luhn-valid
MAX_BUFFERED = 100_000  # packets kept while offline before the oldest are dropped
MAX_SERVER_FRAME = 4096
_COMMAND = re.compile(r"^(DYD|HFYD),(.*)#$")


def imei_for(index: int, first_imei: str = FIRST_IMEI) -> str:
    return _imei_for(index, first_imei)


@dataclass
class UnitStats:
    generated: int = 0  # locations and alarms made
    sent: int = 0  # packet transmissions, resends included
    acked: int = 0  # replies that matched a packet waiting for one
    resent: int = 0
    reconnects: int = 0
    logins_unanswered: int = 0
    commands: int = 0
    dropped: int = 0


@dataclass
class FleetReport:
    units: list[SimulatedUnit] = field(default_factory=list)

    def _sum(self, name: str) -> int:
        return sum(getattr(unit.stats, name) for unit in self.units)

    generated = property(lambda self: self._sum("generated"))
    sent = property(lambda self: self._sum("sent"))
    acked = property(lambda self: self._sum("acked"))
    resent = property(lambda self: self._sum("resent"))
    reconnects = property(lambda self: self._sum("reconnects"))
    logins_unanswered = property(lambda self: self._sum("logins_unanswered"))

    @property
    def driving_enabled(self) -> dict[str, bool]:
        return {unit.imei: not unit.oil_cut for unit in self.units}

    def summary(self) -> str:
        return (
            f"units={len(self.units)} generated={self.generated} sent={self.sent} acked={self.acked} "
            f"resent={self.resent} reconnects={self.reconnects} logins_unanswered={self.logins_unanswered}"
        )


@dataclass
class _Packet:
    protocol: int
    content: bytes
    needs_reply: bool
    resend: bool  # kept and sent again when its reply does not come
    transmissions: int = 0


class _Disconnected(Exception):
    pass


def _time_bytes(moment: datetime) -> dict:
    return {"year": moment.year - 2000, "month": moment.month, "day": moment.day, "hour": moment.hour,
            "minute": moment.minute, "second": moment.second}


class SimulatedUnit:
    def __init__(
        self,
        imei: str,
        password: str,
        *,
        index: int = 0,
        require_location_replies: bool = False,
        retry_delay: float = 1.0,
        max_retry_delay: float = 60.0,
        login_timeout: float = 5.0,  # [GT06] §III.1: a login reply within five seconds
        reply_timeout: float = 5.0,
        heartbeat_every: int = 6,
        alarm_every: int = 25,
        tz_minutes: int = 0,
        response_protocol: int | None = None,
    ) -> None:
        if not password:
            raise ValueError("a simulated unit needs its password; there is no default")
        self.imei, self.password = imei, password
        self.require_location_replies = require_location_replies
        self.retry_delay, self.max_retry_delay = retry_delay, max_retry_delay
        self.login_timeout, self.reply_timeout = login_timeout, reply_timeout
        self.heartbeat_every, self.alarm_every, self.tz_minutes = heartbeat_every, alarm_every, tz_minutes
        # even units answer in 0x15 (GT06 document), odd ones in 0x21 (newer firmware)
        self.response_protocol = response_protocol or (frames.SHORT_RESPONSE if index % 2 == 0 else frames.LONG_RESPONSE)
        self.oil_cut = False
        self.online = False
        self.stats = UnitStats()
        self.pending: deque[_Packet] = deque()
        self.has_data = trio.Event()
        self._serial = 0
        self._tick = 0
        # a deterministic trip per unit, spread over a grid in Shenzhen
        self.latitude = 22.5431 + (index % 100) * 0.001
        self.longitude = 114.0579 + (index // 100) * 0.001
        self.heading = (index * 37) % 360
        self.speed = 0
        self.odometer_m = 10_000 * index

    # --- the unit's own state -------------------------------------------------------------

    def next_serial(self) -> int:
        self._serial = self._serial % 0xFFFF + 1  # [GT06] §4.5: 1 after boot, then +1 per packet
        return self._serial

    def login_frame(self, serial: int) -> bytes:
        hhmm = abs(self.tz_minutes) // 60 * 100 + abs(self.tz_minutes) % 60
        tz_word = hhmm << 4 | (0x08 if self.tz_minutes < 0 else 0) | 0x01  # English
        content = frames.LoginContent.build(
            {"terminal_id": bytes.fromhex("0" + self.imei), "type_id": 0x2200, "tz_language": tz_word}
        )
        return frames.frame(frames.LOGIN, content, serial)

    def _gps(self) -> dict:
        course = {"reserved": 0, "differential": False, "positioned": True, "west": self.longitude < 0,
                  "north": self.latitude >= 0, "course": int(self.heading) % 360}
        return {"info": {"length": 12, "satellites": 9}, "latitude": round(abs(self.latitude) * 1_800_000),
                "longitude": round(abs(self.longitude) * 1_800_000), "speed": self.speed, "course_status": course}

    def _status(self, alarm_bits: int = 0, alarm: int = 0) -> dict:
        info = {"oil_electricity_cut": self.oil_cut, "gps_tracking": True, "alarm": alarm_bits, "charging": True,
                "acc": self.speed > 0, "defence": False}
        return {"terminal_info": info, "voltage_level": 6, "gsm_signal": 4, "alarm": alarm, "language": 2}

    def _lbs(self) -> dict:
        return {"mcc": 460, "mnc": 0, "lac": 0x287D, "cell_id": 0x1F00 + self._tick % 64}

    def _keep(self, packet: _Packet) -> None:
        self.pending.append(packet)
        if len(self.pending) > MAX_BUFFERED:
            self.pending.popleft()
            self.stats.dropped += 1
        self.has_data.set()

    def make_location(self, interval: float = 0.0) -> None:
        self._tick += 1
        parked = self._tick % 20 >= 16  # a short stop now and then: ACC low, speed 0
        self.speed = 0 if parked or not interval else 30 + (self._tick * 7) % 21
        if self.speed:
            self.heading = (self.heading + 15) % 360
            distance_km = self.speed * interval / 3600
            self.latitude += distance_km / 111.32 * math.cos(math.radians(self.heading))
            self.longitude += distance_km / (111.32 * math.cos(math.radians(self.latitude))) * math.sin(
                math.radians(self.heading))
            self.odometer_m += round(distance_km * 1000)
        now = datetime.now(timezone.utc)
        content = frames.LocationUtcContent.build({
            "time": _time_bytes(now), "gps": self._gps(), "lbs": self._lbs(), "acc": int(self.speed > 0),
            "upload_mode": 0, "reupload": int(not self.online), "mileage": self.odometer_m, "extension": b"",
        })
        needs_reply = self.require_location_replies
        self._keep(_Packet(frames.LOCATION_UTC, content, needs_reply=needs_reply, resend=needs_reply))
        self.stats.generated += 1
        if self.online and self._tick % self.heartbeat_every == 0:
            self.make_heartbeat()
        if self._tick % self.alarm_every == 0:
            self.make_alarm(sos=self._tick // self.alarm_every % 2 == 0)

    def make_heartbeat(self) -> None:
        content = frames.StatusContent.build({"status": self._status(), "extension": b""})
        self._keep(_Packet(frames.STATUS, content, needs_reply=True, resend=False))

    def make_alarm(self, sos: bool = False) -> None:
        # 0x16 carries the unit's local time, 0x26 UTC ([VL] §I.1.1)
        now = datetime.now(timezone.utc)
        protocol, moment = (frames.ALARM, now + timedelta(minutes=self.tz_minutes)) if sos else (frames.ALARM_UTC, now)
        status = self._status(alarm_bits=4, alarm=0x01) if sos else self._status(alarm_bits=1, alarm=0x03)
        content = frames.CONTENTS[protocol].build({
            "time": _time_bytes(moment), "gps": self._gps(), "lbs_length": 9, "lbs": self._lbs(), "status": status,
            "mileage": None, "extension": b"",
        })
        self._keep(_Packet(protocol, content, needs_reply=True, resend=True))
        self.stats.generated += 1

    def answer(self, command: str) -> str:
        """The unit's answer to an online command's text."""
        self.stats.commands += 1
        found = _COMMAND.match(command.strip())
        if found is None:
            return "Unknown command!"
        word, given = found.groups()
        if not hmac.compare_digest(given.encode(), self.password.encode()):
            return "Password error!"
        cut = word == "DYD"
        if cut == self.oil_cut:
            state = "cut off" if cut else "to resume"
            return f"Already in the state of fuel supply {state},the command is not running!"
        self.oil_cut = cut
        return f"{word}=Success!"

    def response_frame(self, server_flag: int, text: str) -> bytes:
        payload = text.encode("ascii")
        if self.response_protocol == frames.SHORT_RESPONSE:
            content = frames.ShortResponseContent.build({"server_flag": server_flag, "text": payload, "language": 2})
            return frames.frame(frames.SHORT_RESPONSE, content, self.next_serial())
        content = frames.LongResponseContent.build(
            {"server_flag": server_flag, "encoding": frames.ENCODING_ASCII, "text": payload})
        return frames.frame(frames.LONG_RESPONSE, content, self.next_serial(), long=True)

    # --- networking ------------------------------------------------------------------------

    async def run(self, host: str, port: int, interval: float) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._locate_every, interval)
            await self._stay_connected(host, port)

    async def _locate_every(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            self.make_location(interval)

    async def _stay_connected(self, host: str, port: int) -> None:
        delay, first = self.retry_delay, True
        while True:
            if not first:
                self.stats.reconnects += 1
            first = False
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError:
                await trio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
                continue
            async with stream:
                link = _Link(self, stream)
                try:
                    if await link.login():
                        delay = self.retry_delay
                        self.online = True
                        await link.run()
                    else:
                        self.stats.logins_unanswered += 1
                except* (_Disconnected, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass  # what still needs its reply is still in pending
                finally:
                    self.online = False
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)


class _Link:
    """One TCP connection of a unit: a sender that waits for replies where they are due,
    and a reader of the server's replies and commands."""

    def __init__(self, unit: SimulatedUnit, stream: trio.abc.Stream) -> None:
        self.unit, self.stream = unit, stream
        self.buffer = bytearray()
        self.send_lock = trio.Lock()
        # the one packet the sender waits a reply for: (protocol, serial), and its signal
        self.awaiting: tuple[int, int] | None = None
        self.answered = trio.Event()

    async def write(self, data: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(data)

    async def login(self) -> bool:
        serial = self.unit.next_serial()
        await self.write(self.unit.login_frame(serial))
        with trio.move_on_after(self.unit.login_timeout):
            try:
                while True:
                    protocol, _, reply_serial = await self.read_frame()
                    if protocol == frames.LOGIN and reply_serial == serial:
                        return True
            except _Disconnected:
                pass  # a hang-up instead of the reply: as unanswered as silence
        return False

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            await self._send()

    async def _send(self) -> None:
        unit = self.unit
        while True:
            if not unit.pending:
                unit.has_data = trio.Event()
                await unit.has_data.wait()
            packet = unit.pending[0]
            serial = unit.next_serial()
            unit.stats.sent += 1
            unit.stats.resent += int(packet.transmissions > 0)
            packet.transmissions += 1
            if packet.needs_reply:
                self.awaiting, self.answered = (packet.protocol, serial), trio.Event()
            await self.write(frames.frame(packet.protocol, packet.content, serial))
            if not packet.needs_reply:
                unit.pending.popleft()
                continue
            with trio.move_on_after(unit.reply_timeout):
                await self.answered.wait()
                self.awaiting = None
                unit.pending.popleft()
                unit.stats.acked += 1
                continue
            if not packet.resend:
                unit.pending.popleft()
            raise _Disconnected(f"no reply to packet {packet.protocol:#04x} serial {serial}")

    async def read_frame(self) -> tuple[int, bytes, int]:
        await self._fill(4)
        start = bytes(self.buffer[:2])
        if start not in (frames.SHORT_START, frames.LONG_START):
            raise _Disconnected(f"unexpected bytes from the server: {bytes(self.buffer[:8]).hex()}")
        header = 4 if start == frames.LONG_START else 3
        total = header + int.from_bytes(self.buffer[2:header], "big") + 2
        if total > MAX_SERVER_FRAME:
            raise _Disconnected("oversized frame from the server")
        await self._fill(total)
        data = bytes(self.buffer[:total])
        del self.buffer[:total]
        try:
            parsed = frames.parse_frame(data)
        except Exception as exc:  # construct's errors: a garbled frame ends the link
            raise _Disconnected(f"bad frame from the server: {exc}") from None
        return parsed.protocol, parsed.content, parsed.serial

    async def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            data = await self.stream.receive_some(4096)
            if not data:
                raise _Disconnected("server closed the connection")
            self.buffer += data

    async def _read(self) -> None:
        while True:
            protocol, content, serial = await self.read_frame()
            if protocol == frames.COMMAND:
                try:
                    command = frames.CommandContent.parse(content)
                except Exception as exc:
                    raise _Disconnected(f"bad command from the server: {exc}") from None
                text = self.unit.answer(command.text.decode("ascii", errors="replace"))
                await self.write(self.unit.response_frame(command.server_flag, text))
            elif not content and (protocol, serial) == self.awaiting:
                # replies to packets that need none (locations, usually) are simply read
                self.answered.set()


async def run_fleet(
    host: str,
    port: int,
    units: int,
    interval: float,
    duration: float | None = None,
    first_imei: str = FIRST_IMEI,
    *,
    password_for: Callable[[int], str],
    require_location_replies: bool = False,
    retry_delay: float = 1.0,
    task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED,
    **unit_options,
) -> FleetReport:
    """Run ``units`` simulated units until ``duration`` elapses (or forever); unit ``i`` has
    the password ``password_for(i)``. The live report goes to ``task_status.started()``
    and is returned at the end. ``unit_options`` go to SimulatedUnit (timeouts, cadence)."""
    report = FleetReport([
        SimulatedUnit(imei_for(i, first_imei), password_for(i), index=i, retry_delay=retry_delay,
                      require_location_replies=require_location_replies, **unit_options)
        for i in range(units)
    ])
    with trio.move_on_after(math.inf if duration is None else duration):
        async with trio.open_nursery() as nursery:
            for unit in report.units:
                nursery.start_soon(unit.run, host, port, interval)
            task_status.started(report)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", type=int, default=1, help="number of simulated units (default 1)")
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5023, help="gateway GT06 port (default 5023)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between locations (default 10)")
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: run until interrupted)"
    )
    parser.add_argument(
        "--first-imei", default=FIRST_IMEI, help=f"IMEI of unit 0; the others count up (default {FIRST_IMEI})"
    )
    parser.add_argument("--password", required=True, help="the units' password for DYD/HFYD commands (no default)")
    parser.add_argument(
        "--require-location-replies", action="store_true",
        help="model firmware that waits for a reply to every location and resends it without one",
    )


async def main_async(args: argparse.Namespace) -> FleetReport:
    return await run_fleet(
        args.host, args.port, args.units, args.interval, args.duration, args.first_imei,
        password_for=lambda index: args.password, require_location_replies=args.require_location_replies,
    )
