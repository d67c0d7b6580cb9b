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
flag, and the next status packets carry the relay state. With ``--profile field`` units
also send what units of the family send in the field (simulators/gt06_field.py): variants
of the documented packets, cells, Wi-Fi, information packets, types fleetgate keeps raw,
and 0x15 answers whose length byte is 0.

    fleetgate simulate gt06 --units 10 --port 5023 --interval 5 --password <the units' password>
"""

from __future__ import annotations

import argparse
import hmac
import re
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import trio

from drivers.gt06 import frames
from simulators import fleet, gt06_field
from simulators.fleet import Disconnected
from simulators.gt06_field import Packet, time_bytes

FIRST_IMEI = "353413532150362"  # the unit of [GT06] Appendix B; Luhn-valid
MAX_SERVER_FRAME = 4096
_COMMAND = re.compile(r"^(DYD|HFYD),(.*)#$")
UNTIMED = {frames.STATUS, frames.HEARTBEAT_VOLTAGE}  # what a unit reports with no time of its own


def imei_for(index: int, first_imei: str = FIRST_IMEI) -> str:
    return fleet.imei_for(index, first_imei)


class FleetReport(fleet.FleetReport):
    counted = (*fleet.COUNTED, "logins_unanswered")

    @property
    def driving_enabled(self) -> dict[str, bool]:
        return {unit.imei: not unit.oil_cut for unit in self.units}


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
        profile: str = fleet.STANDARD,
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
        self.field = profile == fleet.FIELD
        self.oil_cut = False
        self.online = False
        self.stats = fleet.UnitStats()
        self.pending: deque[Packet] = deque()
        self.records_sent = 0  # packets the server keeps as a record, counted at their first transmission
        self._heartbeats = 0
        self.has_data = trio.Event()
        self._serial = 0
        self.trip = fleet.Trip(index, origin=(22.5431, 114.0579))  # in Shenzhen

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

    def gps(self, acc_in_course: bool = False) -> dict:
        trip = self.trip
        course = {"acc": acc_in_course and trip.speed > 0, "acc_reported": acc_in_course, "differential": False,
                  "positioned": True, "west": trip.longitude < 0, "north": trip.latitude >= 0,
                  "course": int(trip.heading) % 360}
        return {"info": {"length": 12, "satellites": 9}, "latitude": round(abs(trip.latitude) * 1_800_000),
                "longitude": round(abs(trip.longitude) * 1_800_000), "speed": trip.speed, "course_status": course}

    def status(self, alarm_bits: int = 0, alarm: int = 0) -> dict:
        info = {"oil_electricity_cut": self.oil_cut, "gps_tracking": True, "alarm": alarm_bits, "charging": True,
                "acc": self.trip.speed > 0, "defence": False}
        return {"terminal_info": info, "voltage_level": 6, "gsm_signal": 4, "alarm": alarm, "language": 2}

    def lbs(self) -> dict:
        return {"mcc": 460, "mnc": 0, "lac": 0x287D, "cell_id": 0x1F00 + self.trip.steps % 64}

    def location_utc(self, now: datetime) -> bytes:
        """The content of a 0x22 location ([VL] §3.1)."""
        trip = self.trip
        return frames.LocationUtcContent.build({
            "time": time_bytes(now), "gps": self.gps(), "lbs": self.lbs(), "acc": int(trip.speed > 0),
            "upload_mode": 0, "reupload": int(not self.online), "mileage": trip.odometer_m,
        })

    def make_location(self, interval: float = 0.0) -> None:
        trip = self.trip
        trip.step(interval)  # parked (speed 0): ACC low
        now = datetime.now(timezone.utc)
        if self.field:
            fleet.keep(self, gt06_field.location(self, now))
        else:
            needs_reply = self.require_location_replies
            fleet.keep(self, Packet(frames.LOCATION_UTC, self.location_utc(now), needs_reply, needs_reply))
        self.stats.generated += 1
        if self.online and trip.steps % self.heartbeat_every == 0:
            self.make_heartbeat()
        if trip.steps % self.alarm_every == 0:
            self.make_alarm(sos=trip.steps // self.alarm_every % 2 == 0)
        if self.field:
            for packet in gt06_field.extras(self, now):
                fleet.keep(self, packet)

    def make_heartbeat(self) -> None:
        self._heartbeats += 1
        if self.field:
            fleet.keep(self, gt06_field.heartbeat(self, self._heartbeats))
        else:
            fleet.keep(self, Packet(frames.STATUS, frames.StatusContent.build({"status": self.status()}), True))

    def make_alarm(self, sos: bool = False) -> None:
        now = datetime.now(timezone.utc)
        if self.field:
            fleet.keep(self, gt06_field.alarm(self, now, sos))
        else:
            # 0x16 carries the unit's local time, 0x26 UTC ([VL] §I.1.1)
            local = now + timedelta(minutes=self.tz_minutes)
            protocol, moment = (frames.ALARM, local) if sos else (frames.ALARM_UTC, now)
            status = self.status(alarm_bits=4, alarm=0x01) if sos else self.status(alarm_bits=1, alarm=0x03)
            content = frames.AlarmContent.build({
                "time": time_bytes(moment), "gps": self.gps(), "lbs_length": 9, "lbs": self.lbs(), "status": status,
                "mileage": None,
            })
            fleet.keep(self, Packet(protocol, content, needs_reply=True, resend=True))
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
        self._drop_stale_heartbeats()
        return f"{word}=Success!"

    def _drop_stale_heartbeats(self) -> None:
        """A heartbeat carries no time, so the gateway dates it on arrival: one built before
        the status changed and still waiting to be sent would report the old status as new.
        Real units build a heartbeat when they send it."""
        self.pending = deque(p for p in self.pending if p.transmissions or p.protocol not in UNTIMED)

    def response_frame(self, server_flag: int, text: str) -> bytes:
        if self.response_protocol == frames.SHORT_RESPONSE and self.field:
            return gt06_field.short_answer(server_flag, text, self.next_serial())
        payload = text.encode("ascii")
        if self.response_protocol == frames.SHORT_RESPONSE:
            content = frames.ShortResponseContent.build({"server_flag": server_flag, "text": payload, "language": 2})
            return frames.frame(frames.SHORT_RESPONSE, content, self.next_serial())
        content = frames.LongResponseContent.build(
            {"server_flag": server_flag, "encoding": frames.ENCODING_ASCII, "text": payload})
        return frames.frame(frames.LONG_RESPONSE, content, self.next_serial(), long=True)

    # --- networking ------------------------------------------------------------------------

    async def run(self, host: str, port: int, interval: float) -> None:
        await fleet.run_unit(self, host, port, interval, self.make_location, self._session)

    async def _session(self, stream: trio.abc.Stream, welcomed: Callable[[], None]) -> None:
        link = _Link(self, stream)
        try:
            if await link.login():
                welcomed()
                self.online = True
                await link.run()
            else:
                self.stats.logins_unanswered += 1
        finally:
            self.online = False


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
            except Disconnected:
                pass  # a hang-up instead of the reply: as unanswered as silence
        return False

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            await self._send()

    async def _send(self) -> None:
        unit = self.unit
        while True:
            await fleet.wait_for_data(unit)
            packet = unit.pending[0]
            serial = unit.next_serial()
            unit.stats.sent += 1
            unit.stats.resent += int(packet.transmissions > 0)
            packet.transmissions += 1
            if packet.needs_reply:
                self.awaiting, self.answered = (packet.protocol, serial), trio.Event()
            await self.write(frames.frame(packet.protocol, packet.content, serial, long=packet.long))
            unit.records_sent += int(packet.stored and packet.transmissions == 1)
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
            raise Disconnected(f"no reply to packet {packet.protocol:#04x} serial {serial}")

    async def read_frame(self) -> tuple[int, bytes, int]:
        await self._fill(4)
        start = bytes(self.buffer[:2])
        if start not in (frames.SHORT_START, frames.LONG_START):
            raise Disconnected(f"unexpected bytes from the server: {bytes(self.buffer[:8]).hex()}")
        header = 4 if start == frames.LONG_START else 3
        total = header + int.from_bytes(self.buffer[2:header], "big") + 2
        if total > MAX_SERVER_FRAME:
            raise Disconnected("oversized frame from the server")
        await self._fill(total)
        data = bytes(self.buffer[:total])
        del self.buffer[:total]
        try:
            parsed = frames.parse_frame(data)
        except Exception as exc:  # construct's errors: a garbled frame ends the link
            raise Disconnected(f"bad frame from the server: {exc}") from None
        return parsed.protocol, parsed.content, parsed.serial

    async def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            data = await self.stream.receive_some(4096)
            if not data:
                raise Disconnected("server closed the connection")
            self.buffer += data

    async def _read(self) -> None:
        while True:
            protocol, content, serial = await self.read_frame()
            if protocol == frames.COMMAND:
                try:
                    command = frames.CommandContent.parse(content)
                except Exception as exc:
                    raise Disconnected(f"bad command from the server: {exc}") from None
                text = self.unit.answer(command.text.decode("ascii", errors="replace"))
                await self.write(self.unit.response_frame(command.server_flag, text))
            elif not content and (protocol, serial) == self.awaiting:
                # replies to packets that need none (locations, usually) are simply read
                self.answered.set()


async def run_fleet(
    host: str, port: int, units: int, interval: float, duration: float | None = None, first_imei: str = FIRST_IMEI,
    *,
    password_for: Callable[[int], str],
    require_location_replies: bool = False,
    retry_delay: float = 1.0,
    profile: str = fleet.STANDARD,
    task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED,
    **unit_options,
) -> FleetReport:
    """Run ``units`` simulated units until ``duration`` elapses (or forever); unit ``i`` has
    the password ``password_for(i)``. The live report goes to ``task_status.started()``
    and is returned at the end. ``unit_options`` go to SimulatedUnit (timeouts, cadence)."""
    report = FleetReport([
        SimulatedUnit(imei_for(i, first_imei), password_for(i), index=i, retry_delay=retry_delay,
                      require_location_replies=require_location_replies, profile=profile, **unit_options)
        for i in range(units)
    ])
    return await fleet.run_units(report, duration, task_status, host, port, interval)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    fleet.add_common_arguments(parser, protocol="GT06", port=5023)
    parser.add_argument(
        "--first-imei", default=FIRST_IMEI, help=f"IMEI of unit 0; the others count up (default {FIRST_IMEI})"
    )
    parser.add_argument("--password", required=True, help="the units' password for DYD/HFYD commands (no default)")
    parser.add_argument(
        "--require-location-replies", action="store_true",
        help="model firmware that waits for a reply to every location and resends it without one",
    )


async def main_async(
    args: argparse.Namespace, task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED
) -> FleetReport:
    return await run_fleet(
        args.host, args.port, args.units, args.interval, args.duration, args.first_imei,
        password_for=lambda index: args.password, require_location_replies=args.require_location_replies,
        profile=args.profile, task_status=task_status,
    )
