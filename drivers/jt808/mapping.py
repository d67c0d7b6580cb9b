"""JT808 record -> vehicle-state properties (lower-case OneAPI capability names).

The record's ``fields`` are the codec's decode of the 0x0200 location body (spec §4): status
bits as booleans, additional-information items by name. Only OneAPI properties come out;
everything else (alarms, fuel, raw items) stays in the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import Record, position_properties

# Item 0x30 is one BYTE without a scale in the standard. Terminals report the modem's
# 3GPP TS 27.007 CSQ value: 0 is -113 dBm or less, 31 is -51 dBm or more, 99 unknown.
# 1..31 is cut into five bands of six steps (about 12 dB each) above "no signal".
CSQ_MAX = 31


def signal_quality(csq: int) -> int | None:
    """0-5 from a CSQ value; None for 99 (unknown) or anything outside 0..31."""
    if not 0 <= csq <= CSQ_MAX:
        return None
    if csq == 0:
        return 0
    return min(5, 1 + (csq - 1) // 6)


def state_from_record(record: Record, model_options: Mapping[str, Any]) -> dict[str, Any]:
    state = position_properties(record.position)
    fields = record.fields
    if "acc_on" in fields:
        state["ignition"] = "ON" if fields["acc_on"] else "OFF"
    if "door_locked" in fields:
        state["central_lock"] = "LOCKED" if fields["door_locked"] else "UNLOCKED"
    if "oil_cut" in fields or "circuit_cut" in fields:
        # Either cut stops the vehicle: the oil (fuel) circuit or the electric circuit.
        state["driving_enabled"] = not (fields.get("oil_cut") or fields.get("circuit_cut"))
    mileage = fields.get("mileage_km")
    if mileage is not None:
        state["mileage_in_kilometers"] = mileage
    csq = fields.get("signal_strength")
    if csq is not None and (quality := signal_quality(csq)) is not None:
        state["cellular_signal_quality"] = quality
    return state
