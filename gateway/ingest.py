"""Turning a unit's decoded records into rows: state by the model, duplicate key, clock checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from drivers.base import Driver, Record
from gateway.clock import rfc3339
from gateway.store.telemetry import BatchRows, RecordRow


def raw_fields(record: Record) -> dict[str, Any]:
    raw: dict[str, Any] = dict(record.fields)
    if record.position is not None:
        raw["position"] = asdict(record.position)
    return raw


def content_hash(raw: dict[str, Any]) -> bytes:
    """Part of the duplicate key: a resent record hashes the same, a different record
    at the same instant does not."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


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
    for record in records:
        raw = raw_fields(record)
        state = driver.state_from_record(record, model_options) if driver.state_from_record else {}
        device_time = record.device_time or received  # an untimed sample is as old as its arrival
        rows.append(
            RecordRow(
                recorded_at=rfc3339(device_time),
                content_hash=content_hash(raw),
                state=state,
                raw=raw,
                # Stored with the record, but a clock far ahead must not pin the state.
                updates_state=device_time <= horizon,
            )
        )
    return BatchRows(vehicle_id, driver.brand, unit_id, rfc3339(received), raw_frame, tuple(rows))
