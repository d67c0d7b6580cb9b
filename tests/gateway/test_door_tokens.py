"""POST /auth/oauth/token on the HTTPS door: the OneAPI's form and RFC 6749's, its errors,
and removing or rotating a client revokes its tokens (test_door_expiry.py: they expire)."""

from __future__ import annotations

import base64

import pytest

from tests.gateway.door_client import bearer, door_client, door_config, new_api_client, token_of, works

TOKEN_LIFETIME = 600  # seconds: a 401 here is a revocation, never an expiry


@pytest.fixture
def extra_config(certificates) -> str:
    return door_config(certificates, TOKEN_LIFETIME)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_client_libraries_form_bodies_get_a_token_too(gateway, api, certificates):
    client = await new_api_client(api, "vehicles:read", "events:read")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with door_client(gateway, certificates) as door:
        for answer in (
            # RFC 6749 4.4.2 with HTTP Basic, as oauthlib and authlib send it
            await door.post("/auth/oauth/token", content="grant_type=client_credentials",
                            headers={**form, **_basic(client["client_id"], client["client_secret"])}),
            # 2.3.1: the credentials in the body
            await door.post("/auth/oauth/token", data={"grant_type": "client_credentials",
                                                       "client_id": client["client_id"],
                                                       "client_secret": client["client_secret"]}),
        ):
            assert answer.status_code == 200, answer.text
            assert answer.headers["cache-control"] == "no-store"
            token = answer.json()
            assert (token["token_type"], token["expires_in"], token["scope"]) == (
                "bearer", TOKEN_LIFETIME, "events:read vehicles:read")
            assert await works(door, token)
        # A narrower scope on request (4.4.2 scope); never a wider one.
        narrow = await token_of(door, client, scope="vehicles:read")
        assert narrow["scope"] == "vehicles:read"
        assert (await door.post("/event-log-entries/query", json={}, headers=bearer(narrow))).status_code == 403
        wider = await door.post("/auth/oauth/token", params={"grant_type": "client_credentials", "scope": "commands"},
                                auth=(client["client_id"], client["client_secret"]))
        assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


async def test_bad_token_requests_are_problems_with_oauth_errors(gateway, api, certificates):
    client = await new_api_client(api, "vehicles:read")
    good = (client["client_id"], client["client_secret"])
    grant = {"grant_type": "client_credentials"}
    cases = {
        "wrong secret": ({"params": grant, "auth": (client["client_id"], "not-the-secret")}, 401, "invalid_client"),
        "unknown client": ({"params": grant, "auth": ("nobody", client["client_secret"])}, 401, "invalid_client"),
        "no credentials": ({"params": grant}, 401, "invalid_client"),
        "no grant type": ({"auth": good}, 400, "invalid_request"),
        "other grant type": ({"params": {"grant_type": "password"}, "auth": good}, 400, "unsupported_grant_type"),
        "credentials twice": ({"params": grant, "auth": good, "data": {"client_id": good[0], "client_secret": good[1]}},
                              400, "invalid_request"),
        "json body": ({"json": grant, "auth": good}, 400, "invalid_request"),
        "grant type twice": ({"params": grant, "data": grant, "auth": good}, 400, "invalid_request"),
    }
    async with door_client(gateway, certificates) as door:
        for case, (kwargs, status, error) in cases.items():
            answer = await door.post("/auth/oauth/token", **kwargs)
            assert answer.status_code == status, (case, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["error"] == error and problem["status"] == status, case
            assert problem["type"] == ("/problems/unauthorized" if status == 401 else "/problems/validation-error")
            if status == 401:
                assert answer.headers["www-authenticate"] == 'Basic realm="fleetgate"', case
            assert "access_token" not in answer.text


async def test_rotating_or_removing_a_client_revokes_its_tokens(gateway, api, certificates):
    client = await new_api_client(api, "vehicles:read")
    async with door_client(gateway, certificates) as door:
        before = await token_of(door, client)
        rotated = (await api.post(f"/api-clients/{client['id']}/rotate")).json()
        assert rotated["client_id"] == client["client_id"] and rotated["client_secret"] != client["client_secret"]
        assert rotated["rotated_at"] is not None
        assert not await works(door, before)
        old_secret = await door.post("/auth/oauth/token", params={"grant_type": "client_credentials"},
                                     auth=(client["client_id"], client["client_secret"]))
        assert old_secret.status_code == 401 and old_secret.json()["error"] == "invalid_client"
        after = await token_of(door, rotated)
        assert await works(door, after)

        assert (await api.delete(f"/api-clients/{client['id']}")).status_code == 204
        assert not await works(door, after)
        gone = await door.post("/auth/oauth/token", params={"grant_type": "client_credentials"},
                               auth=(rotated["client_id"], rotated["client_secret"]))
        assert gone.status_code == 401
    assert (await api.get("/api-clients")).json()["items"] == []
    assert (await api.delete(f"/api-clients/{client['id']}")).status_code == 404
