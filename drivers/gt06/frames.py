"""Construct declarations of the Concox GT06 family's frames (protocol_specs/gt06/spec.md).

Declarative only: no state, no I/O. The codec finds frame boundaries itself (it must read
the length field before the rest has arrived, and skip garbage in front of a start
marker); it then parses each frame's *content* -- the bytes between the protocol number
and the information serial number -- with the layouts ``LAYOUTS`` lists for that protocol
number. Units of the family speak several variants of one protocol number that differ
only in length, so each protocol number has its layouts in the order they are tried; every
layout ends in ``Terminated``, and the first that takes the whole content is the one the
unit speaks. ``ShortFrame`` / ``LongFrame`` describe whole frames for builders (replies,
commands, the simulator) and for round-trip tests.

Sources: [GT06] and [VL] are the Concox documents of spec.md §References; [4G] marks the
4G packets (0xA0, 0xA1, 0xA4, 0xA5) of Concox's 4G models as spec.md §2 describes them;
"traccar" marks variants of units in the field that traccar's decoder reads (spec.md §2).
"""

from __future__ import annotations

import binascii
import enum

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Checksum,
    Const,
    Flag,
    GreedyBytes,
    IfThenElse,
    Int8ub,
    Int16ub,
    Int24ub,
    Int32ub,
    Int64ub,
    Nibble,
    Optional,
    PrefixedArray,
    RawCopy,
    Rebuild,
    Struct,
    Terminated,
    len_,
    stream_size,
    stream_tell,
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
GPS_LBS_WIDE = 0x11  # GPS + a cell with 2-byte MNC and 4-byte cell id (traccar)
LOCATION = 0x12  # GPS + LBS, device local time
STATUS = 0x13  # status information, the heartbeat
SHORT_RESPONSE = 0x15  # string information: the unit's answer to 0x80
ALARM = 0x16  # GPS + LBS + status, device local time
LBS_STATUS = 0x19  # LBS + status: an alarm without GPS (traccar)
LONG_RESPONSE = 0x21  # the unit's answer to 0x80 with a content code (ASCII / UTF-16BE)
LOCATION_UTC = 0x22
HEARTBEAT_VOLTAGE = 0x23  # heartbeat with the battery voltage in volts (traccar: GK310)
ALARM_UTC = 0x26
ALARM_FENCE = 0x27  # alarm with the number of the fence it concerns (traccar)
LBS_MULTI = 0x28  # seven cells, no GPS ([VL] §4)
WIFI = 0x2C  # seven cells and Wi-Fi access points, no GPS ([VL] §5)
COMMAND = 0x80  # online command, server -> unit
TIME_REQUEST = 0x8A
INFORMATION = 0x94  # information transmission, by information type ([VL] §10)
LOCATION_4G = 0xA0  # [4G]: 0x22 with a 4G cell
LBS_MULTI_4G = 0xA1  # [4G]: 0x28 with 4G cells
ALARM_FENCE_4G = 0xA4  # [4G]: 0x27 with a 4G cell
LBS_STATUS_4G = 0xA5  # [4G]: 0x19 with a 4G cell

ENCODING_ASCII = 0x01  # 0x21 content code
ENCODING_UTF16BE = 0x02


# --- replies ---------------------------------------------------------------------------------


class Echo(enum.Enum):
    """How the server answers a unit's message: with nothing, or with a frame that echoes
    its protocol number and serial and has no content ([GT06] §5.1.2, §5.3.2, §5.4.2), in
    the short or (field practice for a few 7979 packets) the long form."""

    NONE = "none"
    SHORT = "short"
    LONG = "long"


# Messages answered with the echo in any frame form: those the documents answer, and the
# location and alarm packets fleetgate answers after their commit (spec.md §3, §11).
ECHOED = frozenset({LOGIN, GPS, GPS_LBS_WIDE, LOCATION, STATUS, ALARM, LBS_STATUS, LOCATION_UTC, HEARTBEAT_VOLTAGE,
                    ALARM_UTC, ALARM_FENCE, LOCATION_4G, ALARM_FENCE_4G, LBS_STATUS_4G})
