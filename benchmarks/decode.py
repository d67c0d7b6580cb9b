"""Decode plus ACK for every protocol and message type, against Teltonika in the same run.

Each row feeds a logged-in codec frames of one message type and does with them what a
session does: ``receive_data``, ``next_event`` until NEED_DATA, and
``send(Acknowledge(event))`` for each event a session acknowledges. "One by one" hands the
codec one frame per ``receive_data``, as a unit that waits for each ACK; "whole" hands it
100 frames at once. Rates are frames per second of the thread's CPU time, so that other
processes on the machine do not count, and medians over rounds that take the rows in turn,
so that a slow moment of the machine falls on every row alike; "vs Teltonika" divides a
row's rate by that of Teltonika Codec 8 with one record, the reference, fed the same way in
the same run.

    .venv/bin/python benchmarks/decode.py [--seconds 1] [--rounds 10] [--protocol gt06 ...]

Frames: Teltonika packets of one typical FMB920 record (benchmarks/teltonika_decode.py);
for GT06, every vector of protocol_specs/gt06 a unit sends as one frame of that message
type (vendor examples and frames of real units); for JT/T 808, frames of one terminal built
here (the vectors come from many terminals, and a session takes only its own): locations
with eight additional items, six of the standard's and two vendors', as in field captures.
A protocol is added by a function that returns its rows, entered in ``PROTOCOLS``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.teltonika_decode import WIKI_IMEI, typical_record  # noqa: E402
from drivers.base import (  # noqa: E402
    NEED_DATA, Acknowledge, Codec, CommandResponse, Heartbeat, LoginAccepted, RecordBatch, Undecoded,
)
from drivers.gt06 import Gt06Codec  # noqa: E402
from drivers.gt06 import frames as gt06_frames  # noqa: E402
from drivers.jt808 import Jt808Codec  # noqa: E402
from drivers.jt808 import frames as jt808_frames  # noqa: E402
from drivers.teltonika import TeltonikaCodec  # noqa: E402
from drivers.teltonika import frames as teltonika_frames  # noqa: E402

BATCH = 100  # frames per timed run, and per receive_data when fed whole
ACKNOWLEDGED = (RecordBatch, Undecoded, Heartbeat)


@dataclass(frozen=True)
class Row:
    protocol: str
    message: str
    new_codec: Callable[[], Codec]  # a logged-in codec
    frames: tuple[bytes, ...]  # fed in turn, over and over


def logged_in(factory: Callable[[], Codec], login: bytes) -> Callable[[], Codec]:
    def new_codec() -> Codec:
        codec = factory()
        codec.receive_data(login)
        codec.send(LoginAccepted(codec.next_event()))
        return codec

    return new_codec


def drain(codec: Codec) -> int:
    """Decode and acknowledge what is buffered, as a session does; the number of events."""
    events = 0
    while (event := codec.next_event()) is not NEED_DATA:
        if isinstance(event, ACKNOWLEDGED):
            codec.send(Acknowledge(event))
        events += 1
    return events


# --- the rows of each protocol --------------------------------------------------------------

TELTONIKA_REFERENCE = "Codec 8, 1 record"


def teltonika_rows() -> list[Row]:
    """Codec 8 with one record, the reference, first."""
    new_codec = logged_in(TeltonikaCodec, WIKI_IMEI)
    rows = []
    for codec_id, name in ((teltonika_frames.CODEC_8, "Codec 8"), (teltonika_frames.CODEC_8E, "Codec 8E")):
        packets = tuple(
            teltonika_frames.frame(teltonika_frames.BODIES[codec_id].build({"records": [typical_record(i, codec_id)]}))
            for i in range(10)
        )
        rows.append(Row("teltonika", f"{name}, 1 record", new_codec, packets))
    assert rows[0].message == TELTONIKA_REFERENCE
    return rows


GT06_SPECS = ROOT / "protocol_specs" / "gt06"
# every protocol number with a layout, by the name frames.py gives it
GT06_NAMES = {value: name for name, value in vars(gt06_frames).items() if isinstance(value, int)
              and value in gt06_frames.LAYOUTS and name.isupper() and not name.startswith(("INFO_", "ENCODING_"))}


def gt06_rows() -> list[Row]:
    vectors = [vector for path in sorted(GT06_SPECS.glob("*.json"))
               for vector in json.loads(path.read_text())["vectors"]]
    login = next(bytes.fromhex(vector["hex"]) for vector in vectors if vector["name"] == "gt06-login")
    new_codec = logged_in(Gt06Codec, login)
    by_protocol: dict[int, list[bytes]] = {}
    for vector in vectors:
        if vector["direction"] != "from_unit" or vector.get("state") != "online" or "error" in vector:
            continue
        frame = bytes.fromhex(vector["hex"])
        codec = new_codec()
        codec.receive_data(frame)
        event = codec.next_event()
        # one frame of a message type that carries records or an answer, all of it decoded
        if isinstance(event, RecordBatch | CommandResponse) and event.raw == frame:
            protocol = frame[3] if frame[:2] == gt06_frames.SHORT_START else frame[4]
            by_protocol.setdefault(protocol, []).append(frame)
    return [Row("gt06", f"{protocol:#04x} {GT06_NAMES[protocol]}", new_codec, tuple(frames))
            for protocol, frames in sorted(by_protocol.items())]


JT808_PHONE, JT808_PHONE_2019 = "013912345678", "00000000000223456789"


def typical_location(i: int, items: bool = True) -> bytes:
    """A 0x0200 body: a fix on the move and, with ``items``, eight additional items."""
    additional = [(0x01, (123_456 + i).to_bytes(4, "big")), (0x02, (450).to_bytes(2, "big")),  # mileage, fuel
                  (0x25, bytes(4)), (0x2B, bytes.fromhex("01F40BB8")),  # vehicle signals, analog inputs
                  (0x30, bytes([20])), (0x31, bytes([10])),  # signal strength, satellites
                  (0xE1, bytes.fromhex("0072")), (0xEB, bytes.fromhex("000600890000FFEF0004002D0FA5"))]  # vendors'
    return jt808_frames.Location.build({
        "alarm": 0, "status": 0b11 | 1 << 18, "latitude": 22_543_096 + i, "longitude": 114_057_865 - i,
        "altitude": 30, "speed": 423, "course": 90, "time": bytes.fromhex(f"2409151230{i % 60:02d}"),
        "additional": [{"id": item, "value": value} for item, value in additional] if items else [],
    })


def jt808_rows() -> list[Row]:
    def login(phone: str, version: int | None) -> bytes:
        code = b"bench-code"
        body = code if version is None else bytes([len(code)]) + code + b"123456789012345" + bytes(20)
        return jt808_frames.frame(jt808_frames.AUTHENTICATION, phone, 0, body, version)

    def row(message: str, message_id: int, body: Callable[[int], bytes], version: int | None = None) -> Row:
        phone = JT808_PHONE if version is None else JT808_PHONE_2019
        frames = tuple(jt808_frames.frame(message_id, phone, i, body(i), version) for i in range(10))
        return Row("jt808", message, logged_in(Jt808Codec, login(phone, version)), frames)

    def batch(count: int) -> Callable[[int], bytes]:
        return lambda i: jt808_frames.Batch.build(
            {"type": 1, "locations": [jt808_frames.Location.parse(typical_location(i + k)) for k in range(count)]})

    def reply(i: int) -> bytes:
        return i.to_bytes(2, "big") + typical_location(i)

    return [
        row("0x0200 location, 8 items", jt808_frames.LOCATION, typical_location),
        row("0x0200 location, 8 items, 2019 header", jt808_frames.LOCATION, typical_location, version=1),
        row("0x0200 location, no items", jt808_frames.LOCATION, lambda i: typical_location(i, items=False)),
        row("0x0704 batch, 1 location", jt808_frames.BATCH, batch(1)),
        row("0x0704 batch, 5 locations", jt808_frames.BATCH, batch(5)),
        row("0x0201 position reply", jt808_frames.POSITION_REPLY, reply),
        row("0x0500 control reply", jt808_frames.CONTROL_REPLY, reply),
        row("0x0001 general response", jt808_frames.TERMINAL_RESPONSE, lambda i: bytes([0, i]) + b"\x85\x00\x00"),
        row("0x0002 heartbeat", jt808_frames.HEARTBEAT, lambda i: b""),
    ]


PROTOCOLS: dict[str, Callable[[], list[Row]]] = {"teltonika": teltonika_rows, "gt06": gt06_rows, "jt808": jt808_rows}


# --- measuring --------------------------------------------------------------------------------


def one_by_one(codec: Codec, frames: list[bytes]) -> None:
    for frame in frames:
        codec.receive_data(frame)
        drain(codec)


def whole(codec: Codec, stream: bytes) -> None:
    codec.receive_data(stream)
    drain(codec)


# how to feed a batch of frames, and the form the feeding takes them in
FEEDINGS = {"one by one": (one_by_one, list), "whole": (whole, b"".join)}


def frames_per_second(row: Row, codec: Codec, feeding: str, seconds: float) -> float:
    feed, prepare = FEEDINGS[feeding]
    batch = prepare(islice(cycle(row.frames), BATCH))
    runs, start = 0, time.thread_time()
    while (elapsed := time.thread_time() - start) < seconds:
        feed(codec, batch)
        runs += 1
    return runs * BATCH / elapsed


def measure(rows: list[Row], seconds: float, rounds: int) -> dict[tuple[int, str], float]:
    """The median rate of each row and feeding over ``rounds`` rounds that take them in turn."""
    codecs = [row.new_codec() for row in rows]
    for row, codec in zip(rows, codecs):  # each frame must decode to one event before it counts
        for frame in row.frames:
            codec.receive_data(frame)
            if drain(codec) != 1:
                raise SystemExit(f"{row.protocol} {row.message}: a frame that is not one event")
    rates: dict[tuple[int, str], list[float]] = {}
    for _ in range(rounds):
        for index, (row, codec) in enumerate(zip(rows, codecs)):
            for feeding in FEEDINGS:
                rates.setdefault((index, feeding), []).append(frames_per_second(row, codec, feeding, seconds / rounds))
    return {key: statistics.median(values) for key, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU time per row and feeding (default 1)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds the time is split into (default 10)")
    parser.add_argument("--protocol", action="append", choices=sorted(PROTOCOLS),
                        help="protocols to measure (default all); Teltonika's reference row is always measured")
    args = parser.parse_args()

    chosen = args.protocol or list(PROTOCOLS)
    teltonika = teltonika_rows()
    rows = teltonika if "teltonika" in chosen else teltonika[:1]  # the first is the reference
    rows += [row for name in chosen if name != "teltonika" for row in PROTOCOLS[name]()]
    rates = measure(rows, args.seconds, args.rounds)

    print(f"decode + ACK, median of {args.rounds} rounds, {args.seconds:g} s of CPU per row and feeding; "
          f"vs Teltonika = rate / rate of Teltonika {TELTONIKA_REFERENCE}")
    header = "| protocol | message type | frames |"
    for name in FEEDINGS:
        header += f" {name}: frames/s | us/frame | vs Teltonika |"
    print(header)
    print("|---|---|---:|" + "---:|---:|---:|" * len(FEEDINGS))
    for index, row in enumerate(rows):
        line = f"| {row.protocol} | {row.message} | {len(row.frames)} |"
        for name in FEEDINGS:
            rate = rates[index, name]
            line += f" {rate:,.0f} | {1e6 / rate:.1f} | {rate / rates[0, name]:.2f} |"
        print(line)


if __name__ == "__main__":
    main()
