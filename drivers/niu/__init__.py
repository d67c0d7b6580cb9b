"""NIU scooters through NIU's cloud, with stored shared credentials: a NIU account (the way
NIU's app signs in) or a fleet's client id / client secret.

No listener and no codec: the gateway polls each attached scooter's state with
``NiuClient`` (client.py, logins in login.py), maps it with ``state_properties``
(mapping.py, answers parsed by parse.py) and confirms commands with ``confirmed``
(commands.py). What is observed of NIU's cloud and what is assumed:
protocol_specs/niu/spec.md.
"""

from drivers.base import CredentialKind, Driver, Transport
from drivers.niu.client import (
    ClientStats,
    CloudUnavailable,
    CredentialsRejected,
    NiuClient,
    NiuCloudError,
    NiuError,
    RateLimited,
)
from drivers.niu.commands import CAPABILITIES, CLOUD_COMMANDS, cloud_commands, confirmed, encode_command
from drivers.niu.login import AccountLogin, FleetLogin, Login
from drivers.niu.mapping import driving_enabled, record_from_state, state_from_record, state_properties
from drivers.niu.parse import (
    ASSUMED,
    NiuAssumptions,
    NiuProtocolError,
    NiuState,
    ScooterListing,
    parse_scooter_list,
    parse_state,
)

DRIVER = Driver(
    name="niu",
    brand="NIU",
    credential_kind=CredentialKind.SHARED,
    transport=Transport.CLOUD,
    default_port=None,
    # For the common driver contract (registry checks, stored records): a cloud poll stored
    # as a Record maps back to properties, and a command "encodes" to its cloud type.
    state_from_record=state_from_record,
    encode_command=encode_command,
    simulator="niu_cloud",
)

__all__ = [
    "ASSUMED",
    "CAPABILITIES",
    "CLOUD_COMMANDS",
    "DRIVER",
    "AccountLogin",
    "ClientStats",
    "CloudUnavailable",
    "CredentialsRejected",
    "FleetLogin",
    "Login",
    "NiuAssumptions",
    "NiuClient",
    "NiuCloudError",
    "NiuError",
    "NiuProtocolError",
    "NiuState",
    "RateLimited",
    "ScooterListing",
    "cloud_commands",
    "confirmed",
    "driving_enabled",
    "encode_command",
    "parse_scooter_list",
    "parse_state",
    "record_from_state",
    "state_from_record",
    "state_properties",
]
