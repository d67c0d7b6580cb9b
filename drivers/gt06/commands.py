"""OneAPI commands as GT06 online-command texts (0x80), and verdicts on the unit's answers.

The unit checks the password inside the command itself ([GT06] Appendix B sends
``DYD,000000#``), so every security command carries the unit's individual password from
the registry. There is no default password: without one, encoding fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drivers.base import CommandOutcome, CommandRequest, CommandResponse

DISABLE_DRIVING = "DISABLE_DRIVING"
ENABLE_DRIVING = "ENABLE_DRIVING"
CAPABILITIES = (DISABLE_DRIVING, ENABLE_DRIVING)
_COMMAND_WORDS = {DISABLE_DRIVING: "DYD", ENABLE_DRIVING: "HFYD"}
_PASSWORD = re.compile(r"^[\x21-\x7e]{1,64}$")
_FORBIDDEN = ",#"  # the command syntax would misread them

# "DYD=Success!" / "HFYD=Success!" ([GT06] §6.4, §6.5); the word before "=" names the command.
_NAMED = re.compile(r"^\s*(DYD|HFYD)\s*=", re.IGNORECASE)
# The unit refuses a change it already made ([GT06] Appendix B): the vehicle is in the
# requested state all the same.
_ALREADY_CUT = re.compile(r"already in the state of fuel supply cut off", re.IGNORECASE)
_ALREADY_RESUMED = re.compile(r"already in the state of fuel supply to resume", re.IGNORECASE)
_NEGATIVE = re.compile(
    r"fail|\berr(or)?\b|invalid|unvalued|limit|not running|unknown|denied|wrong|incorrect", re.IGNORECASE
)
_SUCCESS = re.compile(r"success", re.IGNORECASE)


def encode_command(capability: str, model_options: Mapping[str, Any], password: str | None) -> CommandRequest:
    word = _COMMAND_WORDS.get(capability)
    if word is None:
        raise ValueError(f"the gt06 driver has no command {capability!r}")
    if not password:
        raise ValueError(f"{capability} needs the unit's password; none is registered")
    # the messages below never repeat the password
    if not _PASSWORD.match(password) or any(c in _FORBIDDEN for c in password):
        raise ValueError("the unit's password must be printable ASCII without spaces, ',' or '#'")
    return CommandRequest(text=f"{word},{password}#", redact=(password,))


def redacted(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def judge_response(capability: str, request: CommandRequest, response: CommandResponse) -> CommandOutcome:
    if capability not in _COMMAND_WORDS:
        raise ValueError(f"the gt06 driver has no command {capability!r}")
    text = response.text.strip().strip("\x00")
    detail = redacted(text, request.redact) or "the unit gave an empty answer"
    enable = capability == ENABLE_DRIVING
    state = {"driving_enabled": enable}
    if _ALREADY_CUT.search(text):
        return CommandOutcome(not enable, detail, {} if enable else state)
    if _ALREADY_RESUMED.search(text):
        return CommandOutcome(enable, detail, state if enable else {})
    named = _NAMED.match(text)
    if named and named.group(1).upper() != _COMMAND_WORDS[capability]:
        return CommandOutcome(False, f"the unit answered another command: {detail}")
    if _NEGATIVE.search(text) or not _SUCCESS.search(text):
        return CommandOutcome(False, detail)
    return CommandOutcome(True, detail, state)


__all__ = ["CAPABILITIES", "DISABLE_DRIVING", "ENABLE_DRIVING", "encode_command", "judge_response", "redacted"]
