"""Teltonika driver tests, driven by protocol_specs/teltonika/vectors.json."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import drivers.base as base
from drivers.base import (
    NEED_DATA, Acknowledge, CommandRequest, CommandResponse, Heartbeat, Login, LoginAccepted, LoginRejected, Position,
    ProtocolError, Record, RecordBatch,
)
from drivers.teltonika import DRIVER, frames
from drivers.teltonika.codec import State, TeltonikaCodec, decode_avl_body, encode_command_frame
from drivers.teltonika.io_types import SIGNED_IO
from tests.drivers.vectors import (
    Vector, assert_breaks, assert_breaks_byte_by_byte, assert_partial, assert_undecoded, byte_by_byte, exhaust, feed,
    groups, mutate,
    parse_time, replies,
)

VECTORS, FROM_UNIT, VALID, INVALID, TO_UNIT, BY_NAME = groups("teltonika")
WIKI_IMEI = BY_NAME["imei-login"].data
# packets that follow a declaration of frames.py (an Undecoded vector's content follows none)
PACKET_VECTORS = [v for v in VALID if v.data[:4] == frames.PREAMBLE and v.expect["event"] != "Undecoded"]


def codec_in(state: str, max_frame: int = 2048) -> TeltonikaCodec:
    codec = TeltonikaCodec(max_frame=max_frame)
    if state == "online":
        codec.receive_data(WIKI_IMEI)
        login = codec.next_event()
        assert isinstance(login, Login)
        assert codec.send(LoginAccepted(login)) == b"\x01"
    else:
        assert state == "login", state
    return codec


def expected_record(spec: dict) -> Record:
    return Record(
        device_time=parse_time(spec["device_time"]), position=Position(**spec["position"]), fields=spec["fields"]
    )


# --- vendor examples and edge cases: decode ---------------------------------------------


def test_vector_file_covers_the_brief():
    names = set(BY_NAME)
    assert {"codec8-example-1", "codec8-example-2", "codec8-example-3", "codec8e-example", "codec16-example",
            "codec12-getinfo-command", "codec12-getinfo-response", "imei-login"} <= names
    assert {v.error for v in INVALID} >= {base.ChecksumError, base.FrameError, base.LengthError,
                                          base.UnexpectedMessage}
    assert any(v.expect["event"] == "Undecoded" for v in VALID)
    assert all(v.source for v in VECTORS)


@pytest.mark.parametrize("vector", VALID, ids=str)
def test_valid_vector_decodes_to_expected_event(vector: Vector):
    codec = codec_in(vector.state)
    events = feed(codec, vector.data)
    assert len(events) == 1
    (event,) = events
    expect = vector.expect
    assert type(event).__name__ == expect["event"]
    if isinstance(event, Login):
        assert event.unit_id == expect["unit_id"]
        assert event.password is None
    elif isinstance(event, RecordBatch):
        assert event.raw == vector.data
        assert len(event.records) == len(expect["records"])
        for got, want in zip(event.records, expect["records"]):
            assert got == expected_record(want)
            assert got.device_time.utcoffset().total_seconds() == 0
    elif isinstance(event, CommandResponse):
        assert event.text == expect["text"]
        assert event.correlation is None
        assert event.raw == vector.data
    elif isinstance(event, base.Undecoded):
        assert_undecoded(event, vector)
    else:
        assert isinstance(event, Heartbeat)
    assert codec.buffered == 0


@pytest.mark.parametrize("vector", [v for v in VALID if replies(v)], ids=str)
def test_reply_bytes_are_exact(vector: Vector):
    for reply, expected in replies(vector).items():
        codec = codec_in(vector.state)
        (event,) = feed(codec, vector.data) if vector.state == "online" else [codec_in_login_event(codec, vector)]
        outbound = {"LoginAccepted": LoginAccepted, "LoginRejected": LoginRejected, "Acknowledge": Acknowledge}[reply]
        assert codec.send(outbound(event)) == expected, reply


def codec_in_login_event(codec: TeltonikaCodec, vector: Vector) -> Login:
    codec.receive_data(vector.data)
    event = codec.next_event()
    assert isinstance(event, Login)
    return event


def test_login_moves_states_and_pauses_until_decided():
    codec = TeltonikaCodec()
    codec.receive_data(WIKI_IMEI + BY_NAME["codec8-example-1"].data)
    login = codec.next_event()
    assert login == Login(unit_id="356307042441013")
    assert codec.state is State.AWAIT_DECISION
    # The unit waits for the answer; bytes already here stay put until the decision.
    assert codec.next_event() is NEED_DATA
    assert codec.send(LoginAccepted(login)) == b"\x01"
    assert codec.state is State.ONLINE
    assert isinstance(codec.next_event(), RecordBatch)


def test_rejected_login_refuses_further_data():
    codec = codec_in("login")
    codec.receive_data(WIKI_IMEI)
    login = codec.next_event()
    assert codec.send(LoginRejected(login)) == b"\x00"
    codec.receive_data(BY_NAME["codec8-example-1"].data)
    with pytest.raises(base.UnexpectedMessage):
        codec.next_event()


# --- invalid vectors -------------------------------------------------------------------


@pytest.mark.parametrize("vector", INVALID, ids=str)
def test_invalid_vector_raises_its_error_and_codec_stays_broken(vector: Vector):
    assert_breaks(codec_in(vector.state), vector, CommandRequest("getinfo"), BY_NAME["keepalive"].data)


@pytest.mark.parametrize("vector", INVALID, ids=str)
def test_invalid_vector_fed_byte_by_byte_raises_the_same_error(vector: Vector):
    assert_breaks_byte_by_byte(codec_in(vector.state), vector)


def test_oversized_length_is_refused_before_the_body_arrives():
    codec = codec_in("online")
    header = BY_NAME["length-beyond-max-frame"].data
    assert_partial(codec, header, 7)
    codec.receive_data(header[7:])
    with pytest.raises(base.LengthError):
        codec.next_event()


def test_max_frame_boundary():
    frame = BY_NAME["most-records-in-max-frame"].data
    (batch,) = feed(codec_in("online", max_frame=len(frame)), frame)
    assert len(batch.records) == 67
    with pytest.raises(base.LengthError):
        feed(codec_in("online", max_frame=len(frame) - 1), frame)


# --- chunking ----------------------------------------------------------------------------

ONLINE_STREAM = b"".join(v.data for v in VALID if v.state == "online")


def test_stream_whole_equals_byte_by_byte():
    whole = feed(codec_in("online"), ONLINE_STREAM)
    assert len(whole) == len([v for v in VALID if v.state == "online"])
    bytewise = feed(codec_in("online"), ONLINE_STREAM, cuts=byte_by_byte(ONLINE_STREAM))
    assert bytewise == whole


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(WIKI_IMEI + ONLINE_STREAM) - 1), max_size=40))
def test_stream_cut_anywhere_gives_the_same_events(cuts):
    stream = WIKI_IMEI + ONLINE_STREAM
    expected = feed(TeltonikaCodec(), stream)
    assert feed(TeltonikaCodec(), stream, cuts=cuts) == expected


def test_partial_frame_is_buffered():
    codec = codec_in("online")
    frame = BY_NAME["codec8-example-1"].data
    assert_partial(codec, frame, 20)
    codec.receive_data(frame[20:])
    assert isinstance(codec.next_event(), RecordBatch)
    assert codec.buffered == 0


def test_clean_end_of_stream_is_not_an_error():
    codec = codec_in("online")
    codec.receive_data(b"")
    assert codec.next_event() is NEED_DATA


# --- round trips and outbound frames ---------------------------------------------------


@pytest.mark.parametrize("vector", PACKET_VECTORS + [v for v in TO_UNIT], ids=str)
def test_build_of_parse_is_identity(vector: Vector):
    packet = frames.PACKETS[vector.data[8]]
    assert packet.build(packet.parse(vector.data)) == vector.data


def test_imei_packet_round_trip():
    parsed = frames.ImeiPacket.parse(WIKI_IMEI)
    assert parsed.imei == b"356307042441013"
    assert frames.ImeiPacket.build(parsed) == WIKI_IMEI


@pytest.mark.parametrize("vector", TO_UNIT, ids=str)
def test_command_frames_are_byte_exact(vector: Vector):
    assert encode_command_frame(vector.command_text) == vector.data
    assert codec_in("online").send(CommandRequest(vector.command_text)) == vector.data


def test_crc_of_wiki_frames_and_standard_check_value():
    assert frames.crc16_ibm(b"123456789") == 0xBB3D  # CRC-16/ARC check value
    for vector in PACKET_VECTORS:
        assert frames.crc16_ibm(vector.data[8:-4]) == int.from_bytes(vector.data[-4:], "big")


def test_send_misuse_is_a_local_error_not_a_protocol_error():
    codec = TeltonikaCodec()
    with pytest.raises(RuntimeError):
        codec.send(CommandRequest("getinfo"))
    with pytest.raises(RuntimeError):
        codec.send(LoginAccepted(Login("356307042441013")))
    with pytest.raises(ValueError):
        encode_command_frame("setdigout \u00e91")


# --- arbitrary bytes --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), online=st.booleans())
def test_arbitrary_bytes_raise_only_protocol_errors(data, online):
    exhaust(codec_in("online" if online else "login"), data)


def framed(body: bytes) -> bytes:
    return frames.PREAMBLE + len(body).to_bytes(4, "big") + body + frames.crc16_ibm(body).to_bytes(4, "big")


codec_ids = st.sampled_from([frames.CODEC_8, frames.CODEC_8E, frames.CODEC_16, frames.CODEC_12, 0x0D, 0x00])


@settings(max_examples=300, deadline=None)
@given(codec_id=codec_ids, rest=st.binary(max_size=200))
def test_arbitrary_bodies_with_a_good_crc_raise_only_protocol_errors(codec_id, rest):
    exhaust(codec_in("online"), framed(bytes([codec_id]) + rest))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_vendor_frames_raise_only_protocol_errors(data):
    frame = mutate(data, data.draw(st.sampled_from(PACKET_VECTORS)).data)
    body = frame[8:-4]
    exhaust(codec_in("online"), framed(body) if data.draw(st.booleans()) else frame)


# --- the struct decoder agrees with the construct declarations ---------------------------


def normalized_construct(body: bytes):
    """decode_avl_body's shape, computed from the construct declaration."""
    parsed = base.parse(frames.BODIES[body[0]], body)
    records = []
    for r in parsed.records:
        io, widths = {}, {}
        for group, width in (("n1", 1), ("n2", 2), ("n4", 4), ("n8", 8)):
            io.update((e.id, e.value) for e in r.io[group])
            widths.update((e.id, width) for e in r.io[group] if e.id in SIGNED_IO)
        nx = {e.id: e.value for e in r.io.get("nx", [])}
        g = r.gps
        records.append((r.timestamp, r.priority, g.longitude, g.latitude, g.altitude, g.angle, g.satellites, g.speed,
                        r.io.event_io, r.io.get("generation_type"), r.io.total, io, widths, nx))
    return parsed.codec_id, records, parsed.n2


