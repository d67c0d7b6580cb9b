"""NiuState -> vehicle-state properties, and a poll as a Record for the store writer.

Each rule is written down with its sources in protocol_specs/niu/spec.md §6.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import Position, Record
from drivers.niu.parse import STATUS_OK, NiuProtocolError, NiuState, parse_state


def driving_enabled(state: NiuState) -> bool | None:
    """An armed scooter (fortification on) cannot be ridden; otherwise ACC on is "ready to
    ride". ACC is the deciding flag because every model reports it, while some report
    fortification as "" (unknown)."""
    if state.fortified:
        return False
    return state.acc_on


def has_position(state: NiuState) -> bool:
    # 0/0 is what a unit without a fix reports, not a place in the Gulf of Guinea
    return state.lat is not None and state.lon is not None and (state.lat, state.lon) != (0.0, 0.0)


def state_properties(state: NiuState, model_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """NiuState -> vehicle-state properties (lower-case OneAPI names). Only what the answer
    said is emitted; the gateway keeps those the vehicle's model lists. ``model_options``
    is accepted for the common driver signature; no NIU model needs one yet."""
    props: dict[str, Any] = {}
    if state.charge_percent is not None:
        props["fuel_level_in_percent"] = state.charge_percent
    if has_position(state):
        props["position"] = {"lat": state.lat, "lon": state.lon}
    enabled = driving_enabled(state)
    if enabled is not None:
        props["driving_enabled"] = enabled
    if state.top_case_locked is not None:
        props["top_case_lock"] = "LOCKED" if state.top_case_locked else "UNLOCKED"
    if state.top_case_open is not None:
        props["top_case_lid"] = "OPEN" if state.top_case_open else "CLOSED"
    if state.speed_kmh is not None:
        props["speed_in_kilometers_per_hour"] = state.speed_kmh
    if state.estimated_range_km is not None:
        props["remaining_range_in_kilometers"] = state.estimated_range_km
    if state.mileage_km is not None:
        props["mileage_in_kilometers"] = state.mileage_km
    if state.signal_quality is not None:
        props["cellular_signal_quality"] = state.signal_quality
    return props


def record_from_state(state: NiuState) -> Record:
    """A NiuState as a Record, so a cloud poll is stored like a TCP unit's sample: raw
    answer in ``fields["niu"]``, device time from the answer (None: the gateway stamps it)."""
    position = None
    if state.lat is not None and state.lon is not None:
        position = Position(state.lat, state.lon, speed_kmh=state.speed_kmh, valid=has_position(state))
    return Record(device_time=state.time, position=position, fields={"niu": dict(state.raw)})


def state_from_record(record: Record, model_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    raw = record.fields.get("niu")
    if not isinstance(raw, Mapping):
        return {}
    try:
        state = parse_state({"status": STATUS_OK, "data": raw})
    except NiuProtocolError:
        return {}
    return state_properties(state, model_options or {})


__all__ = ["driving_enabled", "has_position", "record_from_state", "state_from_record", "state_properties"]
