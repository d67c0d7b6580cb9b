"""/openapi.json against the answers the server really gives.

One run drives every operation of the document to its success answer (and a few to their
problems) on a real gateway: the admin socket, the HTTPS door for the token endpoint, a
simulated Teltonika unit for state, records and a command. Every answer seen is checked
against the document: its status is listed for the operation and its body validates
against that status's schema. Every operation must have been answered with success.
"""

from __future__ import annotations

import json
import re

import jsonschema_rs
import pytest
import trio

from gateway.admin.answers import COMMAND_NAMES
from simulators.teltonika import run_fleet
from tests.conftest import TEST_TIMEOUT, eventually, listener_port
from tests.gateway.door_client import bearer, door_client, door_config, new_api_client, token_of
from tests.gateway.seed import JT808_MODEL, TELTONIKA_MODEL, niu_account, niu_credentials, niu_vehicle, unit_body

STREAMS = {("get", "/events")}  # answers forever: its status and media type are checked, not its body


@pytest.fixture
def extra_config(certificates) -> str:
    return door_config(certificates) + "[commands]\ntimeout = 5\n"


class Document:
    """The operations of an OpenAPI document and a validator for each of their answers."""

    def __init__(self, document: dict):
        self.document = document
        self.operations = {(method, path): operation for path, operations in document["paths"].items()
                           for method, operation in operations.items()}
        self._patterns = [(re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in document["paths"]]

    def template(self, path: str) -> str | None:
        # A literal path wins over a template that also matches it.
        matches = [template for pattern, template in self._patterns if pattern.match(path)]
        return min(matches, key=lambda t: t.count("{"), default=None)

    def resolved(self, schema: dict) -> dict:
        name = schema.get("$ref", "").removeprefix("#/components/schemas/")
        return self.document["components"]["schemas"][name] if name else schema

    def schema(self, operation: dict, status: int, media_type: str) -> dict | str:
        """The schema of this answer, or what is off the document."""
        response = operation["responses"].get(str(status))
        if response is None:
            return f"status {status} is not in the document"
        content = response.get("content", {})
        if media_type not in content:
            return f"{status} answered {media_type}; the document says {sorted(content)}"
        return {"components": self.document["components"], **content[media_type]["schema"]}


class Answers:
    """Every answer the test's clients receive, by operation of the document."""

    def __init__(self, document: Document):
        self.document = document
        self.seen: dict[tuple[str, str], list[int]] = {}
        self.problems: list[str] = []

    async def hook(self, response) -> None:
        method, path = response.request.method.lower(), response.request.url.path
        template = self.document.template(path)
        where = f"{method.upper()} {path} -> {response.status_code}"
        if template is None or (method, template) not in self.document.operations:
            self.problems.append(f"{where}: no such operation in the document")
            return
        self.seen.setdefault((method, template), []).append(response.status_code)
        if (method, template) in STREAMS:
            return  # never ends; its status and media type are checked where it is opened
        await response.aread()
        problem = self._problem(self.document.operations[(method, template)], response)
        if problem:
            self.problems.append(f"{where}: {problem}")

    def _problem(self, operation: dict, response) -> str | None:
        if response.status_code == 204:
            documented = "204" in operation["responses"]
            return None if documented and not response.content else "a 204 with a body or off the document"
        media_type = response.headers["content-type"].partition(";")[0]
        schema = self.document.schema(operation, response.status_code, media_type)
        if isinstance(schema, str):
            return schema
        body = response.json() if media_type.endswith("json") else response.text
        errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
                  for e in jsonschema_rs.validator_for(schema).iter_errors(body)]
        return "; ".join(errors[:5]) or None


async def test_every_answer_is_the_documented_one(gateway, api, certificates, nursery):
    document = Document(json.loads((await api.get("/openapi.json")).text, object_pairs_hook=_unique_keys))
    answers = Answers(document)
    api.event_hooks = {"response": [answers.hook]}

    for (method, path), operation in document.operations.items():
        success = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert success, f"{method.upper()} {path} documents no success answer"
        for status, response in success.items():
            schemas = [document.resolved(c.get("schema", {})) for c in response.get("content", {}).values()]
            described = all(s.get("properties") or s.get("type") == "string" for s in schemas)  # JSON or text
            assert status == "204" or (schemas and described), f"{method.upper()} {path} {status} says nothing"

    with trio.fail_after(TEST_TIMEOUT):
        await _drive_every_operation(gateway, api, certificates, answers, nursery)

    assert not answers.problems, "\n".join(answers.problems)
    unanswered = [f"{method.upper()} {path}" for (method, path) in document.operations
                  if (method, path) not in STREAMS
                  and not any(200 <= status < 300 for status in answers.seen.get((method, path), []))]
    assert not unanswered, f"never answered with success: {unanswered}"


