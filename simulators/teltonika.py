"""A fleet of simulated Teltonika FMB units (two digital outputs) for bench tests.

Each unit behaves as protocol_specs/teltonika/spec.md describes a real one: it logs in with
its IMEI and waits for 0x01 (0x00 or a hang-up: retry later with a growing delay), records a
sample every ``interval`` seconds whether or not it is connected, sends what it holds in
Codec 8 (or 8E) packets and forgets records only once the server's 4-byte count covers
them. Without a matching count it sends the same records again; without any answer within
the response timeout it drops the link and reconnects. Codec 12 commands: ``setdigout``
switches its outputs (the next records carry IO 179/180), ``getrecord`` makes a high
priority record at once, ``getio`` reports inputs and outputs; anything else gets no answer.

With ``--profile field`` the units also send what FMB units in the field do (issue 13):
records carry signed IO values (accelerometer axes 17-19, a Dallas temperature 72 below
zero), every second unit speaks Codec 8 Extended with an NX value (256, the VIN), and after
every sixth acknowledged packet a unit sends a Codec 13 message (RS232 data with a
timestamp, one way: it expects no answer).

    fleetgate simulate teltonika --units 100 --host 127.0.0.1 --port 5027 --interval 5
"""

from __future__ import annotations

import argparse
import math
import time
from collections import deque
from collections.abc import Callable

import trio

from drivers.teltonika import frames
from simulators import fleet
from simulators.fleet import Disconnected

WIKI_IMEI = "356307042441013"  # the wiki's example IMEI; Luhn-valid, so imei_for(0) is itself
MAX_PACKET = 1280  # FMB units never send a larger AVL packet (wiki, Codec 8 note)
OUTPUTS = 2  # DOUT1 (IO 179) and DOUT2 (IO 180)
DOUT_IO = (179, 180)
CODEC_13 = 0x0D
VIN = b"WVWZZZ1JZXW000001"


def _word(value: int, width: int) -> int:
    """A signed value as the unsigned ``width``-byte word that carries it."""
    return value & ((1 << 8 * width) - 1)


def codec13_frame(text: bytes, seconds: int) -> bytes:
    """A Codec 13 packet: one message, type 0x06, its size, a 4-byte timestamp and the text."""
    body = bytes([CODEC_13, 1, frames.RESPONSE_TYPE]) + (4 + len(text)).to_bytes(4, "big")
    return frames.frame(body + seconds.to_bytes(4, "big") + text + b"\x01")


def imei_for(index: int, first_imei: str = WIKI_IMEI) -> str:
    return fleet.imei_for(index, first_imei)


class FleetReport(fleet.FleetReport):
    counted = (*fleet.COUNTED, "logins_rejected")

    @property
    def outputs(self) -> dict[str, tuple[int, ...]]:
        return {unit.imei: tuple(unit.outputs) for unit in self.units}


