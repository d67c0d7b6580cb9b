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

With ``--profile field`` the fleet also speaks as terminals in the field do (issue 13): every
fourth terminal's number is not BCD (hex letters in it), every fourth 2013 terminal sets
the 2019 version flag on its 2013 header, locations carry vendor additional items and every
fifth ends with an item that runs past its body, and every sixth location is followed by a
0x0900 transparent-data message, which the platform keeps raw and answers "not supported".

    fleetgate simulate jt808 --units 10 --port 5015 --interval 5 --auth-code 'pw-{phone}'
"""

from __future__ import annotations

import argparse
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial

import trio
from construct import ConstructError

from drivers.jt808 import frames
from simulators import fleet
from simulators.fleet import Disconnected

FIRST_PHONE = "013912345678"
DEVICE_TZ = timezone(timedelta(hours=8))  # the standard's GMT+8
BATCH_TYPE_BLIND_AREA = 1


NOT_BCD = "4E"  # what the field profile's odd terminals send in place of their first two digits
VENDOR_ITEMS = [{"id": 0xE1, "value": bytes.fromhex("0072")},  # shapes seen in real captures (corpus)
                {"id": 0xEB, "value": bytes.fromhex("000600890000FFEF0004002D0FA5")}]
RUNS_PAST = bytes.fromhex("E3040064")  # an item announcing 4 bytes with 2 left in the body
COUNTER_ITEM = 0xFA  # field profile: the location's sequence number, as some vendors count their records
TRANSPARENT = 0x0900


def phone_for(index: int, version: int = 2013, first_phone: str = FIRST_PHONE, profile: str = fleet.STANDARD) -> str:
    """The index-th terminal phone number: 12 BCD digits (2013) or 20 (2019), counted up; in
    the field profile every fourth one is not BCD."""
    number = int(first_phone) + index
    digits = 20 if version == 2019 else 12
    text = f"{number:0{digits}d}"
    if index < 0 or len(text) != digits:
        raise ValueError(f"no {digits}-digit phone number at index {index} from {first_phone}")
    if profile == fleet.FIELD and index % 4 == 3:
        text = NOT_BCD + text[2:]
    return text


class FleetReport(fleet.FleetReport):
    counted = (*fleet.COUNTED, "registrations", "logins_rejected")

    @property
    def doors(self) -> dict[str, str]:
        return {unit.phone: "LOCKED" if unit.door_locked else "UNLOCKED" for unit in self.units}


class SimulatedUnit:
    def __init__(self, phone: str, auth_code: str | None = None, version: int = 2013, *, index: int = 0,
                 retry_delay: float = 1.0, max_retry_delay: float = 60.0, response_timeout: float = 30.0,
                 profile: str = fleet.STANDARD) -> None:
        digits = 20 if version == 2019 else 12
        if version not in (2013, 2019) or len(phone) != digits or not set(phone) <= frames.HEX_DIGITS:
            raise ValueError(f"a {version} terminal phone number has {digits} (hex) digits")
        self.phone, self.auth_code, self.version = phone, auth_code, version
        self.protocol_version = 1 if version == 2019 else None  # the 2019 header's version byte
        self.field = profile == fleet.FIELD
        # A 2013 header with the 2019 version flag set, as some terminals send them.
        self.version_flag = True if self.field and version == 2013 and index % 4 == 1 else None
        self.others_sent = 0  # field profile: messages of other ids (0x0900) the platform answered
        self.enrolled = False  # True when auth_code came from a registration
        self.retry_delay, self.max_retry_delay, self.response_timeout = retry_delay, max_retry_delay, response_timeout
        self.door_locked = False
        self.stats = fleet.UnitStats()
        self.pending: deque[tuple[int, bytes]] = deque()  # (sequence number, 0x0200 body)
        self._next_seq = 0
        self._highest_sent = -1
        self._serial = 0
        self.has_data = trio.Event()
        self.trip = fleet.Trip(index, origin=(22.5431, 114.0579))  # around Shenzhen

    # --- the terminal's own state ----------------------------------------------------------

    def next_serial(self) -> int:
        serial, self._serial = self._serial, (self._serial + 1) & 0xFFFF
        return serial

    def frame(self, message_id: int, body: bytes) -> tuple[int, bytes]:
        serial = self.next_serial()
        return serial, frames.frame(message_id, self.phone, serial, body, self.protocol_version,
                                    version_flag=self.version_flag)

    def location_body(self, runs_past: bool = False) -> bytes:
        """The 0x0200 body of the terminal's state now (north/east, positioned, GPS); with
        ``runs_past`` its last additional item announces more bytes than the body holds."""
        trip = self.trip
        status = 0b10 | 1 << 18 | int(bool(trip.speed)) | int(self.door_locked) << 12  # ACC on while moving
        local = datetime.now(DEVICE_TZ)
        items = [{"id": 0x01, "value": (trip.odometer_m // 100).to_bytes(4, "big")},
                 {"id": 0x30, "value": bytes([20])}, {"id": 0x31, "value": bytes([10])}]
        return frames.Location.build({
            "alarm": 0, "status": status, "latitude": round(trip.latitude * 1e6),
            "longitude": round(trip.longitude * 1e6), "altitude": 30, "speed": trip.speed * 10,
            "course": trip.heading, "time": bytes.fromhex(local.strftime("%y%m%d%H%M%S")),
            "additional": items + (self._vendor_items() if self.field else []),
            "truncated": RUNS_PAST if runs_past else b"",
        })

    def _vendor_items(self) -> list[dict]:
        return [*VENDOR_ITEMS, {"id": COUNTER_ITEM, "value": self._next_seq.to_bytes(4, "big")}]

    def make_location(self, interval: float = 0.0) -> None:
        self.trip.step(interval)
        fleet.keep(self, (self._next_seq, self.location_body(runs_past=self.field and self._next_seq % 5 == 4)))
        self._next_seq += 1
        self.stats.generated += 1

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
        session = partial(self._session, heartbeat_every=heartbeat_interval or max(interval * 3, 1.0))
        await fleet.run_unit(self, host, port, interval, self.make_location, session)

    async def _session(self, stream: trio.abc.Stream, welcomed: Callable[[], None], heartbeat_every: float) -> None:
        if await _Link(self, stream, heartbeat_every).run():
            welcomed()  # only when the link ended without an error: a lost one keeps the delay growing


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
            raise Disconnected(self.closed)
        serial, data = self.unit.frame(message_id, body)
        self.acks[serial] = event = trio.Event()
        await self._write(data)
        with trio.move_on_after(self.unit.response_timeout):
            await event.wait()
        self.acks.pop(serial, None)
        result = self.results.pop(serial, None)
        if result is None and self.closed:
            raise Disconnected(self.closed)
        return result

    async def _authenticate(self) -> bool:
        unit = self.unit
        if unit.auth_code is None:
            await self._write(unit.frame(frames.REGISTRATION, unit.registration_body())[1])
            with trio.move_on_after(unit.response_timeout):
                await self.registration_reply.wait()
            if self.registration is None:
                raise Disconnected(self.closed or "no answer to the registration")
            result, code = self.registration
            if result != 0 or not code:
                unit.stats.registrations_refused += 1
                return False
            unit.auth_code, unit.enrolled = code.decode("gbk"), True
            unit.stats.registrations += 1
        result = await self._request(frames.AUTHENTICATION, unit.authentication_body())
        if result is None:
            raise Disconnected("no answer to the authentication")
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
                with trio.move_on_after(self.heartbeat_every):
                    await fleet.wait_for_data(unit)
                if not unit.pending:
                    if await self._request(frames.HEARTBEAT, b"") is None:
                        raise Disconnected("no answer to a heartbeat")
                    continue
            location = unit.pending[0]
            await self._send(frames.LOCATION, [location])
            if unit.field and location[0] % 6 == 5:
                await self._transparent()

    async def _transparent(self) -> None:
        """A vendor's pass-through message (type 0x41, text), as units in the field send them."""
        if await self._request(TRANSPARENT, b"\x41OBD-RT,12.3,0,0") is None:
            raise Disconnected("no answer to a transparent message")
        self.unit.others_sent += 1

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
            raise Disconnected("no answer to a location")
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
        except Disconnected as exc:
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
                raise Disconnected(f"bad message {message_id:#06x} from the platform: {exc}") from None

    async def _next_message(self):
        while (end := self.buffer.find(b"\x7e", 1)) < 0:
            if self.buffer[:1] not in (b"", b"\x7e") or len(self.buffer) > 65_536:
                raise Disconnected("garbage from the platform")
            data = await self.stream.receive_some(4096)
            if not data:
                raise Disconnected("the platform closed the connection")
            self.buffer += data
        raw = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        try:
            message = frames.Message.parse(frames.unescape(raw[1:-1]))
        except (ConstructError, ValueError) as exc:
            raise Disconnected(f"bad frame from the platform: {exc}") from None
        return message.content.value.header, message.content.value.body


