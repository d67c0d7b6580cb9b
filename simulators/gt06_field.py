"""What a simulated GT06 unit of the ``field`` profile sends beside the documents' packets
(protocol_specs/gt06/spec.md §11): the variants and other message types units of the family
send in the field, mixed into its stream at fixed steps of its drive so that a short run
shows every kind.

Each builder returns the packets for one step as ``Packet`` values; simulators.gt06 keeps
and sends them like its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.gt06 import frames

THREE_DIGIT_MNC = 11  # sent with the MCC's top bit set, as 3-digit-MNC networks do
ICCID = bytes.fromhex("89860012345678901234")  # 20 digits, BCD
IMSI = bytes.fromhex("0460001234567890")
# An 0xF1 device status (Jimi 4G): Unix time and status items, which fleetgate keeps raw.
DEVICE_STATUS_ITEMS = bytes.fromhex("000101010002010100030100000401010005020195")


@dataclass
class Packet:
    protocol: int
    content: bytes
    needs_reply: bool = False
    resend: bool = False  # kept and sent again when its reply does not come
    long: bool = False  # sent in a 7979 frame
    stored: bool = True  # the gateway keeps it as a record (decoded or raw)
    transmissions: int = 0


def time_bytes(moment: datetime) -> dict:
    return {"year": moment.year - 2000, "month": moment.month, "day": moment.day, "hour": moment.hour,
            "minute": moment.minute, "second": moment.second}


def _cells(unit) -> list[dict]:
    serving = 0x1F00 + unit.trip.steps % 64
    return [{"lac": 0x287D, "cell_id": serving + n, "rssi": 60 - 5 * n} for n in range(7)]


def location(unit, now: datetime) -> Packet:
    """The step's location: 0x22 as documented, or a variant by the step of the drive --
    0x12 in local time with the ACC line in the course word and a 3-digit MNC, or 0xA0 with
    a 4G cell and the mileage."""
    trip, kind = unit.trip, unit.trip.steps % 4
    needs_reply = unit.require_location_replies
    if kind == 1:
        gps = unit.gps(acc_in_course=True)
        lbs = {**unit.lbs(), "mcc": 460 | frames.MNC_TWO_BYTES, "mnc": THREE_DIGIT_MNC}
        content = frames.LocationContent.build({
            "time": time_bytes(now + timedelta(minutes=unit.tz_minutes)), "gps": gps, "lbs": lbs, "mileage": None})
        return Packet(frames.LOCATION, content, needs_reply, needs_reply)
    if kind == 2:
        lbs = {"mcc": 460, "mnc": 0, "lac": 0x0000287D, "cell_id": 0x0000000002EA5E00 + trip.steps % 64}
        content = frames.Location4GContent.build({
            "time": time_bytes(now), "gps": unit.gps(), "lbs": lbs, "acc": int(trip.speed > 0), "upload_mode": 0,
            "reupload": int(not unit.online), "mileage": trip.odometer_m})
        return Packet(frames.LOCATION_4G, content, needs_reply, needs_reply)
    return Packet(frames.LOCATION_UTC, unit.location_utc(now), needs_reply, needs_reply)


def heartbeat(unit, count: int) -> Packet:
    """Heartbeats in turn: 0x13 as documented, 0x23 with the battery in volts, and a 0x13
    of 14 bytes (traccar: OBD6) that fleetgate keeps raw; the unit waits for each echo."""
    kind = count % 3
    if kind == 1:
        status = {**unit.status(), "voltage": 412}
        del status["voltage_level"]
        return Packet(frames.HEARTBEAT_VOLTAGE, frames.HeartbeatVoltageContent.build({"status": status}), True)
    content = frames.StatusContent.build({"status": unit.status()})
    if kind == 2:
        content += bytes.fromhex("010400000000000001")  # the variant's extra fields, opaque here
    return Packet(frames.STATUS, content, True)


def alarm(unit, now: datetime, sos: bool) -> Packet:
    """SOS in a 0x16 without the LBS length byte; vibration in a 0x26 with the mileage."""
    if sos:
        content = frames.AlarmWithoutLbsLengthContent.build({
            "time": time_bytes(now + timedelta(minutes=unit.tz_minutes)), "gps": unit.gps(), "lbs": unit.lbs(),
            "status": unit.status(alarm_bits=4, alarm=0x01)})
        return Packet(frames.ALARM, content, True, True)
    content = frames.AlarmContent.build({
        "time": time_bytes(now), "gps": unit.gps(), "lbs_length": 9, "lbs": unit.lbs(),
        "status": unit.status(alarm_bits=1, alarm=0x03), "mileage": unit.trip.odometer_m})
    return Packet(frames.ALARM_UTC, content, True, True)


def extras(unit, now: datetime) -> list[Packet]:
    """The other packets of this step: cells, Wi-Fi, information, a type fleetgate keeps
    raw, an empty 0x12 and a time request. None of them waits for an answer."""
    step, packets = unit.trip.steps, []
    operator = {"mcc": 460, "mnc": 0}
    if step % 5 == 2:
        packets.append(Packet(frames.LBS_MULTI, frames.LbsMultiContent.build({
            "time": time_bytes(now), "operator": operator, "cells": _cells(unit), "timing_advance": 255,
            "language": 2})))
    if step % 5 == 4:
        wifi = [{"mac": bytes([0x00, 0x18, 0x01, 0xEB, 0x40, n]), "rssi": 50 + n} for n in range(3)]
        packets.append(Packet(frames.WIFI, frames.WifiContent.build({
            "time": time_bytes(now), "operator": operator, "cells": _cells(unit), "timing_advance": 7,
            "wifi": wifi})))
    if step % 6 == 1:
        if step % 12 == 1:
            content = frames.InfoVoltageContent.build({"voltage": 1250 + step % 50})
        else:
            content = frames.InfoIdentityContent.build({"imei": bytes.fromhex("0" + unit.imei), "imsi": IMSI,
                                                        "iccid": ICCID})
        packets.append(Packet(frames.INFORMATION, content, long=True))
    if step % 7 == 3:
        packets.append(Packet(0xF1, int(now.timestamp()).to_bytes(4, "big") + DEVICE_STATUS_ITEMS, long=True))
    if step % 9 == 5:
        packets.append(Packet(frames.LOCATION, b"", stored=False))
    if step % 10 == 7:
        packets.append(Packet(frames.TIME_REQUEST, b"", stored=False))
    return packets


def short_answer(server_flag: int, text: str, serial: int) -> bytes:
    """A 0x15 as units in the field send it: command length 0, the text padded with NULs."""
    content = frames.ShortResponseByLengthContent.build({
        "length": 0, "server_flag": server_flag, "text": text.encode("ascii").ljust(90, b"\x00"), "language": 1})
    return frames.frame(frames.SHORT_RESPONSE, content, serial)