# Never echoed: the documents say "no reply" (answers to commands, 0x28, 0x2C, 0x94), the
# server's own numbers (0x80-0x82 commands, 0x97 address, 0x8A is answered with the time),
# and 0x2A, a request for an address (a 0x97 answer fleetgate does not give).
NOT_ECHOED = frozenset({SHORT_RESPONSE, LONG_RESPONSE, LBS_MULTI, WIFI, INFORMATION, LBS_MULTI_4G, COMMAND, 0x81,
                        0x82, 0x97, TIME_REQUEST, 0x2A})
# 7979 packets of other numbers get no answer, except where units wait for one (traccar
# answers these): the modular and device-status packets in a 7878 frame, AZ735 packets in 7979.
LONG_FRAME_ECHOES = {0x70: Echo.SHORT, 0xF1: Echo.SHORT, 0xF2: Echo.SHORT, 0x32: Echo.LONG, 0x33: Echo.LONG}


def echo_for(protocol: int, long_frame: bool) -> Echo:
    """The answer a unit expects to a message of ``protocol`` (spec.md §11), whether fleetgate
    decodes it or keeps it raw."""
    if protocol in ECHOED:
        return Echo.SHORT
    if protocol in NOT_ECHOED:
        return Echo.NONE
    if long_frame:
        return LONG_FRAME_ECHOES.get(protocol, Echo.NONE)
    return Echo.SHORT  # a 7878 packet of another number: the family's generic answer


# --- CRC-ITU ([GT06] §4.6, Appendix A) ------------------------------------------------------
# The vendor's table routine is the reflected CRC-16 with polynomial 0x1021 (0x8408 reversed),
# initial value 0xFFFF and the result inverted: CRC-16/X-25, check value 0x906E for
# "123456789". A reflected CRC is the unreflected CRC of the same polynomial over the input
# with each byte's bits reversed, itself bit-reversed (0xFFFF reads the same both ways). So
# the C routine binascii.crc_hqx (unreflected, polynomial 0x1021) computes it, 2-7 times
# faster than the table walked in Python over a frame (README "Performance");
# tests/drivers/test_gt06_fast.py holds it to the vendor's table routine.

_BIT_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def crc_itu(data: bytes | bytearray) -> int:
    crc = binascii.crc_hqx(data.translate(_BIT_REVERSED), 0xFFFF)
    return (_BIT_REVERSED[crc & 0xFF] << 8 | _BIT_REVERSED[crc >> 8]) ^ 0xFFFF


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

