"""Every kind of secret the gateway keeps is encrypted at rest and write-only.

For each kind, a distinctive secret is stored through the API, then changed: neither value
appears in the database file, its WAL, any API answer or any log line, and the registry
decrypts the current one. Breaking the encryption of any kind makes its case fail.
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

    def __str__(self) -> str:
        return self.name


KINDS = [
    Kind("concox-unit-password", "Conc0x-Pass-First-7781", "Conc0x-Pass-Second-1187"),
    Kind("jt808-unit-password", "jt808-code-first-5521", "jt808-code-second-1255"),
    Kind("niu-client-secret", "niu-client-secret-first-9043", "niu-client-secret-second-3409"),
    Kind("niu-account-password", "niu-account-pass-first-6612", "niu-account-pass-second-2166"),
]


async def _store_and_change(api, gateway, kind: Kind) -> tuple[list[str], Any]:
    """Store ``kind.first``, change it to ``kind.second``; return the answers' texts and an
    async function giving the decrypted current secret."""
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
        return [a.text for a in answers], lambda: gateway.registry.credentials_secret(credentials_id)
    brand, unit_id, model = (("CONCOX", "353413532150362", CONCOX_MODEL) if kind.name.startswith("concox")
                             else ("JT808", "013912345678", JT808_MODEL))
    created = await api.post("/vehicles", json=unit_body(brand, unit_id, model, password=kind.first))
    vehicle_id = created.json()["id"]
    changed = await api.put(f"/vehicles/{vehicle_id}/telematics-unit/authentication", json={"password": kind.second})
    answers += [created, changed, await api.get(f"/vehicles/{vehicle_id}"), await api.get("/vehicles"),
                await api.post("/event-log-entries/query", json={"vehicle_id": vehicle_id})]
    return [a.text for a in answers], lambda: gateway.registry.unit_password(vehicle_id)


@pytest.mark.parametrize("kind", KINDS, ids=str)
async def test_secret_is_encrypted_at_rest_and_never_shown(api, gateway, caplog, store_files, kind: Kind):
    caplog.set_level(logging.DEBUG)
    texts, current = await _store_and_change(api, gateway, kind)
    assert all(t is not None for t in texts)
    assert await current() == kind.second
    stored = [path.read_bytes() for path in await store_files(gateway)]
    # The files do hold what was written beside the secret: its absence means something.
    beside = {"niu-client-secret": b"berlin-client", "niu-account-password": b"rider@example.com"}
    assert any(beside.get(kind.name, b"353413532150362" if "concox" in kind.name else b"013912345678") in data
               for data in stored)
    for secret in (kind.first, kind.second):
        assert not any(secret.encode() in data for data in stored), f"{secret} in plain text at rest"
        for text in texts:
            assert secret not in text
        assert secret not in caplog.text