def outcome(fn, body):
    try:
        return "ok", fn(body)
    except ProtocolError as exc:
        return "error", type(exc)


def io_group(id_max: int, size: int):
    entry = st.fixed_dictionaries({"id": st.integers(0, id_max), "value": st.integers(0, 2 ** (8 * size) - 1)})
    return st.lists(entry, max_size=3)


def avl_records(codec_id: int):
    id_max = 255 if codec_id == frames.CODEC_8 else 65535
    io = {"event_io": st.integers(0, id_max), "total": st.integers(0, 255),
          "n1": io_group(id_max, 1), "n2": io_group(id_max, 2), "n4": io_group(id_max, 4), "n8": io_group(id_max, 8)}
    if codec_id == frames.CODEC_8E:
        nx_entry = st.fixed_dictionaries({"id": st.integers(0, 65535), "value": st.binary(max_size=20)})
        io["nx"] = st.lists(nx_entry, max_size=3)
    if codec_id == frames.CODEC_16:
        io["generation_type"] = st.integers(0, 7)
    int32 = st.integers(-(2**31), 2**31 - 1)
    gps = st.fixed_dictionaries(
        {"longitude": int32, "latitude": int32, "altitude": st.integers(-(2**15), 2**15 - 1),
         "angle": st.integers(0, 65535), "satellites": st.integers(0, 255), "speed": st.integers(0, 65535)}
    )
    timestamp = st.integers(0, 2**64 - 1)
    record = st.fixed_dictionaries(
        {"timestamp": timestamp, "priority": st.integers(0, 255), "gps": gps, "io": st.fixed_dictionaries(io)}
    )
    return st.lists(record, max_size=3)


