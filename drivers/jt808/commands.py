"""OneAPI commands as JT808 platform messages, and verdicts on the terminal's answers.

The session hands the codec a ``CommandRequest`` whose text is a small command language
(spec §5), so that the audit log shows what was asked without a hex dump:

    "8500 door=lock"     0x8500 vehicle control, lock the doors
    "8500 door=unlock"   0x8500 vehicle control, unlock the doors
    "8201"               0x8201 position query

``command_body`` turns a text into the message for the unit's protocol version. JT808
commands carry no password (the terminal authenticated with it at login), so the
``password`` argument exists only for the common driver signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.base import CommandOutcome, CommandRequest, CommandResponse
from drivers.jt808 import frames

LOCK_CENTRAL_LOCK = "LOCK_CENTRAL_LOCK"
UNLOCK_CENTRAL_LOCK = "UNLOCK_CENTRAL_LOCK"
REQUEST_VEHICLE_STATE = "REQUEST_VEHICLE_STATE"
CAPABILITIES = (LOCK_CENTRAL_LOCK, UNLOCK_CENTRAL_LOCK, REQUEST_VEHICLE_STATE)

LOCK_TEXT = "8500 door=lock"
UNLOCK_TEXT = "8500 door=unlock"
QUERY_TEXT = "8201"
_TEXTS = {
    LOCK_CENTRAL_LOCK: LOCK_TEXT,
    UNLOCK_CENTRAL_LOCK: UNLOCK_TEXT,
    REQUEST_VEHICLE_STATE: QUERY_TEXT,
}
_ANSWERED_BY = {LOCK_TEXT: frames.VEHICLE_CONTROL, UNLOCK_TEXT: frames.VEHICLE_CONTROL, QUERY_TEXT: frames.POSITION_QUERY}


def command_body(text: str, protocol_version: int | None) -> tuple[int, bytes]:
    """(message id, body) of a command text; ValueError for a text outside the language.
    ``protocol_version`` is None for a 2013 terminal, the 2019 header's version byte otherwise."""
    words = text.split()
    if words == [QUERY_TEXT]:
        return frames.POSITION_QUERY, b""
    if len(words) == 2 and words[0] == "8500" and words[1] in ("door=lock", "door=unlock"):
        lock = words[1] == "door=lock"
        if protocol_version is None:
            # 2013 Table 43 (control flag): bit 0 set = lock, clear = unlock.
            return frames.VEHICLE_CONTROL, frames.VehicleControl2013.build({"flags": int(lock)})
        # 2019 control type 0x0001 (door) has the opposite polarity: 0 = lock, 1 = unlock.
        control = {"type": frames.DOOR_CONTROL_TYPE, "value": 0 if lock else 1}
        return frames.VEHICLE_CONTROL, frames.VehicleControl2019.build({"controls": [control]})
    raise ValueError(f"not a JT808 command text: {text!r}")


def encode_command(capability: str, model_options: Mapping[str, Any], password: str | None = None) -> CommandRequest:
    try:
        return CommandRequest(text=_TEXTS[capability])
    except KeyError:
        raise ValueError(f"the jt808 driver has no command {capability!r}") from None


def judge_response(capability: str, request: CommandRequest, response: CommandResponse) -> CommandOutcome:
    if capability not in _TEXTS:
        raise ValueError(f"the jt808 driver has no command {capability!r}")
    reply_id = getattr(response.context, "reply_id", None)  # set on a 0x0001 answer
    if reply_id is not None and reply_id != _ANSWERED_BY.get(request.text.strip()):
        return CommandOutcome(False, f"the unit answered message {reply_id:#06x} instead: {response.text}")
    if response.text != "OK":
        return CommandOutcome(False, f"the unit answered {response.text}")
    if capability == REQUEST_VEHICLE_STATE or not response.records:
        # A 0x0201 carries the position (stored by the session); a bare 0x0001 "OK"
        # acknowledges without proof, and the next location report shows the result.
        return CommandOutcome(True, "OK")
    record = response.records[-1]
    locked = record.fields.get("door_locked")
    if locked is None:
        return CommandOutcome(True, "OK")
    wanted = capability == LOCK_CENTRAL_LOCK
    word = "LOCKED" if locked else "UNLOCKED"
    if locked != wanted:
        # 0x0500 carries the location after the control: the door bit is the evidence.
        return CommandOutcome(False, f"the unit answered, but its door lock status bit reads {word}")
    return CommandOutcome(True, f"OK, doors {word.lower()}", {"central_lock": word})


__all__ = [
    "CAPABILITIES",
    "LOCK_CENTRAL_LOCK",
    "LOCK_TEXT",
    "QUERY_TEXT",
    "REQUEST_VEHICLE_STATE",
    "UNLOCK_CENTRAL_LOCK",
    "UNLOCK_TEXT",
    "command_body",
    "encode_command",
    "judge_response",
]
