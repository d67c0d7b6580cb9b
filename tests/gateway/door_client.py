"""What the HTTPS door tests share: a gateway config with the door open on 127.0.0.1 under a
certificate made for the test, API clients made over the admin socket, and httpx clients
that reach the gateway only over HTTPS."""

from __future__ import annotations

import ssl
from contextlib import asynccontextmanager

import httpx

from tests.conftest import TEST_TIMEOUT
from tests.tls import Certificates


def door_config(certificates: Certificates, token_lifetime: int = 900) -> str:
    return (f'[api]\nlisten = "127.0.0.1:0"\ntls_cert = "{certificates.cert}"\ntls_key = "{certificates.key}"\n'
            f"token_lifetime = {token_lifetime}\n")


def door_url(gateway) -> str:
    return f"https://127.0.0.1:{gateway.door['port']}"


@asynccontextmanager
async def door_client(gateway, certificates: Certificates):
    tls = ssl.create_default_context(cafile=str(certificates.ca))
    async with httpx.AsyncClient(base_url=door_url(gateway), verify=tls, timeout=TEST_TIMEOUT) as client:
        yield client


async def new_api_client(api, *scopes: str, name: str = "booking") -> dict:
    """An API client made over the admin socket: its row with the secret, shown this once."""
    response = await api.post("/api-clients", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()


async def token_of(door, client: dict, **params: str) -> dict:
    """The token answer for the client's credentials, asked for as the OneAPI's clients do."""
    response = await door.post("/auth/oauth/token", params={"grant_type": "client_credentials", **params},
                               auth=(client["client_id"], client["client_secret"]))
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


async def works(door, token: dict) -> bool:
    return (await door.get("/vehicles", headers=bearer(token))).status_code == 200