async def run_fleet(
    host: str, port: int, units: int, interval: float, duration: float | None = None,
    *,
    auth_code_for: Callable[[int], str | None] = lambda index: None,
    version: int = 2013,
    first_phone: str = FIRST_PHONE,
    retry_delay: float = 1.0,
    response_timeout: float = 30.0,
    heartbeat_interval: float | None = None,
    profile: str = fleet.STANDARD,
    task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED,
) -> FleetReport:
    """Run ``units`` terminals until ``duration`` elapses (or forever); unit i holds
    ``auth_code_for(i)`` (None: it registers). The live report goes to ``task_status.started()``."""
    report = FleetReport([
        SimulatedUnit(phone_for(i, version, first_phone, profile), auth_code_for(i), version, index=i,
                      retry_delay=retry_delay, response_timeout=response_timeout, profile=profile)
        for i in range(units)
    ])
    return await fleet.run_units(report, duration, task_status, host, port, interval, heartbeat_interval)


def auth_codes(template: str | None, version: int = 2013, first_phone: str = FIRST_PHONE,
               profile: str = fleet.STANDARD) -> Callable[[int], str | None]:
    """``--auth-code``: the same code for every unit, or one per unit through ``{index}``/``{phone}``."""
    if template is None:
        return lambda index: None
    return lambda index: template.format(index=index, phone=phone_for(index, version, first_phone, profile))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    fleet.add_common_arguments(parser, protocol="JT808", port=5015, units="terminals")
    parser.add_argument("--auth-code", default=None,
                        help="authentication code the terminals hold, e.g. 'pw-{phone}' or 'code-{index}' for one per "
                             "terminal; without it each terminal registers (0x0100) to get one")
    parser.add_argument("--version", type=int, choices=[2013, 2019], default=2013,
                        help="JT/T 808 edition of the terminals' headers (default 2013)")
    parser.add_argument("--first-phone", default=FIRST_PHONE,
                        help=f"phone number of terminal 0; the others count up (default {FIRST_PHONE})")


async def main_async(
    args: argparse.Namespace, task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED
) -> FleetReport:
    return await run_fleet(
        args.host, args.port, args.units, args.interval, args.duration,
        auth_code_for=auth_codes(args.auth_code, args.version, args.first_phone, args.profile),
        version=args.version, first_phone=args.first_phone, profile=args.profile, task_status=task_status,
    )
