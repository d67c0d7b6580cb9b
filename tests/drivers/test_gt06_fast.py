"""The GT06 fast path (drivers/gt06/fast.py, the CRC of frames.py) is held to the construct
declarations: each hand parser gives its layout's tree or fails where the layout fails, and a
codec with the hand parsers gives the same events and errors as one that parses with
construct alone, on arbitrary, mutated and vector bytes."""

from __future__ import annotations

import functools
import random

import pytest
from construct import (
    Array, BitsInteger, Bytes, BytesInteger, Const, ConstructError, Flag, FocusedSeq, FormatField, GreedyBytes,
    IfThenElse, Rebuild, Renamed, Select, Struct, Transformed,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drivers.base as base
from drivers.base import LoginAccepted
from drivers.gt06 import fast, frames
from drivers.gt06.codec import Gt06Codec
from tests.drivers.vectors import feed, groups

GT06 = groups("gt06")
LOGINS = {"online": GT06.by_name["gt06-login"].data,
          "online_gmt8": GT06.by_name["vl-login-with-type-and-time-zone"].data}
LAYOUT_NAMES = {layout: name for name, layout in vars(frames).items() if name.endswith("Content")}
EVERY_LAYOUT = {layout for layouts in (*frames.LAYOUTS.values(), *frames.SHORT_FRAME_LAYOUTS.values())
                for layout in layouts}
FAST_PROTOCOLS = sorted(p for p, layouts in frames.LAYOUTS.items() if set(layouts) & set(fast.PARSERS))


def frame_parts(data: bytes) -> tuple[int, bytes] | None:
    """(protocol, content) of a frame that starts at the first start marker."""
    starts = [at for at in (data.find(frames.SHORT_START), data.find(frames.LONG_START)) if at >= 0]
    if not starts:
        return None
    at = min(starts)
    long_frame = data[at : at + 2] == frames.LONG_START
    header = at + (4 if long_frame else 3)
    if len(data) < header + 7:
        return None
    return data[header], data[header + 1 : -6]


# contents of vector frames by protocol number: seeds for mutation
SEEDS: dict[int, list[bytes]] = {}
for _vector in GT06.from_unit:
    _parts = frame_parts(_vector.data)
    if _parts is not None and _parts[0] in FAST_PROTOCOLS:
        SEEDS.setdefault(_parts[0], []).append(_parts[1])


def tree(value):
    """A parse result with every value's type made explicit, construct's private keys left
    out: a Container and a dict compare equal only when keys, values and types agree."""
    if isinstance(value, dict):
        return {k: tree(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [tree(v) for v in value]
    return type(value).__name__, value


def by_construct(layout, content: bytes):
    try:
        return tree(layout.parse(content))
    except ConstructError:
        return None


def by_hand(layout, content: bytes):
    parsed = fast.PARSERS[layout](content)
    return None if parsed is None else tree(parsed)


# --- every parser against its layout ---------------------------------------------------------


def test_every_layout_of_a_message_with_records_or_an_answer_has_a_parser():
    without = {frames.LoginContent, frames.TimeRequestContent}  # once per connection / no content
    assert set(fast.PARSERS) == EVERY_LAYOUT - without


FlagType, GreedyBytesType = type(Flag), type(GreedyBytes)  # construct exports these as instances


def values(declaration) -> st.SearchStrategy:
    """Values ``declaration.build`` takes, drawn from the declaration itself: with them the
    tests reach every layout with arbitrary field values, not only the vectors' lengths."""
    match declaration:
        case Renamed() | Transformed():
            return values(declaration.subcon)
        case Struct():
            return st.fixed_dictionaries({sub.name: values(sub) for sub in declaration.subcons if sub.name})
        case FormatField() | BytesInteger():
            return st.integers(0, 2 ** (8 * declaration.length) - 1)
        case BitsInteger():
            return st.integers(0, 2**declaration.length - 1)
        case FlagType():
            return st.booleans()
        case Bytes() if isinstance(declaration.length, int):
            return st.binary(min_size=declaration.length, max_size=declaration.length)
        case Bytes() | GreedyBytesType():
            return st.binary(max_size=40)
        case Select():  # Optional
            return st.none() | values(declaration.subcons[0])
        case IfThenElse():  # the MNC: a one-byte value fits both widths
            return values(declaration.elsesubcon)
        case Const():
            return st.just(declaration.value)
        case Rebuild():
            return st.none()
        case Array() if isinstance(declaration.count, int):
            return st.lists(values(declaration.subcon), min_size=declaration.count, max_size=declaration.count)
        case FocusedSeq():  # PrefixedArray
            items = declaration.subcons[-1].subcon
            return st.lists(values(items.subcon), max_size=4)
    raise TypeError(f"no values for {declaration!r}")


@functools.cache
def built(layout) -> st.SearchStrategy[bytes]:
    return values(layout).map(layout.build)


def steering(size: int) -> list[int]:
    """Byte values that steer a layout of a ``size``-byte content: information types, a
    0x15 length byte that fits the content, a Wi-Fi count that fits it, a set MCC top bit."""
    fitting = [(size - d) & 0xFF for d in (1, 3)] + [max(0, size - d) // 7 & 0xFF for d in (52, 53, 54)]
    return [0x00, 0x04, 0x05, 0x0A, 0x80, 0x81, *fitting]


@st.composite
def mutated(draw, content: bytes) -> bytes:
    """``content`` with 1-3 changes: a byte overwritten or set to a steering value, a few
    bytes cut or inserted."""
    content = bytearray(content)
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.sampled_from(["byte", "steer", "cut", "grow"]))
        at = draw(st.integers(0, len(content)))
        if change in ("byte", "steer") and at < len(content):
            content[at] = draw(st.integers(0, 255) if change == "byte" else st.sampled_from(steering(len(content))))
        elif change == "cut":
            del content[at : at + draw(st.sampled_from([1, 2, 3, 4, 5, 7, 8]))]
        elif change == "grow":
            content[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(content)


ARBITRARY = st.one_of(st.binary(max_size=200), st.integers(0, 130).flatmap(lambda n: st.binary(min_size=n, max_size=n)))


@functools.cache
def contents(protocol: int) -> st.SearchStrategy[bytes]:
    """Arbitrary contents; contents its layouts build, as they are and mutated; its
    vectors' contents mutated."""
    layouts = frames.LAYOUTS[protocol] + frames.SHORT_FRAME_LAYOUTS.get(protocol, ())
    made = st.one_of([built(layout) for layout in layouts if layout in fast.PARSERS])
    seeds = [st.sampled_from(SEEDS[protocol])] if protocol in SEEDS else []
    return st.one_of(ARBITRARY, made, st.one_of(made, *seeds).flatmap(mutated))


def protocols_of(layout) -> list[int]:
    return [p for p in FAST_PROTOCOLS if layout in frames.LAYOUTS[p] + frames.SHORT_FRAME_LAYOUTS.get(p, ())]


@pytest.mark.parametrize("layout", sorted(fast.PARSERS, key=LAYOUT_NAMES.get), ids=LAYOUT_NAMES.get)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parser_gives_its_layouts_tree_or_fails_where_it_fails(layout, data):
    protocol = data.draw(st.sampled_from(protocols_of(layout)))
    content = data.draw(st.one_of(built(layout), contents(protocol)))
    assert by_hand(layout, content) == by_construct(layout, content)


# layouts no vector uses; their parsers are held to them by the hypothesis test above
UNSEEN = {frames.LbsMulti4GContent, frames.AlarmLongCellIdContent}


@pytest.mark.parametrize("layout", sorted(fast.PARSERS, key=LAYOUT_NAMES.get), ids=LAYOUT_NAMES.get)
def test_parser_agrees_on_every_vector_and_its_variants(layout):
    """Every content of a vector of the layout's protocol numbers, and each with the top bit
    flipped where a layout may read an MCC word (the MNC's width hangs on it)."""
    taken = 0
    for protocol in protocols_of(layout):
        for content in SEEDS.get(protocol, ()):
            for at in (None, 0, 6, 18, 19):
                variant = content
                if at is not None and at < len(content):
                    variant = content[:at] + bytes([content[at] ^ 0x80]) + content[at + 1 :]
                expected = by_construct(layout, variant)
                assert by_hand(layout, variant) == expected
                taken += expected is not None
    assert taken or layout in UNSEEN


@pytest.mark.parametrize("layout", sorted(fast.PARSERS, key=LAYOUT_NAMES.get), ids=LAYOUT_NAMES.get)
def test_parser_agrees_at_every_length(layout):
    """Contents of every length up to 110 bytes (past the longest fixed layout), as they
    are and with a steering first byte: where the layout takes a content and where not."""
    rng = random.Random(19)
    for size in range(110):
        content = rng.randbytes(size)
        for first in [None, *steering(size)] if size else [None]:
            variant = content if first is None else bytes([first]) + content[1:]
            assert by_hand(layout, variant) == by_construct(layout, variant)


# --- a codec with the parsers against one with construct alone -------------------------------


def events_or_error(data: bytes, parsers, state: str = "online"):
    """The events ``data`` makes and the codec's answers to them, or the error class."""
    codec = Gt06Codec(default_tz_minutes=-300, parsers=parsers)
    if state in LOGINS:
        codec.receive_data(LOGINS[state])
        codec.send(LoginAccepted(codec.next_event()))
    try:
        events = feed(codec, data, eof=True)
    except base.ProtocolError as exc:
        return type(exc)
    answered = (base.RecordBatch, base.Undecoded, base.Heartbeat)
    return repr(events), [codec.send(base.Acknowledge(e)) for e in events if isinstance(e, answered)]


def assert_same_events(data: bytes, state: str = "online") -> None:
    assert events_or_error(data, fast.PARSERS, state) == events_or_error(data, {}, state)


@pytest.mark.parametrize("vector", GT06.from_unit, ids=str)
def test_codec_gives_the_same_events_or_error_on_every_vector(vector):
    assert_same_events(vector.data, vector.state)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), protocol=st.sampled_from(FAST_PROTOCOLS), long=st.booleans(), serial=st.integers(0, 0xFFFF))
def test_codec_gives_the_same_events_on_mutated_and_arbitrary_contents(data, protocol, long, serial):
    content = data.draw(contents(protocol))
    assert_same_events(frames.frame(protocol, content, serial, long=long))


# --- CRC and echo ---------------------------------------------------------------------------


def _vendor_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


VENDOR_TABLE = _vendor_table()


def crc_by_vendor_table(data: bytes) -> int:
    """[GT06] Appendix A's routine: a 256-entry table of the reflected polynomial 0x8408."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ VENDOR_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_crc_is_the_vendors_routine(data):
    assert frames.crc_itu(data) == crc_by_vendor_table(data) == frames.crc_itu(bytearray(data))


@settings(max_examples=50, deadline=None)
@given(protocol=st.integers(0, 255), serial=st.integers(0, 0xFFFF), long=st.booleans())
def test_echo_is_the_declared_frame(protocol, serial, long):
    assert fast.echo_frame(protocol, serial, long) == frames.frame(protocol, b"", serial, long=long)
