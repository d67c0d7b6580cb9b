"""The codec's path through JT/T 808 frames: hand ``struct`` readers of the header and of
the bodies that carry records or answers, and a builder of the frames the platform sends.

The construct declarations in frames.py stay the specification. Interpreted, they took
most of a location frame's decode plus ACK (the header, the body and the 0x8001 answer:
about two thirds; the check code and the escapes cost little), and the Containers they
return are slow to read. The functions here read and build the same bytes with
``struct``; tests/drivers/test_jt808_fast.py holds each to its declaration on arbitrary
bytes and on every vector: the same values, and for the bytes a declaration refuses the
same error class (for these bodies always LengthError: they are fixed fields and length
prefixes, so only running out of bytes or having some left over can fail). Speed:
benchmarks/decode.py and the README.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from drivers.base import FrameError, LengthError
from drivers.jt808.frames import (
    HEADER_2013, HEADER_2019, LOCATION_BASIC_SIZE, MAX_BODY, PACKAGE_ITEM, check_code, escape,
)

_ID_PROPERTIES = struct.Struct(">HH")
_PACKAGE = struct.Struct(">HH")
_SERIAL = struct.Struct(">H")
_BASIC = struct.Struct(">IIIIHHH6s")
_BATCH_HEAD = struct.Struct(">HB")
_ANSWER = struct.Struct(">HHB")
_HEAD_2013 = struct.Struct(">HH6sH")
_HEAD_2019 = struct.Struct(">HHB10sH")

# body properties (frames.BodyProperties)
_VERSION_FLAG = 0x4000
_SUBPACKAGE = 0x2000
_ENCRYPTION_SHIFT = 10
_BODY_LENGTH = 0x3FF


class Header(NamedTuple):
    """frames.HEADERS' values flattened, with frames.header_layout's size and fit."""

    message_id: int
    encryption: int
    body_length: int
    protocol_version: int | None
    phone: str
    serial: int
    package: tuple[int, int] | None  # (total, index)
    size: int
    fits: bool


def header(content: bytes) -> Header:
    """The header of unescaped ``content`` (header, body, check code; 4 bytes at least,
    the codec passes 13) in the layout frames.header_layout chooses; FrameError when the
    content is too short to hold that header."""
    message_id, properties = _ID_PROPERTIES.unpack_from(content)
    package_size = PACKAGE_ITEM if properties & _SUBPACKAGE else 0
    body_length = properties & _BODY_LENGTH
    available = len(content) - 1
    size = HEADER_2013 + package_size
    fits = available - size == body_length
    wide = False
    if properties & _VERSION_FLAG:
        wide_size = HEADER_2019 + package_size
        if available - wide_size == body_length:
            wide, size, fits = True, wide_size, True
        elif not fits and available >= wide_size:
            wide, size = True, wide_size
    if available < size:
        raise FrameError(f"{len(content)} bytes are too few for a message with a {size}-byte header")
    if wide:
        _, _, version, phone, serial = _HEAD_2019.unpack_from(content)
    else:
        _, _, phone, serial = _HEAD_2013.unpack_from(content)
        version = None
    package = _PACKAGE.unpack_from(content, size - PACKAGE_ITEM) if package_size else None
    encryption = properties >> _ENCRYPTION_SHIFT & 0b111
    return Header(message_id, encryption, body_length, version, phone.hex().upper(), serial, package, size, fits)


class Location(NamedTuple):
    """frames.Location's values; ``additional`` as (id, value) pairs."""

    alarm: int
    status: int
    latitude: int
    longitude: int
    altitude: int
    speed: int
    course: int
    time: bytes
    additional: tuple[tuple[int, bytes], ...]
    truncated: bytes


def location(data: bytes, start: int = 0, end: int | None = None) -> Location:
    """The location in ``data[start:end]`` (0x0200's body); LengthError when it is shorter
    than the basic information. An item that runs past the end, or an id without its length
    byte, ends the items and is kept as ``truncated``, as frames.Location keeps it."""
    if end is None:
        end = len(data)
    if end - start < LOCATION_BASIC_SIZE:
        raise LengthError(f"a location of {end - start} bytes: the basic information alone has {LOCATION_BASIC_SIZE}")
    items = []
    pos = start + LOCATION_BASIC_SIZE
    while pos + 2 <= end:
        stop = pos + 2 + data[pos + 1]
        if stop > end:
            break
        items.append((data[pos], data[pos + 2 : stop]))
        pos = stop
    return Location(*_BASIC.unpack_from(data, start), tuple(items), data[pos:end])


def location_reply(body: bytes) -> tuple[int, Location]:
    """0x0201 and 0x0500 (frames.LocationReply): (the serial answered, the location)."""
    if len(body) < 2:
        raise LengthError(f"a {len(body)}-byte location reply has no serial")
    return _SERIAL.unpack_from(body)[0], location(body, 2)


def batch(body: bytes) -> tuple[int, list[Location]]:
    """0x0704 (frames.Batch): (the batch type, the locations)."""
    size = len(body)
    if size < _BATCH_HEAD.size:
        raise LengthError(f"a {size}-byte batch has no count and type")
    count, kind = _BATCH_HEAD.unpack_from(body)
    locations = []
    pos = _BATCH_HEAD.size
    for _ in range(count):
        if pos + 2 > size:
            raise LengthError(f"the batch announces {count} locations and holds {len(locations)}")
        end = pos + 2 + (body[pos] << 8 | body[pos + 1])
        if end > size:
            raise LengthError(f"location {len(locations) + 1} of the batch runs past its body")
        locations.append(location(body, pos + 2, end))
        pos = end
    if pos != size:
        raise LengthError(f"{size - pos} bytes after the batch's {count} locations")
    return kind, locations


def general_response(body: bytes) -> tuple[int, int, int]:
    """0x0001 (frames.GeneralResponse): (the serial answered, the message id answered, the result)."""
    if len(body) != _ANSWER.size:
        raise LengthError(f"a general response has {_ANSWER.size} bytes, this one {len(body)}")
    return _ANSWER.unpack(body)


def general_response_body(reply_serial: int, reply_id: int, result: int) -> bytes:
    """The body of a 0x8001 (frames.GeneralResponse)."""
    return _ANSWER.pack(reply_serial, reply_id, result)


def frame(message_id: int, phone: str, serial: int, body: bytes, protocol_version: int | None = None) -> bytes:
    """frames.frame without a package: the whole frame of one message to ``phone``, a
    terminal number as ``header`` returns it (6 or 10 bytes' hex digits)."""
    if len(body) > MAX_BODY:
        raise ValueError(f"a body has at most {MAX_BODY} bytes, got {len(body)}")
    if protocol_version is None:
        head = _HEAD_2013.pack(message_id, len(body), bytes.fromhex(phone), serial & 0xFFFF)
    else:
        head = _HEAD_2019.pack(message_id, _VERSION_FLAG | len(body), protocol_version, bytes.fromhex(phone),
                               serial & 0xFFFF)
    content = head + body
    return b"\x7e" + escape(content + bytes((check_code(content),))) + b"\x7e"
