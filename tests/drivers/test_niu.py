"""NIU driver without a network: protocol_specs/niu/vectors.json drives the parser, every
field exact; arbitrary JSON may only raise NiuProtocolError; the command table covers the
catalogue's NIU models."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import CredentialKind, ProtocolError, Transport
from drivers.brands import BRANDS
from drivers.niu import DRIVER
from drivers.niu.commands import (
    CLOUD_COMMANDS,
    DISABLE_DRIVING,
    DRAW_ATTENTION,
    ENABLE_DRIVING,
    LOCK_TOP_CASE,
    UNLOCK_BATTERY_COMPARTMENT,
    UNLOCK_TOP_CASE,
    confirmed,
    encode_command,
    expectation,
)
from drivers.niu.mapping import record_from_state, state_from_record, state_properties
from drivers.niu.parse import (
    STATE_FIELDS,
    NiuProtocolError,
    NiuState,
    parse_mileage,
    parse_scooter_list,
    parse_state,
    parse_token,
)
from gateway.catalog import models_of_brand

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "protocol_specs/niu/vectors.json").read_text())["vectors"]
PARSERS = {"state": parse_state, "scooter_list": parse_scooter_list, "token": parse_token, "tally": parse_mileage}


def by_kind(kind: str, *, errors: bool = False) -> list:
    chosen = [v for v in VECTORS if v["kind"] == kind and ("error" in v) == errors]
    return [pytest.param(v, id=v["name"]) for v in chosen]


def test_vector_file_is_complete():
    for vector in VECTORS:
        assert vector["kind"] in PARSERS and vector["source"], vector["name"]
        assert ("expect" in vector) != ("error" in vector), vector["name"]


@pytest.mark.parametrize("vector", by_kind("state"))
def test_state_vectors(vector):
    state = parse_state(vector["body"])
    expected = vector["expect"]["state"]
    assert set(expected) == set(STATE_FIELDS), "a state vector must pin every NiuState field"
    for name in STATE_FIELDS:
        want = expected[name]
        if name in ("time", "gps_time") and want is not None:
            want = datetime.fromisoformat(want)
        got = getattr(state, name)
        assert got == want and type(got) is type(want), f"{name}: {got!r} != {want!r}"
    assert state_properties(state, {}) == vector["expect"]["properties"]
    assert state.raw == vector["body"]["data"]


@pytest.mark.parametrize("vector", by_kind("scooter_list"))
def test_scooter_list_vectors(vector):
    assert [asdict(s) for s in parse_scooter_list(vector["body"])] == vector["expect"]


@pytest.mark.parametrize("vector", by_kind("token"))
def test_token_vectors(vector):
    assert asdict(parse_token(vector["body"])) == vector["expect"]


@pytest.mark.parametrize("vector", by_kind("tally"))
def test_tally_vectors(vector):
    assert parse_mileage(vector["body"]) == vector["expect"]


@pytest.mark.parametrize("vector", [v for kind in PARSERS for v in by_kind(kind, errors=True)])
def test_error_vectors(vector):
    assert vector["error"] == "NiuProtocolError"
    with pytest.raises(NiuProtocolError):
        PARSERS[vector["kind"]](vector["body"])


def test_protocol_error_is_a_driver_protocol_error():
    assert issubclass(NiuProtocolError, ProtocolError)


def test_token_grant_repr_hides_tokens():
    grant = parse_token({"status": 0, "data": {"token": "tok-secret", "refresh_token": "ref-secret"}})
    assert "tok-secret" not in repr(grant) and "ref-secret" not in repr(grant)


# --- arbitrary input -------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)
STATE_KEYS = ["isConnected", "ss_online_sta", "isAccOn", "isFortificationOn", "lockStatus", "is_cushion_lock_on",
              "batteries", "postion", "position", "nowSpeed", "estimatedMileage", "isCharging", "time",
              "gpsTimestamp", "infoTimestamp", "totalMileage", "topCaseLockStatus", "topCaseLidStatus"]
battery = st.fixed_dictionaries({}, optional={"batteryCharging": json_values, "isConnected": json_values})
spot = st.fixed_dictionaries({}, optional={"lat": json_values, "lng": json_values, "lon": json_values})
state_data = st.dictionaries(
    st.sampled_from(STATE_KEYS),
    json_values | st.dictionaries(st.sampled_from(["compartmentA", "compartmentB", "x"]), battery | json_values)
    | spot,
    max_size=12,
)
envelopes = st.fixed_dictionaries(
    {"status": st.sampled_from([0, "0", 1131, None, 0.0, "x"]), "data": state_data | json_values},
    optional={"desc": json_values},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, envelopes))
def test_arbitrary_json_raises_only_niu_protocol_error(payload):
    for parse in PARSERS.values():
        try:
            result = parse(payload)
        except NiuProtocolError:
            continue
        if isinstance(result, NiuState):
            state_properties(result, {})
            state_from_record(record_from_state(result), {})


# --- commands --------------------------------------------------------------------------


def test_every_catalogue_command_of_niu_models_is_mapped():
    for model in models_of_brand("NIU"):
        for capability in model.commands:
            assert capability in CLOUD_COMMANDS, f"{model.id}: {capability}"
            assert encode_command(capability, model.options, "pw").text == CLOUD_COMMANDS[capability][0]


def test_command_table():
    assert CLOUD_COMMANDS[DISABLE_DRIVING] == ("acc_off", ("driving_enabled", False))
    assert CLOUD_COMMANDS[ENABLE_DRIVING] == ("acc_on", ("driving_enabled", True))
    assert expectation(UNLOCK_TOP_CASE) == ("top_case_lock", "UNLOCKED")
    assert expectation(LOCK_TOP_CASE) == ("top_case_lock", "LOCKED")
    assert expectation(DRAW_ATTENTION) is None and expectation(UNLOCK_BATTERY_COMPARTMENT) is None


@pytest.mark.parametrize(
    ("capability", "props", "result"),
    [
        (DISABLE_DRIVING, {"driving_enabled": False}, True),
        (DISABLE_DRIVING, {"driving_enabled": True}, False),
        (DISABLE_DRIVING, {}, False),
        (ENABLE_DRIVING, {"driving_enabled": {"value": True, "timestamp": "2024-06-01T10:00:00.000Z"}}, True),
        (UNLOCK_TOP_CASE, {"top_case_lock": "UNLOCKED", "top_case_lid": "OPEN"}, True),
        (UNLOCK_TOP_CASE, {"top_case_lock": {"value": "LOCKED"}}, False),
        (LOCK_TOP_CASE, {"top_case_lock": "LOCKED"}, True),
        (DRAW_ATTENTION, {}, True),
        (UNLOCK_BATTERY_COMPARTMENT, {"driving_enabled": False}, True),
    ],
)
def test_confirmed(capability, props, result):
    assert confirmed(capability, props) is result


def test_unknown_capability():
    with pytest.raises(ValueError):
        confirmed("OPEN_SUNROOF", {})
    with pytest.raises(ValueError):
        encode_command("OPEN_SUNROOF")


def test_confirmation_follows_the_parsed_state():
    body = next(v for v in VECTORS if v["name"].startswith("state: v5 answer"))["body"]
    props = state_properties(parse_state(body))
    assert confirmed(ENABLE_DRIVING, props) and not confirmed(DISABLE_DRIVING, props)


# --- driver descriptor and records -------------------------------------------------------


def test_driver_descriptor_matches_the_brand():
    brand = BRANDS[DRIVER.brand]
    assert (DRIVER.name, DRIVER.brand) == ("niu", "NIU") and brand.driver == DRIVER.name
    assert DRIVER.credential_kind is CredentialKind.SHARED is brand.credential_kind
    assert DRIVER.transport is Transport.CLOUD and DRIVER.default_port is None is brand.default_port
    assert DRIVER.codec_factory is None


@pytest.mark.parametrize("vector", by_kind("state"))
def test_a_state_stored_as_a_record_maps_back_to_the_same_properties(vector):
    state = parse_state(vector["body"])
    record = record_from_state(state)
    assert record.device_time == state.time
    assert DRIVER.state_from_record(record, {}) == state_properties(state)
    if record.position is not None:
        assert record.position.valid == ("position" in state_properties(state))


def test_a_record_without_niu_fields_maps_to_nothing():
    from drivers.base import Record

    assert state_from_record(Record(device_time=None, fields={"niu": {"nothing": 1}}), {}) == {}
    assert state_from_record(Record(device_time=None), {}) == {}
