"""Loader for protocol_specs/<protocol>/*.json test vectors, and the plumbing that feeds
them to a codec, shared by the driver tests.

A vector file holds ``{"protocol": ..., "vectors": [...]}``; each vector has a ``name``,
its ``source`` (vendor document section, or "fleetgate edge case ..."), the frame as
``hex`` and a ``direction``:

- ``from_unit``: bytes a unit sends. ``state`` names the codec state to feed them in (its
  meaning is the protocol's, e.g. "login" / "online"). Either ``expect`` (the decoded event
  as ``{"event": <class name>, ...}`` plus ``replies``: {outbound event class: hex}) or
  ``error``: the ProtocolError subclass from drivers.base; ``eof`` says the stream ends
  after the bytes. Every decision the gateway may take on the event is in ``replies``, ""
  where it sends nothing; only a unit's answer to a command has none (the session takes
  it without a word).
- ``to_unit``: bytes the gateway must produce, e.g. for ``command_text``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import strategies as st

import drivers.base as base

SPECS = Path(__file__).resolve().parents[2] / "protocol_specs"


@dataclass(frozen=True)
class Vector:
    name: str
    source: str
    direction: str
    data: bytes
    state: str | None = None
    expect: Mapping[str, Any] | None = None
    error: type[base.ProtocolError] | None = None
    eof: bool = False
    command_text: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # pytest ids
        return self.name

    @property
    def from_unit(self) -> bool:
        return self.direction == "from_unit"

    @property
    def valid(self) -> bool:
        return self.error is None


_KNOWN = {"name", "source", "direction", "hex", "state", "expect", "error", "eof", "command_text"}


def error_class(name: str) -> type[base.ProtocolError]:
    cls = getattr(base, name, None)
    if not (isinstance(cls, type) and issubclass(cls, base.ProtocolError)):
        raise ValueError(f"{name!r} is not a ProtocolError subclass of drivers.base")
    return cls


def load(protocol: str) -> list[Vector]:
    """Every vector in protocol_specs/<protocol>/*.json, in file then list order."""
    folder = SPECS / protocol
    vectors: list[Vector] = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        for raw in doc["vectors"]:
            if raw["direction"] not in ("from_unit", "to_unit"):
                raise ValueError(f"{path.name}: {raw['name']}: unknown direction {raw['direction']!r}")
            if not raw.get("source"):
                raise ValueError(f"{path.name}: {raw['name']}: every vector names its source")
            vectors.append(
                Vector(
                    name=raw["name"],
                    source=raw["source"],
                    direction=raw["direction"],
                    data=bytes.fromhex(raw["hex"]),
                    state=raw.get("state"),
                    expect=raw.get("expect"),
                    error=error_class(raw["error"]) if "error" in raw else None,
                    eof=bool(raw.get("eof", False)),
                    command_text=raw.get("command_text"),
                    extra={k: v for k, v in raw.items() if k not in _KNOWN},
                )
            )
    for vector in vectors:
        if vector.from_unit and vector.valid and not vector.expect.get("replies"):
            if vector.expect["event"] != "CommandResponse":
                raise ValueError(f"{folder.name}: {vector.name}: no replies; only a command answer goes unanswered")
    names = [v.name for v in vectors]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate vector names in {folder}: {sorted(duplicates)}")
    return vectors


def replies(vector: Vector) -> dict[str, bytes]:
    """What the gateway sends for each decision on ``vector``'s event, by the outbound event
    ("Acknowledge", "LoginRejected", "RegistrationRefused:unknown_unit" ...): b"" where it
    sends nothing. Empty for a command answer, which is never answered, and for any vector
    without an event (an error, bytes to the unit)."""
    return {name: bytes.fromhex(text) for name, text in ((vector.expect or {}).get("replies") or {}).items()}


def parse_time(text: str) -> datetime:
    """ISO 8601 with a trailing Z, as the vectors write device times."""
    if not text.endswith("Z"):
        raise ValueError(f"vector times are UTC with a trailing Z: {text!r}")
    return datetime.fromisoformat(text[:-1] + "+00:00")


class Groups(NamedTuple):
    """A protocol's vectors in the groups its tests draw on."""

    all: list[Vector]
    from_unit: list[Vector]
    valid: list[Vector]
    invalid: list[Vector]
    to_unit: list[Vector]
    by_name: dict[str, Vector]


def groups(protocol: str) -> Groups:
    """``load(protocol)`` split: VECTORS, FROM_UNIT, VALID, INVALID, TO_UNIT, BY_NAME = groups(...)."""
    vectors = load(protocol)
    from_unit = [v for v in vectors if v.from_unit]
    return Groups(
        all=vectors,
        from_unit=from_unit,
        valid=[v for v in from_unit if v.valid],
        invalid=[v for v in from_unit if not v.valid],
        to_unit=[v for v in vectors if not v.from_unit],
        by_name={v.name: v for v in vectors},
    )


# --- feeding a codec ----------------------------------------------------------------------
# The assert_* helpers say what they saw: pytest rewrites the asserts of test modules, not
# of this one.


def drain(codec: base.Codec) -> list:
    """Every event the buffered bytes make, accepting logins and registrations as the session would."""
    events = []
    while (event := codec.next_event()) is not base.NEED_DATA:
        events.append(event)
        if isinstance(event, base.Login):
            codec.send(base.LoginAccepted(event))
        elif isinstance(event, base.Registration):
            codec.send(base.RegistrationAccepted(event, "code"))
    return events


def feed(codec: base.Codec, data: bytes, cuts: Iterable[int] = (), eof: bool = False) -> list:
    """The events of ``data`` received in pieces cut at ``cuts``, drained after each piece;
    with ``eof`` the stream then ends."""
    events = []
    bounds = [0, *sorted(set(cuts)), len(data)]
    for start, end in zip(bounds, bounds[1:]):
        codec.receive_data(data[start:end])
        events += drain(codec)
    if eof:
        codec.receive_data(b"")
        events += drain(codec)
    return events


def byte_by_byte(data: bytes) -> range:
    """Cuts that feed ``data`` one byte at a time."""
    return range(1, len(data))


def exhaust(codec: base.Codec, data: bytes) -> None:
    """Feed ``data`` and end the stream; a ProtocolError is an allowed outcome, nothing else is."""
    try:
        feed(codec, data, eof=True)
    except base.ProtocolError:
        pass


def assert_breaks(codec: base.Codec, vector: Vector, command: base.CommandRequest, more: bytes) -> None:
    """Feeding ``vector`` raises exactly its error class; afterwards ``next_event``,
    ``send(command)`` and ``receive_data(more)`` raise that class too: the codec stays broken."""
    with pytest.raises(base.ProtocolError) as caught:
        feed(codec, vector.data, eof=vector.eof)
    assert type(caught.value) is vector.error, f"{caught.value!r} instead of {vector.error.__name__}"
    for action in (codec.next_event, lambda: codec.send(command), lambda: codec.receive_data(more)):
        with pytest.raises(vector.error):
            action()


def assert_breaks_byte_by_byte(codec: base.Codec, vector: Vector) -> None:
    """Fed one byte at a time, ``vector`` raises exactly its error class."""
    with pytest.raises(base.ProtocolError) as caught:
        feed(codec, vector.data, cuts=byte_by_byte(vector.data), eof=vector.eof)
    assert type(caught.value) is vector.error, f"{caught.value!r} instead of {vector.error.__name__}"


def assert_partial(codec: base.Codec, data: bytes, size: int) -> None:
    """Receive the first ``size`` bytes of ``data``: the codec needs more and holds them all."""
    codec.receive_data(data[:size])
    event = codec.next_event()
    assert event is base.NEED_DATA, f"{event!r} instead of NEED_DATA"
    assert codec.buffered == size, f"{codec.buffered} bytes buffered, not {size}"


def assert_undecoded(event: base.InboundEvent, vector: Vector) -> None:
    """A frame the driver keeps raw: the whole frame, under the expected message type."""
    assert isinstance(event, base.Undecoded), f"{event!r} is not Undecoded"
    assert event.message_type == vector.expect["message_type"], event.message_type
    assert event.raw == vector.data, "the whole frame is kept"
    assert event.detail and event.raw.hex() not in event.detail.lower()


def mutate(data: st.DataObject, frame: bytes) -> bytes:
    """``frame`` with 1 to 4 bytes overwritten at positions and with values hypothesis draws."""
    mutated = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    return bytes(mutated)
