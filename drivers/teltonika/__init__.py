"""Teltonika FMB driver: IMEI login, AVL data in Codec 8 / 8E / 16, commands in Codec 12.

Protocol notes and vendor references: protocol_specs/teltonika/spec.md.
"""

from drivers.base import CredentialKind, Driver, Transport
from drivers.teltonika.codec import TeltonikaCodec
from drivers.teltonika.commands import encode_command, judge_response
from drivers.teltonika.mapping import state_from_record

DRIVER = Driver(
    name="teltonika",
    brand="TELTONIKA",
    credential_kind=CredentialKind.NONE,
    transport=Transport.TCP,
    default_port=5027,
    codec_factory=TeltonikaCodec,
    state_from_record=state_from_record,
    encode_command=encode_command,
    judge_response=judge_response,
)

__all__ = ["DRIVER", "TeltonikaCodec", "encode_command", "judge_response", "state_from_record"]