async def _drive_every_operation(gateway, api, certificates, answers, nursery) -> None:
    # Brands, models, credentials of both kinds.
    await api.get("/telematics-brands")
    await api.get("/telematics-brands/TELTONIKA/available-vehicle-models")
    client = (await api.post("/credentials", json=niu_credentials())).json()
    account = (await api.post("/credentials", json=niu_account())).json()
    assert "client_id" in client and "account" in account
    await api.get("/credentials", params={"limit": 1})
    await api.get(f"/credentials/{client['id']}")
    await api.patch(f"/credentials/{account['id']}", json={"name": "Rider Berlin"})
    assert len((await api.get("/telematics-brands/NIU/available-credentials")).json()["items"]) == 2

    # A Teltonika unit: seen, registered, online, reporting and commanded.
    report = await nursery.start(lambda task_status: run_fleet(
        "127.0.0.1", listener_port(gateway, "teltonika"), 1, 0.2, retry_delay=0.2, task_status=task_status))
    unit = report.units[0]
    await eventually(lambda: _available(api, unit.imei))
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", unit.imei, TELTONIKA_MODEL))).json()
    await eventually(lambda: _online_with_records(api, vehicle["id"]))
    await api.get(f"/vehicles/{vehicle['id']}/state")
    await api.get(f"/vehicles/{vehicle['id']}/records", params={"limit": 2})
    commanded = await api.post(f"/vehicles/{vehicle['id']}/commands/disable-driving")
    assert commanded.status_code == 200 and commanded.json()["driving_enabled"]["value"] is False
    # A command the model lacks, listed or not, answers as before the list was in the document.
    for command in ("unlock-top-case", "fly-to-the-moon"):
        refused = await api.post(f"/vehicles/{vehicle['id']}/commands/{command}")
        assert refused.status_code == 409 and refused.json()["type"] == "/problems/vehicle/command-not-supported"
    assert "unlock-top-case" in COMMAND_NAMES and "fly-to-the-moon" not in COMMAND_NAMES

    # Every field of the master data, a NIU vehicle on the credentials, a JT/T 808 one to enrol.
    await api.patch(f"/vehicles/{vehicle['id']}", json={"master_data": niu_vehicle("")["master_data"]})
    await api.put(f"/vehicles/{vehicle['id']}/telematics-unit/setup", json={"vehicle_model_id": TELTONIKA_MODEL})
    niu = (await api.post("/vehicles", json=niu_vehicle(client["id"]))).json()
    jt808 = (await api.post("/vehicles", json=unit_body("JT808", "013912345678", JT808_MODEL,
                                                         password="code-1"))).json()
    await api.put(f"/vehicles/{jt808['id']}/telematics-unit/authentication", json={"password": "code-2"})
    await api.post(f"/vehicles/{jt808['id']}/telematics-unit/enrolment", json={"expires_in": 60})
    await api.get("/vehicles", params={"limit": 2})
    await api.get(f"/vehicles/{niu['id']}")
    await api.delete(f"/vehicles/{niu['id']}")
    await api.delete(f"/credentials/{client['id']}")
    await api.get(f"/credentials/{client['id']}")  # a problem, checked against the document too

    events = (await api.post("/event-log-entries/query", json={"limit": 500})).json()["items"]
    assert {"UnitSeen", "VehicleChanged", "VehicleStateRecorded", "CommandExecuted"} <= {e["type"] for e in events}

    # The HTTPS door: the token endpoint, and /health naming the door.
    api_client = await new_api_client(api, "vehicles:read")
    async with door_client(gateway, certificates) as door:
        door.event_hooks = {"response": [answers.hook]}
        token = await token_of(door, api_client)
        await door.get("/vehicles", headers=bearer(token))
        await door.post("/auth/oauth/token", params={"grant_type": "password"}, auth=("x", "y"))
    await api.get("/api-clients")
    await api.post(f"/api-clients/{api_client['id']}/rotate")
    await api.delete(f"/api-clients/{api_client['id']}")
    assert "api" in (await api.get("/health")).json()
    await api.get("/metrics")
    async with api.stream("GET", "/events") as stream:  # not JSON: its status and media type
        media_type = stream.headers["content-type"].partition(";")[0]
        assert isinstance(answers.document.schema(answers.document.operations[("get", "/events")],
                                                  stream.status_code, media_type), dict)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"a key given twice in the document: {keys}"
    return dict(pairs)


async def _available(api, unit_id: str) -> bool:
    answer = await api.get("/telematics-brands/TELTONIKA/available-telematics-units", params={"limit": 1})
    return any(unit["id"] == unit_id for unit in answer.json()["items"])


async def _online_with_records(api, vehicle_id: str) -> bool:
    online = (await api.get(f"/vehicles/{vehicle_id}")).json()["life_status"]["value"] == "ONLINE"
    records = (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 1})).json()["items"]
    return online and bool(records)
