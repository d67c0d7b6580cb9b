"""Turning a unit's decoded records into rows: state by the model, duplicate key, clock checks."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from drivers.base import Driver, Record
from gateway.clock import rfc3339
from gateway.store.telemetry import BatchRows, RecordRow


# One encoder, canonical (sorted, compact): the stored raw JSON is also what the
# duplicate key hashes, so a resent record hashes the same and is encoded once.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
_string = json.encoder.encode_basestring_ascii  # what _canonical does with a str, without its overhead


def _encode_value(value: Any) -> str:
    """JSON for one state value; scalars skip the general encoder, which is slow for them."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return repr(value)
    if type(value) is str:
        return _string(value)
    return _canonical(value)


def raw_fields(record: Record) -> dict[str, Any]:
    raw: dict[str, Any] = dict(record.fields)
    p = record.position
    if p is not None:
        raw["position"] = {  # spelled out: dataclasses.asdict is a deep copy, slow per record
            "latitude": p.latitude, "longitude": p.longitude, "altitude_m": p.altitude_m, "speed_kmh": p.speed_kmh,
            "course_deg": p.course_deg, "satellites": p.satellites, "valid": p.valid,
        }
    return raw


_MAX_KEY_MS = 2**48 - 1  # six bytes of milliseconds: past the year 10,000


def _duplicate_key(device_time: datetime, identity: str) -> bytes:
    """Device time in ms (6 bytes), then a hash of brand, unit, time and content (10 bytes).

    The time leads so that live records, whose device times are about now, land at the
    end of the key's index: a key that is all hash puts each insert on a random page of
    an index as large as the whole history, and SQLite then writes that page into the
    WAL and checkpoints it again, once per record.
    """
    ms = min(max(0, round(device_time.timestamp() * 1000)), _MAX_KEY_MS)
    return ms.to_bytes(6, "big") + hashlib.blake2b(identity.encode(), digest_size=10).digest()


def prepare_batch(
    driver: Driver,
    model_options: Mapping[str, Any],
    vehicle_id: str,
    unit_id: str,
    records: tuple[Record, ...],
    raw_frame: bytes,
    received: datetime,
    max_clock_skew: float,
) -> BatchRows:
    horizon = received + timedelta(seconds=max_clock_skew)
    rows = []
    latest: dict[str, tuple[str, str]] = {}
    for record in records:
        raw = _canonical(raw_fields(record))
        mapped = driver.state_from_record(record, model_options) if driver.state_from_record else {}
        device_time = record.device_time or received  # an untimed sample is as old as its arrival
        recorded_at = rfc3339(device_time)
        encoded = {name: _encode_value(value) for name, value in mapped.items()}
        rows.append(RecordRow(
            recorded_at=recorded_at,
            duplicate_key=_duplicate_key(device_time, f"{driver.brand}|{unit_id}|{recorded_at}|{raw}"),
            state="{" + ",".join(f'"{name}":{value}' for name, value in encoded.items()) + "}",
            raw=raw,
        ))
        if device_time <= horizon:  # stored with the record, but a clock far ahead must not pin state
            for name, value in encoded.items():
                if name not in latest or latest[name][0] <= recorded_at:
                    latest[name] = (recorded_at, value)
    return BatchRows(vehicle_id, driver.brand, unit_id, rfc3339(received), raw_frame, tuple(rows), latest)
