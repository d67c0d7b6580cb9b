"""Identifiers: ULIDs for catalog entries and credentials, short Crockford ids for vehicles."""

from __future__ import annotations

import secrets
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def short_id(length: int = 5) -> str:
    """Random Crockford base32, upper case: vehicle ids (`JQ7RP`) and the fleet id.

    32**5 is about 33 million; callers retry on the rare collision with an existing id.
    """
    return _encode(secrets.randbits(5 * length), length)


def ulid(now_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time then 80 random bits, 26 Crockford characters.

    Lexicographic order follows creation time (to the millisecond), which list paging uses.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode((ms << 80) | secrets.randbits(80), 26)


def is_ulid(value: str) -> bool:
    return len(value) == 26 and value[0] in "01234567" and all(c in CROCKFORD for c in value)
