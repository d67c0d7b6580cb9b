"""Teltonika record -> vehicle-state properties (lower-case OneAPI capability names).

IO ids are the FMB "Teltonika Data Sending Parameters ID" ones (spec.md, "IO elements we
map"). Only properties of the OneAPI vocabulary are emitted; everything else stays in the
record's raw fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import Record, position_properties

IO_IGNITION = 239  # 0 off, 1 on
IO_TOTAL_ODOMETER = 16  # metres
IO_GSM_SIGNAL = 21  # already 0..5 on FMB units (0 = no network)
# 1-based digital output number -> IO id carrying its level. Only the two FMB outputs the
# wiki documents are known; other families number theirs differently.
DOUT_IO = {1: 179, 2: 180}


def immobiliser(model_options: Mapping[str, Any]) -> tuple[int, bool] | None:
    """(output number, active high) from the vehicle model's options, or None if the model
    has no immobiliser relay. ValueError for options this driver cannot honour."""
    output = model_options.get("immobiliser_output")
    if output is None:
        return None
    if isinstance(output, bool) or not isinstance(output, int) or output not in DOUT_IO:
        raise ValueError(f"immobiliser_output must be one of {sorted(DOUT_IO)}, got {output!r}")
    active_high = model_options.get("immobiliser_active_high", True)
    if not isinstance(active_high, bool):
        raise ValueError(f"immobiliser_active_high must be a boolean, got {active_high!r}")
    return output, active_high


def driving_enabled_from_level(level: int, active_high: bool) -> bool:
    # Active high: the output energises the relay and the relay cuts the starter/fuel.
    return not level if active_high else bool(level)


def state_from_record(record: Record, model_options: Mapping[str, Any]) -> dict[str, Any]:
    state = position_properties(record.position)
    io = record.fields.get("io", {})

    def value(io_id: int) -> int | None:
        found = io.get(str(io_id))
        # NX elements arrive as hex strings; none of the ids mapped here is one
        return found if isinstance(found, int) and not isinstance(found, bool) else None

    ignition = value(IO_IGNITION)
    if ignition is not None:
        state["ignition"] = "ON" if ignition else "OFF"
    odometer = value(IO_TOTAL_ODOMETER)
    if odometer is not None:
        state["mileage_in_kilometers"] = odometer / 1000
    signal = value(IO_GSM_SIGNAL)
    if signal is not None:
        state["cellular_signal_quality"] = min(signal, 5)
    relay = immobiliser(model_options)
    if relay is not None:
        output, active_high = relay
        level = value(DOUT_IO[output])
        if level is not None:
            state["driving_enabled"] = driving_enabled_from_level(level, active_high)
    return state