class SimulatedUnit:
    def __init__(
        self,
        imei: str,
        *,
        index: int = 0,
        codec_id: int = frames.CODEC_8,
        retry_delay: float = 1.0,
        max_retry_delay: float = 60.0,
        response_timeout: float = 30.0,  # FMB parameter 1001, default 30 s
        profile: str = fleet.STANDARD,
    ) -> None:
        self.imei = imei
        self.field = profile == fleet.FIELD
        self.index = index
        if self.field and index % 2:
            codec_id = frames.CODEC_8E
        self.codec_id = codec_id
        self.record_struct = frames.RECORDS[codec_id]
        self.retry_delay, self.max_retry_delay, self.response_timeout = retry_delay, max_retry_delay, response_timeout
        self.outputs = [0] * OUTPUTS
        self.stats = fleet.UnitStats()
        self.pending: deque[tuple[int, bytes]] = deque()  # (sequence number, encoded record)
        self.packets_acked = 0
        self.others_sent = 0  # field profile: messages of other codecs (13) sent
        self._next_seq = 0
        self._highest_sent = -1
        self.has_data = trio.Event()
        self.trip = fleet.Trip(index, origin=(54.6872, 25.2797))  # around Vilnius

    # --- the unit's own state ----------------------------------------------------------

    def make_record(self, interval: float = 0.0, priority: int = 0) -> None:
        trip = self.trip
        parked = trip.step(interval)  # parked: ignition off, lower voltage
        io = {
            "n1": [{"id": 239, "value": 0 if parked else 1}, {"id": 21, "value": 4}]
            + [{"id": io_id, "value": level} for io_id, level in zip(DOUT_IO, self.outputs)],
            "n2": [{"id": 66, "value": 12_600 if parked else 13_900}],
            "n4": [{"id": 16, "value": trip.odometer_m}],
            "n8": [],
        }
        if self.field:  # the accelerometer, and a Dallas sensor in a cold box (0.1 °C)
            axes = (-3 * trip.speed, trip.heading % 41 - 20, -1000)  # mG: braking, sideways, gravity
            io["n2"] += [{"id": io_id, "value": _word(mg, 2)} for io_id, mg in zip((17, 18, 19), axes)]
            io["n4"].append({"id": 72, "value": _word(-180 + self.index % 10, 4)})
        if self.codec_id == frames.CODEC_8E:
            io["nx"] = [{"id": 256, "value": VIN}] if self.field else []
        record = {
            "timestamp": int(time.time() * 1000),
            "priority": priority,
            "gps": {
                "longitude": round(trip.longitude * 1e7),
                "latitude": round(trip.latitude * 1e7),
                "altitude": 112,
                "angle": trip.heading,
                "satellites": 9,
                "speed": trip.speed,
            },
            "io": {"event_io": 0, "total": sum(len(group) for group in io.values()), **io},
        }
        fleet.keep(self, (self._next_seq, self.record_struct.build(record)))
        self._next_seq += 1
        self.stats.generated += 1

    def answer(self, command: str) -> str | None:
        """The unit's reply to a GPRS command (None: it does not answer)."""
        self.stats.commands += 1
        words = command.strip().split()
        if not words:
            return None
        if words[0] == "setdigout" and len(words) >= 2:
            levels = words[1]
            if len(levels) > OUTPUTS or any(c not in "01?" for c in levels):
                return "DOUT params are invalid"
            parts = []
            for n in range(OUTPUTS):
                wanted = levels[n] if n < len(levels) else "?"
                if wanted == "?":
                    parts.append(f"DOUT{n + 1}:IGNORED")
                else:
                    self.outputs[n] = int(wanted)
                    parts.append(f"DOUT{n + 1}:{wanted} Timeout:INFINITY")
            return " ".join(parts)
        if words == ["getrecord"]:
            self.make_record(priority=1)
            return "Record triggered with high priority"
        if words == ["getio"]:
            return "DI1:0 DI2:0 DI3:0 AIN1:0 AIN2:0 " + " ".join(f"DO{n + 1}:{v}" for n, v in enumerate(self.outputs))
        return None

    # --- networking ----------------------------------------------------------------------

    async def run(self, host: str, port: int, interval: float) -> None:
        await fleet.run_unit(self, host, port, interval, self.make_record, self._session)

    async def _session(self, stream: trio.abc.Stream, welcomed: Callable[[], None]) -> None:
        reply = await self._login(stream)
        if reply == frames.LOGIN_ACCEPT:
            welcomed()
            await _Link(self, stream).run()
        elif reply == frames.LOGIN_REJECT:
            self.stats.logins_rejected += 1

    async def _login(self, stream: trio.abc.Stream) -> bytes:
        """The server's one-byte answer to the IMEI; b"" for a hang-up or silence."""
        await stream.send_all(frames.ImeiPacket.build({"imei": self.imei.encode()}))
        with trio.move_on_after(self.response_timeout):
            return await stream.receive_some(1)
        return b""


