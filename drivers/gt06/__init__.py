"""Concox GT06 / GT06N driver: IMEI login, GPS/LBS locations, status heartbeats, alarms,
cells, Wi-Fi and information packets, time requests and password-checked online commands
(0x80 -> 0x15 / 0x21), in the variants units send; what it does not decode it keeps raw.

Protocol notes and vendor references: protocol_specs/gt06/spec.md.
"""

from drivers.base import CredentialKind, Driver, Transport
from drivers.gt06.codec import Gt06Codec
from drivers.gt06.commands import encode_command, judge_response
from drivers.gt06.mapping import state_from_record

DRIVER = Driver(
    name="gt06",
    brand="CONCOX",
    credential_kind=CredentialKind.INDIVIDUAL,
    transport=Transport.TCP,
    default_port=5023,
    codec_factory=Gt06Codec,
    state_from_record=state_from_record,
    encode_command=encode_command,
    judge_response=judge_response,
    correlates_commands=True,
    password_at_login=False,
)

__all__ = ["DRIVER", "Gt06Codec", "encode_command", "judge_response", "state_from_record"]
