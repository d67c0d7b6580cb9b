"""GT06 driver tests, driven by protocol_specs/gt06/vectors.json."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from construct import ConstructError
from hypothesis import given, settings
from hypothesis import strategies as st

import drivers.base as base
from drivers.base import (
    NEED_DATA, Acknowledge, CommandRequest, CommandResponse, Heartbeat, Login, LoginAccepted, LoginRejected, Position,
    Record, RecordBatch, TimeAnswer, TimeRequest,
)
from drivers.gt06 import DRIVER, frames
from drivers.gt06.codec import Gt06Codec, State, encode_command_frame
from tests.drivers.vectors import (
    Vector, assert_breaks, assert_breaks_byte_by_byte, assert_partial, assert_undecoded, byte_by_byte, exhaust, feed, groups, mutate,
    parse_time, replies,
)

VECTORS, FROM_UNIT, VALID, INVALID, TO_UNIT, BY_NAME = groups("gt06")
LOGINS = {"online": BY_NAME["gt06-login"].data, "online_gmt8": BY_NAME["vl-login-with-type-and-time-zone"].data}
# single frames as the documents print them (no garbage in front), their length field right
PLAIN_FRAMES = [v for v in VALID if not v.extra.get("discarded") and not v.extra.get("length_field_wrong")]
OUTBOUND = {"LoginAccepted": LoginAccepted, "LoginRejected": LoginRejected, "Acknowledge": Acknowledge}


def codec_in(state: str, **options) -> Gt06Codec:
    codec = Gt06Codec(**options)
    if state in LOGINS:
        codec.receive_data(LOGINS[state])
        login = codec.next_event()
        assert isinstance(login, Login)
        codec.send(LoginAccepted(login))
    else:
        assert state == "login", state
    return codec


def expected_record(spec: dict) -> Record:
    time = spec["device_time"]
    return Record(
        device_time=parse_time(time) if time else None,
        position=Position(**spec["position"]) if spec["position"] else None,
        fields=spec["fields"],
    )


def single_event(vector: Vector):
    codec = codec_in(vector.state)
    if vector.expect["event"] == "Login":
        codec.receive_data(vector.data)
        return codec, codec.next_event()
    (event,) = feed(codec, vector.data)
    return codec, event


# --- vendor examples and edge cases: decode ---------------------------------------------


def test_vector_file_covers_the_brief():
    names = set(BY_NAME)
    assert {"gt06-login", "gt06-location", "gt06-alarm-0x16", "gt06-appendix-b-status", "vl-location-0x22",
            "vl-heartbeat", "vl-time-request", "gt06-command-dyd", "gt06-response-dyd-success",
            "vl-response-0x21-long-frame", "south-west-location", "long-frame-location-with-mileage",
            "payload-contains-0d0a", "garbage-before-login", "bad-crc", "length-shorter-than-frame"} <= names
    assert {v.error for v in INVALID} >= {base.ChecksumError, base.FrameError, base.LengthError,
                                          base.UnexpectedMessage}
    assert any(v.expect["event"] == "Undecoded" for v in VALID)
    assert all(v.source for v in VECTORS)
    assert any(v.data[:2] == frames.LONG_START for v in VALID)


@pytest.mark.parametrize("vector", VALID, ids=str)
def test_valid_vector_decodes_to_expected_event(vector: Vector):
    codec, event = single_event(vector)
    expect = vector.expect
    assert type(event).__name__ == expect["event"]
    if "context" in expect:
        assert [event.context.protocol, event.context.serial] == expect["context"]
    if isinstance(event, Login):
        assert (event.unit_id, event.password) == (expect["unit_id"], None)
        assert dict(event.attributes) == expect["attributes"]
    elif isinstance(event, RecordBatch):
        assert event.records == tuple(expected_record(r) for r in expect["records"])
        assert all(r.device_time is None or r.device_time.utcoffset() == timedelta(0) for r in event.records)
        assert list(event.undecoded) == expect.get("undecoded", [])
    elif isinstance(event, CommandResponse):
        assert (event.text, event.correlation, event.records) == (expect["text"], expect["correlation"], ())
    elif isinstance(event, base.Undecoded):
        assert_undecoded(event, vector)
    else:
        assert isinstance(event, TimeRequest | Heartbeat)
    if not isinstance(event, Login):
        assert vector.data.endswith(event.raw)
        if vector in PLAIN_FRAMES:
            assert event.raw == vector.data and frames.parse_frame(event.raw)
    assert codec.discarded == vector.extra.get("discarded", 0)
    assert codec.buffered == 0


@pytest.mark.parametrize("vector", [v for v in VALID if replies(v)], ids=str)
def test_reply_bytes_are_exact(vector: Vector):
    for reply, expected in replies(vector).items():
        codec, event = single_event(vector)
        if reply == "TimeAnswer":
            outbound = TimeAnswer(event, parse_time(vector.expect["now"]))
        else:
            outbound = OUTBOUND[reply](event)
        assert codec.send(outbound) == expected, reply


def test_login_pauses_until_decided_and_sets_the_state():
    codec = Gt06Codec()
    codec.receive_data(LOGINS["online"] + BY_NAME["gt06-location"].data)
    login = codec.next_event()
    assert codec.state is State.AWAIT_DECISION and codec.unit_id == "123456789012345"
    assert codec.next_event() is NEED_DATA  # the unit waits for the answer; so do its bytes
    codec.send(LoginAccepted(login))
    assert codec.state is State.ONLINE
    assert isinstance(codec.next_event(), RecordBatch)


def test_rejected_login_is_silent_and_refuses_further_data():
    codec = Gt06Codec()
    codec.receive_data(LOGINS["online"])
    assert codec.send(LoginRejected(codec.next_event())) == b""
    codec.receive_data(BY_NAME["vl-heartbeat"].data)
    with pytest.raises(base.UnexpectedMessage):
        codec.next_event()


# --- time zones ---------------------------------------------------------------------------


def first_record(codec: Gt06Codec, name: str) -> Record:
    (batch,) = feed(codec, BY_NAME[name].data)
    return batch.records[0]


def test_default_time_zone_applies_to_local_time_packets_only():
    codec = codec_in("online", default_tz_minutes=-300)  # UTC-5
    assert first_record(codec, "gt06-location").device_time == datetime(2011, 8, 29, 22, 46, 16, tzinfo=timezone.utc)
    assert first_record(codec, "gt06-alarm-0x16").device_time == datetime(2011, 11, 15, 19, 36, 29, tzinfo=timezone.utc)
    # 0x22 / 0x26 carry UTC ([VL] §I.1.1)
    assert first_record(codec, "vl-location-0x22").device_time == datetime(2015, 12, 29, 2, 51, 5, tzinfo=timezone.utc)


def test_login_time_zone_overrides_the_default():
    codec = codec_in("online_gmt8", default_tz_minutes=-300)
    assert codec.tz_minutes == 480
    assert first_record(codec, "gt06-location").device_time == datetime(2011, 8, 29, 9, 46, 16, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("word", "minutes"),
    [(0x3200, 480), (0x4DD8, -765), (0x0000, 0), (0x0148, -20), (0x5DC0, None), (0x0A00, None)],
)
def test_time_zone_word(word, minutes):
    content = bytes.fromhex("0123456789012345") + (0x7000).to_bytes(2, "big") + word.to_bytes(2, "big")
    codec = Gt06Codec(default_tz_minutes=60)
    codec.receive_data(frames.frame(frames.LOGIN, content, 1))
    login = codec.next_event()
    assert login.attributes.get("time_zone_minutes") == minutes
    assert codec.tz_minutes == (60 if minutes is None else minutes)


def test_default_time_zone_is_bounded():
    with pytest.raises(ValueError):
        Gt06Codec(default_tz_minutes=15 * 60)


def test_time_answer_converts_to_utc():
    codec = codec_in("online")
    (request,) = feed(codec, BY_NAME["vl-time-request"].data)
    berlin = timezone(timedelta(hours=1))
    answer = codec.send(TimeAnswer(request, datetime(2015, 12, 29, 1, 0, 21, tzinfo=berlin)))
    assert answer == bytes.fromhex(BY_NAME["vl-time-request"].expect["replies"]["TimeAnswer"])


# --- invalid vectors -------------------------------------------------------------------


@pytest.mark.parametrize("vector", INVALID, ids=str)
def test_invalid_vector_raises_its_error_and_codec_stays_broken(vector: Vector):
    command = CommandRequest("DYD,secret#", correlation=1, redact=("secret",))
    assert_breaks(codec_in(vector.state), vector, command, BY_NAME["vl-heartbeat"].data)


@pytest.mark.parametrize("vector", INVALID, ids=str)
def test_invalid_vector_fed_byte_by_byte_raises_the_same_error(vector: Vector):
    assert_breaks_byte_by_byte(codec_in(vector.state), vector)


def test_oversized_length_is_refused_before_the_rest_arrives():
    codec = codec_in("online")
    codec.receive_data(bytes.fromhex("7979"))
    assert codec.next_event() is NEED_DATA
    codec.receive_data(bytes.fromhex("0400"))  # 1024 + 6 > 1024
    with pytest.raises(base.LengthError):
        codec.next_event()


def test_max_frame_boundary():
    frame = BY_NAME["vl-response-0x21-long-frame"].data
    (response,) = feed(codec_in("online", max_frame=len(frame)), frame)
    assert response.correlation == 0
    with pytest.raises(base.LengthError):
        feed(codec_in("online", max_frame=len(frame) - 1), frame)


# --- chunking, resynchronisation, 0D0A -----------------------------------------------------

ONLINE_STREAM = b"".join(v.data for v in VALID if v.state == "online")
STREAM = LOGINS["online"] + ONLINE_STREAM
STREAM_EVENTS = 1 + len([v for v in VALID if v.state == "online"])


STREAM_WHOLE = feed(Gt06Codec(), STREAM)


def test_stream_whole_equals_byte_by_byte():
    assert len(STREAM_WHOLE) == STREAM_EVENTS
    assert feed(Gt06Codec(), STREAM, cuts=byte_by_byte(STREAM)) == STREAM_WHOLE


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=40))
def test_stream_cut_anywhere_gives_the_same_events(cuts):
    assert feed(Gt06Codec(), STREAM, cuts=cuts) == STREAM_WHOLE


no_marker_garbage = st.binary(max_size=64).map(lambda b: bytes(x for x in b if x not in (0x78, 0x79)))


@settings(max_examples=100, deadline=None)
@given(garbage=no_marker_garbage, cut=st.integers(min_value=0))
def test_garbage_before_a_frame_is_skipped_and_counted(garbage, cut):
    frame = BY_NAME["vl-location-0x22"].data
    data = garbage + frame
    codec = codec_in("online")
    (batch,) = feed(codec, data, cuts=[cut % len(data)] if cut % len(data) else [])
    assert batch.raw == frame
    assert (codec.discarded, codec.buffered) == (len(garbage), 0)


def test_a_lone_marker_byte_waits_for_its_partner():
    codec = codec_in("online")
    frame = BY_NAME["vl-heartbeat"].data
    codec.receive_data(b"\x00\x13" + frame[:1])
    assert codec.next_event() is NEED_DATA
    assert (codec.discarded, codec.buffered) == (2, 1)
    codec.receive_data(frame[1:])
    assert isinstance(codec.next_event(), RecordBatch)


def test_garbage_at_end_of_stream_is_not_an_error():
    codec = codec_in("online")
    codec.receive_data(b"\x00\x01\x78")
    codec.receive_data(b"")
    assert codec.next_event() is NEED_DATA
    assert codec.discarded == 3


def test_a_partial_frame_at_end_of_stream_is():
    codec = codec_in("online")
    assert_partial(codec, BY_NAME["vl-heartbeat"].data, 7)
    codec.receive_data(b"")
    with pytest.raises(base.FrameError):
        codec.next_event()


def test_frame_is_not_split_at_0d0a_inside_the_payload():
    frame = BY_NAME["payload-contains-0d0a"].data
    stops = [i for i in range(len(frame) - 3) if frame[i : i + 2] == frames.STOP]
    assert len(stops) >= 5
    for stop in stops:  # a read may end right after any inner 0D0A
        (batch,) = feed(codec_in("online"), frame, cuts=[stop + 2])
        assert batch.raw == frame
    (batch,) = feed(codec_in("online"), frame + frame[:5])
    assert (batch.context.protocol, batch.context.serial) == (0x12, 0x0D0A)


# --- round trips and outbound frames -----------------------------------------------------


@pytest.mark.parametrize("vector", PLAIN_FRAMES + TO_UNIT, ids=str)
def test_build_of_parse_is_identity(vector: Vector):
    declaration = frames.LongFrame if vector.data[:2] == frames.LONG_START else frames.ShortFrame
    assert declaration.build(declaration.parse(vector.data)) == vector.data
    covered = declaration.parse(vector.data).covered.value
    if covered.protocol == frames.COMMAND:
        layouts = (frames.CommandContent,)
    else:
        layouts = frames.LAYOUTS.get(covered.protocol, ())
        if vector.data[:2] == frames.SHORT_START:
            layouts = frames.SHORT_FRAME_LAYOUTS.get(covered.protocol, ()) + layouts
    for layout in layouts:  # the layout the codec takes it in, if any
        try:
            parsed = layout.parse(covered.content)
        except ConstructError:
            continue
        assert layout.build(parsed) == covered.content
        break


@pytest.mark.parametrize("vector", TO_UNIT, ids=str)
def test_command_frames_are_byte_exact(vector: Vector):
    extra = vector.extra
    built = encode_command_frame(vector.command_text, extra["server_flag"], extra["serial"], extra.get("language"))
    assert built == vector.data


def test_codec_puts_the_correlation_in_the_server_flag_and_counts_its_serials():
    codec = codec_in("online")
    first = codec.send(CommandRequest("DYD,000000#", correlation=0x0001A958, redact=("000000",)))
    second = codec.send(CommandRequest("HFYD,000000#", correlation=7))
    assert first == encode_command_frame("DYD,000000#", 0x0001A958, 1)
    parsed = frames.parse_frame(second)
    assert (parsed.protocol, parsed.serial) == (frames.COMMAND, 2)
    assert frames.CommandContent.parse(parsed.content).server_flag == 7


def test_crc_check_value_and_vendor_frames():
    assert frames.crc_itu(b"123456789") == 0x906E  # CRC-16/X-25
    for vector in PLAIN_FRAMES + TO_UNIT:
        assert frames.crc_itu(vector.data[2:-4]) == int.from_bytes(vector.data[-4:-2], "big")


def test_send_misuse_is_a_local_error_and_never_shows_the_command():
    codec = Gt06Codec()
    with pytest.raises(RuntimeError):
        codec.send(CommandRequest("DYD,secret#"))
    with pytest.raises(RuntimeError):
        codec.send(LoginAccepted(Login("123456789012345", context=1)))
    online = codec_in("online")
    for text in ("DYD,s\u00e9cret#", "DYD," + "secret" * 50 + "#"):
        with pytest.raises(ValueError) as caught:
            online.send(CommandRequest(text, correlation=1, redact=("secret",)))
        assert "secret" not in str(caught.value) and "cret" not in repr(caught.value)
    with pytest.raises(ValueError):
        online.send(CommandRequest("DYD,x#", correlation=2**32))


# --- arbitrary bytes --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), state=st.sampled_from(["login", "online", "online_gmt8"]))
def test_arbitrary_bytes_raise_only_protocol_errors(data, state):
    exhaust(codec_in(state), data)


@settings(max_examples=300, deadline=None)
@given(protocol=st.sampled_from(sorted(set(frames.LAYOUTS) | {frames.COMMAND, 0x7E})), content=st.binary(max_size=60),
       long=st.booleans(), state=st.sampled_from(["login", "online"]))
def test_well_framed_arbitrary_content_raises_only_protocol_errors(protocol, content, long, state):
    exhaust(codec_in(state), frames.frame(protocol, content, 1, long=long))


@settings(max_examples=300, deadline=None)
@given(protocol=st.integers(0, 255).filter(lambda p: p != frames.LOGIN), content=st.binary(max_size=80),
       long=st.booleans())
def test_a_well_framed_message_never_breaks_a_logged_in_codec(protocol, content, long):
    """spec.md: whatever a logged-in unit sends in a frame with a good CRC is an event, and
    the answer to it is nothing or the echo of its number and serial."""
    codec = codec_in("online")
    (event,) = feed(codec, frames.frame(protocol, content, 7, long=long))
    if isinstance(event, RecordBatch | base.Undecoded | Heartbeat):
        answer = codec.send(Acknowledge(event))
        if answer:
            echo = frames.parse_frame(answer)
            assert (echo.protocol, echo.serial, echo.content) == (protocol, 7, b"")
    else:
        assert isinstance(event, CommandResponse | TimeRequest)
    assert codec.next_event() is NEED_DATA


def test_a_frame_whose_length_field_counts_too_few_bytes_waits_for_its_stop_up_to_max_frame():
    vector = BY_NAME["field-traccar-frame-l33-0x13"]
    codec = codec_in("online")
    codec.receive_data(vector.data[:-1])
    assert codec.next_event() is NEED_DATA  # the 0D0A after the length field's end has not come yet
    codec.receive_data(vector.data[-1:])
    assert isinstance(codec.next_event(), RecordBatch)
    codec = codec_in("online", max_frame=64)
    codec.receive_data(vector.data[:-2] + bytes(64))
    with pytest.raises(base.LengthError):
        codec.next_event()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_vendor_frames_raise_only_protocol_errors(data):
    exhaust(codec_in("online"), mutate(data, data.draw(st.sampled_from(PLAIN_FRAMES)).data))


# --- descriptor ---------------------------------------------------------------------------


def test_driver_descriptor():
    assert (DRIVER.name, DRIVER.brand, DRIVER.default_port) == ("gt06", "CONCOX", 5023)
    assert DRIVER.credential_kind is base.CredentialKind.INDIVIDUAL
    assert DRIVER.transport is base.Transport.TCP
    assert DRIVER.correlates_commands and not DRIVER.password_at_login
    codec = DRIVER.codec_factory(max_frame=2048)
    assert isinstance(codec, Gt06Codec) and codec.max_frame == 2048
    assert DRIVER.codec_factory().max_frame == 1024


# --- mapping ------------------------------------------------------------------------------


def record_of(name: str) -> Record:
    (batch,) = feed(codec_in(BY_NAME[name].state), BY_NAME[name].data)
    return batch.records[0]


def test_state_of_a_location_with_a_fix():
    assert DRIVER.state_from_record(record_of("gt06-location"), {}) == {
        "position": {"lat": 0x027AC7EB / 1_800_000, "lon": 0x0C465849 / 1_800_000},
        "speed_in_kilometers_per_hour": 0.0,
    }
    state = DRIVER.state_from_record(record_of("long-frame-location-with-mileage"), {})
    assert state == {"position": {"lat": -33.8688, "lon": 151.2093}, "speed_in_kilometers_per_hour": 72.0,
                     "ignition": "ON"}
    state = DRIVER.state_from_record(record_of("south-west-location"), {})
    assert state["position"] == {"lat": -34.6037, "lon": -58.3816}


def test_no_fix_gives_no_position_or_speed():
    assert DRIVER.state_from_record(record_of("gps-only-without-fix"), {}) == {}
    # an alarm without a fix still reports its status
    assert DRIVER.state_from_record(record_of("vl-alarm-0x26-vibration"), {}) == {
        "ignition": "OFF", "driving_enabled": True, "cellular_signal_quality": 5,
    }


def test_state_of_an_alarm_with_the_oil_cut():
    state = DRIVER.state_from_record(record_of("vl-alarm-0x26-oil-cut"), {})
    assert state["driving_enabled"] is False
    assert (state["ignition"], state["cellular_signal_quality"]) == ("OFF", 5)
    assert "position" in state


def test_state_of_a_heartbeat():
    assert DRIVER.state_from_record(record_of("gt06-appendix-b-status"), {}) == {
        "ignition": "OFF", "driving_enabled": True, "cellular_signal_quality": 5,
    }


@pytest.mark.parametrize(("level", "quality"), [(0, 0), (1, 1), (2, 3), (3, 4), (4, 5), (9, 5)])
def test_signal_quality_scale(level, quality):
    record = Record(device_time=None, fields={"gsm_signal": level})
    assert DRIVER.state_from_record(record, {}) == {"cellular_signal_quality": quality}


# --- commands -------------------------------------------------------------------------------

PASSWORD = "7x!Pq9"


@pytest.mark.parametrize(("capability", "text"), [("DISABLE_DRIVING", "DYD,7x!Pq9#"), ("ENABLE_DRIVING", "HFYD,7x!Pq9#")])
def test_encode_command(capability, text):
    assert DRIVER.encode_command(capability, {}, PASSWORD) == CommandRequest(text=text, redact=(PASSWORD,))


@pytest.mark.parametrize("password", [None, "", "12,34", "12#4", "with space", "\u00e9t\u00e9"])
def test_encode_command_refuses_missing_or_unusable_passwords(password):
    with pytest.raises(ValueError) as caught:
        DRIVER.encode_command("DISABLE_DRIVING", {}, password)
    assert not password or password not in str(caught.value)


def test_encode_command_refuses_unknown_capabilities():
    with pytest.raises(ValueError):
        DRIVER.encode_command("UNLOCK_TOP_CASE", {}, PASSWORD)
    with pytest.raises(ValueError):
        DRIVER.judge_response("UNLOCK_TOP_CASE", CommandRequest("x"), CommandResponse("y"))


DISABLED, ENABLED = {"driving_enabled": False}, {"driving_enabled": True}


@pytest.mark.parametrize(
    ("capability", "answer", "succeeded", "state"),
    [
        ("DISABLE_DRIVING", "DYD=Success!", True, DISABLED),
        ("ENABLE_DRIVING", "HFYD=Success!", True, ENABLED),
        ("DISABLE_DRIVING", "Success!", True, DISABLED),
        ("DISABLE_DRIVING", "Already in the state of fuel supply cut off,the command is not running!", True, DISABLED),
        ("ENABLE_DRIVING", "Already in the state of fuel supply to resume,the command is not running!", True, ENABLED),
        ("ENABLE_DRIVING", "Already in the state of fuel supply cut off,the command is not running!", False, {}),
        ("DISABLE_DRIVING", "Password error!", False, {}),
        ("DISABLE_DRIVING", "DYD=Unvalued Fix", False, {}),
        ("DISABLE_DRIVING", "DYD=Speed Limit, Speed 40km/h", False, {}),
        ("ENABLE_DRIVING", "HFYD=Fail!", False, {}),
        ("ENABLE_DRIVING", "DYD=Success!", False, {}),
        ("ENABLE_DRIVING", "Unknown command!", False, {}),
        ("ENABLE_DRIVING", "", False, {}),
    ],
)
def test_judge_response(capability, answer, succeeded, state):
    request = DRIVER.encode_command(capability, {}, PASSWORD)
    outcome = DRIVER.judge_response(capability, request, CommandResponse(answer, correlation=1))
    assert (outcome.succeeded, dict(outcome.state)) == (succeeded, state)
    assert outcome.detail and PASSWORD not in outcome.detail


def test_judge_never_repeats_the_password_a_unit_echoes():
    request = DRIVER.encode_command("DISABLE_DRIVING", {}, PASSWORD)
    outcome = DRIVER.judge_response("DISABLE_DRIVING", request, CommandResponse(f"Password error! DYD,{PASSWORD}#"))
    assert not outcome.succeeded and PASSWORD not in outcome.detail and "***" in outcome.detail


@pytest.mark.parametrize(("response", "capability", "state"), [
    ("gt06-response-dyd-success", "DISABLE_DRIVING", DISABLED),
    ("gt06-response-hfyd-success", "ENABLE_DRIVING", ENABLED),
    ("gt06-response-dyd-already", "DISABLE_DRIVING", DISABLED),
    ("long-response-utf16", "DISABLE_DRIVING", DISABLED),
])
def test_vendor_answers_are_judged_as_the_document_means_them(response, capability, state):
    (answer,) = feed(codec_in("online"), BY_NAME[response].data)
    outcome = DRIVER.judge_response(capability, DRIVER.encode_command(capability, {}, "000000"), answer)
    assert outcome.succeeded and dict(outcome.state) == state
