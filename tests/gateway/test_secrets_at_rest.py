"""Every kind of secret the gateway keeps is encrypted (or, for API clients, hashed) at
rest and write-only.

For each kind, a distinctive secret is stored through the API, then changed: neither value
appears in the database file, its WAL, any API answer or any log line, and the registry
decrypts the current one. Breaking the encryption of any kind makes its case fail. An API
client's secret is the gateway's own: it appears in the one answer that created (or
rotated) it and nowhere else, and only the current one authenticates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from tests.gateway.seed import CONCOX_MODEL, JT808_MODEL, niu_credentials, unit_body


@dataclass(frozen=True)
class Kind:
    name: str
    first: str
    second: str
    beside: bytes  # written in the same request: the files do hold it, so the secret's absence means something

    def __str__(self) -> str:
        return self.name


KINDS = [
    Kind("concox-unit-password", "Conc0x-Pass-First-7781", "Conc0x-Pass-Second-1187", b"353413532150362"),
    Kind("jt808-unit-password", "jt808-code-first-5521", "jt808-code-second-1255", b"013912345678"),
    Kind("niu-client-secret", "niu-client-secret-first-9043", "niu-client-secret-second-3409", b"berlin-client"),
    Kind("niu-account-password", "niu-account-pass-first-6612", "niu-account-pass-second-2166",
         b"rider@example.com"),
    Kind("api-client-secret", "", "", b"booking"),  # the gateway makes these secrets
]


async def _api_client_secrets(api, gateway) -> tuple[list[str], Any, tuple[str, str]]:
    created = (await api.post("/api-clients", json={"name": "booking", "scopes": ["vehicles:read"]})).json()
    rotated = (await api.post(f"/api-clients/{created['id']}/rotate")).json()
    secrets = (created["client_secret"], rotated["client_secret"])
    answers = [await api.get("/api-clients"), await api.post("/event-log-entries/query", json={})]

    async def current() -> str:
        assert await gateway.api_clients.authenticate(created["client_id"], secrets[0]) is None
        assert await gateway.api_clients.authenticate(created["client_id"], secrets[1]) is not None
        return secrets[1]

    return [a.text for a in answers], current, secrets


async def _store_and_change(api, gateway, kind: Kind) -> tuple[list[str], Any, tuple[str, str]]:
    """Store ``kind.first``, change it to ``kind.second``; return the answers' texts, an
    async function giving the decrypted current secret, and the two secrets."""
    if kind.name == "api-client-secret":
        return await _api_client_secrets(api, gateway)
    answers = []
    if kind.name.startswith("niu"):
        if kind.name == "niu-client-secret":
            body, field = {**niu_credentials(), "client_secret": kind.first}, "client_secret"
        else:
            body, field = {"brand": "NIU", "name": "Rider", "account": "rider@example.com", "password": kind.first}, \
                "password"
        created = await api.post("/credentials", json=body)
        credentials_id = created.json()["id"]
        changed = await api.patch(f"/credentials/{credentials_id}", json={field: kind.second})
        answers += [created, changed, await api.get(f"/credentials/{credentials_id}"), await api.get("/credentials"),
                    await api.get("/telematics-brands/NIU/available-credentials")]
        return [a.text for a in answers], lambda: gateway.registry.credentials_secret(credentials_id), \
            (kind.first, kind.second)
    brand, unit_id, model = (("CONCOX", "353413532150362", CONCOX_MODEL) if kind.name.startswith("concox")
                             else ("JT808", "013912345678", JT808_MODEL))
    created = await api.post("/vehicles", json=unit_body(brand, unit_id, model, password=kind.first))
    vehicle_id = created.json()["id"]
    changed = await api.put(f"/vehicles/{vehicle_id}/telematics-unit/authentication", json={"password": kind.second})
    answers += [created, changed, await api.get(f"/vehicles/{vehicle_id}"), await api.get("/vehicles"),
                await api.post("/event-log-entries/query", json={"vehicle_id": vehicle_id})]
    return [a.text for a in answers], lambda: gateway.registry.unit_password(vehicle_id), (kind.first, kind.second)


@pytest.mark.parametrize("kind", KINDS, ids=str)
async def test_secret_is_encrypted_at_rest_and_never_shown(api, gateway, caplog, store_files, kind: Kind):
    caplog.set_level(logging.DEBUG)
    texts, current, (first, second) = await _store_and_change(api, gateway, kind)
    assert all(t is not None for t in texts)
    assert await current() == second
    stored = [path.read_bytes() for path in await store_files(gateway)]
    assert any(kind.beside in data for data in stored)
    for secret in (first, second):
        assert not any(secret.encode() in data for data in stored), f"{secret} in plain text at rest"
        for text in texts:
            assert secret not in text
        assert secret not in caplog.text
