"""Hand ``struct`` parsers for the GT06 layouts that carry records or command answers.

frames.py stays the specification. Each parser here gives what ``layout.parse(content)``
gives for one construct layout of frames.LAYOUTS -- the same tree of keys, values and value
types, as plain dicts -- or None where that layout does not take the whole content (where
construct raises). Interpreted construct takes 70-120 us for a location, an alarm or a
status on this project's machine, these 3-6 us (README "Performance"). The hypothesis tests
of tests/drivers/test_gt06_fast.py hold every parser to its layout on arbitrary, mutated,
built and vector contents. ``PARSERS`` maps each layout object to its parser;
codec.match_layout takes it where there is one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from drivers.gt06 import frames

Parser = Callable[[bytes], dict[str, Any] | None]

_from_bytes = int.from_bytes
_TIME_GPS = struct.Struct(">6BBIIBH")  # date-time, GPS info byte, latitude, longitude, speed, course word
_TIME = struct.Struct(">6B")
_TIME_GPS_SIZE = _TIME_GPS.size


def _time(year: int, month: int, day: int, hour: int, minute: int, second: int) -> dict[str, int]:
    return {"year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second}


def _gps(info: int, latitude: int, longitude: int, speed: int, word: int) -> dict[str, Any]:
    return {
        "info": {"length": info >> 4, "satellites": info & 0x0F},
        "latitude": latitude,
        "longitude": longitude,
        "speed": speed,
        "course_status": {
            "acc": bool(word & 0x8000),
            "acc_reported": bool(word & 0x4000),
            "differential": bool(word & 0x2000),
            "positioned": bool(word & 0x1000),
            "west": bool(word & 0x0800),
            "north": bool(word & 0x0400),
            "course": word & 0x03FF,
        },
    }


def _terminal_info(byte: int) -> dict[str, Any]:
    return {
        "oil_electricity_cut": bool(byte & 0x80),
        "gps_tracking": bool(byte & 0x40),
        "alarm": (byte >> 3) & 0x07,
        "charging": bool(byte & 0x04),
        "acc": bool(byte & 0x02),
        "defence": bool(byte & 0x01),
    }


# --- cells and statuses ---------------------------------------------------------------------


class _Cell(NamedTuple):
    """Widths in a cell: LAC, cell id; ``wide_mnc`` when the MNC takes two bytes whatever the
    MCC word says (frames.CellWide)."""

    lac: int
    cell_id: int
    wide_mnc: bool = False

    def size(self, content: bytes, at: int) -> int:
        two_byte_mnc = self.wide_mnc or content[at] & 0x80  # frames.MNC_TWO_BYTES
        return (4 if two_byte_mnc else 3) + self.lac + self.cell_id  # MCC word, MNC, LAC, cell id

    def parse(self, content: bytes, at: int) -> dict[str, int]:
        mcc = content[at] << 8 | content[at + 1]
        if self.wide_mnc or mcc & frames.MNC_TWO_BYTES:
            mnc = content[at + 2] << 8 | content[at + 3]
            at += 4
        else:
            mnc = content[at + 2]
            at += 3
        lac_end = at + self.lac
        return {"mcc": mcc, "mnc": mnc, "lac": _from_bytes(content[at:lac_end], "big"),
                "cell_id": _from_bytes(content[lac_end : lac_end + self.cell_id], "big")}


CELL, CELL_LONG_ID, CELL_4G, CELL_WIDE = _Cell(2, 3), _Cell(2, 4), _Cell(4, 8), _Cell(2, 4, wide_mnc=True)


class _Status(NamedTuple):
    """The terminal information byte, then these fields."""

    fields: struct.Struct
    names: tuple[str, ...]

    def parse(self, content: bytes, at: int) -> dict[str, Any]:
        status: dict[str, Any] = {"terminal_info": _terminal_info(content[at])}
        status.update(zip(self.names, self.fields.unpack_from(content, at + 1)))
        return status


STATUS = _Status(struct.Struct(">4B"), ("voltage_level", "gsm_signal", "alarm", "language"))
STATUS_WITH_VOLTAGE = _Status(struct.Struct(">H3B"), ("voltage", "gsm_signal", "alarm", "language"))
STATUS_WITH_POWER = _Status(struct.Struct(">H2B"), ("power", "gsm_signal", "alarm"))


# --- located messages: [date-time + GPS] [LBS length] [cell] [report] [status] [fence | tag] ---

_MILEAGE = struct.Struct(">I")
_REPORT_SIZE = 3  # frames.REPORT
_TAG_SIZE = 8  # AlarmTaggedContent's extension


def _located(*, gps: bool = True, lbs_length: bool = False, cell: _Cell | None = None, report: bool = False,
             status: _Status | None = None, after: str | None = None, ending: str | None = None):
    """A parser for a layout of this shape. ``after``: "fence" (one byte) or "tag" (eight);
    ``ending``: "mileage" (four optional bytes) or "extension" (the rest, maybe none)."""
    cell_at = (_TIME_GPS_SIZE if gps else 0) + (1 if lbs_length else 0)
    tail = ((_REPORT_SIZE if report else 0) + (1 + status.fields.size if status else 0)
            + {None: 0, "fence": 1, "tag": _TAG_SIZE}[after])

    def parse(content: bytes) -> dict[str, Any] | None:
        n = len(content)
        cell_size = 0
        if cell is not None:
            if n < cell_at + 2:
                return None  # the MCC word that sizes the cell is not there
            cell_size = cell.size(content, cell_at)
        end = cell_at + cell_size + tail
        if n != end and not (ending == "mileage" and n == end + 4) and not (ending == "extension" and n > end):
            return None
        parsed: dict[str, Any] = {}
        if gps:
            year, month, day, hour, minute, second, *fix = _TIME_GPS.unpack_from(content)
            parsed["time"] = _time(year, month, day, hour, minute, second)
            parsed["gps"] = _gps(*fix)
        if lbs_length:
            parsed["lbs_length"] = content[_TIME_GPS_SIZE]
        at = cell_at + cell_size
        if cell is not None:
            parsed["lbs"] = cell.parse(content, cell_at)
        if report:
            parsed.update(acc=content[at], upload_mode=content[at + 1], reupload=content[at + 2])
            at += _REPORT_SIZE
        if status is not None:
            parsed["status"] = status.parse(content, at)
            at += 1 + status.fields.size
        if after == "fence":
            parsed["fence"] = content[at]
        elif after == "tag":
            parsed["extension"] = content[at : at + _TAG_SIZE]
        if ending == "mileage":
            parsed["mileage"] = _MILEAGE.unpack_from(content, end)[0] if n > end else None
        elif ending == "extension":
            parsed["extension"] = content[end:]
        return parsed

    return parse


# --- seven cells, then the language word or Wi-Fi access points ([VL] §4.1, §5.1) -------------

_NEIGHBOURS = 7


def _multi_cell(neighbour_lac: int, neighbour_id: int, *, wifi: bool):
    neighbour_size = neighbour_lac + neighbour_id + 1
    cells_size = _NEIGHBOURS * neighbour_size

    def parse(content: bytes) -> dict[str, Any] | None:
        n = len(content)
        if n < 8:
            return None
        cells_at = 10 if content[6] & 0x80 else 9  # date-time, MCC word, one or two MNC bytes
        end = cells_at + cells_size + 1  # ... timing advance
        if wifi:
            if n <= end or n != end + 1 + 7 * content[end]:
                return None
        elif n != end + 2:
            return None
        mcc = content[6] << 8 | content[7]
        parsed: dict[str, Any] = {
            "time": _time(*_TIME.unpack_from(content)),
            "operator": {"mcc": mcc, "mnc": _from_bytes(content[8:cells_at], "big")},
            "cells": [
                {"lac": _from_bytes(content[at : at + neighbour_lac], "big"),
                 "cell_id": _from_bytes(content[at + neighbour_lac : at + neighbour_size - 1], "big"),
                 "rssi": content[at + neighbour_size - 1]}
                for at in range(cells_at, cells_at + cells_size, neighbour_size)
            ],
            "timing_advance": content[end - 1],
        }
        if wifi:
            parsed["wifi"] = [{"mac": content[at : at + 6], "rssi": content[at + 6]} for at in range(end + 1, n, 7)]
        else:
            parsed["language"] = content[end] << 8 | content[end + 1]
        return parsed

    return parse


# --- information transmission (0x94, [VL] §10.1) -------------------------------------------


def _info_voltage(content: bytes) -> dict[str, Any] | None:
    if len(content) != 3 or content[0] != frames.INFO_VOLTAGE:
        return None
    return {"info_type": frames.INFO_VOLTAGE, "voltage": content[1] << 8 | content[2]}


def _info_status(content: bytes) -> dict[str, Any] | None:
    if not content or content[0] != frames.INFO_STATUS:
        return None
    return {"info_type": frames.INFO_STATUS, "status_text": content[1:]}


def _info_door(content: bytes) -> dict[str, Any] | None:
    n = len(content)
    if n not in (2, 8) or content[0] != frames.INFO_DOOR:
        return None
    time = _time(*_TIME.unpack_from(content, 1)) if n == 8 else None
    return {"info_type": frames.INFO_DOOR, "time": time, "door": content[-1]}


def _info_identity(content: bytes) -> dict[str, Any] | None:
    if len(content) != 27 or content[0] != frames.INFO_IDENTITY:
        return None
    return {"info_type": frames.INFO_IDENTITY, "imei": content[1:9], "imsi": content[9:17], "iccid": content[17:]}


def _info_power(content: bytes) -> dict[str, Any] | None:
    if len(content) != 2:
        return None
    return {"power": content[0] << 8 | content[1]}


# --- command answers (0x15, 0x21) --------------------------------------------------------------


def _server_flag(content: bytes, at: int) -> int:
    return _from_bytes(content[at : at + 4], "big")


def _short_response(content: bytes) -> dict[str, Any] | None:
    """frames.CommandContent: the length byte counts server flag and text."""
    n = len(content)
    if not n:
        return None
    length = content[0]
    text_end = 1 + length
    if length < 4 or n not in (text_end, text_end + 2):
        return None
    language = content[text_end] << 8 | content[text_end + 1] if n > text_end else None
    return {"length": length, "server_flag": _server_flag(content, 1), "text": content[5:text_end],
            "language": language}


def _short_response_by_length(content: bytes) -> dict[str, Any] | None:
    n = len(content)
    if n < 7:
        return None
    return {"length": content[0], "server_flag": _server_flag(content, 1), "text": content[5:-2],
            "language": content[-2] << 8 | content[-1]}


def _long_response(content: bytes) -> dict[str, Any] | None:
    if len(content) < 5:
        return None
    return {"server_flag": _server_flag(content, 0), "encoding": content[4], "text": content[5:]}


PARSERS = {
    frames.GpsContent: _located(ending="extension"),
    frames.GpsLbsWideContent: _located(cell=CELL_WIDE, ending="extension"),
    frames.LocationContent: _located(cell=CELL, ending="mileage"),
    frames.LocationUtcContent: _located(cell=CELL, report=True, ending="mileage"),
    frames.LocationStatusContent: _located(cell=CELL, status=STATUS_WITH_POWER),
    frames.LocationExtendedContent: _located(cell=CELL, ending="extension"),
    frames.Location4GContent: _located(cell=CELL_4G, report=True, ending="mileage"),
    frames.AlarmContent: _located(lbs_length=True, cell=CELL, status=STATUS, ending="mileage"),
    frames.AlarmLongCellIdContent: _located(lbs_length=True, cell=CELL_LONG_ID, status=STATUS),
    frames.AlarmWithoutLbsLengthContent: _located(cell=CELL, status=STATUS),
    frames.AlarmTaggedContent: _located(lbs_length=True, cell=CELL, status=STATUS, after="tag"),
    frames.AlarmFenceContent: _located(lbs_length=True, cell=CELL, status=STATUS, after="fence"),
    frames.AlarmFence4GContent: _located(lbs_length=True, cell=CELL_4G, status=STATUS, after="fence"),
    frames.LbsStatusContent: _located(gps=False, cell=CELL, status=STATUS),
    frames.LbsStatus4GContent: _located(gps=False, cell=CELL_4G, status=STATUS),
    frames.StatusContent: _located(gps=False, status=STATUS),
    frames.HeartbeatVoltageContent: _located(gps=False, status=STATUS_WITH_VOLTAGE),
    frames.LbsMultiContent: _multi_cell(2, 3, wifi=False),
    frames.WifiContent: _multi_cell(2, 3, wifi=True),
    frames.LbsMulti4GContent: _multi_cell(4, 8, wifi=False),
    frames.InfoVoltageContent: _info_voltage,
    frames.InfoStatusContent: _info_status,
    frames.InfoDoorContent: _info_door,
    frames.InfoIdentityContent: _info_identity,
    frames.InfoPowerContent: _info_power,
    frames.ShortResponseContent: _short_response,
    frames.ShortResponseByLengthContent: _short_response_by_length,
    frames.LongResponseContent: _long_response,
}


# --- the echo ---------------------------------------------------------------------------------

_ECHO_HEAD = {False: struct.Struct(">2sBBH"), True: struct.Struct(">2sHBH")}


def echo_frame(protocol: int, serial: int, long: bool) -> bytes:
    """``frames.frame(protocol, b"", serial, long=long)``: every ACK is one of these."""
    head = _ECHO_HEAD[long].pack(frames.LONG_START if long else frames.SHORT_START, frames.LENGTH_OVERHEAD,
                                 protocol, serial)
    return head + frames.crc_itu(head[2:]).to_bytes(2, "big") + frames.STOP
