"""Sans-IO Concox GT06 / GT06N codec (protocol_specs/gt06/spec.md).

States: AWAIT_LOGIN -> (Login event) -> AWAIT_DECISION -> (send LoginAccepted) -> ONLINE;
``send(LoginRejected)`` writes nothing (the unit gets no answer) and leads to REJECTED.
``TRANSITIONS`` is the whole state machine: what is not in it is a bad message from the
unit (UnexpectedMessage) or a mistake of the caller (RuntimeError).

Framing: bytes in front of a ``7878`` / ``7979`` start marker are skipped and counted in
``discarded`` (a unit's stream may start mid-frame after a modem glitch). A frame that
starts with a marker is delimited by its length field -- a ``0D0A`` pair inside the
content is data, not a stop -- and must then end in ``0D0A`` with a matching CRC. Some
units send a length field that does not count their frame; such a frame is taken up to
the first ``0D0A`` after where its length field ends it, if the CRC up to there matches.
Otherwise a ProtocolError subclass is raised and the codec stays broken.

Once the unit is logged in, a frame that passes these checks never breaks the codec: a
message type or variant it does not decode is an ``Undecoded`` event (spec.md §11).

Contents are parsed by the hand parsers of fast.py where a layout has one, by construct
otherwise; tests/drivers/test_gt06_fast.py holds the two to the same events.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from construct import Construct

from drivers.base import (
    NEED_DATA, Acknowledge, BufferedCodec, ChecksumError, CodecState, CommandRequest, CommandResponse, FrameError,
    Heartbeat, InboundEvent, LengthError, Login, LoginAccepted, LoginRejected, OutboundEvent, ProtocolError,
    RecordBatch, TimeAnswer, TimeRequest, Undecoded, UnexpectedMessage, _NeedData, parse,
)
from drivers.gt06 import fast, frames
from drivers.gt06.fast import Parser
from drivers.gt06.records import Implausible, record_from, response_text

_MAX_TZ_MINUTES = 14 * 60
_MAX_COMMAND_TEXT = frames.SHORT_MAX_CONTENT - 7  # length byte, server flag, language word
_START = re.compile(rb"\x78\x78|\x79\x79")
_MARKER_BYTES = (frames.SHORT_START[0], frames.LONG_START[0])


State = CodecState  # the states this codec moves through


class Input(enum.Enum):
    """What moves the codec: a frame from the unit, or an event the gateway sends."""

    LOGIN = "a login"
    MESSAGE = "a message"
    ACCEPT = "LoginAccepted"
    REJECT = "LoginRejected"
    ANSWER = "an answer or a command"


TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.AWAIT_LOGIN, Input.LOGIN): State.AWAIT_DECISION,
    (State.AWAIT_DECISION, Input.ACCEPT): State.ONLINE,
    (State.AWAIT_DECISION, Input.REJECT): State.REJECTED,
    (State.ONLINE, Input.LOGIN): State.ONLINE,  # the unit repeats its login: answered again
    (State.ONLINE, Input.MESSAGE): State.ONLINE,
    (State.ONLINE, Input.ANSWER): State.ONLINE,
}
_FROM_UNIT = frozenset({Input.LOGIN, Input.MESSAGE})


@dataclass(frozen=True)
class MessageContext:
    """What the codec needs to answer a message later: its protocol number, the serial the
    answer echoes and the form of echo the unit expects (frames.echo_for)."""

    protocol: int
    serial: int
    echo: frames.Echo

    def echo_frame(self) -> bytes:
        if self.echo is frames.Echo.NONE:
            return b""
        return fast.echo_frame(self.protocol, self.serial, self.echo is frames.Echo.LONG)


def imei_from_terminal_id(terminal_id: bytes) -> str:
    """The 15-digit IMEI from the 16 BCD digits of the terminal ID ([GT06] §5.1.1.4)."""
    digits = terminal_id.hex()
    if not digits.isdigit():
        raise FrameError(f"terminal ID {digits} is not BCD")
    if digits[0] != "0":
        raise FrameError(f"terminal ID {digits} has 16 digits; an IMEI has 15 after a leading 0")
    return digits[1:]


def time_zone_minutes(tz_language: int) -> int | None:
    """Offset from UTC in minutes from the login's time zone / language word, None if the
    word holds no usable zone. Bits 15-4 are the zone written as hhmm ("GMT-12:45" is
    1245), bit 3 means west of Greenwich ([VL] §1.1)."""
    hours, minutes = divmod(tz_language >> 4, 100)
    offset = hours * 60 + minutes
    if minutes >= 60 or offset > _MAX_TZ_MINUTES:
        return None
    return -offset if tz_language & 0x08 else offset


def login_attributes(parsed) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if parsed.type_id is not None:
        attributes["type_id"] = parsed.type_id
    if parsed.tz_language is not None:
        word = parsed.tz_language
        attributes["tz_language"] = word
        offset = time_zone_minutes(word)
        if offset is not None:
            attributes["time_zone_minutes"] = offset
        language = {0b10: "chinese", 0b01: "english"}.get(word & 0b11)
        if language is not None:
            attributes["language"] = language
    return attributes


def encode_command_frame(text: str, server_flag: int, serial: int, language: int | None = None) -> bytes:
    """An 0x80 online command. Error messages never repeat ``text``: it holds passwords."""
    try:
        payload = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("command text must be ASCII") from None
    if len(payload) > _MAX_COMMAND_TEXT:
        raise ValueError(f"command text of {len(payload)} bytes is longer than {_MAX_COMMAND_TEXT}")
    if not 0 <= server_flag <= 0xFFFF_FFFF:
        raise ValueError(f"server flag {server_flag} does not fit 4 bytes")
    content = frames.CommandContent.build({"server_flag": server_flag, "text": payload, "language": language})
    return frames.frame(frames.COMMAND, content, serial)


def time_answer_frame(now: datetime, serial: int) -> bytes:
    utc = now.astimezone(timezone.utc)
    if not 2000 <= utc.year <= 2255:
        raise ValueError(f"{utc.year} cannot be written as a GT06 year")
    content = frames.TimeAnswerContent.build(
        {"year": utc.year - 2000, "month": utc.month, "day": utc.day, "hour": utc.hour, "minute": utc.minute,
         "second": utc.second}
    )
    return frames.frame(frames.TIME_REQUEST, content, serial)


def match_layout(protocol: int, content: bytes, long_frame: bool, parsers: Mapping[Construct, Parser]):
    """The parsed content in the first of the protocol number's layouts that takes all of
    it (frames.LAYOUTS), or None. A layout with a hand parser in ``parsers`` is parsed by it
    (the same tree as construct's, fast.py), any other with construct."""
    layouts = frames.LAYOUTS.get(protocol, ())
    if not long_frame:
        layouts = frames.SHORT_FRAME_LAYOUTS.get(protocol, ()) + layouts
    for layout in layouts:
        parser = parsers.get(layout)
        if parser is not None:
            parsed = parser(content)
            if parsed is not None:
                return parsed
            continue
        try:
            return parse(layout, content)
        except ProtocolError:
            continue
    return None


def undecoded_label(protocol: int, content: bytes) -> str:
    """The message type an undecoded message is counted under."""
    if protocol == frames.INFORMATION and content:
        return f"{protocol:#04x} type {content[0]:#04x}"
    return f"{protocol:#04x}"


class Gt06Codec(BufferedCodec):
    def __init__(self, max_frame: int = 1024, default_tz_minutes: int = 0,
                 parsers: Mapping[Construct, Parser] = fast.PARSERS) -> None:
        """``parsers``: hand parsers to take instead of construct layouts (match_layout);
        ``{}`` parses with construct alone, the reference the tests hold them to."""
        if abs(default_tz_minutes) > _MAX_TZ_MINUTES:
            raise ValueError(f"default_tz_minutes {default_tz_minutes} is beyond +-14 hours")
        super().__init__()
        self.max_frame = max_frame
        self.parsers = parsers
        self.tz_minutes = default_tz_minutes  # replaced by the login's zone when it has one
        self.state = State.AWAIT_LOGIN
        self.unit_id: str | None = None
        self.discarded = 0  # bytes skipped in front of start markers
        self._serial = 0  # the server's own information serial numbers (0x80 commands)

    def _transition(self, what: Input) -> None:
        try:
            self.state = TRANSITIONS[self.state, what]
        except KeyError:
            message = f"{what.value} in state {self.state.value}"
            if what in _FROM_UNIT:
                raise UnexpectedMessage(message) from None
            raise RuntimeError(f"cannot send {message}") from None

    def send(self, event: OutboundEvent) -> bytes:
        self._raise_if_broken()
        if isinstance(event, LoginRejected):
            # Servers stay silent for an IMEI they do not know; the session hangs up.
            self._transition(Input.REJECT)
            return b""
        if isinstance(event, LoginAccepted):
            self._transition(Input.ACCEPT)
            return event.login.context.echo_frame()
        if not isinstance(event, Acknowledge | TimeAnswer | CommandRequest):
            raise TypeError(f"not an outbound event: {type(event).__name__}")
        self._transition(Input.ANSWER)
        if isinstance(event, Acknowledge):
            context = event.event.context
            if not isinstance(context, MessageContext):
                raise RuntimeError("only events of this codec can be acknowledged")
            return context.echo_frame()
        if isinstance(event, TimeAnswer):
            return time_answer_frame(event.now, event.request.context.serial)
        self._serial = (self._serial + 1) & 0xFFFF
        return encode_command_frame(event.text, event.correlation or 0, self._serial)

    # --- framing ----------------------------------------------------------------------

    def _next_event(self) -> InboundEvent | _NeedData:
        if self.state is State.AWAIT_DECISION:
            return NEED_DATA  # the unit waits for the login answer; so do its bytes
        frame = self._next_frame()
        if frame is None:
            return NEED_DATA
        return self._decode(frame)

    def _resync(self) -> None:
        buf = self._buffer
        found = _START.search(buf)
        if found is not None:
            skip = found.start()
        elif buf and buf[-1] in _MARKER_BYTES and not self._eof:
            skip = len(buf) - 1  # may be the first half of a marker
        else:
            skip = len(buf)
        if skip:
            del buf[:skip]
            self.discarded += skip

    def _next_frame(self) -> bytes | None:
        self._resync()
        buf = self._buffer
        if not buf:
            return None
        header = 4 if buf[:2] == frames.LONG_START else 3
        if len(buf) < header:
            return None  # at end of stream next_event raises: the stream ended inside a frame
        length = int.from_bytes(buf[2:header], "big")
        end = header + length + len(frames.STOP)
        if length < frames.LENGTH_OVERHEAD:
            raise LengthError(f"length field {length} is shorter than protocol number, serial and CRC")
        if end > self.max_frame:
            raise LengthError(f"length field {length} makes a {end}-byte frame, max {self.max_frame}")
        if len(buf) < end:
            return None
        if buf[end - 2 : end] != frames.STOP:
            if _crc_ok(buf[:end]):
                # A good CRC says the length was right and only the stop bytes are wrong.
                raise FrameError(f"stop bytes {buf[end - 2 : end].hex()}, expected 0d0a")
            end = self._end_at_stop(end, length)
            if end is None:
                return None
        elif not _crc_ok(buf[:end]):
            raise ChecksumError(f"CRC field {buf[end - 4 : end - 2].hex()} does not match the frame")
        frame = bytes(buf[:end])
        del buf[:end]
        return frame

    def _end_at_stop(self, end: int, length: int) -> int | None:
        """Where a frame ends whose length field does not lead to its stop: at the first
        0D0A after that point, if the CRC up to there matches (the field counted too few
        bytes, as in [GT06] §5.4.3's example); None while that 0D0A may still come."""
        buf = self._buffer
        stop = buf.find(frames.STOP, end - 1)
        if stop < 0:
            if len(buf) >= self.max_frame:
                raise LengthError(f"no 0d0a stop within {self.max_frame} bytes of a frame start")
            return None
        if stop + 2 > self.max_frame or not _crc_ok(buf[: stop + 2]):
            raise LengthError(f"no 0d0a stop where the length field {length} puts the frame's end")
        return stop + 2

    # --- messages ---------------------------------------------------------------------

    def _decode(self, frame: bytes) -> InboundEvent:
        long_frame = frame[:2] == frames.LONG_START
        header = 4 if long_frame else 3
        protocol = frame[header]
        content = frame[header + 1 : -6]
        context = MessageContext(protocol, int.from_bytes(frame[-6:-4], "big"), frames.echo_for(protocol, long_frame))
        self._transition(Input.LOGIN if protocol == frames.LOGIN else Input.MESSAGE)
        if protocol == frames.LOGIN:
            return self._login(content, frame, context)
        if not content and protocol in frames.ECHOED:
            return Heartbeat(raw=frame, context=context)  # an empty location: nothing to keep, answered
        if protocol == frames.COMMAND:
            return Undecoded(f"{protocol:#04x}", frame, "a server command sent by the unit", context)
        parsed = match_layout(protocol, content, long_frame, self.parsers)
        if parsed is None:
            detail = (f"content of {len(content)} bytes fits no layout of this protocol number"
                      if protocol in frames.LAYOUTS else "a protocol number this driver does not decode")
            return Undecoded(undecoded_label(protocol, content), frame, detail, context)
        if protocol == frames.TIME_REQUEST:
            return TimeRequest(raw=frame, context=context)
        try:
            if protocol in (frames.SHORT_RESPONSE, frames.LONG_RESPONSE):
                return CommandResponse(text=response_text(protocol, parsed), correlation=parsed["server_flag"],
                                       raw=frame)
            record, undecoded = record_from(protocol, parsed, self.tz_minutes)
        except Implausible as exc:
            return Undecoded(f"{protocol:#04x}", frame, str(exc), context)
        return RecordBatch(records=(record,), raw=frame, context=context, undecoded=undecoded)

    def _login(self, content: bytes, frame: bytes, context: MessageContext) -> Login | Heartbeat:
        parsed = parse(frames.LoginContent, content, "login")
        unit_id = imei_from_terminal_id(parsed.terminal_id)
        if self.unit_id is not None:
            if unit_id != self.unit_id:
                raise UnexpectedMessage("a login as another unit on a logged-in connection")
            return Heartbeat(raw=frame, context=context)  # answered with the login's echo
        self.unit_id = unit_id
        attributes = login_attributes(parsed)
        if "time_zone_minutes" in attributes:
            self.tz_minutes = attributes["time_zone_minutes"]
        return Login(unit_id=unit_id, attributes=attributes, context=context)


def _crc_ok(frame: bytes | bytearray) -> bool:
    return frames.crc_itu(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big")
