"""Construct declarations of the Teltonika TCP frames (protocol_specs/teltonika/spec.md).

Declarative only: no state, no I/O. The codec frames the byte stream itself (it has to
decide on the length field before the body has arrived) and parses each *body* -- the
bytes from the codec id to the second record count, which is what the data field length
and the CRC cover -- with the declarations below. ``Packet`` describes the whole frame
(preamble, length, body, CRC) for builders such as the simulator and for round-trip tests.
"""

from __future__ import annotations

import sys
from array import array

from construct import (
    Array,
    Checksum,
    Const,
    Default,
    GreedyBytes,
    Int8ub,
    Int16sb,
    Int16ub,
    Int32sb,
    Int32ub,
    Int64ub,
    Prefixed,
    PrefixedArray,
    RawCopy,
    Rebuild,
    Struct,
    Terminated,
    len_,
    this,
)

CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_16 = 0x10
CODEC_12 = 0x0C
CODEC_7 = 0x07  # GH3000 units' AVL data, another record layout; kept raw

KEEPALIVE = b"\xff"
LOGIN_ACCEPT = b"\x01"
LOGIN_REJECT = b"\x00"
PREAMBLE = b"\x00\x00\x00\x00"
HEADER_SIZE = 8  # preamble + data field length
TRAILER_SIZE = 4  # CRC field: two zero bytes, then the CRC-16
COMMAND_TYPE = 0x05  # Codec 12, server -> device
RESPONSE_TYPE = 0x06  # Codec 12, device -> server


# --- CRC-16/IBM (a.k.a. ARC): reflected polynomial 0xA001, initial value 0 ---------------


def _crc_step(crc: int, byte: int) -> int:
    crc ^= byte
    for _ in range(8):
        crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


_BYTE_TABLE = [_crc_step(0, byte) for byte in range(256)]
# The register is 16 bits wide, so once two input bytes are XOR-ed into it the next state
# depends on the register alone: one lookup per two bytes halves the interpreter work in
# the hottest loop of the driver (every frame is checked).
_WORD_TABLE = array("H", (_crc_step(_crc_step(v, 0) & 0xFFFF, 0) for v in range(65536)))
_SWAP_WORDS = sys.byteorder == "big"  # the words must put the first byte in the low half


def crc16_ibm(data: bytes | bytearray | memoryview) -> int:
    view = memoryview(data).cast("B")
    even = len(view) & ~1
    words = array("H")
    words.frombytes(view[:even])
    if _SWAP_WORDS:  # pragma: no cover - no big-endian machine here
        words.byteswap()
    crc = 0
    table = _WORD_TABLE
    for word in words:
        crc = table[crc ^ word]
    if even != len(view):
        crc = (crc >> 8) ^ _BYTE_TABLE[(crc ^ view[even]) & 0xFF]
    return crc


# --- login ---------------------------------------------------------------------------

# Two-byte length, then the IMEI as ASCII digits (wiki example: 000F + "356307042441013").
ImeiPacket = Struct("imei" / Prefixed(Int16ub, GreedyBytes))


# --- AVL records ---------------------------------------------------------------------

# Coordinates are signed 32-bit integers in units of 1e-7 degree; altitude in metres
# (signed: below sea level exists), angle in degrees from north, speed in km/h.
GpsElement = Struct(
    "longitude" / Int32sb,
    "latitude" / Int32sb,
    "altitude" / Int16sb,
    "angle" / Int16ub,
    "satellites" / Int8ub,
    "speed" / Int16ub,
)

_VALUE_FIELDS = ((1, Int8ub), (2, Int16ub), (4, Int32ub), (8, Int64ub))


def _io_groups(count_field, id_field) -> list:
    return [
        f"n{size}" / PrefixedArray(count_field, Struct("id" / id_field, "value" / value_field))
        for size, value_field in _VALUE_FIELDS
    ]


# Codec 8: one-byte ids and counts.
IoElement8 = Struct(
    "event_io" / Int8ub,
    "total" / Int8ub,
    *_io_groups(Int8ub, Int8ub),
)

# Codec 8 Extended: two-byte ids and counts, plus the NX group of variable-length values
# (each with its own two-byte length).
IoElement8E = Struct(
    "event_io" / Int16ub,
    "total" / Int16ub,
    *_io_groups(Int16ub, Int16ub),
    "nx" / PrefixedArray(Int16ub, Struct("id" / Int16ub, "value" / Prefixed(Int16ub, GreedyBytes))),
)

# Codec 16: two-byte ids, one-byte counts, and a generation type after the event id.
IoElement16 = Struct(
    "event_io" / Int16ub,
    "generation_type" / Int8ub,
    "total" / Int8ub,
    *_io_groups(Int8ub, Int16ub),
)


def _record(io_element) -> Struct:
    return Struct(
        "timestamp" / Int64ub,  # milliseconds since 1970-01-01T00:00:00Z
        "priority" / Int8ub,  # 0 low, 1 high, 2 panic
        "gps" / GpsElement,
        "io" / io_element,
    )


def _avl_body(codec_id: int, io_element) -> Struct:
    return Struct(
        "codec_id" / Const(codec_id, Int8ub),
        "n1" / Rebuild(Int8ub, len_(this.records)),
        "records" / Array(this.n1, _record(io_element)),
        # Kept as sent (not re-derived) so that a mismatch stays visible to the codec.
        "n2" / Rebuild(Int8ub, this.n1),
        Terminated,
    )


Record8 = _record(IoElement8)
Record8E = _record(IoElement8E)
Record16 = _record(IoElement16)
RECORDS = {CODEC_8: Record8, CODEC_8E: Record8E, CODEC_16: Record16}

AvlBody8 = _avl_body(CODEC_8, IoElement8)
AvlBody8E = _avl_body(CODEC_8E, IoElement8E)
AvlBody16 = _avl_body(CODEC_16, IoElement16)

# --- Codec 12 (GPRS commands) --------------------------------------------------------

Codec12Body = Struct(
    "codec_id" / Const(CODEC_12, Int8ub),
    "quantity1" / Default(Int8ub, 1),
    "type" / Int8ub,
    "text" / Prefixed(Int32ub, GreedyBytes),
    "quantity2" / Rebuild(Int8ub, this.quantity1),
    Terminated,
)

BODIES = {
    CODEC_8: AvlBody8,
    CODEC_8E: AvlBody8E,
    CODEC_16: AvlBody16,
    CODEC_12: Codec12Body,
}
AVL_CODECS = frozenset({CODEC_8, CODEC_8E, CODEC_16})


# --- whole frame ---------------------------------------------------------------------


def packet(body) -> Struct:
    """Preamble + data field length + ``body`` + CRC, with the CRC checked on parse."""
    return Struct(
        "preamble" / Const(PREAMBLE),
        "body" / Prefixed(Int32ub, RawCopy(body)),
        "crc" / Checksum(Int32ub, crc16_ibm, this.body.data),
    )


Packet8 = packet(AvlBody8)
Packet8E = packet(AvlBody8E)
Packet16 = packet(AvlBody16)
Codec12Packet = packet(Codec12Body)
PACKETS = {CODEC_8: Packet8, CODEC_8E: Packet8E, CODEC_16: Packet16, CODEC_12: Codec12Packet}



def frame(body: bytes) -> bytes:
    """Wrap a body (codec id .. N2 / quantity 2) in preamble, length and CRC."""
    return PREAMBLE + len(body).to_bytes(4, "big") + body + crc16_ibm(body).to_bytes(4, "big")