class _Link:
    """One TCP session of a logged-in unit: a sender of AVL packets and a reader of the
    server's counts and commands."""

    def __init__(self, unit: SimulatedUnit, stream: trio.abc.Stream) -> None:
        self.unit, self.stream = unit, stream
        self.buffer = bytearray()
        self.awaiting_ack = False
        self.acks_send, self.acks = trio.open_memory_channel[int](1)
        self.send_lock = trio.Lock()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read)
            await self._send()

    async def _write(self, data: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(data)

    async def _send(self) -> None:
        unit = self.unit
        while True:
            await fleet.wait_for_data(unit)
            batch = self._next_batch()
            body = bytes([unit.codec_id, len(batch)]) + b"".join(rec for _, rec in batch) + bytes([len(batch)])
            unit.stats.sent += len(batch)
            unit.stats.resent += sum(1 for seq, _ in batch if seq <= unit._highest_sent)
            unit._highest_sent = max(unit._highest_sent, batch[-1][0])
            self.awaiting_ack = True
            await self._write(frames.frame(body))
            count = None
            with trio.move_on_after(unit.response_timeout):
                count = await self.acks.receive()
            self.awaiting_ack = False
            if count is None:
                raise Disconnected("no answer to an AVL packet")
            if count >= len(batch):
                for _ in batch:
                    unit.pending.popleft()
                unit.stats.acked += len(batch)
                unit.packets_acked += 1
                if unit.field and unit.packets_acked % 6 == 0:
                    await self._write(codec13_frame(b"#RS232 12.3V OK\r\n", int(time.time())))
                    unit.others_sent += 1
            else:  # a short count: the same records go again, after a pause
                await trio.sleep(unit.retry_delay)

    def _next_batch(self) -> list[tuple[int, bytes]]:
        batch, size = [], frames.HEADER_SIZE + 3 + frames.TRAILER_SIZE
        for item in self.unit.pending:
            if batch and (size + len(item[1]) > MAX_PACKET or len(batch) == 255):
                break
            batch.append(item)
            size += len(item[1])
        return batch

    async def _fill(self, size: int, timeout: float | None = None) -> bool:
        with trio.move_on_after(math.inf if timeout is None else timeout):
            while len(self.buffer) < size:
                data = await self.stream.receive_some(4096)
                if not data:
                    raise Disconnected("server closed the connection")
                self.buffer += data
            return True
        return False

    async def _read(self) -> None:
        while True:
            await self._fill(4)
            if self.awaiting_ack and not await self._command_ahead():
                count = int.from_bytes(self.buffer[:4], "big")
                del self.buffer[:4]
                await self.acks_send.send(count)
                continue
            await self._command()

    async def _command_ahead(self) -> bool:
        """While a count is due, four zero bytes are either a count of 0 or the preamble of
        a Codec 12 command; a command shows its codec id at byte 8."""
        if self.buffer[:4] != frames.PREAMBLE:
            return False
        if not await self._fill(9, timeout=0.3):
            return False
        return self.buffer[8] == frames.CODEC_12

    async def _command(self) -> None:
        await self._fill(frames.HEADER_SIZE)
        if self.buffer[:4] != frames.PREAMBLE:
            raise Disconnected(f"unexpected bytes from the server: {bytes(self.buffer[:8]).hex()}")
        total = frames.HEADER_SIZE + int.from_bytes(self.buffer[4:8], "big") + frames.TRAILER_SIZE
        if total > 65_536:
            raise Disconnected("oversized frame from the server")
        await self._fill(total)
        frame = bytes(self.buffer[:total])
        del self.buffer[:total]
        try:
            parsed = frames.Codec12Packet.parse(frame).body.value
        except Exception as exc:  # construct's errors: a garbled frame ends the session
            raise Disconnected(f"bad command frame: {exc}") from None
        if parsed.type != frames.COMMAND_TYPE:
            return
        reply = self.unit.answer(parsed.text.decode("ascii", errors="replace"))
        if reply is not None:
            body = frames.Codec12Body.build({"type": frames.RESPONSE_TYPE, "text": reply.encode("ascii")})
            await self._write(frames.frame(body))


async def run_fleet(
    host: str, port: int, units: int, interval: float, duration: float | None = None, first_imei: str = WIKI_IMEI,
    *,
    codec_id: int = frames.CODEC_8,
    retry_delay: float = 1.0,
    response_timeout: float = 30.0,
    profile: str = fleet.STANDARD,
    task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED,
) -> FleetReport:
    """Run ``units`` simulated units until ``duration`` elapses (or forever). The live
    report is handed to ``task_status.started()`` and returned at the end."""
    report = FleetReport(
        [
            SimulatedUnit(imei_for(i, first_imei), index=i, codec_id=codec_id, retry_delay=retry_delay,
                          response_timeout=response_timeout, profile=profile)
            for i in range(units)
        ]
    )
    return await fleet.run_units(report, duration, task_status, host, port, interval)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    fleet.add_common_arguments(parser, protocol="Teltonika", port=5027, samples="records")
    parser.add_argument(
        "--first-imei", default=WIKI_IMEI, help=f"IMEI of unit 0; the others count up (default {WIKI_IMEI})"
    )
    parser.add_argument("--codec", choices=["8", "8E"], default="8", help="AVL codec the units send (default 8)")


async def main_async(
    args: argparse.Namespace, task_status: trio.TaskStatus[FleetReport] = trio.TASK_STATUS_IGNORED
) -> FleetReport:
    return await run_fleet(
        args.host,
        args.port,
        args.units,
        args.interval,
        args.duration,
        args.first_imei,
        codec_id=frames.CODEC_8E if args.codec == "8E" else frames.CODEC_8,
        profile=args.profile,
        task_status=task_status,
    )
