"""What a parsed GT06 message says, as a Record (protocol_specs/gt06/spec.md §5-§10).

The parsed content tells what it holds (``parsed.get("gps")``): one function turns any of
the layouts of frames.LAYOUTS into a record's fields, whichever protocol number it came in.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from drivers.base import Position, Record
from drivers.gt06 import frames

COORDINATE_SCALE = 1_800_000  # degrees x 1,800,000 = minutes x 30,000
# [VL] §I.1.1 marks 0x22 and 0x26 "UTC"; the packets of the [VL] and [4G] generation after
# them carry UTC too. The older 0x10 / 0x11 / 0x12 / 0x16 follow the unit's clock setting.
UTC_PROTOCOLS = frozenset({frames.LOCATION_UTC, frames.ALARM_UTC, frames.ALARM_FENCE, frames.LBS_MULTI, frames.WIFI,
                           frames.LOCATION_4G, frames.LBS_MULTI_4G, frames.ALARM_FENCE_4G})
ALARMS = frozenset({frames.ALARM, frames.ALARM_UTC, frames.ALARM_FENCE, frames.ALARM_FENCE_4G, frames.LBS_STATUS,
                    frames.LBS_STATUS_4G})

# [VL] §6.1 ii, first byte of Alarm/Language; [GT06] §5.3.1.17 defines 0x00-0x05 the same
# way. Where traccar names a code otherwise, spec.md §6 says so; codes the document does not
# list are "unknown" (the code itself stays in the record's "alarm" field).
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


class Implausible(Exception):
    """Content that fits a layout but cannot be what the unit meant (a latitude beyond 90°,
    an unknown text encoding): the message is kept raw instead of decoded."""


def device_time(parsed_time, offset_minutes: int) -> datetime | None:
    """UTC from the unit's date-time in a zone ``offset_minutes`` east of UTC; None when the
    six bytes are no calendar date (units send zeros before their clock is set): the
    session then stamps the record with its receive time."""
    t = parsed_time
    try:
        local = datetime(2000 + t["year"], t["month"], t["day"], t["hour"], t["minute"], t["second"],
                         tzinfo=timezone.utc)
    except ValueError:
        return None
    return local - timedelta(minutes=offset_minutes)


def position_from(gps) -> Position:
    status = gps["course_status"]
    if gps["latitude"] > 90 * COORDINATE_SCALE or gps["longitude"] > 180 * COORDINATE_SCALE:
        raise Implausible(f"coordinates out of range: {gps['latitude']}, {gps['longitude']}")
    latitude = gps["latitude"] / COORDINATE_SCALE
    longitude = gps["longitude"] / COORDINATE_SCALE
    return Position(
        # the status bits carry the hemisphere: latitude bit set = north, longitude bit set = west
        latitude=latitude if status["north"] else -latitude,
        longitude=-longitude if status["west"] else longitude,
        speed_kmh=float(gps["speed"]),
        course_deg=float(status["course"]),
        satellites=gps["info"]["satellites"],
        valid=status["positioned"],
    )


def _status(status) -> dict[str, Any]:
    info = status["terminal_info"]
    fields: dict[str, Any] = {
        "oil_electricity_cut": info["oil_electricity_cut"],
        "gps_tracking": info["gps_tracking"],
        "terminal_alarm": info["alarm"],
        "charging": info["charging"],
        "acc": info["acc"],
        "defence": info["defence"],
    }
    if "voltage_level" in status:
        fields["voltage_level"] = status["voltage_level"]
    if "voltage" in status:
        fields["battery_voltage"] = status["voltage"] / 100
    if "power" in status:
        fields["external_voltage"] = status["power"] / 100
    fields.update(gsm_signal=status["gsm_signal"], alarm=status["alarm"])
    if "language" in status:
        fields["language"] = status["language"]
    return fields


def _information(parsed) -> dict[str, Any]:
    if "power" in parsed:
        return {"external_voltage": parsed["power"] / 100}
    fields: dict[str, Any] = {"info_type": parsed["info_type"]}
    if "voltage" in parsed:
        fields["external_voltage"] = parsed["voltage"] / 100
    if "status_text" in parsed:
        text = parsed["status_text"].decode("ascii", errors="replace")
        pairs = (item.partition("=") for item in text.split(";") if item)
        fields["terminal_status"] = {key: value for key, _, value in pairs}
    if "door" in parsed:
        fields.update(door=bool(parsed["door"] & 1), door_status=parsed["door"])
    if "iccid" in parsed:
        fields.update(imsi=parsed["imsi"].hex().removeprefix("0"), iccid=parsed["iccid"].hex().upper().rstrip("F"))
    return fields


def record_from(protocol: int, parsed, tz_minutes: int) -> tuple[Record, tuple[str, ...]]:
    """The record a parsed message carries, and labels of the parts kept raw in it. ``parsed``
    is a layout's construct Container or the same tree as plain dicts (fast.PARSERS): read by
    key only."""
    fields: dict[str, Any] = {"protocol": protocol}
    position = None
    gps = parsed.get("gps")
    if gps is not None:
        position = position_from(gps)
        fields.update(gps_info_length=gps["info"]["length"], gps_differential=gps["course_status"]["differential"])
    if "lbs_length" in parsed:
        fields["lbs_length"] = parsed["lbs_length"]
    operator = parsed.get("lbs", parsed.get("operator"))
    if operator is not None:
        fields.update(mcc=operator["mcc"] & ~frames.MNC_TWO_BYTES, mnc=operator["mnc"])
    if "lbs" in parsed:
        fields.update(lac=parsed["lbs"]["lac"], cell_id=parsed["lbs"]["cell_id"])
    if "cells" in parsed:
        fields["cells"] = [{"lac": c["lac"], "cell_id": c["cell_id"], "rssi": c["rssi"]} for c in parsed["cells"]
                           if c["lac"] or c["cell_id"]]
        fields["timing_advance"] = parsed["timing_advance"]
    if "wifi" in parsed:
        fields["wifi"] = [{"mac": ap["mac"].hex(":"), "rssi": ap["rssi"]} for ap in parsed["wifi"]]
    if "upload_mode" in parsed:
        fields.update(acc=parsed["acc"] == 1, upload_mode=parsed["upload_mode"], reupload=parsed["reupload"] == 1)
    if "status" in parsed:
        fields.update(_status(parsed["status"]))
    elif "language" in parsed:
        fields["language"] = parsed["language"]
    if protocol in ALARMS:
        fields["alarm_type"] = ALARM_TYPES.get(parsed["status"]["alarm"], "unknown")
    if "fence" in parsed:
        fields["fence_number"] = parsed["fence"]
    if parsed.get("mileage") is not None:
        fields["mileage"] = parsed["mileage"]
    if protocol == frames.INFORMATION:
        fields.update(_information(parsed))
    if gps is not None and "acc" not in fields and gps["course_status"]["acc_reported"]:
        fields["acc"] = gps["course_status"]["acc"]  # the ACC line in the course word (frames.CourseStatus)
    undecoded: tuple[str, ...] = ()
    if parsed.get("extension"):
        fields["extension"] = parsed["extension"].hex()
        undecoded = (f"{protocol:#04x} extension",)
    time = parsed.get("time")
    at = None if time is None else device_time(time, 0 if protocol in UTC_PROTOCOLS else tz_minutes)
    return Record(device_time=at, position=position, fields=fields), undecoded


def response_text(protocol: int, parsed) -> str:
    """The text of a command answer; units pad it with NULs."""
    if protocol == frames.SHORT_RESPONSE or parsed["encoding"] == frames.ENCODING_ASCII:
        text = parsed["text"].decode("ascii", errors="replace")
    elif parsed["encoding"] == frames.ENCODING_UTF16BE:
        text = parsed["text"].decode("utf-16-be", errors="replace")
    else:
        raise Implausible(f"unknown content code {parsed['encoding']:#04x} in a 0x21 answer")
    return text.rstrip("\x00")
