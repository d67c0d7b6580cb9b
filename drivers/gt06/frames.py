"""Construct declarations of the Concox GT06 / GT06N frames (protocol_specs/gt06/spec.md).

Declarative only: no state, no I/O. The codec finds frame boundaries itself (it must read
the length field before the rest has arrived, and skip garbage in front of a start
marker); it then parses each frame's *content* -- the bytes between the protocol number
and the information serial number -- with the declaration for that protocol number.
``ShortFrame`` / ``LongFrame`` describe whole frames for builders (replies, commands, the
simulator) and for round-trip tests.
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Checksum,
    Const,
    Flag,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int24ub,
    Int32ub,
    Nibble,
    Optional,
    RawCopy,
    Rebuild,
    Struct,
    Terminated,
    len_,
    this,
)

SHORT_START = b"\x78\x78"  # one-byte length field
LONG_START = b"\x79\x79"  # two-byte length field
STOP = b"\r\n"
# The length field counts protocol number + content + serial + CRC: 5 bytes besides content.
LENGTH_OVERHEAD = 5
SHORT_MAX_CONTENT = 0xFF - LENGTH_OVERHEAD
LONG_MAX_CONTENT = 0xFFFF - LENGTH_OVERHEAD

# --- protocol numbers ([GT06] §4.3, [VL] §I.1.1) ------------------------------------------

LOGIN = 0x01
GPS = 0x10  # GPS information package, [GT06] Appendix C
LOCATION = 0x12  # GPS + LBS, device local time
STATUS = 0x13  # status information, the heartbeat
SHORT_RESPONSE = 0x15  # string information: the unit's answer to 0x80
ALARM = 0x16  # GPS + LBS + status, device local time
LONG_RESPONSE = 0x21  # the unit's answer to 0x80 with a content code (ASCII / UTF-16BE)
LOCATION_UTC = 0x22
ALARM_UTC = 0x26
COMMAND = 0x80  # online command, server -> unit
TIME_REQUEST = 0x8A
# Documented packets that need no reply and carry nothing fleetgate stores ([VL] §4.2, §5.2,
# §10.2): the codec skips them rather than closing the session of a unit that sends them.
LBS_MULTI = 0x28
WIFI = 0x2C
INFORMATION = 0x94
SKIPPED = frozenset({LBS_MULTI, WIFI, INFORMATION})

ALARMS = frozenset({ALARM, ALARM_UTC})
UTC_PROTOCOLS = frozenset({LOCATION_UTC, ALARM_UTC})  # [VL] §I.1.1 marks these "(UTC)"
RESPONSES = frozenset({SHORT_RESPONSE, LONG_RESPONSE})

ENCODING_ASCII = 0x01  # 0x21 content code
ENCODING_UTF16BE = 0x02


# [VL] §6.1 ii, first byte of Alarm/Language; [GT06] §5.3.1.17 defines 0x00-0x05 the same way.
ALARM_TYPES = {
    0x00: "normal", 0x01: "sos", 0x02: "power_cut", 0x03: "vibration", 0x04: "fence_in", 0x05: "fence_out",
    0x06: "overspeed", 0x09: "moving", 0x0A: "gps_dead_zone_in", 0x0B: "gps_dead_zone_out", 0x0C: "power_on",
    0x0D: "gps_first_fix", 0x0E: "external_low_battery", 0x0F: "external_low_battery_protection",
    0x10: "sim_change", 0x11: "power_off", 0x12: "airplane_mode", 0x13: "disassemble", 0x14: "door",
    0x15: "low_power_shutdown", 0x16: "sound", 0x17: "pseudo_base_station", 0x18: "open_cover",
    0x19: "internal_low_battery", 0x20: "sleep_mode", 0x23: "fall", 0x24: "charger_inserted",
    0x29: "harsh_acceleration", 0x2A: "sharp_left_turn", 0x2B: "sharp_right_turn", 0x2C: "crash",
    0x2D: "rollover", 0x30: "harsh_braking", 0x32: "pull", 0x3C: "car_theft", 0x3D: "illegal_start",
    0x3E: "button", 0x4B: "tilt", 0x4C: "sharp_turn", 0x4D: "abrupt_lane_change", 0x4E: "vehicle_stability",
    0x4F: "vehicle_angle_abnormal", 0x5E: "pulse_line_cut", 0xFE: "acc_on", 0xFF: "acc_off",
}


# --- CRC-ITU ([GT06] §4.6, Appendix A) ------------------------------------------------------
# The vendor's table routine is the reflected CRC-16 with polynomial 0x1021 (0x8408 reversed),
# initial value 0xFFFF and the result inverted: CRC-16/X-25, check value 0x906E for
# "123456789". The table is derived here rather than typed in.


def _table_entry(byte: int) -> int:
    crc = byte
    for _ in range(8):
        crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


_TABLE = tuple(_table_entry(b) for b in range(256))


def crc_itu(data: bytes | bytearray | memoryview) -> int:
    crc = 0xFFFF
    table = _TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


# --- whole frames ---------------------------------------------------------------------------


def _frame(start: bytes, length_field) -> Struct:
    return Struct(
        "start" / Const(start),
        # the CRC covers exactly these bytes: length field .. serial number
        "covered" / RawCopy(Struct(
            "length" / Rebuild(length_field, len_(this.content) + LENGTH_OVERHEAD),
            "protocol" / Int8ub,
            "content" / Bytes(this.length - LENGTH_OVERHEAD),
            "serial" / Int16ub,
        )),
        "crc" / Checksum(Int16ub, crc_itu, this.covered.data),
        "stop" / Const(STOP),
        Terminated,
    )


ShortFrame = _frame(SHORT_START, Int8ub)
LongFrame = _frame(LONG_START, Int16ub)


def frame(protocol: int, content: bytes, serial: int, *, long: bool | None = None) -> bytes:
    """A whole frame; short (7878) unless ``long`` or the content needs the 2-byte length."""
    if long is None:
        long = len(content) > SHORT_MAX_CONTENT
    declaration = LongFrame if long else ShortFrame
    return declaration.build({"covered": {"value": {"protocol": protocol, "content": content, "serial": serial}}})


def parse_frame(data: bytes):
    """The ``covered.value`` container of a whole frame (construct errors propagate)."""
    declaration = LongFrame if data[:2] == LONG_START else ShortFrame
    return declaration.parse(data).covered.value


# --- building blocks ------------------------------------------------------------------------

# yy mm dd hh mi ss, one byte each, year counted from 2000 ([GT06] §5.2.1.4)
DateTime = Struct(
    "year" / Int8ub, "month" / Int8ub, "day" / Int8ub, "hour" / Int8ub, "minute" / Int8ub, "second" / Int8ub,
)

# High nibble: length of the GPS information (12 = this byte .. course), low nibble: satellites.
GpsInfoByte = BitStruct("length" / Nibble, "satellites" / Nibble)

# [GT06] §5.2.1.9: bits 15-14 zero, 13 differential (0 = real time), 12 positioned,
# 11 west longitude, 10 north latitude, 9-0 course in degrees.
CourseStatus = BitStruct(
    "reserved" / BitsInteger(2),
    "differential" / Flag,
    "positioned" / Flag,
    "west" / Flag,
    "north" / Flag,
    "course" / BitsInteger(10),
)

Gps = Struct(
    "info" / GpsInfoByte,
    "latitude" / Int32ub,  # minutes x 30000, i.e. degrees x 1,800,000, no sign
    "longitude" / Int32ub,
    "speed" / Int8ub,  # km/h
    "course_status" / CourseStatus,
)

Lbs = Struct("mcc" / Int16ub, "mnc" / Int8ub, "lac" / Int16ub, "cell_id" / Int24ub)

# [GT06] §5.3.1.14 / [VL] §6.1 i: bits 5-3 are an alarm code in alarm packets and
# "extended bits" in the [VL] heartbeat.
TerminalInfo = BitStruct(
    "oil_electricity_cut" / Flag,
    "gps_tracking" / Flag,
    "alarm" / BitsInteger(3),
    "charging" / Flag,
    "acc" / Flag,
    "defence" / Flag,
)

Status = Struct(
    "terminal_info" / TerminalInfo,
    "voltage_level" / Int8ub,  # 0 (no power) .. 6 (very high)
    "gsm_signal" / Int8ub,  # 0 (none) .. 4 (strong)
    "alarm" / Int8ub,  # first byte of Alarm/Language
    "language" / Int8ub,  # 0x01 Chinese, 0x02 English (0x00 in a [VL] alarm: no reply needed)
)

# --- contents by protocol number ------------------------------------------------------------

# Terminal ID: the IMEI as 16 BCD digits. [VL] §1.1 adds a model identification code and
# the time zone / language word; older units send the terminal ID alone.
LoginContent = Struct(
    "terminal_id" / Bytes(8),
    "type_id" / Optional(Int16ub),
    "tz_language" / Optional(Int16ub),
    Terminated,
)

# Reserved extension bytes ([GT06] Appendix C) are kept as they come.
GpsContent = Struct("time" / DateTime, "gps" / Gps, "extension" / GreedyBytes)
LocationContent = Struct("time" / DateTime, "gps" / Gps, "lbs" / Lbs, "extension" / GreedyBytes)
LocationUtcContent = Struct(
    "time" / DateTime,
    "gps" / Gps,
    "lbs" / Lbs,
    "acc" / Int8ub,  # 0 low, 1 high
    "upload_mode" / Int8ub,
    "reupload" / Int8ub,  # 0 real time, 1 re-uploaded from the unit's buffer
    "mileage" / Optional(Int32ub),  # only units with a mileage function send it
    "extension" / GreedyBytes,
)
AlarmContent = Struct(
    "time" / DateTime,
    "gps" / Gps,
    "lbs_length" / Int8ub,
    "lbs" / Lbs,
    "status" / Status,
    "extension" / GreedyBytes,
)
AlarmUtcContent = Struct(
    "time" / DateTime,
    "gps" / Gps,
    "lbs_length" / Int8ub,
    "lbs" / Lbs,
    "status" / Status,
    "mileage" / Optional(Int32ub),
    "extension" / GreedyBytes,
)
StatusContent = Struct("status" / Status, "extension" / GreedyBytes)
TimeRequestContent = Struct(Terminated)
TimeAnswerContent = DateTime

# 0x80 (server) and 0x15 (unit) share a layout: the length byte counts server flag + text;
# the language word after the text is optional in commands ([VL] §8.1, both examples).
CommandContent = Struct(
    "length" / Rebuild(Int8ub, len_(this.text) + 4),
    "server_flag" / Int32ub,
    "text" / Bytes(this.length - 4),
    "language" / Optional(Int16ub),
    Terminated,
)
ShortResponseContent = CommandContent
LongResponseContent = Struct("server_flag" / Int32ub, "encoding" / Int8ub, "text" / GreedyBytes)

CONTENTS = {
    LOGIN: LoginContent,
    GPS: GpsContent,
    LOCATION: LocationContent,
    LOCATION_UTC: LocationUtcContent,
    ALARM: AlarmContent,
    ALARM_UTC: AlarmUtcContent,
    STATUS: StatusContent,
    TIME_REQUEST: TimeRequestContent,
    COMMAND: CommandContent,
    SHORT_RESPONSE: ShortResponseContent,
    LONG_RESPONSE: LongResponseContent,
}
KNOWN = frozenset(CONTENTS) | SKIPPED
