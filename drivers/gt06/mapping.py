"""GT06 record -> vehicle-state properties (lower-case OneAPI capability names).

Field names are those codec.record_from writes (spec.md "Record fields"). Only properties
of the OneAPI vocabulary are emitted; voltage level, alarms, LBS cell and the rest stay in
the record's raw fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import Record, position_properties

# GSM signal level 0 (none) .. 4 (strong) onto the gateway's 0..5 scale: level x 5/4,
# rounded half up, so that "none" stays 0 and "strong" is the top of the scale.
SIGNAL_QUALITY = {0: 0, 1: 1, 2: 3, 3: 4, 4: 5}


def signal_quality(level: int) -> int:
    return SIGNAL_QUALITY.get(level, 5 if level > 4 else 0)


def state_from_record(record: Record, model_options: Mapping[str, Any]) -> dict[str, Any]:
    state = position_properties(record.position)
    fields = record.fields
    acc = fields.get("acc")
    if isinstance(acc, bool):
        state["ignition"] = "ON" if acc else "OFF"
    cut = fields.get("oil_electricity_cut")
    if isinstance(cut, bool):
        # the relay cuts fuel/electricity: driving is possible only while it is not cut
        state["driving_enabled"] = not cut
    level = fields.get("gsm_signal")
    if isinstance(level, int) and not isinstance(level, bool):
        state["cellular_signal_quality"] = signal_quality(level)
    return state
