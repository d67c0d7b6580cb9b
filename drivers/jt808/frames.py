"""Construct declarations of JT/T 808 messages (protocol_specs/jt808/spec.md).

Declarative only: no state, no I/O. A message on the wire is ``7E <escaped content> 7E``
where the content is header + body + one XOR check code (§1 of the spec). The codec finds the
delimiters itself (it must, to stream) and hands the unescaped content to ``Message``;
``WireFrame`` describes the whole delimited frame for builders (the simulator) and for
round-trip tests. Bodies are parsed with the per-message declarations below.
"""

from __future__ import annotations

from functools import reduce
from operator import xor

from construct import (
    Adapter,
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Checksum,
    Construct,
    Default,
    Flag,
    GreedyBytes,
    GreedyRange,
    If,
    IfThenElse,
    Int8ub,
    Int16ub,
    Int32ub,
    Prefixed,
    PrefixedArray,
    RawCopy,
    Rebuild,
    Struct,
    Terminated,
    ValidationError,
    len_,
    stream_read,
    stream_write,
    this,
)

FLAG = 0x7E
ESCAPE = 0x7D

# message ids (spec §3)
TERMINAL_RESPONSE = 0x0001
HEARTBEAT = 0x0002
REGISTRATION = 0x0100
AUTHENTICATION = 0x0102
LOCATION = 0x0200
POSITION_REPLY = 0x0201
CONTROL_REPLY = 0x0500
BATCH = 0x0704
PLATFORM_RESPONSE = 0x8001
REGISTRATION_REPLY = 0x8100
POSITION_QUERY = 0x8201
VEHICLE_CONTROL = 0x8500

MAX_BODY = 0x3FF  # ten bits of body length
HEADER_2013 = 12
HEADER_2019 = 17
PACKAGE_ITEM = 4  # total + index, present only when the subpackage bit is set
LOCATION_BASIC_SIZE = 28


def check_code(data: bytes | bytearray) -> int:
    """XOR of every byte of header and body (spec §1.3)."""
    return reduce(xor, data, 0)


def escape(content: bytes) -> bytes:
    # 7D first: escaping 7E first would create 7D bytes that then get escaped again.
    return content.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(escaped: bytes) -> bytes:
    """Undo ``escape``; ValueError for a 7D not followed by 01 or 02."""
    if ESCAPE not in escaped:
        return bytes(escaped)
    first, *rest = bytes(escaped).split(b"\x7d")
    out = [first]
    for part in rest:
        if not part or part[0] not in (1, 2):
            raise ValueError("0x7D must be followed by 0x01 or 0x02")
        out.append(b"\x7d" if part[0] == 1 else b"\x7e")
        out.append(part[1:])
    return b"".join(out)


HEX_DIGITS = frozenset("0123456789ABCDEF")


class TerminalNumber(Adapter):
    """The terminal phone number, BCD[n] in the standard, as its 2n hex digits in upper
    case: the BCD digits, leading zeros kept, and for a number that is not BCD (units in
    the field send them) the same 2n characters with letters among them."""

    def __init__(self, length: int) -> None:
        super().__init__(Bytes(length))
        self.digits = 2 * length

    def _decode(self, obj, context, path):
        return obj.hex().upper()

    def _encode(self, obj, context, path):
        if len(obj) != self.digits or not set(obj) <= HEX_DIGITS:
            raise ValidationError(f"expected {self.digits} upper-case hex digits", path=path)
        return bytes.fromhex(obj)


# --- header (spec §1.4) -------------------------------------------------------------

BodyProperties = BitStruct(
    "reserved" / Flag,  # bit 15
    "version_flag" / Flag,  # bit 14: 2019 header
    "subpackage" / Flag,  # bit 13: package item follows the serial
    "encryption" / BitsInteger(3),  # bits 10-12, 0 = plain, bit 10 = RSA
    "body_length" / BitsInteger(10),
)


def _header(wide: bool | None) -> Struct:
    """The header's fields: in the layout the version flag names (``wide`` None, for
    builders), or in the one the reader chose (``header_layout``)."""

    def is_wide(ctx) -> bool:
        return ctx.properties.version_flag if wide is None else wide

    return Struct(
        "message_id" / Int16ub,
        "properties" / BodyProperties,
        "protocol_version" / If(is_wide, Int8ub),
        "phone" / IfThenElse(is_wide, TerminalNumber(10), TerminalNumber(6)),
        "serial" / Int16ub,
        "package" / If(this.properties.subpackage, Struct("total" / Int16ub, "index" / Int16ub)),
    )


