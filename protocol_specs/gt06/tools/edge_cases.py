#!/usr/bin/env python3
"""Rebuilds every "fleetgate edge case" vector of ../vectors.json, frame and replies.

Stand-alone on purpose: the standard library only, nothing of fleetgate (no drivers/, no
gateway/, no construct), so that a mistake in the driver cannot hide in the vectors. It has
its own CRC-ITU, framing, BCD and field packing, written from the Concox documents and
../spec.md (§1 frame, §2 layouts, §11 answers). A frame made from a vendor example (a bad
CRC, a wrong length byte) starts from that example's hex in vectors.json, never from the
edge case's own.

Prints {"protocol": "gt06", "vectors": {name: {"hex": ..., "replies": {...}}}} on standard
output; tests/drivers/test_independent_encoders.py runs it and compares.

    python3 protocol_specs/gt06/tools/edge_cases.py
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "vectors.json"
UNITS_PER_DEGREE = 30_000 * 60  # coordinates are half-milliseconds of arc ([GT06] §5.2.1.5)

# spec.md §11: the numbers answered with the echo, and those never answered
ECHOED = {0x01, 0x10, 0x11, 0x12, 0x13, 0x16, 0x19, 0x22, 0x23, 0x26, 0x27, 0xA0, 0xA4, 0xA5}
SILENT = {0x15, 0x21, 0x28, 0x2C, 0x94, 0xA1, 0x80, 0x81, 0x82, 0x97, 0x2A, 0x8A}


def crc_itu(data: bytes) -> int:
    """CRC-16/X-25: reflected polynomial 0x1021 (0x8408), start 0xFFFF, result inverted ([GT06] §4.6)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def frame(protocol: int, content: bytes, serial: int, long: bool = False, length: int | None = None) -> bytes:
    """Start, length (content + 5, one byte or two in a 7979 frame), protocol, content,
    serial, CRC over length .. serial, stop."""
    size = (len(content) + 5 if length is None else length).to_bytes(2 if long else 1, "big")
    covered = size + bytes([protocol]) + content + serial.to_bytes(2, "big")
    return (b"\x79\x79" if long else b"\x78\x78") + covered + crc_itu(covered).to_bytes(2, "big") + b"\r\n"


def echo(protocol: int, serial: int, long_frame: bool = False) -> str:
    """The server's answer (spec.md §11): an empty 7878 packet of the same number and serial,
    or nothing. (The few 7979-frame numbers that are echoed too occur in no edge case.)"""
    if protocol in ECHOED or (protocol not in SILENT and not long_frame):
        return frame(protocol, b"", serial).hex().upper()
    return ""


def when(year: int, month: int, day: int, hour: int, minute: int, second: int) -> bytes:
    return bytes([year - 2000, month, day, hour, minute, second])


def gps(satellites: int, lat: float | int, lon: float | int, speed: int, course: int, *, north: bool = True,
        west: bool = False, fixed: bool = True, differential: bool = False, length: int = 12) -> bytes:
    """GPS info byte (length, satellites), latitude, longitude, speed, course and status word:
    bit 13 differential, 12 positioned, 11 west, 10 north, 9-0 course ([GT06] §5.2.1.4-9).
    A float coordinate is degrees, an int the raw value."""
    def raw(degrees: float | int) -> int:
        return degrees if isinstance(degrees, int) else round(abs(degrees) * UNITS_PER_DEGREE)

    word = differential << 13 | fixed << 12 | west << 11 | north << 10 | course
    return bytes([length << 4 | satellites]) + struct.pack(">IIBH", raw(lat), raw(lon), speed, word)


def cell(mcc: int, mnc: int, lac: int, cell_id: int) -> bytes:
    return struct.pack(">HBH", mcc, mnc, lac) + cell_id.to_bytes(3, "big")


def terminal_id(digits: str) -> bytes:
    """The terminal ID: 16 BCD digits, the IMEI after a leading 0 ([GT06] §5.1.1.4)."""
    return bytes.fromhex(digits)


def vendor(name: str) -> bytes:
    """A vendor example's frame: the base of the edge cases made from it."""
    for vector in json.loads(VECTORS.read_text())["vectors"]:
        if vector["name"] == name:
            assert "fleetgate edge case" not in vector["source"], name
            return bytes.fromhex(vector["hex"])
    raise KeyError(name)


