"""OneAPI commands as NIU cloud command types, and how each one is confirmed.

A NIU command is a POST /v5/cmd/creat ``{"sn", "type"}``; the cloud's ``status: 0`` only
says it accepted the command, not that the scooter obeyed. So a command that changes a
property the cloud reports is confirmed by that property (the gateway polls the state
until it shows the change or the command timeout passes); one that changes nothing the
cloud reports (find-my-scooter, the battery compartment) succeeds on acceptance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import CommandRequest
from drivers.niu.parse import ASSUMED, NiuAssumptions

DISABLE_DRIVING = "DISABLE_DRIVING"
ENABLE_DRIVING = "ENABLE_DRIVING"
UNLOCK_TOP_CASE = "UNLOCK_TOP_CASE"
LOCK_TOP_CASE = "LOCK_TOP_CASE"
DRAW_ATTENTION = "DRAW_ATTENTION"
UNLOCK_BATTERY_COMPARTMENT = "UNLOCK_BATTERY_COMPARTMENT"

# Observed command types (spec.md "Commands").
ACC_ON = "acc_on"
ACC_OFF = "acc_off"
FORTIFICATION_ON = "fortification_on"
FORTIFICATION_OFF = "fortification_off"
CUSHION_LOCK_ON = "cushion_lock_on"

Expectation = tuple[str, Any] | None  # (property, value it must show), or None


def cloud_commands(assumptions: NiuAssumptions = ASSUMED) -> dict[str, tuple[str, Expectation]]:
    """capability -> (cloud command type, expected property change or None)."""
    return {
        # ACC (power) rather than fortification: every model reports isAccOn, while some
        # report isFortificationOn as "", which could never confirm a change.
        DISABLE_DRIVING: (ACC_OFF, ("driving_enabled", False)),
        ENABLE_DRIVING: (ACC_ON, ("driving_enabled", True)),
        UNLOCK_TOP_CASE: (assumptions.top_case_unlock_command, ("top_case_lock", "UNLOCKED")),
        LOCK_TOP_CASE: (assumptions.top_case_lock_command, ("top_case_lock", "LOCKED")),
        DRAW_ATTENTION: (assumptions.find_command, None),
        UNLOCK_BATTERY_COMPARTMENT: (assumptions.battery_compartment_command, None),
    }


CLOUD_COMMANDS = cloud_commands()
CAPABILITIES = tuple(CLOUD_COMMANDS)


def expectation(capability: str, commands: Mapping[str, tuple[str, Expectation]] = CLOUD_COMMANDS) -> Expectation:
    try:
        return commands[capability][1]
    except KeyError:
        raise ValueError(f"the niu driver has no command {capability!r}") from None


def confirmed(
    capability: str,
    state_properties: Mapping[str, Any],
    commands: Mapping[str, tuple[str, Expectation]] = CLOUD_COMMANDS,
) -> bool:
    """Whether ``state_properties`` show what ``capability`` was to achieve. Takes either
    plain values (``state_properties()``) or the API's ``{"value", "timestamp"}`` entries.
    A command with nothing observable is confirmed by the cloud's acceptance alone."""
    expected = expectation(capability, commands)
    if expected is None:
        return True
    name, value = expected
    current = state_properties.get(name)
    if isinstance(current, Mapping) and "value" in current:
        current = current["value"]
    return current == value


def encode_command(
    capability: str, model_options: Mapping[str, Any] | None = None, password: str | None = None
) -> CommandRequest:
    """The common driver signature: the request's text is the cloud command type. The
    shared credentials authenticate the cloud call, so ``password`` is unused."""
    try:
        return CommandRequest(text=CLOUD_COMMANDS[capability][0])
    except KeyError:
        raise ValueError(f"the niu driver has no command {capability!r}") from None


__all__ = [
    "ACC_OFF",
    "ACC_ON",
    "CAPABILITIES",
    "CLOUD_COMMANDS",
    "CUSHION_LOCK_ON",
    "DISABLE_DRIVING",
    "DRAW_ATTENTION",
    "ENABLE_DRIVING",
    "FORTIFICATION_OFF",
    "FORTIFICATION_ON",
    "LOCK_TOP_CASE",
    "UNLOCK_BATTERY_COMPARTMENT",
    "UNLOCK_TOP_CASE",
    "cloud_commands",
    "confirmed",
    "encode_command",
    "expectation",
]
