#!/usr/bin/env python3
"""Rebuilds every "fleetgate edge case" vector of ../vectors.json, frame and replies, and the
published platform frames (Huabao's 0x8001, e-com's 0x8100) from their fields.

Stand-alone on purpose: the standard library only, nothing of fleetgate (no drivers/, no
gateway/, no construct), so that a mistake in the driver cannot hide in the vectors. It has
its own check code, escaping, BCD and field packing, written from JT/T 808-2013 / -2019 and
../spec.md (§1 frame, §2 answers, §3 bodies). A frame made from a published one (a wrong
check code, a cut frame) starts from that frame's hex in vectors.json, never from the edge
case's own.

Prints {"protocol": "jt808", "vectors": {name: {"hex": ..., "replies": {...}}}} on standard
output; tests/drivers/test_independent_encoders.py runs it and compares.

    python3 protocol_specs/jt808/tools/edge_cases.py
"""

from __future__ import annotations

import json
import struct
from functools import reduce
from operator import xor
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "vectors.json"
TERMINAL_2019 = "00000000000223456789"  # the aliyun registration example's terminal

# message ids (JT/T 808-2013 Table 1 / 2019 Table 3)
TERMINAL_RESPONSE, HEARTBEAT, AUTHENTICATION, LOCATION = 0x0001, 0x0002, 0x0102, 0x0200
CONTROL_REPLY, BATCH, PLATFORM_RESPONSE, REGISTRATION_REPLY = 0x0500, 0x0704, 0x8001, 0x8100
POSITION_QUERY, VEHICLE_CONTROL = 0x8201, 0x8500
OK, FAILED, UNSUPPORTED = 0, 1, 3  # 0x8001 results (§8.2)
RSA = 1 << 10  # body property: RSA-encrypted body


def check_code(content: bytes) -> int:
    """XOR of every byte of header and body (§4.4.2)."""
    return reduce(xor, content, 0)


def escape(data: bytes) -> bytes:
    """0x7D -> 7D 01, then 0x7E -> 7D 02 (§4.4.2)."""
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes) -> bytes:
    return data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def wire(content: bytes) -> bytes:
    return b"\x7e" + escape(content + bytes([check_code(content)])) + b"\x7e"


def header(message_id: int, terminal: str, serial: int, body_length: int, *, version: int | None = None,
           package: tuple[int, int] | None = None, flags: int = 0) -> bytes:
    """Message id, body properties (bits 0-9 length, 10 RSA, 13 subpackage, 14 the 2019
    version flag), [version byte], terminal number in BCD (6 bytes, 2019: 10), serial,
    [package total and index]."""
    properties = body_length | flags | (package is not None) << 13 | (version is not None) << 14
    out = struct.pack(">HH", message_id, properties)
    if version is not None:
        out += bytes([version])
    out += bytes.fromhex(terminal) + struct.pack(">H", serial)
    return out + (struct.pack(">HH", *package) if package else b"")


def message(message_id: int, terminal: str, serial: int, body: bytes = b"", **options) -> bytes:
    return wire(header(message_id, terminal, serial, len(body), **options) + body)


def bcd_time(text: str) -> bytes:
    """YYMMDDhhmmss, Beijing time, as BCD (§8.18)."""
    return bytes.fromhex(text)


def location(alarm: int, status: int, lat: int, lon: int, altitude: int, speed: int, course: int, time: str,
             items: bytes = b"") -> bytes:
    """The basic information (§8.18 Table 23: coordinates x 1e6, speed in 0.1 km/h) and the
    additional items after it."""
    return struct.pack(">IIIIHHH", alarm, status, lat, lon, altitude, speed, course) + bcd_time(time) + items


def item(item_id: int, data: bytes) -> bytes:
    return bytes([item_id, len(data)]) + data


def answers(terminal: str, platform_serial: int, answered: list[tuple[int, int]], result: int,
            version: int | None = None) -> str:
    """0x8001 frames from the platform's ``platform_serial`` on, one per (serial, id) answered."""
    frames = [message(PLATFORM_RESPONSE, terminal, platform_serial + n, struct.pack(">HHB", serial, message_id, result),
                      version=version) for n, (serial, message_id) in enumerate(answered)]
    return b"".join(frames).hex().upper()


def published(name: str) -> bytes:
    """A published frame: the base of the edge cases made from it."""
    for vector in json.loads(VECTORS.read_text())["vectors"]:
        if vector["name"] == name:
            assert "fleetgate edge case" not in vector["source"], name
            return bytes.fromhex(vector["hex"])
    raise KeyError(name)


def content_of(frame: bytes) -> bytes:
    """Header and body of a one-message frame, without its check code."""
    return unescape(frame[1:-1])[:-1]