Header = _header(None)
HEADERS = {True: _header(True), False: _header(False)}  # by header_layout's choice


def header_layout(content: bytes) -> tuple[bool, int, bool]:
    """(wide, size, fits) of the header of unescaped ``content`` (header, body, check code;
    4 bytes at least): whether to read the 2019 layout, the header's size, and whether the
    body then has the length the header declares. A terminal that sets the version flag on
    a 2013 header (seen in the field) is read by its body: of the two header sizes only
    one can leave the declared length (they differ by 5 bytes)."""
    props = BodyProperties.parse(content[2:4])
    package = PACKAGE_ITEM if props.subpackage else 0
    sizes = [(wide, (HEADER_2019 if wide else HEADER_2013) + package)
             for wide in ((True, False) if props.version_flag else (False,))]
    for wide, size in sizes:
        if len(content) - 1 - size == props.body_length:
            return wide, size, True
    # Neither fits: the layout the flag names, or the 2013 one if the frame cannot hold it.
    wide, size = next(((w, s) for w, s in sizes if len(content) - 1 >= s), sizes[-1])
    return wide, size, False


# The unescaped content between the delimiters.
Message = Struct(
    "content" / RawCopy(Struct("header" / Header, "body" / Bytes(this.header.properties.body_length))),
    "check_code" / Checksum(Int8ub, check_code, this.content.data),
    Terminated,
)


class _Delimited(Construct):
    """7E + escaped ``subcon`` + 7E: the message as it travels."""

    def __init__(self, subcon) -> None:
        super().__init__()
        self.subcon = subcon

    def _parse(self, stream, context, path):
        if stream_read(stream, 1, path) != b"\x7e":
            raise ValidationError("a frame starts with 0x7E", path=path)
        escaped = bytearray()
        while (byte := stream_read(stream, 1, path)) != b"\x7e":
            escaped += byte
        try:
            content = unescape(bytes(escaped))
        except ValueError as exc:
            raise ValidationError(str(exc), path=path) from None
        return self.subcon.parse(content, **context)

    def _build(self, obj, stream, context, path):
        data = b"\x7e" + escape(self.subcon.build(obj, **context)) + b"\x7e"
        stream_write(stream, data, len(data), path)
        return obj


WireFrame = _Delimited(Message)


def header_fields(message_id: int, phone: str, serial: int, body_length: int, protocol_version: int | None,
                  package: tuple[int, int] | None = None) -> dict:
    """Header values for ``Header.build``: 2019 layout when ``protocol_version`` is given."""
    return {
        "message_id": message_id,
        "properties": {"reserved": False, "version_flag": protocol_version is not None,
                       "subpackage": package is not None, "encryption": 0, "body_length": body_length},
        "protocol_version": protocol_version,
        "phone": phone,
        "serial": serial,
        "package": None if package is None else {"total": package[0], "index": package[1]},
    }


def frame(message_id: int, phone: str, serial: int, body: bytes, protocol_version: int | None = None,
          package: tuple[int, int] | None = None, *, version_flag: bool | None = None) -> bytes:
    """The whole wire frame of one message. ``version_flag`` True on a 2013 header (no
    ``protocol_version``) builds what some terminals in the field send."""
    if len(body) > MAX_BODY:
        raise ValueError(f"a body has at most {MAX_BODY} bytes, got {len(body)}")
    wide = protocol_version is not None
    header = header_fields(message_id, phone, serial & 0xFFFF, len(body), protocol_version, package)
    header["properties"]["version_flag"] = wide if version_flag is None else version_flag
    content = HEADERS[wide].build(header) + body
    return b"\x7e" + escape(content + bytes([check_code(content)])) + b"\x7e"


# --- bodies (spec §3) ---------------------------------------------------------------

GeneralResponse = Struct(  # 0x0001 and 0x8001
    "reply_serial" / Int16ub,
    "reply_id" / Int16ub,
    "result" / Int8ub,
    Terminated,
)


