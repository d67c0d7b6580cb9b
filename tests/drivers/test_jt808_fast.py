"""drivers/jt808/fast.py held to the construct declarations of frames.py: on arbitrary
bytes, on built messages changed at random, and on every frame of the vector files, each
fast function gives the values its declaration parses (in fast's shapes) or raises the
error class ``drivers.base.parse`` makes of the declaration's error. And the codec gives
the same events and errors with fast.py as with the declarations in its place."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import drivers.jt808.codec
from drivers.base import Acknowledge, FrameError, Heartbeat, ProtocolError, RecordBatch, Undecoded, parse
from drivers.jt808 import fast, frames
from tests.drivers.test_jt808 import codec_in
from tests.drivers.vectors import feed, groups, mutate

VECTORS = groups("jt808").from_unit
ACKNOWLEDGED = (RecordBatch, Undecoded, Heartbeat)


# --- the declarations, in fast's shapes ------------------------------------------------------


def declared_header(content: bytes) -> fast.Header:
    wide, size, fits = frames.header_layout(content)
    if len(content) - 1 < size:
        raise FrameError("too short")  # the codec's own check, which fast.header makes too
    h = parse(frames.HEADERS[wide], content[:size], "header")
    package = None if h.package is None else (h.package.total, h.package.index)
    props = h.properties
    return fast.Header(h.message_id, props.encryption, props.body_length, h.protocol_version, h.phone, h.serial,
                       package, size, fits)


def as_location(parsed) -> fast.Location:
    return fast.Location(parsed.alarm, parsed.status, parsed.latitude, parsed.longitude, parsed.altitude,
                         parsed.speed, parsed.course, parsed.time,
                         tuple((item.id, item.value) for item in parsed.additional), parsed.truncated)


def declared_location(body: bytes) -> fast.Location:
    return as_location(parse(frames.Location, body))


def declared_location_reply(body: bytes) -> tuple[int, fast.Location]:
    parsed = parse(frames.LocationReply, body)
    return parsed.reply_serial, as_location(parsed.location)


def declared_batch(body: bytes) -> tuple[int, list[fast.Location]]:
    parsed = parse(frames.Batch, body)
    return parsed.type, [as_location(location) for location in parsed.locations]


def declared_general_response(body: bytes) -> tuple[int, int, int]:
    parsed = parse(frames.GeneralResponse, body)
    return parsed.reply_serial, parsed.reply_id, parsed.result


# message id -> (fast reader, the declaration's reader) of its body
BODIES = {
    frames.LOCATION: (fast.location, declared_location),
    frames.POSITION_REPLY: (fast.location_reply, declared_location_reply),
    frames.CONTROL_REPLY: (fast.location_reply, declared_location_reply),
    frames.BATCH: (fast.batch, declared_batch),
    frames.TERMINAL_RESPONSE: (fast.general_response, declared_general_response),
}


def outcome(read, data: bytes):
    try:
        return "ok", read(data)
    except ProtocolError as exc:
        return "error", type(exc)


def assert_same(fast_read, declared_read, data: bytes) -> None:
    assert outcome(fast_read, data) == outcome(declared_read, data)


# --- built messages, changed at random --------------------------------------------------------

items = st.lists(st.tuples(st.sampled_from([*frames.ITEMS, frames.ANALOG, 0xE1, 0xFA]), st.binary(max_size=6)),
                 max_size=10)


@st.composite
def location_bodies(draw) -> bytes:
    u32, u16 = st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1)
    body = frames.Location.build({
        "alarm": draw(u32), "status": draw(u32), "latitude": draw(u32), "longitude": draw(u32),
        "altitude": draw(u16), "speed": draw(u16), "course": draw(u16), "time": draw(st.binary(min_size=6, max_size=6)),
        "additional": [{"id": i, "value": v} for i, v in draw(items)],
    })
    return body + draw(st.sampled_from([b"", b"\x01", b"\x01\x04\x00"]))  # an item cut short, or none


@st.composite
def changed(draw, messages) -> bytes:
    """A message from ``messages``, cut short, extended or with bytes overwritten."""
    data = draw(messages)
    change = draw(st.sampled_from(["none", "cut", "extend", "overwrite"]))
    if change == "cut" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if change == "extend":
        return data + draw(st.binary(min_size=1, max_size=8))
    if change == "overwrite" and data:
        return mutate(draw(st.data()), data)
    return data


serials = st.integers(0, 2**16 - 1).map(lambda serial: serial.to_bytes(2, "big"))
batch_bodies = st.builds(
    lambda count, kind, locations: count.to_bytes(2, "big") + bytes([kind]) + b"".join(
        len(body).to_bytes(2, "big") + body for body in locations),
    st.integers(0, 4), st.integers(0, 255), st.lists(location_bodies(), max_size=4))
BUILT = {
    frames.LOCATION: location_bodies(),
    frames.POSITION_REPLY: st.builds(bytes.__add__, serials, location_bodies()),
    frames.BATCH: batch_bodies,
    frames.TERMINAL_RESPONSE: st.binary(min_size=5, max_size=5),
}
BUILT[frames.CONTROL_REPLY] = BUILT[frames.POSITION_REPLY]


@settings(max_examples=100, deadline=None)
@pytest.mark.parametrize("message_id", BODIES, ids=lambda message_id: f"{message_id:#06x}")
@given(data=st.data())
def test_body_readers_match_their_declarations(message_id, data):
    body = data.draw(st.one_of(changed(BUILT[message_id]), st.binary(max_size=200)))
    assert_same(*BODIES[message_id], body)


@st.composite
def contents(draw) -> bytes:
    """Unescaped content: a header built in either layout, with or without a package, its
    version flag and body length drawn apart from the layout and the body that follows."""
    wide = draw(st.booleans())
    package = draw(st.none() | st.tuples(st.integers(0, 65535), st.integers(0, 65535)))
    fields = frames.header_fields(draw(st.integers(0, 65535)), draw(st.binary(min_size=6, max_size=6)).hex().upper(),
                                  draw(st.integers(0, 65535)), draw(st.integers(0, frames.MAX_BODY)),
                                  draw(st.integers(0, 255)) if wide else None, package)
    fields["properties"].update(version_flag=draw(st.booleans()), encryption=draw(st.integers(0, 7)),
                                reserved=draw(st.booleans()))
    if wide:
        fields["phone"] = draw(st.binary(min_size=10, max_size=10)).hex().upper()
    head = frames.HEADERS[wide].build(fields)
    return head + draw(st.binary(max_size=40)) + b"\x00"


@settings(max_examples=200, deadline=None)
@given(content=st.one_of(contents(), changed(contents()), st.binary(max_size=60)).filter(lambda c: len(c) >= 4))
def test_header_matches_its_declaration(content):  # header_layout reads the first 4 bytes unchecked
    assert_same(fast.header, declared_header, content)


# --- every frame of the vector files ---------------------------------------------------------


def vector_contents() -> list[bytes]:
    """The unescaped content of every whole frame units send in the vector files."""
    found = []
    for vector in VECTORS:
        for part in vector.data.split(b"\x7e"):
            try:
                content = frames.unescape(part)
            except ValueError:
                continue
            if len(content) >= 4:
                found.append(content)
    return found


CONTENTS = vector_contents()


def test_every_vector_frame_reads_as_declared():
    bodies = 0
    for content in CONTENTS:
        assert_same(fast.header, declared_header, content)
        try:
            header = fast.header(content)
        except FrameError:
            continue
        readers = BODIES.get(header.message_id)
        if readers is not None:
            assert_same(*readers, content[header.size : -1])
            bodies += 1
    assert bodies > 100  # vectors.json and field.json: 126 locations, batches and answers


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_vector_frames_read_as_declared(data):
    content = mutate(data, data.draw(st.sampled_from(CONTENTS)))
    assert_same(fast.header, declared_header, content)
    message_id = int.from_bytes(content[:2], "big")
    if message_id in BODIES:
        size = data.draw(st.sampled_from([frames.HEADER_2013, frames.HEADER_2019]))
        assert_same(*BODIES[message_id], content[size:-1])


# --- frames the platform sends -----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(message_id=st.integers(0, 65535), serial=st.integers(0, 2**17), body=st.binary(max_size=frames.MAX_BODY + 3),
       version=st.none() | st.integers(0, 255), data=st.data())
def test_frame_builds_what_the_declaration_builds(message_id, serial, body, version, data):
    phone = data.draw(st.binary(min_size=6, max_size=6) if version is None else st.binary(min_size=10, max_size=10))
    args = (message_id, phone.hex().upper(), serial, body, version)
    if len(body) > frames.MAX_BODY:
        with pytest.raises(ValueError):
            fast.frame(*args)
        with pytest.raises(ValueError):
            frames.frame(*args)
    else:
        assert fast.frame(*args) == frames.frame(*args)


@given(reply_serial=st.integers(0, 65535), reply_id=st.integers(0, 65535), result=st.integers(0, 255))
def test_general_response_body_builds_what_the_declaration_builds(reply_serial, reply_id, result):
    built = frames.GeneralResponse.build({"reply_serial": reply_serial, "reply_id": reply_id, "result": result})
    assert fast.general_response_body(reply_serial, reply_id, result) == built


# --- the codec with fast.py, and with the declarations in its place ----------------------------

DECLARED = SimpleNamespace(
    header=declared_header, location=declared_location, location_reply=declared_location_reply,
    batch=declared_batch, general_response=declared_general_response, frame=frames.frame,
    general_response_body=lambda serial, message_id, result: frames.GeneralResponse.build(
        {"reply_serial": serial, "reply_id": message_id, "result": result}),
)


def session_outcome(vector, data: bytes):
    """The events of ``data`` fed to a codec in ``vector``'s state (an Undecoded's detail
    left out: it words the error its reader raised), the error class that ended them, and
    the bytes of every answer."""
    codec = codec_in(vector)
    try:
        events = feed(codec, data, eof=True)
        error = None
    except ProtocolError as exc:
        events, error = [], type(exc)
    answers = [codec.send(Acknowledge(event)) for event in events if isinstance(event, ACKNOWLEDGED)]
    events = [dataclasses.replace(event, detail="") if isinstance(event, Undecoded) else event for event in events]
    return events, error, answers


def assert_codec_same(vector, data: bytes) -> None:
    with_fast = session_outcome(vector, data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(drivers.jt808.codec, "fast", DECLARED)
        assert session_outcome(vector, data) == with_fast


def test_codec_gives_the_same_events_on_every_vector():
    for vector in VECTORS:
        assert_codec_same(vector, vector.data)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_codec_gives_the_same_events_on_mutated_vectors(data):
    vector = data.draw(st.sampled_from(VECTORS))
    assert_codec_same(vector, mutate(data, vector.data))
