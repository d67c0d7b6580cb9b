"""How fast can the Teltonika driver decode AVL data?

Times, on the same frames in one run: the construct declarations interpreted, the same
declarations ``.compile()``d, the hand ``struct`` decoder the codec uses, and the whole codec
path (framing + CRC + decode + Record objects). Prints records/s for each.

    .venv/bin/python benchmarks/teltonika_decode.py [--seconds 1.0]

Budget: the gateway must persist >= 10,000 records/s on 2 cores; decoding should be a small
fraction of that (a few % of one core at 10k records/s).
"""

from __future__ import annotations

import argparse
import time

from drivers.base import NEED_DATA, Login, LoginAccepted, RecordBatch
from drivers.teltonika import TeltonikaCodec, frames
from drivers.teltonika.codec import decode_avl_body, record_from_raw

WIKI_IMEI = bytes.fromhex("000F333536333037303432343431303133")


def typical_record(i: int, codec_id: int) -> dict:
    """What an FMB920 sends by default: a fix and about a dozen permanent IO elements."""
    io = {
        "event_io": 0,
        "total": 13,
        "n1": [{"id": k, "value": v} for k, v in ((239, 1), (240, 1), (80, 0), (21, 4), (200, 0), (69, 1), (179, 0))],
        "n2": [{"id": k, "value": v} for k, v in ((181, 9), (182, 6), (66, 13900), (24, 42))],
        "n4": [{"id": 16, "value": 1_234_567 + 10 * i}, {"id": 241, "value": 24602}],
        "n8": [],
    }
    if codec_id == frames.CODEC_8E:
        io["nx"] = []
    return {
        "timestamp": 1_700_000_000_000 + 1000 * i,
        "priority": 0,
        "gps": {
            "longitude": 252_797_000 + i,
            "latitude": 546_872_000 - i,
            "altitude": 112,
            "angle": 90,
            "satellites": 9,
            "speed": 42,
        },
        "io": io,
    }


def sample_bodies() -> list[bytes]:
    bodies = []
    for codec_id in (frames.CODEC_8, frames.CODEC_8E):
        for per_packet in (1, 10, 20):
            records = [typical_record(i, codec_id) for i in range(per_packet)]
            bodies.append(frames.BODIES[codec_id].build({"records": records}))
    return bodies


def rate(fn, bodies: list[bytes], records_per_round: int, seconds: float) -> float:
    rounds, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for body in bodies:
            fn(body)
        rounds += 1
    return rounds * records_per_round / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1)")
    args = parser.parse_args()

    bodies = sample_bodies()
    n_records = sum(body[1] for body in bodies)
    interpreted = {cid: frames.BODIES[cid] for cid in frames.AVL_CODECS}
    compiled = {cid: frames.BODIES[cid].compile() for cid in frames.AVL_CODECS}
    for body in bodies:  # the three must agree before their speed means anything
        a = interpreted[body[0]].parse(body)
        assert compiled[body[0]].parse(body) == a
        _, raws, _ = decode_avl_body(body)
        assert [r[0] for r in raws] == [r.timestamp for r in a.records]

    stream = b"".join(frames.frame(body) for body in bodies)

    def whole_codec(_body: bytes) -> None:
        codec = TeltonikaCodec()
        codec.receive_data(WIKI_IMEI)
        login = codec.next_event()
        assert isinstance(login, Login)
        codec.send(LoginAccepted(login))
        codec.receive_data(stream)
        while (event := codec.next_event()) is not NEED_DATA:
            assert isinstance(event, RecordBatch)

    def with_records(body: bytes) -> list:
        return [record_from_raw(body[0], raw) for raw in decode_avl_body(body)[1]]

    measured = [
        ("construct, interpreted (body only)", lambda b: interpreted[b[0]].parse(b), bodies),
        ("construct, compiled (body only)", lambda b: compiled[b[0]].parse(b), bodies),
        ("struct decoder (body only)", decode_avl_body, bodies),
        ("struct decoder + Record objects", with_records, bodies),
        ("CRC-16 of the bodies", frames.crc16_ibm, bodies),
        ("whole codec: frames in, Records out", whole_codec, [b""]),
    ]
    results = [(name, rate(fn, inputs, n_records, args.seconds)) for name, fn, inputs in measured]
    print(f"{len(bodies)} packets, {n_records} records per round, {len(stream)} bytes; typical FMB records of 13 IO")
    for name, per_second in results:
        print(f"{name:40s} {per_second:12,.0f} records/s   {1e6 / per_second:7.2f} us/record")


if __name__ == "__main__":
    main()
