"""A fleet of simulated JT/T 808 terminals (2013 or 2019 edition) for bench tests.

Each terminal behaves as protocol_specs/jt808/spec.md describes a real one. One that holds an
authentication code (provisioned by its installer) authenticates with it (0x0102); one that
holds none registers first (0x0100), keeps the code of a 0x8100 result 0 and authenticates on
the same connection. A refused registration or authentication ends the connection; the
terminal tries again later with a growing delay, and a terminal whose enrolled code stops
working enrols again. Online, it records a location every ``interval`` seconds whether or
not it is connected, sends each as 0x0200, sends heartbeats when idle, and forgets a location
only once the platform's 0x8001 for it arrives. Whatever is still unacknowledged when it
(re)connects goes first, as 0x0704 blind-area batches. It obeys 0x8500 (door lock; the
status bit shows in its 0x0500 answer and its next locations), answers 0x8201 with 0x0201,
and anything else with a 0x0001 "unsupported".

    fleetgate simulate jt808 --units 10 --port 5015 --interval 5 --auth-code 'pw-{phone}'
"""

from __future__ import annotations

import argparse
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import trio
from construct import ConstructError

from drivers.jt808 import frames

FIRST_PHONE = "013912345678"
MAX_BUFFERED = 100_000  # locations kept while offline before the oldest are dropped
DEVICE_TZ = timezone(timedelta(hours=8))  # the standard's GMT+8
BATCH_TYPE_BLIND_AREA = 1


def phone_for(index: int, version: int = 2013, first_phone: str = FIRST_PHONE) -> str:
    """The index-th terminal phone number: 12 BCD digits (2013) or 20 (2019), counted up."""
    number = int(first_phone) + index
    digits = 20 if version == 2019 else 12
    text = f"{number:0{digits}d}"
    if index < 0 or len(text) != digits:
        raise ValueError(f"no {digits}-digit phone number at index {index} from {first_phone}")
    return text


@dataclass
class UnitStats:
    generated: int = 0
    sent: int = 0  # location transmissions, resends included
    acked: int = 0
    resent: int = 0
    reconnects: int = 0
    registrations: int = 0
    registrations_refused: int = 0
    logins_rejected: int = 0
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
    registrations = property(lambda self: self._sum("registrations"))
    logins_rejected = property(lambda self: self._sum("logins_rejected"))

    @property
    def doors(self) -> dict[str, str]:
        return {unit.phone: "LOCKED" if unit.door_locked else "UNLOCKED" for unit in self.units}

    def summary(self) -> str:
        return (
            f"units={len(self.units)} generated={self.generated} sent={self.sent} acked={self.acked} "
            f"resent={self.resent} reconnects={self.reconnects} registrations={self.registrations} "
            f"logins_rejected={self.logins_rejected}"
        )


class _Disconnected(Exception):
    pass


