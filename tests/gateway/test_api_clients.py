"""API clients of the HTTPS door: managed with `fleetgate api-clients` over the admin
socket, their secrets shown once and kept as salted scrypt hashes, failed authentications
slowed per client id, unknown ids alike."""

from __future__ import annotations

import json

from gateway.api_clients import ApiClients, hash_secret, secret_matches
from gateway.session_table import AuthThrottle
from gateway.store import Store
from tests.gateway.test_cli import cli


class RecordedThrottle(AuthThrottle):
    """The real throttle with short delays, noting each one it prescribes."""

    def __init__(self) -> None:
        super().__init__(base=0.01, cap=0.04)
        self.prescribed: list[tuple[str, float]] = []

    def delay(self, key, address=None):
        delay = super().delay(key, address)
        self.prescribed.append((key[1], delay))
        return delay


async def test_failures_are_slowed_per_client_id_and_unknown_ids_alike(tmp_path, nursery):
    store = Store(tmp_path / "fleetgate.db")
    try:
        await nursery.start(store.run)
        throttle = RecordedThrottle()
        clients = ApiClients(store, 900, throttle)
        row, secret = await clients.add("booking", ["vehicles:read"])
        assert await clients.authenticate(row["client_id"], "wrong") is None
        assert await clients.authenticate(row["client_id"], "wrong again") is None
        assert await clients.authenticate("made-up-id", secret) is None
        assert await clients.authenticate("made-up-id", secret) is None
        assert await clients.authenticate("made-up-id", secret) is None
        assert (await clients.authenticate(row["client_id"], secret))["id"] == row["id"]
        assert await clients.authenticate(row["client_id"], "wrong") is None  # the success reset its count
        assert throttle.prescribed == [
            (row["client_id"], 0.01), (row["client_id"], 0.02),
            ("made-up-id", 0.01), ("made-up-id", 0.02), ("made-up-id", 0.04),
            (row["client_id"], 0.01),
        ]
    finally:
        nursery.cancel_scope.cancel()
        store.close()


async def test_operator_manages_api_clients_from_the_command_line(gateway, api):
    for body in ({"name": "x", "scopes": ["vehicles:fly"]}, {"name": "x", "scopes": []}, {"scopes": ["commands"]},
                 {"name": "x", "scopes": ["commands"], "client_secret": "mine"}):
        refused = await api.post("/api-clients", json=body)
        assert refused.status_code == 400 and refused.json()["type"] == "/problems/validation-error", body
    code, out, err = await cli(gateway, "api-clients", "add", "--name", "booking", "--scopes", "vehicles:read,commands")
    assert code == 0, err
    secret = out.split("client secret: ")[1].strip()
    assert "Store the client secret now" in err and secret not in err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "CLIENT", "ID", "SCOPES", "CREATED", "ROTATED"]
    api_client_id, name, client_id, scopes = lines[1].split()[:4]
    assert (name, scopes) == ("booking", "commands,vehicles:read")
    assert (await gateway.api_clients.authenticate(client_id, secret))["id"] == api_client_id

    code, out, err = await cli(gateway, "api-clients", "list", "--json")
    assert code == 0, err
    (listed,) = json.loads(out)
    assert listed["client_id"] == client_id and "client_secret" not in listed and secret not in out

    code, out, err = await cli(gateway, "api-clients", "rotate", api_client_id, "--json")
    assert code == 0, err
    rotated = json.loads(out)
    assert rotated["client_id"] == client_id and rotated["client_secret"] != secret
    assert await gateway.api_clients.authenticate(client_id, rotated["client_secret"]) is not None

    code, out, err = await cli(gateway, "api-clients", "remove", api_client_id)
    assert code == 0, err
    assert "no longer work" in out
    assert (await gateway.api_clients.list("", 10)) == []


def test_a_stored_secret_is_a_salted_scrypt_hash():
    first, second = hash_secret("s3cret"), hash_secret("s3cret")
    assert first.startswith("scrypt$16384$8$1$") and first != second  # a salt of its own
    assert "s3cret" not in first
    assert secret_matches("s3cret", first) and secret_matches("s3cret", second)
    assert not secret_matches("s3cret!", first)
