"""OneAPI commands as Teltonika GPRS (Codec 12) command texts, and verdicts on the answers.

GPRS commands carry no SMS login/password (the unit is identified by its TCP session), so
the ``password`` argument is accepted for the common driver signature and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drivers.base import CommandOutcome, CommandRequest, CommandResponse
from drivers.teltonika.mapping import immobiliser

DISABLE_DRIVING = "DISABLE_DRIVING"
ENABLE_DRIVING = "ENABLE_DRIVING"
REQUEST_VEHICLE_STATE = "REQUEST_VEHICLE_STATE"
CAPABILITIES = (DISABLE_DRIVING, ENABLE_DRIVING, REQUEST_VEHICLE_STATE)

# "setdigout" takes one character per output, in output order: 0 off, 1 on, ? leave as is.
_SETDIGOUT = re.compile(r"^setdigout ([01?]+)$")
# Firmware answers either "DOUT1:1" (FMB) or "DOUT1:ON" (newer pages), plus "IGNORED".
_DOUT_STATE = re.compile(r"\bDOUT(\d+):\s*(ON|OFF|1|0|IGNORED)\b", re.IGNORECASE)
_LEVELS = {"1": 1, "ON": 1, "0": 0, "OFF": 0}
_NEGATIVE = re.compile(r"\b(error|unknown|invalid|wrong|not supported|fail\w*)\b", re.IGNORECASE)


def setdigout_text(output: int, level: int) -> str:
    return "setdigout " + "?" * (output - 1) + str(level)


def encode_command(capability: str, model_options: Mapping[str, Any], password: str | None = None) -> CommandRequest:
    if capability == REQUEST_VEHICLE_STATE:
        # Makes the unit store a high-priority record and send it at once; the new state
        # arrives as an ordinary AVL packet.
        return CommandRequest(text="getrecord")
    if capability in (DISABLE_DRIVING, ENABLE_DRIVING):
        relay = immobiliser(model_options)
        if relay is None:
            raise ValueError(f"{capability} needs the model option immobiliser_output")
        output, active_high = relay
        cut = capability == DISABLE_DRIVING
        level = int(cut == active_high)
        return CommandRequest(text=setdigout_text(output, level))
    raise ValueError(f"the teltonika driver has no command {capability!r}")


def judge_response(capability: str, request: CommandRequest, response: CommandResponse) -> CommandOutcome:
    text = response.text.strip()
    if capability == REQUEST_VEHICLE_STATE:
        if not text or _NEGATIVE.search(text):
            return CommandOutcome(False, f"the unit did not trigger a record: {text!r}")
        return CommandOutcome(True, text)
    if capability not in (DISABLE_DRIVING, ENABLE_DRIVING):
        raise ValueError(f"the teltonika driver has no command {capability!r}")
    asked = _SETDIGOUT.match(request.text.strip())
    if asked is None:
        return CommandOutcome(False, f"not a setdigout request: {request.text!r}")
    levels = asked.group(1)
    output = len(levels)  # encode_command sets exactly the last listed output
    wanted = int(levels[-1])
    reported = {int(n): word.upper() for n, word in _DOUT_STATE.findall(text)}
    word = reported.get(output)
    if word is None or word == "IGNORED":
        return CommandOutcome(False, f"the unit did not report DOUT{output}: {text!r}")
    if "queued" in text.lower():
        # Only a speed threshold queues the change; we never send one, so the unit is
        # not doing what was asked now.
        return CommandOutcome(False, f"the unit queued the change instead of applying it: {text!r}")
    level = _LEVELS[word]
    if level != wanted:
        return CommandOutcome(False, f"DOUT{output} is {word}, expected {wanted}: {text!r}")
    # The answer gives the output level, not the polarity; the capability says which way
    # the relay went, and it matches the level because encode_command derived one from the other.
    return CommandOutcome(True, text, {"driving_enabled": capability == ENABLE_DRIVING})


__all__ = [
    "CAPABILITIES",
    "DISABLE_DRIVING",
    "ENABLE_DRIVING",
    "REQUEST_VEHICLE_STATE",
    "encode_command",
    "judge_response",
    "setdigout_text",
]
