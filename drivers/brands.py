"""The telematics brands the API knows, whether or not their driver is running yet."""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.base import CredentialKind, Transport


@dataclass(frozen=True)
class Brand:
    name: str  # as the API spells it, upper case
    credential_kind: CredentialKind
    transport: Transport
    driver: str  # module under drivers/ and key of the [drivers.<name>] config table
    default_port: int | None = None
    manufacturer: str = ""  # telematics_unit.manufacturer on the API
    # How the unit id is written (DESIGN.md "identities"): checked on POST /vehicles so a
    # vehicle never waits for an id its unit can never present.
    unit_id_pattern: str = r"^[A-Z0-9]{1,64}$"
    unit_id_hint: str = "1 to 64 upper-case letters or digits"
    # Characters a password may not contain on top of the generic rule, because the
    # protocol would misread them (GT06 commands are `DYD,<password>#`).
    password_forbidden: str = ""


_IMEI = r"^\d{15}$"
_IMEI_HINT = "the 15-digit IMEI"

BRANDS: dict[str, Brand] = {
    b.name: b
    for b in (
        Brand("TELTONIKA", CredentialKind.NONE, Transport.TCP, "teltonika", 5027, "TELTONIKA", _IMEI, _IMEI_HINT),
        Brand(
            "CONCOX", CredentialKind.INDIVIDUAL, Transport.TCP, "gt06", 5023, "CONCOX", _IMEI, _IMEI_HINT,
            password_forbidden=",# ",
        ),
        Brand(
            "JT808", CredentialKind.INDIVIDUAL, Transport.TCP, "jt808", 5015, "JT808", r"^([0-9A-F]{12}|[0-9A-F]{20})$",
            "the terminal phone number as its header carries it: 12 digits (JT/T 808-2013) or 20 (2019), "
            "leading zeros kept; a number that is not BCD as its hex digits, upper case",
        ),
        Brand("NIU", CredentialKind.SHARED, Transport.CLOUD, "niu", None, "NIU", r"^[A-Z0-9]{6,32}$",
              "the scooter serial number (sn), 6 to 32 upper-case letters or digits"),
    )
}

_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]{1,64}$")


def lookup(name: str) -> Brand | None:
    """Brand names are case-insensitive on input."""
    return BRANDS.get(name.upper()) if isinstance(name, str) else None


def unit_id_problem(brand: Brand, unit_id: str) -> str | None:
    if re.match(brand.unit_id_pattern, unit_id):
        return None
    return f"A {brand.name} unit id is {brand.unit_id_hint}."


def password_problem(brand: Brand, password: str) -> str | None:
    """Why ``password`` cannot be an INDIVIDUAL password of ``brand``, or None."""
    if not _PRINTABLE_ASCII.match(password):
        return "The password must be 1 to 64 printable ASCII characters."
    bad = sorted({c for c in password if c in brand.password_forbidden})
    if bad:
        shown = ", ".join("space" if c == " " else repr(c) for c in bad)
        return f"A {brand.name} password may not contain {shown}: the unit's command syntax uses them."
    return None
