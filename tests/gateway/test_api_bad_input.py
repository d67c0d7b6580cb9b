"""Every kind of bad request gets problem JSON naming the field, and writes nothing."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from tests.gateway.seed import CONCOX_MODEL, JT808_MODEL, TELTONIKA_MODEL, niu_credentials, niu_vehicle, unit_body


def _with(body: dict, path: str, value) -> dict:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DROP:
        node.pop(last)
    else:
        node[last] = value
    return body


_DROP = object()

# (case, mutation of the seed body, status, problem type, words the detail must contain)
BAD_VEHICLES = [
    ("wrong enum", ("master_data.fuel_type", "COAL"), 400, "validation-error", "master_data.fuel_type"),
    ("over-long plate", ("master_data.license_plate", "X" * 31), 400, "validation-error", "master_data.license_plate"),
    ("bad vin", ("master_data.vin", "IOQ45678901234567"), 400, "validation-error", "master_data.vin"),
    ("year not 4 digits", ("master_data.year_of_production", "20"), 400, "validation-error", "year_of_production"),
    ("year as number", ("master_data.year_of_production", 2020), 400, "validation-error", "year_of_production"),
    ("unknown property", ("master_data.colour", "red"), 400, "validation-error", "The property 'colour' is not allowed"),
    ("unknown top-level property", ("owner", "me"), 400, "validation-error", "The property 'owner' is not allowed"),
    ("unknown brand", ("telematics_unit.brand", "ACME"), 400, "validation-error", "telematics_unit.brand"),
    ("missing unit id", ("telematics_unit.id", _DROP), 400, "validation-error", "telematics_unit.id"),
    ("missing model", ("telematics_unit.setup", _DROP), 400, "validation-error", "telematics_unit.setup"),
    ("unknown model", ("telematics_unit.setup.vehicle_model_id", "01AAAAAAAAAAAAAAAAAAAAAAAA"), 400,
     "referenced-resource-not-found", "01AAAAAAAAAAAAAAAAAAAAAAAA"),
    ("model of another brand", ("telematics_unit.setup.vehicle_model_id", TELTONIKA_MODEL), 400,
     "referenced-resource-not-found", "TELTONIKA model"),
    ("unknown credentials", ("telematics_unit.authentication.credentials_id", "01F6AAAAAAAAAAAAAAAAAAAAAA"), 400,
     "referenced-resource-not-found", "01F6AAAAAAAAAAAAAAAAAAAAAA"),
    ("password for a shared brand", ("telematics_unit.authentication", {"password": "x"}), 400,
     "validation-error", "credentials_id"),
    ("bad tag", ("tags", ["Not OK"]), 400, "validation-error", "tags"),
    ("too many tags", ("tags", [f"t{n}" for n in range(21)]), 400, "validation-error", "tags"),
    ("custom field object", ("custom_fields", {"a": {"b": 1}}), 400, "validation-error",
     "custom field 'a' must be a string, number or boolean"),
    ("too many custom fields", ("custom_fields", {f"k{n}": n for n in range(51)}), 400, "validation-error",
     "custom_fields"),
    ("bad operation status", ("operation_status", "PARKED"), 400, "validation-error", "operation_status"),
    ("bad unit id", ("telematics_unit.id", "niu-lower"), 400, "validation-error", "telematics_unit.id"),
]


async def snapshot(api) -> tuple:
    return ((await api.get("/vehicles")).json(), (await api.get("/credentials")).json())


async def assert_problem(response, status: int, problem: str, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/problems/{problem}"
    assert body["status"] == status
    assert body["title"]
    assert words in body["detail"], body["detail"]
    assert body["flow_id"] == response.headers["x-flow-id"]


@pytest.mark.parametrize("case,mutation,status,problem,words", BAD_VEHICLES, ids=[c[0] for c in BAD_VEHICLES])
async def test_bad_vehicle_body(api, case, mutation, status, problem, words):
    credentials_id = (await api.post("/credentials", json=niu_credentials())).json()["id"]
    before = await snapshot(api)
    response = await api.post("/vehicles", json=_with(niu_vehicle(credentials_id), *mutation))
    await assert_problem(response, status, problem, words)
    assert await snapshot(api) == before


async def test_invalid_json(api):
    response = await api.post("/vehicles", content=b'{"telematics_unit": ', headers={"content-type": "application/json"})
    await assert_problem(response, 400, "invalid-json", "not valid JSON")
    assert (await api.get("/vehicles")).json()["items"] == []


async def test_body_that_is_not_an_object(api):
    response = await api.post("/vehicles", json=[1, 2])
    await assert_problem(response, 400, "validation-error", "JSON object")


@pytest.mark.parametrize(
    "brand,model,authentication,words",
    [
        ("CONCOX", CONCOX_MODEL, {}, "password"),
        ("JT808", JT808_MODEL, {}, "password"),
        ("CONCOX", CONCOX_MODEL, {"password": "ab,12"}, "may not contain ','"),
        ("CONCOX", CONCOX_MODEL, {"password": "ab 12#"}, "may not contain space, '#'"),
        ("JT808", JT808_MODEL, {"password": ""}, "1 to 64 printable ASCII"),
        ("JT808", JT808_MODEL, {"password": "x" * 65}, "1 to 64 printable ASCII"),
        ("JT808", JT808_MODEL, {"password": "pässword"}, "1 to 64 printable ASCII"),
        ("TELTONIKA", TELTONIKA_MODEL, {"password": "x"}, "take no authentication"),
    ],
)
async def test_authentication_must_match_the_credential_kind(api, brand, model, authentication, words):
    unit_id = {"CONCOX": "359710049095095", "JT808": "013912345678", "TELTONIKA": "356307042441013"}[brand]
    response = await api.post("/vehicles", json=unit_body(brand, unit_id, model, **authentication))
    await assert_problem(response, 400, "validation-error", words)
    assert (await api.get("/vehicles")).json()["items"] == []


async def test_credentials_of_another_brand_are_not_found(api, gateway):
    # Only NIU takes credentials today, so plant a row of another brand the way a
    # future SHARED brand would have one, straight through the registry's store.
    from gateway.store import queries

    niu = (await api.post("/credentials", json=niu_credentials())).json()
    row = {"id": "01M8A3J4K0WN97VX1M9KQGBXDC", "brand": "TELTONIKA", "name": "other", "kind": "client",
           "client_id": "c", "client_secret": b"x", "created_at": niu["created_at"], "modified_at": niu["created_at"]}
    await gateway.registry.store.write(queries.insert_credentials, row)
    body = niu_vehicle(row["id"])
    response = await api.post("/vehicles", json=body)
    await assert_problem(response, 400, "referenced-resource-not-found", "no NIU credentials")


async def test_unit_already_attached_is_a_conflict(api):
    body = unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL)
    first = await api.post("/vehicles", json=body)
    assert first.status_code == 201
    before = await snapshot(api)
    second = await api.post("/vehicles", json=body)
    await assert_problem(second, 409, "conflicting-resource", first.json()["id"])
    assert await snapshot(api) == before


async def test_patch_rejects_bad_parts_and_changes_nothing(api):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    url = f"/vehicles/{vehicle['id']}"
    for body, words in (
        ({"master_data": {"license_plate": "X" * 31}}, "license_plate"),
        ({"tags": None}, "'tags' cannot be null"),
        ({"telematics_unit": {}}, "The property 'telematics_unit' is not allowed"),
        ({"operation_status": "BROKEN"}, "operation_status"),
    ):
        await assert_problem(await api.patch(url, json=body), 400, "validation-error", words)
    assert (await api.get(url)).json() == vehicle
    await assert_problem(await api.patch("/vehicles/ZZZZZ", json={}), 404, "resource-not-found", "ZZZZZ")


async def test_unknown_paths_and_methods_are_problems(api):
    await assert_problem(await api.get("/nowhere"), 404, "resource-not-found", "/nowhere")
    await assert_problem(await api.put("/vehicles", json={}), 405, "method-not-allowed", "PUT")
    await assert_problem(await api.get("/vehicles/NOPE1"), 404, "resource-not-found", "NOPE1")
    await assert_problem(await api.get("/telematics-brands/ACME/available-vehicle-models"), 404,
                         "resource-not-found", "ACME")


# JSON text that Python parses but JSON output cannot carry: escapes of lone surrogates,
# NaN and infinities (a number past the float range is one too). Sent as raw bytes, as an
# attacker would; httpx's own encoder refuses to write them.
UNSTORABLE = [
    ("surrogate as custom field name", '{"custom_fields": {"\\udc00": 1}}',
     "'custom_fields': the property name '\\udc00'"),
    ("surrogate in a custom field", '{"custom_fields": {"a": "x\\ud800"}}',
     "'custom_fields.a': the text is not Unicode"),
    ("surrogate in master data", '{"master_data": {"remark": "\\udfff"}}', "'master_data.remark'"),
    ("surrogate in a tag", '{"tags": ["ok", "\\udbff"]}', "'tags.1'"),
    ("NaN", '{"custom_fields": {"a": NaN}}', "'custom_fields.a': NaN and infinite numbers are not allowed"),
    ("Infinity", '{"custom_fields": {"b": Infinity}}', "'custom_fields.b'"),
    ("-Infinity", '{"custom_fields": {"c": -Infinity}}', "'custom_fields.c'"),
    ("past the float range", '{"custom_fields": {"d": 1e400}}', "'custom_fields.d'"),
]


@pytest.mark.parametrize("case,body,words", UNSTORABLE, ids=[c[0] for c in UNSTORABLE])
async def test_values_json_cannot_carry_are_refused_and_nothing_is_stored(api, case, body, words):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    url = f"/vehicles/{vehicle['id']}"
    response = await api.patch(url, content=body.encode(), headers={"content-type": "application/json"})
    await assert_problem(response, 400, "validation-error", words)
    assert (await api.get(url)).json() == vehicle
    assert (await api.get("/vehicles")).json()["items"] == [vehicle]


@pytest.mark.parametrize(
    "url,body,words",
    [
        ("/vehicles",
         '{"telematics_unit": {"id": "\\udc00", "brand": "TELTONIKA", "setup": {"vehicle_model_id": "x"}}}',
         "'telematics_unit.id'"),
        ("/credentials", '{"brand": "NIU", "name": "\\ud800", "client_id": "c", "client_secret": "s"}', "'name'"),
        ("/credentials", '{"brand": "NIU", "name": "n", "client_id": "c", "client_secret": "\\ud800"}', "'client_secret'"),
    ],
)
async def test_lone_surrogates_are_refused_in_every_body(api, url, body, words):
    response = await api.post(url, content=body.encode(), headers={"content-type": "application/json"})
    await assert_problem(response, 400, "validation-error", words)
    assert (await snapshot(api)) == ({"items": [], "next_page_token": None}, {"items": [], "next_page_token": None})


async def test_bodies_that_are_not_utf8_json_are_invalid_json(api):
    for body, words in (
        (b'{"custom_fields": {"a": "\xed\xb0\x80"}}', "not UTF-8"),  # a surrogate encoded as UTF-8 bytes
        (b'{"limit": ' + b"9" * 5000 + b"}", "too many digits"),
        (b"[" * 100_000, "nested too deeply"),
    ):
        response = await api.post("/event-log-entries/query", content=body, headers={"content-type": "application/json"})
        await assert_problem(response, 400, "invalid-json", words)


async def test_surrogate_pairs_are_text_and_come_back_as_sent(api):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    body = '{"custom_fields": {"\\ud83d\\ude97": "\\ud83d\\udef5"}}'  # escaped as a pair: one character each
    response = await api.patch(f"/vehicles/{vehicle['id']}", content=body.encode(),
                               headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert (await api.get(f"/vehicles/{vehicle['id']}")).json()["custom_fields"] == {"\U0001f697": "\U0001f6f5"}


def _token(position) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


MALFORMED_TOKENS = {
    "deep": base64.urlsafe_b64encode(b"[" * 10_000).decode(),
    "huge": "A" * 20_000,
    "not base64 JSON": "%%%",
    "not a list": _token("not a list"),
}
RECORD_TOKENS = {
    "30 digits": _token(["2021-01-19T13:13:09.952Z", "9" * 30]),
    "5000 digits": _token(["2021-01-19T13:13:09.952Z", "9" * 5000]),
    "superscript": _token(["2021-01-19T13:13:09.952Z", "\u00b2"]),  # a digit to str.isdigit, not to int()
    "too wide": _token(["2021-01-19T13:13:09.952Z", "1", "x"]),
}


@pytest.mark.parametrize("name", [*MALFORMED_TOKENS, *RECORD_TOKENS])
async def test_page_tokens_of_any_shape_are_400(api, name):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    urls = [f"/vehicles/{vehicle['id']}/records"] + (["/vehicles", "/credentials"] if name in MALFORMED_TOKENS else [])
    for url in urls:
        response = await api.get(url, params={"page_token": {**MALFORMED_TOKENS, **RECORD_TOKENS}[name]})
        await assert_problem(response, 400, "validation-error", "page_token")


@pytest.mark.parametrize("token", [
    base64.urlsafe_b64encode(b"[" * 500_000).decode(),
    _token(["9" * 30]),
    _token(["9" * 5000]),
    _token([str(2**63)]),
    _token([1]),
], ids=["deep", "30 digits", "5000 digits", "past int64", "not a string"])
async def test_event_page_tokens_of_any_shape_are_400(api, token):
    response = await api.post("/event-log-entries/query", json={"page_token": token})
    await assert_problem(response, 400, "validation-error", "page_token")


@pytest.mark.parametrize("after", ["9" * 30, "9" * 5000, str(2**63), "\u00b2", "-1"],
                         ids=["30 digits", "5000 digits", "past int64", "superscript", "negative"])
async def test_event_stream_resume_ids_of_any_size_are_400(api, after):
    response = await api.get("/events", params={"after": after})
    await assert_problem(response, 400, "validation-error", "'after'")
    response = await api.get("/events", headers={"last-event-id": after.encode()})
    await assert_problem(response, 400, "validation-error", "Last-Event-ID")


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_timestamps_at_the_edges_of_the_calendar_are_400(api, moment):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441013", TELTONIKA_MODEL))).json()
    for name in ("from", "to"):
        response = await api.get(f"/vehicles/{vehicle['id']}/records", params={name: moment})
        await assert_problem(response, 400, "validation-error", f"'{name}'")
    for name in ("occurred_after", "occurred_before"):
        response = await api.post("/event-log-entries/query", json={name: moment})
        await assert_problem(response, 400, "validation-error", f"'{name}'")


@pytest.mark.parametrize("bad_id", ["9" * 30, "9" * 5000, "%00", "%ED%B0%80", "..%2F..%2Fhealth"])
async def test_malformed_or_overlong_ids_in_a_path_are_404(api, bad_id):
    for method, url in (
        ("GET", f"/vehicles/{bad_id}"), ("PATCH", f"/vehicles/{bad_id}"), ("DELETE", f"/vehicles/{bad_id}"),
        ("GET", f"/vehicles/{bad_id}/state"), ("GET", f"/vehicles/{bad_id}/records"),
        ("POST", f"/vehicles/{bad_id}/commands/disable-driving"),
        ("PUT", f"/vehicles/{bad_id}/telematics-unit/setup"),
        ("GET", f"/credentials/{bad_id}"), ("DELETE", f"/credentials/{bad_id}"),
        ("GET", f"/telematics-brands/{bad_id}/available-vehicle-models"),
    ):
        body = {"PATCH": {}, "PUT": {"vehicle_model_id": TELTONIKA_MODEL}}.get(method)  # valid, so the id decides
        response = await api.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
