"""JT/T 808 driver (2013 and 2019 editions): terminals that register for an authentication
code and present it at every connection, locations and batches, vehicle control commands.

Protocol notes and references to the standard: protocol_specs/jt808/spec.md.
"""

from drivers.base import CredentialKind, Driver, Transport
from drivers.jt808.codec import Jt808Codec
from drivers.jt808.commands import encode_command, judge_response
from drivers.jt808.mapping import state_from_record

DRIVER = Driver(
    name="jt808",
    brand="JT808",
    credential_kind=CredentialKind.INDIVIDUAL,
    transport=Transport.TCP,
    default_port=5015,
    codec_factory=Jt808Codec,
    state_from_record=state_from_record,
    encode_command=encode_command,
    judge_response=judge_response,
    correlates_commands=True,
    password_at_login=True,
)

__all__ = ["DRIVER", "Jt808Codec", "encode_command", "judge_response", "state_from_record"]