@st.composite
def avl_bodies(draw):
    codec_id = draw(st.sampled_from(sorted(frames.AVL_CODECS)))
    body = frames.BODIES[codec_id].build({"records": draw(avl_records(codec_id))})
    change = draw(st.sampled_from(["none", "truncate", "extend", "flip", "n2"]))
    if change == "truncate":
        body = body[: draw(st.integers(1, len(body) - 1))]
    elif change == "extend":
        body += draw(st.binary(min_size=1, max_size=8))
    elif change == "flip" and len(body) > 1:
        at = draw(st.integers(1, len(body) - 1))
        body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]
    elif change == "n2":
        body = body[:-1] + bytes([draw(st.integers(0, 255))])
    return body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(avl_bodies(), st.builds(lambda c, rest: bytes([c]) + rest,
                                                st.sampled_from(sorted(frames.AVL_CODECS)), st.binary(max_size=120))))
def test_struct_decoder_matches_construct_declarations(body):
    assume(body and body[0] in frames.AVL_CODECS)
    assert outcome(decode_avl_body, body) == outcome(normalized_construct, body)


def test_struct_decoder_matches_construct_on_vendor_frames():
    for vector in PACKET_VECTORS:
        body = vector.data[8:-4]
        if body[0] in frames.AVL_CODECS:
            assert decode_avl_body(body) == normalized_construct(body)


