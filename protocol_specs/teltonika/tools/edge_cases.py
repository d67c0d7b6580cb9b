#!/usr/bin/env python3
"""Rebuilds every "fleetgate edge case" vector of ../vectors.json, frame and replies.

Stand-alone on purpose: the standard library only, nothing of fleetgate (no drivers/, no
gateway/, no construct), so that a mistake in the driver cannot hide in the vectors. It has
its own CRC-16/IBM and its own packing of records, written from the spec (../spec.md) and
the Teltonika wiki. A frame made from a vendor example (a bad CRC, a cut body) starts from
that example's hex in vectors.json, never from the edge case's own.

Prints {"protocol": "teltonika", "vectors": {name: {"hex": ..., "replies": {...}}}} on
standard output; tests/drivers/test_independent_encoders.py runs it and compares.

    python3 protocol_specs/teltonika/tools/edge_cases.py
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "vectors.json"
VIN = b"WVWZZZ1JZXW000001"
AVL_CODECS = {0x08, 0x8E, 0x10}  # AVL data the server answers with the record count ([DSP-C8] §communication)


def crc16_ibm(data: bytes) -> int:
    """CRC-16/IBM (ARC): reflected polynomial 0xA001, initial value 0 ([DSP] § CRC-16)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def packet(body: bytes, length: int | None = None) -> bytes:
    """Preamble, data field length, body, CRC field (two zero bytes and the CRC)."""
    size = len(body) if length is None else length
    return bytes(4) + size.to_bytes(4, "big") + body + crc16_ibm(body).to_bytes(4, "big")


def value(number: int, size: int) -> bytes:
    return number.to_bytes(size, "big", signed=number < 0)


def gps(lat: float, lon: float, alt: int, angle: int, satellites: int, speed: int) -> bytes:
    """Longitude first, both as signed degrees x 1e7 ([DSP-C8] GPS element)."""
    return struct.pack(">iihHBH", round(lon * 1e7), round(lat * 1e7), alt, angle, satellites, speed)


def record(ms: int, priority: int, position: bytes, event: int, io: dict, extended: bool = False) -> bytes:
    """A Codec 8 record, or Codec 8 Extended (2-byte ids and counts, and the NX group).
    ``io`` maps a value width (1, 2, 4, 8, "nx") to [(id, value)]."""
    word = 2 if extended else 1
    groups = [1, 2, 4, 8] + (["nx"] if extended else [])
    total = sum(len(io.get(size, ())) for size in groups)
    out = ms.to_bytes(8, "big") + bytes([priority]) + position + value(event, word) + value(total, word)
    for size in groups:
        items = io.get(size, ())
        out += value(len(items), word)
        for io_id, item in items:
            if size == "nx":
                out += io_id.to_bytes(2, "big") + len(item).to_bytes(2, "big") + item
            else:
                out += io_id.to_bytes(word, "big") + value(item, size)
    return out


def avl(codec: int, records: list[bytes], n2: int | None = None) -> bytes:
    count = len(records)
    return bytes([codec, count]) + b"".join(records) + bytes([count if n2 is None else n2])


def codec12(kind: int, text: bytes) -> bytes:
    """A Codec 12 body: one message of ``kind`` (0x05 command, 0x06 response)."""
    return bytes([0x0C, 1, kind]) + len(text).to_bytes(4, "big") + text + bytes([1])


def login(imei: bytes) -> bytes:
    return len(imei).to_bytes(2, "big") + imei


def vendor(name: str) -> bytes:
    """A vendor example's frame: the base of the edge cases made from it."""
    for vector in json.loads(VECTORS.read_text())["vectors"]:
        if vector["name"] == name:
            assert "fleetgate edge case" not in vector["source"], name
            return bytes.fromhex(vector["hex"])
    raise KeyError(name)


def body_of(frame: bytes) -> bytes:
    return frame[8:-4]


def ack(body: bytes) -> dict[str, str]:
    """What the server answers an AVL packet with: its first record count, 4 bytes; nothing
    to a codec it does not take as AVL data (spec.md §2)."""
    return {"Acknowledge": body[1].to_bytes(4, "big").hex().upper() if body[0] in AVL_CODECS else ""}