class SimulatedUnit:
    def __init__(self, phone: str, auth_code: str | None = None, version: int = 2013, *, index: int = 0,
                 retry_delay: float = 1.0, max_retry_delay: float = 60.0, response_timeout: float = 30.0) -> None:
        if version not in (2013, 2019) or len(phone) != (20 if version == 2019 else 12) or not phone.isdigit():
            raise ValueError(f"a {version} terminal phone number has {20 if version == 2019 else 12} digits")
        self.phone, self.auth_code, self.version = phone, auth_code, version
        self.protocol_version = 1 if version == 2019 else None  # the 2019 header's version byte
        self.enrolled = False  # True when auth_code came from a registration
        self.retry_delay, self.max_retry_delay, self.response_timeout = retry_delay, max_retry_delay, response_timeout
        self.door_locked = False
        self.stats = UnitStats()
        self.pending: deque[tuple[int, bytes]] = deque()  # (sequence number, 0x0200 body)
        self._next_seq = 0
        self._highest_sent = -1
        self._serial = 0
        self._has_data = trio.Event()
        # a deterministic trip per unit on a grid around Shenzhen
        self.latitude = 22.5431 + (index % 100) * 0.001
        self.longitude = 114.0579 + (index // 100) * 0.001
        self.heading = (index * 37) % 360
        self.mileage_m = 10_000 * index
        self._tick = 0
        self._speed = 0

    # --- the terminal's own state ----------------------------------------------------------

    def next_serial(self) -> int:
        serial, self._serial = self._serial, (self._serial + 1) & 0xFFFF
        return serial

    def frame(self, message_id: int, body: bytes) -> tuple[int, bytes]:
        serial = self.next_serial()
        return serial, frames.frame(message_id, self.phone, serial, body, self.protocol_version)

    def move(self, interval: float) -> None:
        self._tick += 1
        parked = self._tick % 20 >= 16  # a short stop now and then: ACC off, speed 0
        self._speed = 0 if parked or not interval else 30 + (self._tick * 7) % 21
        if self._speed:
            self.heading = (self.heading + 15) % 360
            distance_km = self._speed * interval / 3600
            self.latitude += distance_km / 111.32 * math.cos(math.radians(self.heading))
            self.longitude += distance_km / (111.32 * math.cos(math.radians(self.latitude))) * math.sin(
                math.radians(self.heading))
            self.mileage_m += round(distance_km * 1000)

    def location_body(self) -> bytes:
        """The 0x0200 body of the terminal's state now (north/east, positioned, GPS)."""
        status = 0b10 | 1 << 18 | int(bool(self._speed)) | int(self.door_locked) << 12
        local = datetime.now(DEVICE_TZ)
        return frames.Location.build({
            "alarm": 0, "status": status, "latitude": round(self.latitude * 1e6),
            "longitude": round(self.longitude * 1e6), "altitude": 30, "speed": self._speed * 10,
            "course": self.heading, "time": bytes.fromhex(local.strftime("%y%m%d%H%M%S")),
            "additional": [{"id": 0x01, "value": (self.mileage_m // 100).to_bytes(4, "big")},
                           {"id": 0x30, "value": bytes([20])}, {"id": 0x31, "value": bytes([10])}],
        })

    def make_location(self, interval: float = 0.0) -> None:
        self.move(interval)
        self.pending.append((self._next_seq, self.location_body()))
        self._next_seq += 1
        self.stats.generated += 1
        if len(self.pending) > MAX_BUFFERED:
            self.pending.popleft()
            self.stats.dropped += 1
        self._has_data.set()

    def control(self, body: bytes) -> None:
        """Apply a 0x8500 body: 2013 flag bit 0 = lock; 2019 door type 0x0001, 0 = lock."""
        self.stats.commands += 1
        if self.protocol_version is None:
            self.door_locked = bool(frames.VehicleControl2013.parse(body).flags & 1)
            return
        for control in frames.VehicleControl2019.parse(body).controls:
            if control.type == frames.DOOR_CONTROL_TYPE:
                self.door_locked = control.value == 0

    def registration_body(self) -> bytes:
        declaration = frames.Registration2019 if self.version == 2019 else frames.Registration2013
        sizes = (11, 30, 30) if self.version == 2019 else (5, 20, 7)
        return declaration.build({
            "province": 44, "city": 300, "maker": b"FLEET".ljust(sizes[0], b"\x00"),
            "model": b"SIM-JT808".ljust(sizes[1], b"\x00"), "terminal_id": self.phone[-7:].encode().ljust(sizes[2], b"\x00"),
            "plate_color": 1, "plate": ("粤B" + self.phone[-5:]).encode("gbk"),
        })

    def authentication_body(self) -> bytes:
        code = (self.auth_code or "").encode("gbk")
        if self.protocol_version is None:
            return code
        imei = ("86" + self.phone[-13:]).encode()
        return bytes([len(code)]) + code + imei + b"SIM-1.0".ljust(20, b"\x00")

    # --- networking ------------------------------------------------------------------------

    async def run(self, host: str, port: int, interval: float, heartbeat_interval: float | None = None) -> None:
        """Record every ``interval`` s; when idle that long, send a heartbeat (default 3 intervals, 1 s at least)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._record_every, interval)
            await self._stay_connected(host, port, heartbeat_interval or max(interval * 3, 1.0))

    async def _record_every(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            self.make_location(interval)

    async def _stay_connected(self, host: str, port: int, heartbeat_every: float) -> None:
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
                link = _Link(self, stream, heartbeat_every)
                try:
                    if await link.run():
                        delay = self.retry_delay
                except* (_Disconnected, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass  # what was not acknowledged is still in pending
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)


class _Link:
    """One TCP connection: registration and authentication, then locations and commands."""

    def __init__(self, unit: SimulatedUnit, stream: trio.abc.Stream, heartbeat_every: float) -> None:
        self.unit, self.stream, self.heartbeat_every = unit, stream, heartbeat_every
        self.buffer = bytearray()
        self.send_lock = trio.Lock()
        self.acks: dict[int, trio.Event] = {}  # our serial -> set when its 0x8001 arrives
        self.results: dict[int, int] = {}
        self.registration_reply = trio.Event()
        self.registration: tuple[int, bytes | None] | None = None
        self.online = False
        self.closed: str | None = None  # why the platform side ended, once it has

    async def run(self) -> bool:
        """True once the terminal was online on this connection."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            if await self._authenticate():
                self.online = True
                await self._send_locations()
            nursery.cancel_scope.cancel()
        return self.online

    async def _write(self, data: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(data)

    async def _request(self, message_id: int, body: bytes) -> int | None:
        """Send and wait for the platform's 0x8001 result (None: no answer in time)."""
        if self.closed:
            raise _Disconnected(self.closed)
        serial, data = self.unit.frame(message_id, body)
        self.acks[serial] = event = trio.Event()
        await self._write(data)
        with trio.move_on_after(self.unit.response_timeout):
            await event.wait()
        self.acks.pop(serial, None)
        result = self.results.pop(serial, None)
        if result is None and self.closed:
            raise _Disconnected(self.closed)
        return result

    async def _authenticate(self) -> bool:
        unit = self.unit
        if unit.auth_code is None:
            await self._write(unit.frame(frames.REGISTRATION, unit.registration_body())[1])
            with trio.move_on_after(unit.response_timeout):
                await self.registration_reply.wait()
            if self.registration is None:
                raise _Disconnected(self.closed or "no answer to the registration")
            result, code = self.registration
            if result != 0 or not code:
                unit.stats.registrations_refused += 1
                return False
            unit.auth_code, unit.enrolled = code.decode("gbk"), True
            unit.stats.registrations += 1
        result = await self._request(frames.AUTHENTICATION, unit.authentication_body())
        if result is None:
            raise _Disconnected("no answer to the authentication")
        if result == 0:
            return True
        unit.stats.logins_rejected += 1
        if unit.enrolled:  # the platform no longer takes the code it gave: enrol again
            unit.auth_code, unit.enrolled = None, False
        return False

    async def _send_locations(self) -> None:
        unit = self.unit
        while len(unit.pending) > 1:  # what waited offline goes first, as batches
            await self._send(frames.BATCH, self._batch())
        while True:
            if not unit.pending:
                unit._has_data = trio.Event()
                with trio.move_on_after(self.heartbeat_every):
                    await unit._has_data.wait()
                if not unit.pending:
                    if await self._request(frames.HEARTBEAT, b"") is None:
                        raise _Disconnected("no answer to a heartbeat")
                    continue
            await self._send(frames.LOCATION, [unit.pending[0]])

    def _batch(self) -> list[tuple[int, bytes]]:
        batch, size = [], 3
        for item in self.unit.pending:
            if size + 2 + len(item[1]) > frames.MAX_BODY:
                break
            batch.append(item)
            size += 2 + len(item[1])
        return batch

    async def _send(self, message_id: int, items: list[tuple[int, bytes]]) -> None:
        unit = self.unit
        if message_id == frames.LOCATION:
            body = items[0][1]
        else:
            body = frames.Batch.build({"type": BATCH_TYPE_BLIND_AREA, "locations": [frames.Location.parse(b) for _, b in items]})
        unit.stats.sent += len(items)
        unit.stats.resent += sum(1 for seq, _ in items if seq <= unit._highest_sent)
        unit._highest_sent = max(unit._highest_sent, items[-1][0])
        result = await self._request(message_id, body)
        if result is None:
            raise _Disconnected("no answer to a location")
        if result == 0:
            # by sequence number: a full buffer may have dropped some of them meanwhile
            while unit.pending and unit.pending[0][0] <= items[-1][0]:
                unit.pending.popleft()
            unit.stats.acked += len(items)
        else:  # the platform refused them: the same locations go again, later
            await trio.sleep(unit.retry_delay)

    async def _read(self) -> None:
        try:
            await self._dispatch()
        except _Disconnected as exc:
            # Answers read before the end stay readable: wake whoever waits for one.
            self.closed = str(exc)
            for event in (*self.acks.values(), self.registration_reply):
                event.set()
            if self.online:
                raise

    async def _dispatch(self) -> None:
        while True:
            header, body = await self._next_message()
            message_id = header.message_id
            try:
                if message_id == frames.PLATFORM_RESPONSE:
                    answer = frames.GeneralResponse.parse(body)
                    if (event := self.acks.get(answer.reply_serial)) is not None:
                        self.results[answer.reply_serial] = answer.result
                        event.set()
                elif message_id == frames.REGISTRATION_REPLY:
                    reply = frames.RegistrationReply.parse(body)
                    self.registration = (reply.result, reply.auth_code)
                    self.registration_reply.set()
                elif self.online and message_id in (frames.VEHICLE_CONTROL, frames.POSITION_QUERY):
                    if message_id == frames.VEHICLE_CONTROL:
                        self.unit.control(body)
                    reply_id = frames.CONTROL_REPLY if message_id == frames.VEHICLE_CONTROL else frames.POSITION_REPLY
                    reply = header.serial.to_bytes(2, "big") + self.unit.location_body()
                    await self._write(self.unit.frame(reply_id, reply)[1])
                elif self.online:
                    unsupported = {"reply_serial": header.serial, "reply_id": message_id, "result": 3}
                    await self._write(self.unit.frame(frames.TERMINAL_RESPONSE, frames.GeneralResponse.build(unsupported))[1])
            except ConstructError as exc:
                raise _Disconnected(f"bad message {message_id:#06x} from the platform: {exc}") from None

    async def _next_message(self):
        while (end := self.buffer.find(b"\x7e", 1)) < 0:
            if self.buffer[:1] not in (b"", b"\x7e") or len(self.buffer) > 65_536:
                raise _Disconnected("garbage from the platform")
            data = await self.stream.receive_some(4096)
            if not data:
                raise _Disconnected("the platform closed the connection")
            self.buffer += data
        raw = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        try:
            message = frames.Message.parse(frames.unescape(raw[1:-1]))
        except (ConstructError, ValueError) as exc:
            raise _Disconnected(f"bad frame from the platform: {exc}") from None
        return message.content.value.header, message.content.value.body


async def run_fleet(
    host: str,
    port: int,
    units: int,
    interval: float,
    duration: float | None = None,
    *,
    auth_code_for: Callable[[int], str | None] = lambda index: None,
    version: int = 2013,
    first_phone: str = FIRST_PHONE,
    retry_delay: float = 1.0,
    response_timeout: float = 30.0,
    heartbeat_interval: float | None = None,
    task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED,
) -> FleetReport:
    """Run ``units`` terminals until ``duration`` elapses (or forever); unit i holds
    ``auth_code_for(i)`` (None: it registers). The live report goes to ``task_status.started()``."""
    report = FleetReport([
        SimulatedUnit(phone_for(i, version, first_phone), auth_code_for(i), version, index=i,
                      retry_delay=retry_delay, response_timeout=response_timeout)
        for i in range(units)
    ])
    with trio.move_on_after(math.inf if duration is None else duration):
        async with trio.open_nursery() as nursery:
            for unit in report.units:
                nursery.start_soon(unit.run, host, port, interval, heartbeat_interval)
            task_status.started(report)
    return report


def auth_codes(template: str | None, version: int = 2013, first_phone: str = FIRST_PHONE) -> Callable[[int], str | None]:
    """``--auth-code``: the same code for every unit, or one per unit through ``{index}``/``{phone}``."""
    if template is None:
        return lambda index: None
    return lambda index: template.format(index=index, phone=phone_for(index, version, first_phone))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", type=int, default=1, help="number of simulated terminals (default 1)")
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5015, help="gateway JT808 port (default 5015)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between locations (default 10)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: run until interrupted)")
    parser.add_argument("--auth-code", default=None,
                        help="authentication code the terminals hold, e.g. 'pw-{phone}' or 'code-{index}' for one per "
                             "terminal; without it each terminal registers (0x0100) to get one")
    parser.add_argument("--version", type=int, choices=[2013, 2019], default=2013,
                        help="JT/T 808 edition of the terminals' headers (default 2013)")
    parser.add_argument("--first-phone", default=FIRST_PHONE,
                        help=f"phone number of terminal 0; the others count up (default {FIRST_PHONE})")


async def main_async(args: argparse.Namespace) -> FleetReport:
    return await run_fleet(
        args.host, args.port, args.units, args.interval, args.duration,
        auth_code_for=auth_codes(args.auth_code, args.version, args.first_phone),
        version=args.version, first_phone=args.first_phone,
    )