SOME_SIGNED = sorted(i for i in SIGNED_IO if i <= 255)  # Codec 8 ids are one byte


@settings(max_examples=200, deadline=None)
@given(width=st.sampled_from([1, 2, 4, 8]), io_id=st.sampled_from(SOME_SIGNED + [16, 66, 78, 239]), data=st.data())
def test_io_values_take_the_type_of_their_id_at_any_width(width, io_id, data):
    raw = data.draw(st.binary(min_size=width, max_size=width))
    group = {"n1": [], "n2": [], "n4": [], "n8": []}
    group[f"n{width}"] = [{"id": io_id, "value": int.from_bytes(raw, "big")}]
    record = {"timestamp": 1_700_000_000_000, "priority": 0, "io": {"event_io": 0, "total": 1, **group},
              "gps": {"longitude": 0, "latitude": 0, "altitude": 0, "angle": 0, "satellites": 0, "speed": 0}}
    (batch,) = feed(codec_in("online"), frames.frame(frames.AvlBody8.build({"records": [record]})))
    fields = batch.records[0].fields
    value = fields["io"][str(io_id)]
    if io_id in SIGNED_IO:
        assert value == int.from_bytes(raw, "big", signed=True)
        assert fields["io_hex"] == {str(io_id): raw.hex()}
    else:
        assert value == int.from_bytes(raw, "big") and "io_hex" not in fields


# --- descriptor ---------------------------------------------------------------------------


def test_driver_descriptor():
    assert (DRIVER.name, DRIVER.brand, DRIVER.default_port) == ("teltonika", "TELTONIKA", 5027)
    assert DRIVER.credential_kind is base.CredentialKind.NONE
    assert DRIVER.transport is base.Transport.TCP
    assert isinstance(DRIVER.codec_factory(), TeltonikaCodec)
    assert DRIVER.codec_factory().max_frame == 2048


# --- mapping ------------------------------------------------------------------------------


def batch_of(name: str) -> tuple[Record, ...]:
    (batch,) = feed(codec_in("online"), BY_NAME[name].data)
    return batch.records


DOUT1_HIGH = {"immobiliser_output": 1, "immobiliser_active_high": True}


def test_state_with_a_fix():
    moving, _ = batch_of("negative-coordinates")
    assert DRIVER.state_from_record(moving, DOUT1_HIGH) == {
        "position": {"lat": -34.6037, "lon": -58.3816},
        "altitude_in_meters": 25.0,
        "speed_in_kilometers_per_hour": 48.0,
        "ignition": "ON",
        "mileage_in_kilometers": 1234.567,
        "cellular_signal_quality": 4,
        "driving_enabled": True,  # DOUT1 = 0: relay released
    }


def test_no_fix_gives_no_position_speed_or_altitude():
    (record,) = batch_of("no-fix-repeats-last-position")
    assert record.position.valid is False
    state = DRIVER.state_from_record(record, {})
    assert state == {"ignition": "OFF", "mileage_in_kilometers": 987.654, "cellular_signal_quality": 2}
    (zero,) = batch_of("codec8-example-1")
    assert "position" not in DRIVER.state_from_record(zero, {})