def build() -> dict[str, dict]:
    example_1, example_2 = vendor("codec8-example-1"), vendor("codec8-example-2")
    out: dict[str, dict] = {}

    def add(name: str, frame: bytes, replies: dict | None = None) -> None:
        out[name] = {"hex": frame.hex().upper(), **({"replies": replies} if replies is not None else {})}

    def add_avl(name: str, body: bytes, length: int | None = None) -> None:
        add(name, packet(body, length), ack(body))

    add("setdigout-dout1-on", packet(codec12(0x05, b"setdigout 1")))
    add("setdigout-dout2-off", packet(codec12(0x05, b"setdigout ?0")))
    add_avl("negative-coordinates", avl(0x08, [
        record(1_700_000_000_123, 0, gps(-34.6037, -58.3816, 25, 270, 11, 48), 0,
               {1: [(239, 1), (240, 1), (21, 4), (179, 0)], 2: [(66, 12850)], 4: [(16, 1234567)]}),
        record(1_700_000_001_123, 2, gps(51.5007, -0.1246, -3, 359, 7, 0), 239,
               {1: [(239, 0), (21, 5), (179, 1)], 4: [(16, 1234890)]}),
    ]))
    # without a fix: the last valid coordinates, satellites, speed and angle 0 ([DSP-C8] GPS note)
    add_avl("no-fix-repeats-last-position", avl(0x08, [
        record(1_700_000_003_000, 0, gps(59.437, 24.7536, 41, 0, 0, 0), 0, {1: [(239, 0), (21, 2)], 4: [(16, 987654)]}),
    ]))
    add_avl("codec8e-several-nx", avl(0x8E, [
        record(1_700_000_002_000, 1, gps(52.52, 13.4049, 34, 90, 9, 30), 385,
               {1: [(239, 1)], "nx": [(385, b""), (10831, b"\x7f"), (256, VIN)]}, extended=True),
    ]))
    add_avl("codec8-signed-io", avl(0x08, [
        record(1_700_000_000_000, 0, gps(54.67, 25.34, 120, 45, 8, 50), 0, {
            1: [(17, -1), (239, 1), (32, -40)], 2: [(18, -20), (19, 1000), (66, 32768)],
            4: [(72, -150), (16, 4294967295)], 8: [(78, 2**63 + 1), (73, -1)]}),
    ]))
    add_avl("codec8e-signed-io", avl(0x8E, [
        record(1_700_000_001_000, 1, gps(-34.6, -58.5, 25, 270, 11, 0), 10800,
               {1: [(10816, -90)], 2: [(10800, -1187), (25, 2500)], "nx": [(256, VIN)]}, extended=True),
    ]))
    add_avl("most-records-in-max-frame", avl(0x08, [
        record(1_704_067_200_000 + 1000 * n, 0, gps(48.1 + n / 10_000, 11.5, 500, 0, 5, 0), 0, {}) for n in range(67)
    ]))
    crc = example_1[-2:]
    add("bad-crc", example_1[:-1] + bytes([crc[1] ^ 0x01]))
    add("crc-upper-half-not-zero", example_1[:-4] + b"\x00\x01" + crc)
    body = body_of(example_2)
    add_avl("n1-differs-from-n2", body[:-1] + b"\x02")
    add("length-beyond-max-frame", bytes(4) + (2049 - 12).to_bytes(4, "big"))  # 2049 bytes with header and CRC
    body = body_of(example_1)
    add_avl("content-shorter-than-length", body[:-1] + b"\x00" + body[-1:])
    add_avl("content-longer-than-length", body[:30])  # ends inside the first IO element
    add("truncated-frame", example_1[:-10])
    add_avl("unknown-codec-id", b"\x09" + body[1:])
    add_avl("codec13-not-supported", bytes([0x0D, 1, 0x06]) + (4 + 5).to_bytes(4, "big")
            + (1_700_000_000).to_bytes(4, "big") + b"Hello" + bytes([1]))
    add("codec12-command-from-unit", packet(codec12(0x05, b"getinfo")))
    add("wrong-preamble", example_1[:3] + b"\x01" + example_1[4:])
    add("records-before-login", example_1)
    add("keepalive-before-login", b"\xff")
    add("imei-not-digits", login(b"35630704244101X"))
    add("imei-length-too-long", login(b"356307042441013000"))
    add_avl("timestamp-after-year-9999", avl(0x08, [record(2**63, 0, bytes(15), 0, {})]))
    return out


if __name__ == "__main__":
    print(json.dumps({"protocol": "teltonika", "vectors": build()}, indent=1))
