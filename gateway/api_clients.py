"""API clients of the HTTPS door: OAuth2 client credentials and the bearer tokens they get
(API.md "Remote door"). SQL stays in gateway.store.api_clients.

A client secret is shown once and kept only as a slow salted hash (scrypt). Tokens are
random and kept by their SHA-256 in the store, with the client and scopes they carry, so
every node of a cluster can check them and removing or rotating a client revokes them at
once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import trio

from gateway import ids
from gateway.clock import now_text, rfc3339, utc_now
from gateway.registry import NotFound
from gateway.session_table import AuthThrottle
from gateway.store import Store
from gateway.store import api_clients as q

SCOPES = {
    "vehicles:read": "Read vehicles, their state and records, vehicle models and telematics brands.",
    "vehicles:write": "Add, change and delete vehicles.",
    "commands": "Send commands to vehicles.",
    "credentials": "Manage shared credentials of cloud brands.",
    "events:read": "Query the event log and follow the live event stream.",
}
# scrypt's cost (RFC 7914): 16 MiB and some 50 ms per check on one core. Secrets are
# 256 random bits, so this guards a stolen database against nothing a guess could find;
# it is there so the hash is never the weak part.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FIELD = 200  # characters of a client id or token worth looking up


@dataclass(frozen=True)
class Grant:
    """What a valid bearer token allows."""

    client_id: str
    scopes: frozenset[str]


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def secret_matches(secret: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    computed = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(computed, base64.b64decode(digest))


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class ApiClients:
    def __init__(self, store: Store, token_lifetime: int, throttle: AuthThrottle | None = None):
        self.store = store
        self.token_lifetime = token_lifetime
        self.throttle = throttle or AuthThrottle()
        # Hashing is CPU work off the event loop; one at a time, so a flood of token
        # requests takes one core at most and never the units' share.
        self._hashing = trio.CapacityLimiter(1)
        # Checked against when the client id is unknown, so that the answer takes as long.
        self._unknown = hash_secret(secrets.token_urlsafe(32))

    async def _hash(self, secret: str) -> str:
        return await trio.to_thread.run_sync(hash_secret, secret, limiter=self._hashing)

    async def add(self, name: str, scopes: list[str]) -> tuple[dict[str, Any], str]:
        """A new client and its secret, which is never available again."""
        secret = secrets.token_urlsafe(32)
        row = {"id": ids.ulid(), "name": name, "client_id": secrets.token_hex(10), "scopes": sorted(set(scopes)),
               "secret_hash": await self._hash(secret), "created_at": now_text()}
        await self.store.write(q.insert_client, row)
        del row["secret_hash"]
        return {**row, "rotated_at": None}, secret

    async def list(self, after: str, limit: int) -> list[dict[str, Any]]:
        return await self.store.read(q.list_clients, after, limit)

    async def remove(self, row_id: str) -> None:
        if not await self.store.write(q.delete_client, row_id):
            raise NotFound(f"There is no API client '{row_id}'.")

    async def rotate(self, row_id: str) -> tuple[dict[str, Any], str]:
        """A new secret for the client; the old one and every token it got stop working."""
        secret = secrets.token_urlsafe(32)
        row = await self.store.write(q.rotate_secret, row_id, await self._hash(secret), now_text())
        if row is None:
            raise NotFound(f"There is no API client '{row_id}'.")
        return row, secret

    async def authenticate(self, client_id: str, secret: str) -> dict[str, Any] | None:
        """The client, if ``secret`` is its secret. A failure is answered late, later with
        each failure for that client id, and as late for an id that does not exist."""
        found = await self.store.read(q.client_secret_hash, client_id) if len(client_id) <= MAX_FIELD else None
        stored = found[1] if found else self._unknown
        matches = await trio.to_thread.run_sync(secret_matches, secret, stored, limiter=self._hashing)
        key = ("api-client", client_id[:MAX_FIELD])
        if matches and found:
            self.throttle.succeeded(key)
            return found[0]
        delay = self.throttle.delay(key)
        self.throttle.failed(key)
        await trio.sleep(delay)
        return None

    async def issue_token(self, client: dict[str, Any], scopes: list[str]) -> str:
        token = secrets.token_urlsafe(32)
        now = utc_now()
        expires_at = rfc3339(now + timedelta(seconds=self.token_lifetime))
        await self.store.write(q.insert_token, _token_hash(token), client["id"], scopes, expires_at, rfc3339(now))
        return token

    async def grant(self, token: str) -> Grant | None:
        """What ``token`` allows; None for a token that is unknown, expired or revoked."""
        if len(token) > MAX_FIELD:
            return None
        found = await self.store.read(q.token_grant, _token_hash(token), now_text())
        return None if found is None else Grant(found[0], frozenset(found[1]))