# [GT06] §5.2.1.9: bits 13 differential (0 = real time), 12 positioned, 11 west longitude,
# 10 north latitude, 9-0 course in degrees. The document keeps bits 15-14 zero; many units
# put the ACC line there: bit 14 says bit 15 is the ACC state (traccar reads it so).
CourseStatus = BitStruct(
    "acc" / Flag,
    "acc_reported" / Flag,
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

# The MCC word's top bit says the MNC takes two bytes (3-digit MNCs; traccar, [4G]).
MNC_TWO_BYTES = 0x8000
_MNC = IfThenElse(this.mcc & MNC_TWO_BYTES, Int16ub, Int8ub)


def _cell(lac, cell_id) -> Struct:
    return Struct("mcc" / Int16ub, "mnc" / _MNC, "lac" / lac, "cell_id" / cell_id)


Cell = _cell(Int16ub, Int24ub)  # [GT06] §5.2.1.10-13
CellLongId = _cell(Int16ub, Int32ub)  # 4-byte cell id (traccar: SEEWORLD)
Cell4G = _cell(Int32ub, Int64ub)  # [4G]: 4-byte LAC, 8-byte cell id
CellWide = Struct("mcc" / Int16ub, "mnc" / Int16ub, "lac" / Int16ub, "cell_id" / Int32ub)  # 0x11 (traccar)
Operator = Struct("mcc" / Int16ub, "mnc" / _MNC)
Neighbour = Struct("lac" / Int16ub, "cell_id" / Int24ub, "rssi" / Int8ub)  # [VL] §4.1
Neighbour4G = Struct("lac" / Int32ub, "cell_id" / Int64ub, "rssi" / Int8ub)
AccessPoint = Struct("mac" / Bytes(6), "rssi" / Int8ub)  # [VL] §5.1

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
# 0x23 (traccar: GK310): the battery in hundredths of a volt instead of a level.
StatusWithVoltage = Struct(
    "terminal_info" / TerminalInfo, "voltage" / Int16ub, "gsm_signal" / Int8ub, "alarm" / Int8ub, "language" / Int8ub,
)
# A 0x12 that ends in a status (traccar: VXT01): external power in hundredths of a volt.
StatusWithPower = Struct(
    "terminal_info" / TerminalInfo, "power" / Int16ub, "gsm_signal" / Int8ub, "alarm" / Int8ub,
)

# --- contents by protocol number ------------------------------------------------------------


def _layout(*fields) -> Struct:
    return Struct(*fields, Terminated)


TIME_GPS = ("time" / DateTime, "gps" / Gps)
# [VL] §3.1: ACC (0 low, 1 high), data upload mode, re-upload (0 real time, 1 buffered)
REPORT = ("acc" / Int8ub, "upload_mode" / Int8ub, "reupload" / Int8ub)
MILEAGE = "mileage" / Optional(Int32ub)  # only units with a mileage function send it

# Terminal ID: the IMEI as 16 BCD digits. [VL] §1.1 adds a model identification code and
# the time zone / language word; older units send the terminal ID alone.
LoginContent = _layout("terminal_id" / Bytes(8), "type_id" / Optional(Int16ub), "tz_language" / Optional(Int16ub))

# [GT06] Appendix C: reserved extension bytes after the documented fields, kept as they come.
GpsContent = _layout(*TIME_GPS, "extension" / GreedyBytes)
GpsLbsWideContent = _layout(*TIME_GPS, "lbs" / CellWide, "extension" / GreedyBytes)
LocationContent = _layout(*TIME_GPS, "lbs" / Cell, MILEAGE)
LocationUtcContent = _layout(*TIME_GPS, "lbs" / Cell, *REPORT, MILEAGE)  # also a 0x12 with this tail (traccar)
LocationStatusContent = _layout(*TIME_GPS, "lbs" / Cell, "status" / StatusWithPower)
LocationExtendedContent = _layout(*TIME_GPS, "lbs" / Cell, "extension" / GreedyBytes)
Location4GContent = _layout(*TIME_GPS, "lbs" / Cell4G, *REPORT, MILEAGE)

# [GT06] §5.3.1; [VL] §6.1 adds the mileage. The LBS length byte should count itself and
# the cell (9); units send other values, so the content length chooses the layout.
AlarmContent = _layout(*TIME_GPS, "lbs_length" / Int8ub, "lbs" / Cell, "status" / Status, MILEAGE)
AlarmLongCellIdContent = _layout(*TIME_GPS, "lbs_length" / Int8ub, "lbs" / CellLongId, "status" / Status)
AlarmWithoutLbsLengthContent = _layout(*TIME_GPS, "lbs" / Cell, "status" / Status)
AlarmTaggedContent = _layout(*TIME_GPS, "lbs_length" / Int8ub, "lbs" / Cell, "status" / Status,
                             "extension" / Bytes(8))  # traccar: TRX16I, an RFID tag
AlarmFenceContent = _layout(*TIME_GPS, "lbs_length" / Int8ub, "lbs" / Cell, "status" / Status, "fence" / Int8ub)
AlarmFence4GContent = _layout(*TIME_GPS, "lbs_length" / Int8ub, "lbs" / Cell4G, "status" / Status, "fence" / Int8ub)
LbsStatusContent = _layout("lbs" / Cell, "status" / Status)
LbsStatus4GContent = _layout("lbs" / Cell4G, "status" / Status)

StatusContent = _layout("status" / Status)
HeartbeatVoltageContent = _layout("status" / StatusWithVoltage)
TimeRequestContent = _layout()
TimeAnswerContent = DateTime

# [VL] §4.1 / §5.1: the serving cell and six neighbours, timing advance, then the language
# word (0x28) or the Wi-Fi access points (0x2C).
LbsMultiContent = _layout("time" / DateTime, "operator" / Operator, "cells" / Array(7, Neighbour),
                          "timing_advance" / Int8ub, "language" / Int16ub)
WifiContent = _layout("time" / DateTime, "operator" / Operator, "cells" / Array(7, Neighbour),
                      "timing_advance" / Int8ub, "wifi" / PrefixedArray(Int8ub, AccessPoint))
LbsMulti4GContent = _layout("time" / DateTime, "operator" / Operator, "cells" / Array(7, Neighbour4G),
                            "timing_advance" / Int8ub, "language" / Int16ub)

# [VL] §10.1: information type, then its content. 0x00 external voltage in hundredths of a
# volt; 0x04 the terminal's status as ASCII "ALM1=..;ALM2=..;"; 0x05 door (bit 0: open),
# some units with the date-time before it (traccar); 0x0A IMEI, IMSI and ICCID as BCD.
INFO_VOLTAGE, INFO_STATUS, INFO_DOOR, INFO_IDENTITY = 0x00, 0x04, 0x05, 0x0A
InfoVoltageContent = _layout("info_type" / Const(INFO_VOLTAGE, Int8ub), "voltage" / Int16ub)
InfoStatusContent = _layout("info_type" / Const(INFO_STATUS, Int8ub), "status_text" / GreedyBytes)
InfoDoorContent = _layout("info_type" / Const(INFO_DOOR, Int8ub), "time" / Optional(DateTime), "door" / Int8ub)
InfoIdentityContent = _layout("info_type" / Const(INFO_IDENTITY, Int8ub), "imei" / Bytes(8), "imsi" / Bytes(8),
                              "iccid" / Bytes(10))
# A 0x94 in a 7878 frame has no information type: external power, hundredths of a volt (traccar).
InfoPowerContent = _layout("power" / Int16ub)

# 0x80 (server) and 0x15 (unit) share a layout: the length byte counts server flag + text;
# the language word after the text is optional in commands ([VL] §8.1, both examples).
CommandContent = _layout(
    "length" / Rebuild(Int8ub, len_(this.text) + 4),
    "server_flag" / Int32ub,
    "text" / Bytes(this.length - 4),
    "language" / Optional(Int16ub),
)
ShortResponseContent = CommandContent


def _before_language(this) -> int:
    """The text fills the content up to its 2-byte language word."""
    if this._building:
        return len(this.text)
    return stream_size(this._io) - stream_tell(this._io, "text") - 2


# Units answer with a command length byte that does not count their text (0 in the field,
# answering DYD): the text is then what lies between server flag and language word.
ShortResponseByLengthContent = _layout(
    "length" / Int8ub, "server_flag" / Int32ub, "text" / Bytes(_before_language), "language" / Int16ub,
)
LongResponseContent = _layout("server_flag" / Int32ub, "encoding" / Int8ub, "text" / GreedyBytes)

# What units send, by protocol number: the layouts in the order they are tried.
LAYOUTS = {
    LOGIN: (LoginContent,),
    GPS: (GpsContent,),
    GPS_LBS_WIDE: (GpsLbsWideContent,),
    LOCATION: (LocationContent, LocationUtcContent, LocationStatusContent, LocationExtendedContent),
    LOCATION_UTC: (LocationUtcContent,),
    LOCATION_4G: (Location4GContent,),
    ALARM: (AlarmContent, AlarmLongCellIdContent, AlarmWithoutLbsLengthContent, AlarmTaggedContent),
    ALARM_UTC: (AlarmContent, AlarmLongCellIdContent, AlarmWithoutLbsLengthContent, AlarmTaggedContent),
    ALARM_FENCE: (AlarmFenceContent,),
    ALARM_FENCE_4G: (AlarmFence4GContent,),
    LBS_STATUS: (LbsStatusContent,),
    LBS_STATUS_4G: (LbsStatus4GContent,),
    STATUS: (StatusContent,),
    HEARTBEAT_VOLTAGE: (HeartbeatVoltageContent,),
    LBS_MULTI: (LbsMultiContent,),
    WIFI: (WifiContent,),
    LBS_MULTI_4G: (LbsMulti4GContent,),
    INFORMATION: (InfoVoltageContent, InfoStatusContent, InfoDoorContent, InfoIdentityContent),
    TIME_REQUEST: (TimeRequestContent,),
    SHORT_RESPONSE: (ShortResponseContent, ShortResponseByLengthContent),
    LONG_RESPONSE: (LongResponseContent,),
}
# A 7878 frame tries these first.
SHORT_FRAME_LAYOUTS = {INFORMATION: (InfoPowerContent,)}
