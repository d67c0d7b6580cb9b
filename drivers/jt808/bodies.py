"""What the bodies of JT/T 808 terminal messages mean (protocol_specs/jt808/spec.md §4).

Pure functions from parsed declarations (frames.py) to the values the codec hands on: the
attributes of a registration or an authentication, one Record per location. No state: the
codec decides which body it has and what may come when.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

from drivers.base import Position, Record, parse
from drivers.jt808 import frames
from drivers.jt808.fast import Location


def text_field(raw: bytes) -> str:
    """A fixed-width text field: padding removed; hex when it is not printable ASCII."""
    stripped = raw.rstrip(b"\x00")
    if all(0x20 <= b < 0x7F for b in stripped):
        return stripped.decode("ascii").rstrip(" ")
    return stripped.hex()


def gbk_field(raw: bytes) -> str:
    stripped = raw.rstrip(b"\x00")
    try:
        return stripped.decode("gbk")
    except UnicodeDecodeError:
        return stripped.hex()


def registration_attributes(body: bytes, protocol_version: int | None) -> dict:
    """0x0100 (spec §4.2): the layout by the header's edition and, for 2013, the body's size."""
    if protocol_version is not None:
        layout, declaration = "2019", frames.Registration2019
    elif len(body) >= frames.REGISTRATION_2013_MIN:
        layout, declaration = "2013", frames.Registration2013
    else:
        layout, declaration = "2011", frames.Registration2011
    parsed = parse(declaration, body, "registration body")
    # Since 2013 a plate colour of 0 means "not registered yet": the field holds the VIN.
    plate_key = "vin" if layout != "2011" and parsed.plate_color == 0 else "plate"
    return {
        "province": parsed.province, "city": parsed.city, "maker": text_field(parsed.maker),
        "model": text_field(parsed.model), "terminal_id": text_field(parsed.terminal_id),
        "plate_color": parsed.plate_color, plate_key: gbk_field(parsed.plate), "version": layout,
    }


def authentication(body: bytes, protocol_version: int | None) -> tuple[str, dict]:
    """0x0102 (spec §4.4): (the code, one character per byte, attributes)."""
    if protocol_version is None:
        code = body.rstrip(b"\x00")  # the 2011 STRING type ended in a 0 terminator
        attributes = {"protocol_version": "2013"}
    else:
        parsed = parse(frames.Authentication2019, body, "authentication body")
        code = parsed.code
        attributes = {"protocol_version": "2019", "version_byte": protocol_version,
                      "imei": text_field(parsed.imei), "software_version": text_field(parsed.software_version)}
    # latin-1 maps every byte to one character: distinct codes never compare equal.
    return code.decode("latin-1"), attributes


def truncated_items(message_id: int, locations) -> tuple[str, ...]:
    """RecordBatch.undecoded labels: one per location whose last item runs past its body."""
    return tuple(f"{message_id:#06x} item {loc.truncated[0]:#04x}" for loc in locations if loc.truncated)


def location_record(location: Location, device_tz: tzinfo) -> Record:
    """One Record from a 0x0200 body as fast.location reads it (spec §4.5)."""
    alarm, status, latitude, longitude, altitude, speed, course, time, additional, truncated = location
    fields: dict = {
        "alarm_flags": alarm,
        "alarms": [name for bit, name in enumerate(frames.ALARM_NAMES) if alarm >> bit & 1] if alarm else [],
        "status_flags": status,
        "acc_on": bool(status & 1),
        "positioned": bool(status >> 1 & 1),
        "oil_cut": bool(status >> 10 & 1),
        "circuit_cut": bool(status >> 11 & 1),
        "door_locked": bool(status >> 12 & 1),
    }
    raw_items: dict[str, str] = {}
    for item_id, value in additional:
        known = frames.ITEMS.get(item_id)
        if known is not None and len(value) == known[1]:
            number = int.from_bytes(value, "big")
            fields[known[0]] = number / known[2] if known[2] else number
        elif item_id == frames.ANALOG and len(value) == 4:
            fields["analog_ad0"] = int.from_bytes(value[2:], "big")
            fields["analog_ad1"] = int.from_bytes(value[:2], "big")
        else:  # unknown, vendor-defined, or a known id with an unexpected length
            raw_items[f"{item_id:02x}"] = value.hex()
    if raw_items:
        fields["raw_items"] = raw_items
    if truncated:  # kept as sent, for a later version to read
        fields["truncated_item"] = truncated.hex()
    latitude, longitude = latitude / 1e6, longitude / 1e6
    if status & 0b100:
        latitude = -latitude
    if status & 0b1000:
        longitude = -longitude
    in_range = abs(latitude) <= 90 and abs(longitude) <= 180 and (latitude, longitude) != (0, 0)
    position = Position(
        latitude=latitude, longitude=longitude, altitude_m=float(altitude), speed_kmh=speed / 10,
        course_deg=float(course), satellites=fields.get("satellites"), valid=fields["positioned"] and in_range,
    )
    return Record(device_time=_device_time(time, fields, device_tz), position=position, fields=fields)


# BCD byte -> its two digits' value; bytes with a nibble above 9 are refused before the look-up
_BCD = [(byte >> 4) * 10 + (byte & 0xF) for byte in range(256)]


def _device_time(bcd: bytes, fields: dict, device_tz: tzinfo) -> datetime | None:
    digits = bcd.hex()
    try:
        if not digits.isdigit():
            raise ValueError("not BCD")
        year, month, day, hour, minute, second = [_BCD[byte] for byte in bcd]
        local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=device_tz)
    except ValueError:
        # No time yet (all zeros), an impossible date or a nibble that is no digit: keep
        # the record, untimed, with the time as sent.
        fields["time_bcd"] = digits
        return None
    return local.astimezone(timezone.utc)