def _registration(maker: int, model: int, terminal_id: int) -> Struct:
    return Struct(
        "province" / Int16ub,
        "city" / Int16ub,
        "maker" / Bytes(maker),
        "model" / Bytes(model),
        "terminal_id" / Bytes(terminal_id),
        "plate_color" / Int8ub,
        "plate" / GreedyBytes,  # GBK; the VIN when the colour is 0 (2013, 2019)
    )


Registration2011 = _registration(5, 8, 7)
Registration2013 = _registration(5, 20, 7)
Registration2019 = _registration(11, 30, 30)
REGISTRATION_2013_MIN = 2 + 2 + 5 + 20 + 7 + 1  # shorter bodies can only be the 2011 layout

RegistrationReply = Struct(  # 0x8100
    "reply_serial" / Int16ub,
    "result" / Int8ub,
    "auth_code" / If(this.result == 0, GreedyBytes),
    Terminated,
)

Authentication2019 = Struct(  # 0x0102 of 2019; the 2013 body is the code alone
    "code" / Prefixed(Int8ub, GreedyBytes),
    "imei" / Bytes(15),
    "software_version" / Bytes(20),
    Terminated,
)

AdditionalItem = Struct("id" / Int8ub, "value" / Prefixed(Int8ub, GreedyBytes))

Location = Struct(  # 0x0200 body, also inside 0x0201, 0x0500 and 0x0704
    "alarm" / Int32ub,
    "status" / Int32ub,
    "latitude" / Int32ub,  # degrees x 1e6, the sign is status bit 2
    "longitude" / Int32ub,  # degrees x 1e6, the sign is status bit 3
    "altitude" / Int16ub,  # metres
    "speed" / Int16ub,  # 1/10 km/h
    "course" / Int16ub,  # degrees from north, clockwise
    "time" / Bytes(6),  # BCD YYMMDDhhmmss, GMT+8
    "additional" / GreedyRange(AdditionalItem),
    # What GreedyRange could not take: an item that runs past the body (or its id alone).
    "truncated" / Default(GreedyBytes, b""),
)

ALARM_NAMES = (  # alarm flag bits, 2013 Table 24 with the 2019 additions (bits 15-17)
    "emergency", "overspeed", "fatigue_driving", "danger_warning", "gnss_module_fault",
    "gnss_antenna_disconnected", "gnss_antenna_short_circuit", "main_power_undervoltage", "main_power_off",
    "display_fault", "tts_fault", "camera_fault", "ic_card_module_fault", "overspeed_warning", "fatigue_warning",
    "illegal_driving", "tire_pressure_warning", "right_turn_blind_spot", "driving_time_exceeded_today",
    "overtime_parking", "area_in_out", "route_in_out", "route_time_abnormal", "route_deviation", "vss_fault",
    "fuel_abnormal", "stolen", "illegal_ignition", "illegal_displacement", "collision", "rollover",
    "illegal_door_open",
)

# additional-information items: id -> (field name, value length, scale divisor or None)
ITEMS = {
    0x01: ("mileage_km", 4, 10), 0x02: ("fuel_l", 2, 10), 0x03: ("recorder_speed_kmh", 2, 10),
    0x04: ("alarm_event_id", 2, None), 0x25: ("vehicle_signal_flags", 4, None), 0x2A: ("io_flags", 2, None),
    0x30: ("signal_strength", 1, None), 0x31: ("satellites", 1, None),
}
ANALOG = 0x2B  # DWORD: bits 0-15 AD0, bits 16-31 AD1

LocationReply = Struct("reply_serial" / Int16ub, "location" / Location)  # 0x0201, 0x0500

Batch = Struct(  # 0x0704
    "count" / Rebuild(Int16ub, len_(this.locations)),
    "type" / Int8ub,  # 0 regular batch, 1 blind-area re-upload
    "locations" / Array(this.count, Prefixed(Int16ub, Location)),
    Terminated,
)

VehicleControl2013 = Struct("flags" / Int8ub)  # bit 0: 1 lock, 0 unlock
DOOR_CONTROL_TYPE = 0x0001  # 2019 control type "door", one BYTE: 0 lock, 1 unlock
VehicleControl2019 = Struct("controls" / PrefixedArray(Int16ub, Struct("type" / Int16ub, "value" / Int8ub)))
