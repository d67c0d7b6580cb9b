"""A bearer token of the HTTPS door stops working after [api] token_lifetime."""

from __future__ import annotations

import pytest

from tests.conftest import eventually
from tests.gateway.door_client import bearer, door_client, door_config, new_api_client, token_of, works

TOKEN_LIFETIME = 1  # second


@pytest.fixture
def extra_config(certificates) -> str:
    return door_config(certificates, TOKEN_LIFETIME)


async def test_a_token_expires_after_its_lifetime(gateway, api, certificates):
    client = await new_api_client(api, "vehicles:read")
    async with door_client(gateway, certificates) as door:
        token = await token_of(door, client)
        assert await works(door, token)

        async def expired():
            answer = await door.get("/vehicles", headers=bearer(token))
            return answer.status_code == 401 and answer.json()["error"] == "invalid_token"

        await eventually(expired, timeout=TOKEN_LIFETIME + 5)
        assert await works(door, await token_of(door, client))  # the client itself is fine
