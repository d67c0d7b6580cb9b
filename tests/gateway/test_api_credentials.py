"""/credentials: secrets are write-only and encrypted at rest."""

from __future__ import annotations

from drivers.niu.login import password_md5
from tests.gateway.seed import niu_account, niu_credentials, niu_vehicle

SECRET = niu_credentials()["client_secret"]
PASSWORD = niu_account()["password"]


async def test_credentials_lifecycle_never_shows_the_secret(api, gateway):
    created = await api.post("/credentials", json=niu_credentials())
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "brand", "name", "kind", "client_id", "created_at", "modified_at"}
    assert (body["brand"], body["name"], body["kind"], body["client_id"]) == ("NIU", "Fleet Berlin", "client",
                                                                              "berlin-client")
    assert len(body["id"]) == 26
    for response in (
        created,
        await api.get("/credentials"),
        await api.get(f"/credentials/{body['id']}"),
        await api.get("/telematics-brands/NIU/available-credentials"),
        await api.get("/telematics-brands/niu/available-credentials"),
    ):
        assert response.status_code == 200 or response.status_code == 201
        assert SECRET not in response.text
    assert (await api.get("/telematics-brands/NIU/available-credentials")).json()["items"] == [body]
    assert (await api.get("/telematics-brands/TELTONIKA/available-credentials")).json()["items"] == []
    assert await gateway.registry.credentials_secret(body["id"]) == SECRET

    rotated = await api.patch(f"/credentials/{body['id']}", json={"client_secret": "rotated-secret", "name": "B2"})
    assert rotated.status_code == 200
    assert rotated.json()["name"] == "B2" and "rotated-secret" not in rotated.text
    assert await gateway.registry.credentials_secret(body["id"]) == "rotated-secret"

    assert (await api.delete(f"/credentials/{body['id']}")).status_code == 204
    assert (await api.get(f"/credentials/{body['id']}")).status_code == 404


async def test_account_credentials_lifecycle(api, gateway):
    created = await api.post("/credentials", json=niu_account())
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "brand", "name", "kind", "account", "created_at", "modified_at"}
    assert (body["kind"], body["account"]) == ("account", "rider@example.com")
    answers = [created, await api.get("/credentials"), await api.get(f"/credentials/{body['id']}"),
               await api.get("/telematics-brands/NIU/available-credentials")]
    assert await gateway.registry.credentials_secret(body["id"]) == PASSWORD

    refused = await api.patch(f"/credentials/{body['id']}", json={"client_secret": "x"})
    assert refused.status_code == 400 and "'client_secret' does not belong to account" in refused.json()["detail"]
    rotated = await api.patch(f"/credentials/{body['id']}",
                              json={"password": "n3w-Passw0rd", "account": "r2@example.com"})
    assert rotated.status_code == 200 and rotated.json()["account"] == "r2@example.com"
    assert await gateway.registry.credentials_secret(body["id"]) == "n3w-Passw0rd"
    for response in (*answers, refused, rotated):
        assert PASSWORD not in response.text and password_md5(PASSWORD) not in response.text
        assert "n3w-Passw0rd" not in response.text


async def test_one_kind_at_a_time(api):
    both = await api.post("/credentials", json={**niu_credentials(), "account": "a@b.c", "password": "p"})
    assert both.status_code == 400 and "not both" in both.json()["detail"]
    half = await api.post("/credentials", json={"brand": "NIU", "name": "x", "account": "a@b.c"})
    assert half.status_code == 400 and half.json()["detail"] == "The property 'password' is required."
    neither = await api.post("/credentials", json={"brand": "NIU", "name": "x"})
    assert neither.status_code == 400 and "'account' and 'password'" in neither.json()["detail"]
    assert (await api.get("/credentials")).json()["items"] == []


async def test_secret_is_not_stored_in_plain_text(api, gateway, store_files):
    await api.post("/credentials", json=niu_credentials())
    await api.post("/credentials", json=niu_account())
    files = await store_files(gateway)
    assert files
    for path in files:
        stored = path.read_bytes()
        for secret in (SECRET, PASSWORD, password_md5(PASSWORD)):
            assert secret.encode() not in stored


async def test_credentials_in_use_cannot_be_deleted(api):
    credentials_id = (await api.post("/credentials", json=niu_credentials())).json()["id"]
    vehicle = (await api.post("/vehicles", json=niu_vehicle(credentials_id))).json()
    refused = await api.delete(f"/credentials/{credentials_id}")
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/conflicting-resource"
    assert refused.json()["detail"] == (
        "Cannot delete the credentials with name 'Fleet Berlin', since they are already being used."
    )
    assert (await api.get(f"/credentials/{credentials_id}")).status_code == 200
    await api.delete(f"/vehicles/{vehicle['id']}")
    assert (await api.delete(f"/credentials/{credentials_id}")).status_code == 204


async def test_only_shared_brands_take_credentials(api):
    response = await api.post("/credentials", json={**niu_credentials(), "brand": "TELTONIKA"})
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/validation-error"
    assert (await api.get("/credentials")).json()["items"] == []
    missing = await api.post("/credentials", json={"brand": "NIU", "name": "x", "client_id": "y"})
    assert missing.status_code == 400 and "client_secret" in missing.json()["detail"]