@pytest.mark.parametrize(
    ("active_high", "expected"),
    [(True, (True, False)), (False, (False, True))],
)
def test_immobiliser_polarity(active_high, expected):
    released, energised = batch_of("negative-coordinates")  # DOUT1 (IO 179) = 0, then 1
    options = {"immobiliser_output": 1, "immobiliser_active_high": active_high}
    got = tuple(DRIVER.state_from_record(r, options)["driving_enabled"] for r in (released, energised))
    assert got == expected


def test_immobiliser_defaults_and_other_output():
    released, energised = batch_of("negative-coordinates")
    assert DRIVER.state_from_record(energised, {"immobiliser_output": 1})["driving_enabled"] is False
    assert "driving_enabled" not in DRIVER.state_from_record(energised, {"immobiliser_output": 2})  # no IO 180 sent
    assert "driving_enabled" not in DRIVER.state_from_record(energised, {})
    with pytest.raises(ValueError):
        DRIVER.state_from_record(energised, {"immobiliser_output": 7})


def test_nx_values_are_not_mistaken_for_numbers():
    (record,) = batch_of("codec8e-several-nx")
    assert record.fields["io"]["256"] == b"WVWZZZ1JZXW000001".hex()
    assert DRIVER.state_from_record(record, {})["ignition"] == "ON"


# --- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capability", "options", "text"),
    [
        ("DISABLE_DRIVING", {"immobiliser_output": 1}, "setdigout 1"),
        ("ENABLE_DRIVING", {"immobiliser_output": 1}, "setdigout 0"),
        ("DISABLE_DRIVING", {"immobiliser_output": 2, "immobiliser_active_high": True}, "setdigout ?1"),
        ("ENABLE_DRIVING", {"immobiliser_output": 2, "immobiliser_active_high": True}, "setdigout ?0"),
        ("DISABLE_DRIVING", {"immobiliser_output": 1, "immobiliser_active_high": False}, "setdigout 0"),
        ("ENABLE_DRIVING", {"immobiliser_output": 1, "immobiliser_active_high": False}, "setdigout 1"),
        ("REQUEST_VEHICLE_STATE", {}, "getrecord"),
    ],
)
def test_encode_command(capability, options, text):
    assert DRIVER.encode_command(capability, options, None) == CommandRequest(text=text)


def test_encode_command_refuses_what_it_cannot_do():
    with pytest.raises(ValueError):
        DRIVER.encode_command("UNLOCK_TOP_CASE", DOUT1_HIGH, None)
    with pytest.raises(ValueError):
        DRIVER.encode_command("DISABLE_DRIVING", {}, None)
    with pytest.raises(ValueError):
        DRIVER.judge_response("UNLOCK_TOP_CASE", CommandRequest("x"), CommandResponse("y"))


DISABLED, ENABLED = {"driving_enabled": False}, {"driving_enabled": True}


@pytest.mark.parametrize(
    ("capability", "request_text", "answer", "succeeded", "state"),
    [
        ("DISABLE_DRIVING", "setdigout 1", "DOUT1:1 Timeout:INFINITY DOUT2:0 Timeout:INFINITY", True, DISABLED),
        ("ENABLE_DRIVING", "setdigout 0", "DOUT1:0 Timeout:INFINITY DOUT2:0 Timeout:INFINITY", True, ENABLED),
        ("DISABLE_DRIVING", "setdigout 0", "DOUT1:OFF Timeout:INFINITY", True, DISABLED),  # active low relay
        ("DISABLE_DRIVING", "setdigout ?1", "DOUT1:IGNORED DOUT2:ON Timeout:INFINITY", True, DISABLED),
        ("DISABLE_DRIVING", "setdigout 1", "DOUT1:0 Timeout:INFINITY", False, {}),
        ("DISABLE_DRIVING", "setdigout ?1", "DOUT1:1 Timeout:INFINITY DOUT2:IGNORED", False, {}),
        ("DISABLE_DRIVING", "setdigout 1", "DOUT1:ON Timeout:10s Speed is above threshold, queued", False, {}),
        ("ENABLE_DRIVING", "setdigout 0", "Unknown command", False, {}),
        ("REQUEST_VEHICLE_STATE", "getrecord", "Record triggered with high priority", True, {}),
        ("REQUEST_VEHICLE_STATE", "getrecord", "", False, {}),
    ],
)
def test_judge_response(capability, request_text, answer, succeeded, state):
    outcome_ = DRIVER.judge_response(capability, CommandRequest(request_text), CommandResponse(answer))
    assert outcome_.succeeded is succeeded
    assert dict(outcome_.state) == state
    assert outcome_.detail