def build() -> dict[str, dict]:
    out: dict[str, dict] = {}

    def add(name: str, data: bytes, replies: dict | None = None) -> None:
        out[name] = {"hex": data.hex().upper(), **({"replies": replies} if replies is not None else {})}

    def message(name: str, protocol: int, content: bytes, serial: int, long: bool = False) -> None:
        add(name, frame(protocol, content, serial, long), {"Acknowledge": echo(protocol, serial, long)})

    guangzhou = cell(460, 0, 0x287D, 0x1FB8)
    message("gt06-location-after-gmt8-login", 0x12, when(2011, 8, 29, 17, 46, 16)
            + gps(15, 0x027AC7EB, 0x0C465849, 0, 143) + guangzhou, 3)
    message("vl-location-0x22-after-gmt8-login", 0x22, when(2015, 12, 29, 2, 51, 5)
            + gps(9, 0x027AC818, 0x0C465860, 0, 0) + cell(460, 0, 0x287D, 0x1F71) + bytes([0, 0, 1]), 8)
    message("south-west-location", 0x12, when(2024, 3, 5, 12, 30, 45)
            + gps(8, -34.6037, -58.3816, 50, 270, north=False, west=True) + cell(722, 7, 0x1234, 0xABCD), 0x42)
    message("long-frame-location-with-mileage", 0x22, when(2024, 6, 1, 8, 0, 0)
            + gps(11, -33.8688, 151.2093, 72, 45, north=False, differential=True) + cell(505, 1, 3000, 123456)
            + bytes([1, 3, 0]) + (123456).to_bytes(4, "big"), 0x100, long=True)
    message("payload-contains-0d0a", 0x12, when(2024, 1, 13, 10, 13, 10)
            + gps(13, 0x020D0A33, 0x0C460D0A, 13, 10) + cell(262, 2, 0x0D0A, 0x0D0A0D), 0x0D0A)
    message("gps-only-without-fix", 0x10, when(2023, 1, 2, 3, 4, 5) + gps(0, 52.52, 13.405, 0, 0, fixed=False), 7)
    message("location-without-a-clock", 0x22, bytes(29), 9)
    add("long-response-utf16", frame(0x21, (42).to_bytes(4, "big") + b"\x02" + "DYD=Success!".encode("utf-16-be"),
                                     0x30, long=True))
    login = terminal_id("0123456789012345")
    add("garbage-before-login", b"\x00\xff\x78\x12\x79\r\nAT+" + frame(0x01, login, 1),
        {"LoginAccepted": echo(0x01, 1), "LoginRejected": ""})
    plain_login = vendor("gt06-login")
    add("bad-crc", plain_login[:-3] + bytes([plain_login[-3] + 1]) + plain_login[-2:])
    status = vendor("gt06-appendix-b-status")
    add("length-shorter-than-frame", status[:2] + bytes([status[2] - 1]) + status[3:])
    add("length-longer-than-frame", status[:2] + bytes([status[2] + 1]) + status[3:] + status)
    add("wrong-stop-bytes", status[:-1] + b"\x0b")
    add("length-beyond-max-frame", b"\x79\x79\xff\xff\x13")
    add("length-below-minimum", b"\x78\x78\x04\x13\x00\x01\xaa\xaa\r\n")  # 4 cannot hold number, serial, CRC
    add("truncated-frame", plain_login[:12])
    message("unknown-protocol", 0x7E, b"\x01\x02", 3)
    add("location-before-login", vendor("gt06-location"))
    add("command-from-unit", vendor("gt06-command-dyd"), {"Acknowledge": echo(0x80, 1)})
    add("second-login", plain_login, {"Acknowledge": echo(0x01, 1)})
    add("login-as-another-unit", vendor("gt06-appendix-b-login"))
    add("terminal-id-not-bcd", frame(0x01, terminal_id("0123456789ABCDEF"), 1))
    add("terminal-id-16-digits", frame(0x01, terminal_id("1234567890123456"), 1))
    add("login-odd-extension", frame(0x01, login + b"\x70", 1))
    message("location-content-too-short", 0x12, when(2024, 1, 1, 0, 0, 0) + bytes([0xCC, 1, 2, 3, 4]), 4)
    message("latitude-out-of-range", 0x12, when(2024, 1, 1, 0, 0, 0)
            + gps(5, 0xFFFFFFFF, 0, 0, 0) + cell(1, 1, 1, 1), 4)
    message("long-response-unknown-encoding", 0x21, bytes(4) + b"\x03OK", 5, long=True)
    # 0x15: command length (flag + text), server flag, text, language word ([GT06] §6.2)
    add("short-response-length-below-flag", frame(0x15, b"\x02" + bytes(4) + b"OK\x00\x02", 5))
    add("short-response-runs-past-content", frame(0x15, b"\x40" + bytes(4) + b"OK\x00\x02", 5))
    return out


if __name__ == "__main__":
    print(json.dumps({"protocol": "gt06", "vectors": build()}, indent=1))
