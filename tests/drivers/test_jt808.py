"""JT808 driver tests, driven by protocol_specs/jt808/vectors.json."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import drivers.base as base
from drivers.base import (
    NEED_DATA, Acknowledge, CommandRequest, CommandResponse, Heartbeat, Login, LoginAccepted, LoginRejected, Position,
    ProtocolError, Record, RecordBatch, RefusalReason, Registration, RegistrationAccepted, RegistrationRefused,
)
from drivers.jt808 import DRIVER, Jt808Codec, frames
from drivers.jt808.codec import MessageContext, State
from tests.drivers.vectors import (
    Vector, assert_breaks, assert_breaks_byte_by_byte, assert_partial, assert_undecoded, byte_by_byte, exhaust, feed,
    groups, mutate,
    parse_time, replies,
)

VECTORS, FROM_UNIT, VALID, INVALID, TO_UNIT, BY_NAME = groups("jt808")
SESSION_CODE = b"fleetgate-test"


def auth_frame(unit_id: str, version: int | None, serial: int = 0) -> bytes:
    if version is None:
        return frames.frame(frames.AUTHENTICATION, unit_id, serial, SESSION_CODE)
    body = bytes([len(SESSION_CODE)]) + SESSION_CODE + b"123456789012345" + bytes(20)
    return frames.frame(frames.AUTHENTICATION, unit_id, serial, body, version)


def codec_in(vector: Vector, max_frame: int = 2048) -> Jt808Codec:
    codec = Jt808Codec(max_frame=max_frame)
    if vector.state == "online":
        session = vector.extra["session"]
        codec.receive_data(auth_frame(session["unit_id"], session["protocol_version"]))
        login = codec.next_event()
        assert isinstance(login, Login) and login.password == SESSION_CODE.decode()
        codec.send(LoginAccepted(login))
        assert codec.state is State.ONLINE
    else:
        assert vector.state == "login", vector.state
    return codec


def expected_record(spec: dict) -> Record:
    time = spec["device_time"]
    return Record(device_time=time and parse_time(time), position=Position(**spec["position"]), fields=spec["fields"])


def decode_one(vector: Vector):
    codec = codec_in(vector)
    codec.receive_data(vector.data)
    event = codec.next_event()
    assert codec.next_event() is NEED_DATA
    return codec, event


# --- vectors: decode ----------------------------------------------------------------------


def test_vector_file_covers_the_brief():
    names = set(BY_NAME)
    assert {"registration-2013-ygfgit", "registration-2019-aliyun", "registration-2011-traccar", "auth-2013-huabao",
            "auth-2019", "heartbeat-traccar", "location-huabao", "batch-traccar", "general-response-huabao",
            "registration-reply-ecom", "control-reply-smallchi", "position-reply-smallchi", "command-lock-2013",
            "command-lock-2019", "command-position-query-2013", "location-escaped-bytes", "location-south-west-cut",
            "bad-check-code", "body-length-mismatch", "batch-subpackaged", "truncated-frame", "unknown-message-id",
            "escape-example"} <= names
    assert {v.error for v in INVALID} == {base.ChecksumError, base.FrameError, base.LengthError,
                                          base.UnsupportedMessage, base.UnexpectedMessage}
    assert any(v.expect["event"] == "Undecoded" for v in VALID)
    assert {v.extra.get("session", {}).get("protocol_version") for v in FROM_UNIT if v.state == "online"} == {None, 1}


@pytest.mark.parametrize("vector", VALID, ids=str)
def test_valid_vector_decodes_to_expected_event(vector: Vector):
    codec, event = decode_one(vector)
    expect = vector.expect
    assert type(event).__name__ == expect["event"]
    ctx = event.context
    assert isinstance(ctx, MessageContext)
    assert ctx.unit_id == expect["unit_id"]
    for key, value in expect["context"].items():
        assert getattr(ctx, key) == (tuple(value) if key == "serials" else value), key
    if isinstance(event, Registration):
        assert event.unit_id == expect["unit_id"]
        assert dict(event.attributes) == expect["attributes"]
    elif isinstance(event, Login):
        assert (event.unit_id, event.password) == (expect["unit_id"], expect["password"])
        assert dict(event.attributes) == expect["attributes"]
    elif isinstance(event, RecordBatch | CommandResponse):
        assert event.raw == vector.data
        assert list(event.records) == [expected_record(r) for r in expect["records"]]
        assert all(r.device_time is None or r.device_time.utcoffset().total_seconds() == 0 for r in event.records)
        if isinstance(event, CommandResponse):
            assert (event.text, event.correlation) == (expect["text"], expect["correlation"])
        else:
            assert list(event.undecoded) == expect.get("undecoded", [])
    elif isinstance(event, base.Undecoded):
        assert_undecoded(event, vector)
    else:
        assert isinstance(event, Heartbeat) and event.raw == vector.data
    assert codec.buffered == 0


def outbound(name: str, event, vector: Vector):
    kind, _, reason = name.partition(":")
    if kind == "RegistrationAccepted":
        return RegistrationAccepted(event, vector.extra["auth_code"])
    if kind == "RegistrationRefused":
        return RegistrationRefused(event, RefusalReason(reason))
    return {"LoginAccepted": LoginAccepted, "LoginRejected": LoginRejected, "Acknowledge": Acknowledge}[kind](event)


# The message and result each decision sends (spec.md §2); Acknowledge sends 0x8001 with
# result 0, or 3 ("not supported") for a frame kept raw.
ANSWERS = {"LoginAccepted": (0x8001, 0), "LoginRejected": (0x8001, 1), "RegistrationAccepted": (0x8100, 0),
           "RegistrationRefused:already_registered": (0x8100, 3), "RegistrationRefused:unknown_unit": (0x8100, 4)}


def read_answers(data: bytes) -> list[dict]:
    """The platform's frames in ``data`` read by hand, not through frames.py: message id,
    terminal number, own serial, and the serial, id and result they answer."""
    answers = []
    for part in data.strip(b"\x7e").split(b"\x7e\x7e"):
        content = part.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
        message_id, properties = int.from_bytes(content[:2], "big"), int.from_bytes(content[2:4], "big")
        terminal = content[5:15] if properties & 0x4000 else content[4:10]  # 2019: a version byte, 10 bytes
        at = 15 if properties & 0x4000 else 10
        body = content[at + 2 : -1]
        assert len(body) == properties & 0x3FF
        general = message_id == 0x8001
        answers.append({"message_id": message_id, "terminal": terminal.hex().upper(),
                        "serial": int.from_bytes(content[at : at + 2], "big"),
                        "reply_serial": int.from_bytes(body[:2], "big"),
                        "reply_id": int.from_bytes(body[2:4], "big") if general else None,
                        "result": body[4] if general else body[2], "code": b"" if general else body[3:]})
    return answers


def expected_answers(vector: Vector, name: str) -> list[dict]:
    """One answer to the message (an Acknowledge: one per package), quoting its id and serial."""
    ctx = vector.expect["context"]
    message_id, result = ANSWERS.get(name) or (0x8001, 3 if vector.expect["event"] == "Undecoded" else 0)
    serials = ctx["serials"] if name == "Acknowledge" else ctx["serials"][:1]
    code = vector.extra["auth_code"].encode() if name == "RegistrationAccepted" else b""
    return [{"message_id": message_id, "terminal": vector.expect["unit_id"],
             "serial": (vector.extra["platform_serial"] + n) & 0xFFFF, "reply_serial": serial,
             "reply_id": ctx["message_id"] if message_id == 0x8001 else None, "result": result, "code": code}
            for n, serial in enumerate(serials)]


@pytest.mark.parametrize("vector", [v for v in VALID if replies(v)], ids=str)
def test_reply_bytes_are_exact_and_answer_their_message(vector: Vector):
    for name, expected in replies(vector).items():
        codec, event = decode_one(vector)
        codec.next_serial = vector.extra["platform_serial"]
        sent = codec.send(outbound(name, event, vector))
        assert sent == expected, name
        assert read_answers(sent) == expected_answers(vector, name), name


def test_registration_then_authentication_on_one_connection():
    codec = Jt808Codec()
    codec.receive_data(BY_NAME["registration-2013-ygfgit"].data + BY_NAME["auth-2013-ygfgit"].data)
    registration = codec.next_event()
    assert codec.state is State.AWAIT_DECISION and codec.next_event() is NEED_DATA  # the terminal waits too
    codec.send(RegistrationAccepted(registration, "169344"))
    login = codec.next_event()
    assert (login.unit_id, login.password) == ("020000000015", "169344")
    codec.send(LoginAccepted(login))
    assert (codec.state, codec.unit_id, codec.protocol_version) == (State.ONLINE, "020000000015", None)


def test_refused_registration_still_lets_a_provisioned_terminal_authenticate():
    codec = Jt808Codec()
    codec.receive_data(BY_NAME["registration-2013-traccar"].data)
    codec.send(RegistrationRefused(codec.next_event(), RefusalReason.ALREADY_REGISTERED))
    codec.receive_data(BY_NAME["auth-2013-traccar"].data)
    assert codec.next_event().password == "authentication"


def test_rejected_login_refuses_further_data():
    codec = codec_in(BY_NAME["auth-2013-huabao"])
    codec.receive_data(BY_NAME["auth-2013-huabao"].data)
    codec.send(LoginRejected(codec.next_event()))
    codec.receive_data(BY_NAME["heartbeat-traccar"].data)
    with pytest.raises(base.UnexpectedMessage):
        codec.next_event()


def test_heartbeat_before_authentication_is_acknowledged():
    vector = BY_NAME["heartbeat-traccar"]
    codec, heartbeat = decode_one(vector)
    assert codec.state is State.AWAIT_LOGIN
    assert codec.send(Acknowledge(heartbeat)) == bytes.fromhex(vector.expect["replies"]["Acknowledge"])


# --- invalid input ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", INVALID, ids=str)
def test_invalid_vector_raises_its_error_and_codec_stays_broken(vector: Vector):
    assert_breaks(codec_in(vector), vector, CommandRequest("8201"), BY_NAME["heartbeat-traccar"].data)


@pytest.mark.parametrize("vector", INVALID, ids=str)
def test_invalid_vector_fed_byte_by_byte_raises_the_same_error(vector: Vector):
    assert_breaks_byte_by_byte(codec_in(vector), vector)


def test_max_frame_boundary():
    vector = BY_NAME["batch-traccar"]
    (batch,) = feed(codec_in(vector, max_frame=len(vector.data)), vector.data)
    assert len(batch.records) == 8
    with pytest.raises(base.LengthError):
        feed(codec_in(vector, max_frame=len(vector.data) - 1), vector.data)


def test_no_error_message_carries_an_authentication_code():
    code = b"s3cret-Code"
    frames_ = [frames.frame(frames.AUTHENTICATION, "013912345678", 1, code)[:-2] + b"\x00\x7e",  # bad check code
               frames.frame(frames.AUTHENTICATION, "00000000000223456789", 1, bytes([40]) + code + bytes(35), 1)]
    for data in frames_:
        with pytest.raises(ProtocolError) as caught:
            feed(Jt808Codec(), data, eof=True)
        assert code.decode() not in str(caught.value) and code.hex() not in str(caught.value)


# --- chunking and subpackages ----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_each_vector_decodes_the_same_whole_byte_by_byte_or_cut_anywhere(data):
    vector = data.draw(st.sampled_from(VALID))
    whole = feed(codec_in(vector), vector.data)
    assert len(whole) == 1
    assert feed(codec_in(vector), vector.data, cuts=byte_by_byte(vector.data)) == whole
    cuts = data.draw(st.lists(st.integers(1, len(vector.data) - 1), max_size=20))
    assert feed(codec_in(vector), vector.data, cuts=cuts) == whole


ONE_UNIT = [BY_NAME[n] for n in ("batch-smallchi", "position-reply-smallchi", "batch-subpackaged", "control-reply-smallchi")]
ONE_UNIT_STREAM = auth_frame("112233445566", None) + b"".join(v.data for v in ONE_UNIT)


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(1, len(ONE_UNIT_STREAM) - 1), max_size=40))
def test_a_session_stream_cut_anywhere_gives_the_same_events(cuts):
    expected = feed(Jt808Codec(), ONE_UNIT_STREAM)
    assert [type(e).__name__ for e in expected] == ["Login", "RecordBatch", "CommandResponse", "RecordBatch",
                                                    "CommandResponse"]
    assert feed(Jt808Codec(), ONE_UNIT_STREAM, cuts=cuts) == expected


def test_partial_frames_and_packages_are_buffered():
    vector = BY_NAME["batch-subpackaged"]
    first_end = vector.data.index(b"\x7e", 1) + 1
    codec = codec_in(vector)
    assert_partial(codec, vector.data, first_end + 5)  # package 1 waits for package 2, which is still partial
    codec.receive_data(b"")
    with pytest.raises(base.FrameError):
        codec.next_event()


def test_heartbeat_between_packages_and_out_of_order_packages():
    vector = BY_NAME["batch-subpackaged"]
    first_end = vector.data.index(b"\x7e", 1) + 1
    heartbeat = frames.frame(frames.HEARTBEAT, "112233445566", 9, b"")
    events = feed(codec_in(vector), vector.data[:first_end] + heartbeat + vector.data[first_end:])
    assert [type(e) for e in events] == [Heartbeat, RecordBatch]
    with pytest.raises(base.FrameError):
        feed(codec_in(vector), vector.data[:first_end] * 2)
    with pytest.raises(base.LengthError):
        small = Jt808Codec(max_message=50)
        feed(small, auth_frame("112233445566", None) + vector.data)


def test_clean_end_of_stream_is_not_an_error():
    codec = codec_in(BY_NAME["location-huabao"])
    codec.receive_data(b"")
    assert codec.next_event() is NEED_DATA


def test_device_time_zone_is_configurable():
    vector = BY_NAME["location-huabao"]
    codec = Jt808Codec(device_tz_hours=0)
    feed(codec, auth_frame("002002604323", None))
    (batch,) = feed(codec, vector.data)
    assert batch.records[0].device_time == parse_time("2021-09-22T16:37:58Z")


# --- escaping, round trips, frames to the unit ------------------------------------------------


def test_escaping_round_trips_for_every_byte_value():
    everything = bytes(range(256))
    escaped = frames.escape(everything)
    assert b"\x7e" not in escaped and frames.unescape(escaped) == everything
    for value in range(256):
        assert frames.unescape(frames.escape(bytes([value]) * 3)) == bytes([value]) * 3
    items = b"\x90\x80" + everything[:128] + b"\x91\x80" + everything[128:]
    body = bytes(8) + (1).to_bytes(4, "big") * 2 + bytes(6) + bytes.fromhex("240101000000") + items
    location = frames.frame(frames.LOCATION, "013912345678", 0x7E7D, body)
    (batch,) = feed(codec_in(BY_NAME["location-south-west-cut"]), location)
    assert batch.records[0].fields["raw_items"] == {"90": everything[:128].hex(), "91": everything[128:].hex()}


@given(st.binary(max_size=200))
def test_escaping_round_trips_arbitrary_content(content):
    assert frames.unescape(frames.escape(content)) == content


def wire_frames(data: bytes) -> list[bytes]:
    return [b"\x7e" + part + b"\x7e" for part in data.strip(b"\x7e").split(b"\x7e\x7e")]


@pytest.mark.parametrize("vector", VALID + [v for v in TO_UNIT if v.extra["kind"] != "escape"], ids=str)
def test_build_of_parse_is_identity(vector: Vector):
    kept_raw = (vector.expect or {}).get("event") == "Undecoded"  # its body follows no declaration
    for frame in wire_frames(vector.data):
        content = frames.unescape(frame[1:-1])
        wide, size, fits = frames.header_layout(content)
        header = frames.HEADERS[wide]
        assert header.build(header.parse(content[:size])) == content[:size]
        if not fits or wide != header.parse(content[:size]).properties.version_flag:
            continue  # WireFrame follows the version flag and the declared length, as builders do
        parsed = frames.WireFrame.parse(frame)
        assert frames.WireFrame.build(parsed) == frame
        message_id, body = parsed.content.value.header.message_id, parsed.content.value.body
        declaration = {frames.LOCATION: frames.Location, frames.POSITION_REPLY: frames.LocationReply,
                       frames.CONTROL_REPLY: frames.LocationReply, frames.TERMINAL_RESPONSE: frames.GeneralResponse,
                       frames.PLATFORM_RESPONSE: frames.GeneralResponse, frames.REGISTRATION_REPLY: frames.RegistrationReply,
                       frames.BATCH: frames.Batch}.get(message_id)
        if declaration is not None and not parsed.content.value.header.package and not kept_raw:
            assert declaration.build(declaration.parse(body)) == body


def session_codec(unit_id: str, version: int | None) -> Jt808Codec:
    codec = Jt808Codec()
    codec.receive_data(auth_frame(unit_id, version))
    codec.send(LoginAccepted(codec.next_event()))
    return codec


@pytest.mark.parametrize("vector", TO_UNIT, ids=str)
def test_frames_to_the_unit_are_byte_exact(vector: Vector):
    extra = vector.extra
    if extra["kind"] == "escape":
        assert b"\x7e" + frames.escape(bytes.fromhex(extra["content"])) + b"\x7e" == vector.data
        return
    unit, version = extra["unit_id"], extra["protocol_version"]
    if extra["kind"] == "command":
        request = CommandRequest(vector.command_text, correlation=extra["correlation"])
        assert session_codec(unit, version).send(request) == vector.data
    elif extra["kind"] == "general_response":
        codec = session_codec(unit, version)
        codec.next_serial = extra["platform_serial"]
        context = MessageContext(extra["reply_id"], (extra["reply_serial"],), unit, version)
        assert codec.send(Acknowledge(RecordBatch(records=(), context=context))) == vector.data
    else:
        codec = Jt808Codec()
        codec.receive_data(frames.frame(frames.REGISTRATION, unit, extra["reply_serial"], bytes(37)))
        codec.next_serial = extra["platform_serial"]
        assert codec.send(RegistrationAccepted(codec.next_event(), extra["auth_code"])) == vector.data


def test_send_misuse_is_a_local_error_not_a_protocol_error():
    codec = Jt808Codec()
    with pytest.raises(RuntimeError):
        codec.send(CommandRequest("8201", correlation=1))
    with pytest.raises(RuntimeError):
        codec.send(LoginAccepted(Login("013912345678")))
    codec = session_codec("013912345678", None)
    with pytest.raises(ValueError):
        codec.send(CommandRequest("8500 door=open", correlation=1))
    with pytest.raises(TypeError):
        codec.send(base.TimeAnswer(base.TimeRequest(), parse_time("2024-01-01T00:00:00Z")))
    codec = Jt808Codec()
    codec.receive_data(BY_NAME["registration-2013-ygfgit"].data)
    registration = codec.next_event()
    for code in ("", "x" * 256, "secret\U0001f600"):
        with pytest.raises(ValueError) as caught:
            codec.send(RegistrationAccepted(registration, code))
        assert "secret" not in str(caught.value)


# --- arbitrary bytes --------------------------------------------------------------------------


ONLINE_2013 = BY_NAME["location-south-west-cut"]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), online=st.booleans())
def test_arbitrary_bytes_raise_only_protocol_errors(data, online):
    exhaust(codec_in(ONLINE_2013) if online else Jt808Codec(), data)
    exhaust(codec_in(ONLINE_2013) if online else Jt808Codec(), b"\x7e" + data + b"\x7e")


MESSAGE_IDS = st.sampled_from([frames.REGISTRATION, frames.AUTHENTICATION, frames.HEARTBEAT, frames.LOCATION,
                               frames.BATCH, frames.TERMINAL_RESPONSE, frames.POSITION_REPLY, frames.CONTROL_REPLY, 0x0900])


@settings(max_examples=300, deadline=None)
@given(message_id=MESSAGE_IDS, body=st.binary(max_size=120), version=st.sampled_from([None, 1]), online=st.booleans())
def test_arbitrary_bodies_with_a_good_check_code_raise_only_protocol_errors(message_id, body, version, online):
    unit = "013912345678" if version is None else "00000000000223456789"
    codec = session_codec(unit, version) if online else Jt808Codec()
    exhaust(codec, frames.frame(message_id, unit, 1, body, version))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_vector_frames_raise_only_protocol_errors(data):
    vector = data.draw(st.sampled_from(VALID))
    exhaust(codec_in(vector), mutate(data, vector.data))


# --- descriptor -----------------------------------------------------------------------------


def test_driver_descriptor():
    assert (DRIVER.name, DRIVER.brand, DRIVER.default_port) == ("jt808", "JT808", 5015)
    assert DRIVER.credential_kind is base.CredentialKind.INDIVIDUAL and DRIVER.transport is base.Transport.TCP
    assert DRIVER.correlates_commands and DRIVER.password_at_login
    codec = DRIVER.codec_factory(max_frame=1024)
    assert isinstance(codec, Jt808Codec) and codec.max_frame == 1024


# --- mapping ----------------------------------------------------------------------------------


def records_of(name: str) -> tuple[Record, ...]:
    _, event = decode_one(BY_NAME[name])
    return event.records


def test_state_with_a_fix():
    (record,) = records_of("location-huabao")
    assert DRIVER.state_from_record(record, {}) == {
        "position": {"lat": 22.591771, "lon": 113.995873}, "altitude_in_meters": 70.0,
        "speed_in_kilometers_per_hour": 0.0, "ignition": "OFF", "central_lock": "UNLOCKED", "driving_enabled": True,
        "mileage_in_kilometers": 0.1, "cellular_signal_quality": 3,
    }
    (locked,) = records_of("location-2019")
    state = DRIVER.state_from_record(locked, {})
    assert (state["ignition"], state["central_lock"], state["cellular_signal_quality"]) == ("ON", "LOCKED", 5)


def test_south_west_and_cut_circuits():
    (record,) = records_of("location-south-west-cut")
    state = DRIVER.state_from_record(record, {})
    assert state["position"] == {"lat": -33.44889, "lon": -70.669265}
    assert state["driving_enabled"] is False
    assert "cellular_signal_quality" not in state  # CSQ 99: unknown


def test_no_fix_gives_no_position_speed_or_altitude():
    (record,) = records_of("location-traccar-not-positioned")
    assert DRIVER.state_from_record(record, {}) == {
        "ignition": "ON", "central_lock": "UNLOCKED", "driving_enabled": True, "mileage_in_kilometers": 4326.4,
        "cellular_signal_quality": 5,
    }


@pytest.mark.parametrize(("csq", "quality"), [(0, 0), (1, 1), (6, 1), (7, 2), (13, 3), (17, 3), (19, 4), (24, 4),
                                               (25, 5), (31, 5), (32, None), (99, None)])
def test_signal_quality_scale(csq, quality):
    from drivers.jt808.mapping import signal_quality

    assert signal_quality(csq) == quality


# --- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("capability", "text"), [("LOCK_CENTRAL_LOCK", "8500 door=lock"),
                                                  ("UNLOCK_CENTRAL_LOCK", "8500 door=unlock"),
                                                  ("REQUEST_VEHICLE_STATE", "8201")])
def test_encode_command(capability, text):
    assert DRIVER.encode_command(capability, {}, "secret") == CommandRequest(text=text)


def test_commands_the_standard_does_not_define_are_refused():
    for capability in ("DISABLE_DRIVING", "ENABLE_DRIVING", "UNLOCK_TOP_CASE"):
        with pytest.raises(ValueError):
            DRIVER.encode_command(capability, {}, None)
    with pytest.raises(ValueError):
        DRIVER.judge_response("DISABLE_DRIVING", CommandRequest("x"), CommandResponse("OK"))


def answer(name: str) -> CommandResponse:
    return decode_one(BY_NAME[name])[1]


@pytest.mark.parametrize(
    ("capability", "text", "name", "succeeded", "state"),
    [
        ("LOCK_CENTRAL_LOCK", "8500 door=lock", "control-reply-2019-locked", True, {"central_lock": "LOCKED"}),
        ("UNLOCK_CENTRAL_LOCK", "8500 door=unlock", "control-reply-2019-locked", False, {}),
        ("UNLOCK_CENTRAL_LOCK", "8500 door=unlock", "control-reply-smallchi", True, {"central_lock": "UNLOCKED"}),
        ("LOCK_CENTRAL_LOCK", "8500 door=lock", "terminal-response-unsupported", False, {}),
        ("REQUEST_VEHICLE_STATE", "8201", "position-reply-smallchi", True, {}),
        ("REQUEST_VEHICLE_STATE", "8201", "terminal-response-smallchi", False, {}),  # answers 0x0002, not 0x8201
    ],
)
def test_judge_response(capability, text, name, succeeded, state):
    outcome = DRIVER.judge_response(capability, CommandRequest(text, correlation=1), answer(name))
    assert (outcome.succeeded, dict(outcome.state)) == (succeeded, state)
    assert outcome.detail


def test_a_bare_ok_to_a_control_is_a_success_without_state():
    ok = CommandResponse("OK", 3, context=MessageContext(1, (4,), "013912345678", None, reply_id=0x8500, result=0))
    outcome = DRIVER.judge_response("LOCK_CENTRAL_LOCK", CommandRequest("8500 door=lock", correlation=3), ok)
    assert outcome.succeeded and dict(outcome.state) == {}
