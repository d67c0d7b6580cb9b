"""/credentials: secrets are write-only and encrypted at rest."""

from __future__ import annotations

from tests.gateway.seed import niu_credentials, niu_vehicle

SECRET = niu_credentials()["client_secret"]


async def test_credentials_lifecycle_never_shows_the_secret(api, gateway):
    created = await api.post("/credentials", json=niu_credentials())
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "brand", "name", "client_id", "created_at", "modified_at"}
    assert (body["brand"], body["name"], body["client_id"]) == ("NIU", "Fleet Berlin", "berlin-client")
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
    assert await gateway.registry.client_secret(body["id"]) == SECRET

    rotated = await api.patch(f"/credentials/{body['id']}", json={"client_secret": "rotated-secret", "name": "B2"})
    assert rotated.status_code == 200
    assert rotated.json()["name"] == "B2" and "rotated-secret" not in rotated.text
    assert await gateway.registry.client_secret(body["id"]) == "rotated-secret"

    assert (await api.delete(f"/credentials/{body['id']}")).status_code == 204
    assert (await api.get(f"/credentials/{body['id']}")).status_code == 404


async def test_secret_is_not_stored_in_plain_text(api, gateway):
    await api.post("/credentials", json=niu_credentials())
    files = list(gateway.config.data_dir.glob("fleetgate.db*"))
    assert files
    for path in files:
        assert SECRET.encode() not in path.read_bytes()


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