def build() -> dict[str, dict]:
    out: dict[str, dict] = {}

    def add(name: str, data: bytes, replies: dict | None = None) -> None:
        out[name] = {"hex": data.hex().upper(), **({"replies": replies} if replies is not None else {})}

    def acknowledged(name: str, data: bytes, terminal: str, answered: list[tuple[int, int]], platform_serial: int = 0,
                     result: int = OK, version: int | None = None) -> None:
        add(name, data, {"Acknowledge": answers(terminal, platform_serial, answered, result, version)})

    # 2019 authentication: code length, code, IMEI BYTE[15], software version BYTE[20] (§8.11)
    code = b"nugmQRV4axlLGjjonA=="
    auth_body = bytes([len(code)]) + code + b"865372040000012" + b"V1.0.0".ljust(20, b"\x00")
    add("auth-2019", message(AUTHENTICATION, TERMINAL_2019, 1, auth_body, version=1), {
        "LoginAccepted": answers(TERMINAL_2019, 1, [(1, AUTHENTICATION)], OK, version=1),
        "LoginRejected": answers(TERMINAL_2019, 1, [(1, AUTHENTICATION)], FAILED, version=1)})
    acknowledged("heartbeat-2019", message(HEARTBEAT, TERMINAL_2019, 0x0203, version=1), TERMINAL_2019,
                 [(0x0203, HEARTBEAT)], 7, version=1)
    berlin = dict(lat=52_520_008, lon=13_404_954, altitude=34)
    locked = 1 << 0 | 1 << 1 | 1 << 12  # ACC on, positioned, door locked
    body = location(0, locked | 1 << 18, speed=425, course=271, time="240305143000",  # bit 18: GPS
                    items=item(0x01, (123456).to_bytes(4, "big")) + item(0x30, b"\x1f") + item(0x31, b"\x0c"), **berlin)
    acknowledged("location-2019", message(LOCATION, TERMINAL_2019, 0x0204, body, version=1), TERMINAL_2019,
                 [(0x0204, LOCATION)], 9, version=1)
    # 0x7E and 0x7D in serial, latitude, longitude, altitude, speed, the mileage and the check code
    body = location(0, 0b11, 25_066_753, 108_887_554, 0x7E, 0x7D, 90, "240101000000", item(0x01, b"\x00\x00\x7d\x6f"))
    acknowledged("location-escaped-bytes", message(LOCATION, "013912345678", 0x7D7E, body), "013912345678",
                 [(0x7D7E, LOCATION)], 3)
    # south bit 2, west bit 3, oil cut bit 10, circuit cut bit 11; CSQ 99
    body = location(0, 0b11 | 1 << 2 | 1 << 3 | 1 << 10 | 1 << 11, 33_448_890, 70_669_265, 570, 0, 0, "250228235959",
                    item(0x01, (5000).to_bytes(4, "big")) + item(0x30, bytes([99])))
    acknowledged("location-south-west-cut", message(LOCATION, "013912345678", 0x10, body), "013912345678",
                 [(0x10, LOCATION)], 3)
    acknowledged("location-without-time", message(LOCATION, "013912345678", 0x11, bytes(28)), "013912345678",
                 [(0x11, LOCATION)], 3)
    smallchi = content_of(published("batch-smallchi"))[12:]  # its body: count, type, two locations
    packages = [message(BATCH, "112233445566", 0x100 + n, part, package=(2, n + 1))
                for n, part in enumerate((smallchi[:40], smallchi[40:]))]
    acknowledged("batch-subpackaged", b"".join(packages), "112233445566", [(0x100, BATCH), (0x101, BATCH)], 4)
    add("terminal-response-unsupported", message(TERMINAL_RESPONSE, "013912345678", 0x12,
                                                 struct.pack(">HHB", 7, VEHICLE_CONTROL, UNSUPPORTED)))
    add("control-reply-2019-locked", message(CONTROL_REPLY, TERMINAL_2019, 0x0205, struct.pack(">H", 8)
                                             + location(0, locked, speed=0, course=0, time="240305143010", **berlin),
                                             version=1))
    huabao = published("location-huabao")
    add("bad-check-code", huabao[:-2] + bytes([huabao[-2] ^ 0x01]) + huabao[-1:])
    content = content_of(huabao)
    shorter = content[:2] + struct.pack(">H", struct.unpack(">H", content[2:4])[0] - 1) + content[4:]
    acknowledged("body-length-mismatch", wire(shorter), "002002604323", [(0xA4, LOCATION)], result=UNSUPPORTED)
    # the 2019 flag on a 2013 header, a body length of 1 and no body
    acknowledged("flagged-header-fits-neither", wire(header(HEARTBEAT, "002002604323", 1, 1, flags=1 << 14)),
                 "002002604323", [(1, HEARTBEAT)], result=UNSUPPORTED)
    add("truncated-frame", huabao[:-10])
    acknowledged("unknown-message-id", message(0x0F01, "002002604323", 1), "002002604323", [(1, 0x0F01)],
                 result=UNSUPPORTED)
    acknowledged("unsupported-message", message(0x0900, "002002604323", 1, b"\x41hello"), "002002604323",
                 [(1, 0x0900)], result=UNSUPPORTED)
    # the published platform frames, from their fields: the builders above agree with real platforms
    huabao_answer = message(PLATFORM_RESPONSE, "002002604323", 9, struct.pack(">HHB", 0xEE, LOCATION, OK))
    add("general-response-huabao", huabao_answer)
    add("registration-reply-ecom", message(REGISTRATION_REPLY, "040457103166", 0x30, struct.pack(">HB", 0x30, OK)
                                           + b"shuangwei"))
    add("platform-message-from-terminal", huabao_answer)
    add("location-before-authentication", huabao)
    add("authentication-twice", message(AUTHENTICATION, "002002604323", 2, b"8300200260432"))
    add("other-terminal-in-session", huabao)
    add("bad-escape", b"\x7e" + header(HEARTBEAT, "020000000015", 3, 0) + b"\x7d\x03\x7e")
    add("bytes-before-flag", b"\x00" + message(HEARTBEAT, "002002604323", 1))
    add("empty-frame", b"\x7e\x7e")
    add("too-short", b"\x7e\x01\x02\x03\x7e")
    add("no-closing-flag", b"\x7e" + b"\x01" * 2048)
    acknowledged("encrypted-body", message(HEARTBEAT, "002002604323", 1, flags=RSA), "002002604323",
                 [(1, HEARTBEAT)], result=UNSUPPORTED)
    add("encrypted-authentication", message(AUTHENTICATION, "002002604323", 1, b"pw-1", flags=RSA))
    add("authentication-body-length-mismatch", wire(header(AUTHENTICATION, "002002604323", 1, 5) + b"pw-1"))
    acknowledged("heartbeat-terminal-not-bcd", message(HEARTBEAT, "0020026043A3", 1), "0020026043A3",
                 [(1, HEARTBEAT)])
    acknowledged("location-too-short", message(LOCATION, "002002604323", 1, content[12:12 + 27]), "002002604323",
                 [(1, LOCATION)], result=UNSUPPORTED)
    body = location(0, 0b10, 1, 1, 0, 0, 0, "240101000000", b"\x01\x04\x00\x00")  # announces 4 bytes, 2 follow
    acknowledged("item-runs-past-body", message(LOCATION, "002002604323", 1, body), "002002604323", [(1, LOCATION)])
    body = location(0, 0b10, 1, 1, 0, 0, 0, "2401010000F0")
    acknowledged("time-not-bcd", message(LOCATION, "002002604323", 1, body), "002002604323", [(1, LOCATION)])
    acknowledged("batch-count-mismatch", message(BATCH, "112233445566", 1, b"\x00\x03" + smallchi[2:]),
                 "112233445566", [(1, BATCH)], result=UNSUPPORTED)
    acknowledged("batch-of-zero", message(BATCH, "112233445566", 1, b"\x00\x00\x00"), "112233445566", [(1, BATCH)],
                 result=UNSUPPORTED)
    add("subpackage-without-first", packages[1])
    add("subpackage-index-zero", message(BATCH, "112233445566", 0x101, smallchi[40:], package=(2, 0)))
    wrong = bytes([60]) + auth_body[1:]  # the code length runs over IMEI and software version
    add("auth-2019-wrong-length", message(AUTHENTICATION, TERMINAL_2019, 1, wrong, version=1))
    # the platform's commands (§8.19 position query, §8.33 / 2019 §8.30 vehicle control)
    add("command-lock-2013", message(VEHICLE_CONTROL, "013912345678", 7, b"\x01"))
    add("command-unlock-2013", message(VEHICLE_CONTROL, "013912345678", 8, b"\x00"))
    add("command-lock-2019", message(VEHICLE_CONTROL, TERMINAL_2019, 9, struct.pack(">HHB", 1, 1, 0), version=1))
    add("command-unlock-2019", message(VEHICLE_CONTROL, TERMINAL_2019, 10, struct.pack(">HHB", 1, 1, 1), version=1))
    add("command-position-query-2013", message(POSITION_QUERY, "013912345678", 11))
    add("command-position-query-2019", message(POSITION_QUERY, TERMINAL_2019, 12, version=1))
    add("command-serial-escaped", message(VEHICLE_CONTROL, "013912345678", 0x7E, b"\x01"))
    return out


if __name__ == "__main__":
    print(json.dumps({"protocol": "jt808", "vectors": build()}, indent=1))
