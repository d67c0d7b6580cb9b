"""What every driver provides, and the events its codec speaks in.

A TCP driver's codec is sans-IO in the manner of h11: the session feeds it bytes
with ``receive_data``, pulls decoded events with ``next_event`` and turns its own
decisions into bytes with ``send``. The codec never touches a socket, a clock or
the store, which keeps it testable from protocol vectors alone.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from construct import ChecksumError as ConstructChecksumError
from construct import Construct, ConstructError, StreamError, TerminatedError


class _NeedData:
    """Sentinel returned by ``next_event`` when no whole frame is buffered."""

    _instance: _NeedData | None = None

    def __new__(cls) -> _NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


# --- errors ---------------------------------------------------------------------------
# Each subclass has a ``reason`` used as the label of the listener's refusal counter.


class ProtocolError(Exception):
    """The peer sent bytes the protocol does not allow; the connection must close."""

    reason = "protocol"


class FrameError(ProtocolError):
    """Bad framing: wrong preamble, missing terminator, malformed structure."""

    reason = "frame"


class ChecksumError(ProtocolError):
    """The frame's checksum / CRC does not match its content."""

    reason = "checksum"


class LengthError(ProtocolError):
    """A length field is inconsistent, or announces more than the max frame."""

    reason = "length"


class UnsupportedMessage(ProtocolError):
    """A well-formed frame of a type or codec this driver does not handle."""

    reason = "unsupported"


class UnexpectedMessage(ProtocolError):
    """A valid frame at the wrong time, e.g. records before login."""

    reason = "unexpected"


def parse(declaration: Construct, data: bytes, what: str = "content") -> Any:
    """``declaration.parse(data)`` with construct's errors turned into ProtocolErrors.

    The one place that maps them: content that runs out early or leaves bytes over
    disagrees with the length that delimited it (LengthError), a checksum field that does
    not match is a ChecksumError, anything else is malformed (FrameError). The message
    names the failing path and error class only: construct quotes the bytes it parsed, and
    those may hold a unit's password or authentication code.
    """
    try:
        return declaration.parse(data)
    except ConstructError as exc:
        where = f" at {exc.path}" if getattr(exc, "path", None) else ""
        message = f"{what} does not match its layout: {type(exc).__name__}{where}"
        if isinstance(exc, ConstructChecksumError):
            raise ChecksumError(message) from None
        if isinstance(exc, (StreamError, TerminatedError)):
            raise LengthError(message) from None
        raise FrameError(message) from None


# --- events from the unit --------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    altitude_m: float | None = None
    speed_kmh: float | None = None
    course_deg: float | None = None
    satellites: int | None = None
    valid: bool = True  # a position without a valid fix never updates state


def position_properties(position: Position | None) -> dict[str, Any]:
    """The OneAPI properties a position gives: none without a valid fix (a unit without
    one repeats its last position, which must not move the vehicle)."""
    if position is None or not position.valid:
        return {}
    state: dict[str, Any] = {"position": {"lat": position.latitude, "lon": position.longitude}}
    if position.altitude_m is not None:
        state["altitude_in_meters"] = position.altitude_m
    if position.speed_kmh is not None:
        state["speed_in_kilometers_per_hour"] = position.speed_kmh
    return state


@dataclass(frozen=True)
class Record:
    """One timestamped telemetry sample.

    ``fields`` holds the protocol's own values (IO elements, status bits ...) in JSON-able
    form; the driver's state mapping turns them into vehicle-state properties.
    ``device_time`` is None for a sample the protocol sends without a time (a GT06 status
    heartbeat): the session stamps it with the time it was received.
    """

    device_time: datetime | None  # timezone-aware, UTC
    position: Position | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


# Every inbound event may carry ``context``: whatever the codec needs later to build its
# reply to that event (message id, serial number ...). The session never looks inside.


@dataclass(frozen=True)
class Login:
    """The unit announced who it is (and, where the protocol carries one, its secret)."""

    unit_id: str
    password: str | None = field(default=None, repr=False)  # never in a log line or a failed assert
    attributes: Mapping[str, Any] = field(default_factory=dict)
    context: Any = None


@dataclass(frozen=True)
class Registration:
    """The unit asks to enrol (JT808 0x0100); answered with RegistrationAccepted carrying
    the authentication code it must present from then on, or RegistrationRefused."""

    unit_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    context: Any = None


@dataclass(frozen=True)
class RecordBatch:
    """Records that need an acknowledgement once committed.

    ``undecoded`` labels the parts of a partly understood message that the codec kept raw
    in the records' fields instead of decoding (a JT808 additional item that runs past its
    body: "0x0200 item 0xE3"); the session counts them as it counts Undecoded frames.
    """

    records: tuple[Record, ...]
    raw: bytes = b""  # the whole frame as received, stored with the records
    context: Any = None
    undecoded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Undecoded:
    """A frame that is well framed and passes its checksum, but whose message type, or
    variant of a type, this driver does not understand (DESIGN.md "How bytes flow" 8).

    Real units send what their documents do not describe; that alone never ends a session.
    The session keeps the frame raw beside the unit's records, counts it by
    ``message_type`` and, once that is committed, writes ``send(Acknowledge(event))``: the
    protocol's answer where the unit expects one, b"" where it expects none.
    """

    message_type: str  # a short label from a bounded set: "0x70", "0x0900", "codec 0x0d"
    raw: bytes
    detail: str = ""  # why it was not decoded; never quotes the frame (it may hold a secret)
    context: Any = None


@dataclass(frozen=True)
class Heartbeat:
    """A keepalive; ``send(Acknowledge(hb))`` gives the reply (b"" where the protocol has none)."""

    raw: bytes = b""
    context: Any = None


@dataclass(frozen=True)
class TimeRequest:
    """The unit asks for the time (GT06 0x8A); answered with TimeAnswer. Codecs read no clock."""

    raw: bytes = b""
    context: Any = None


@dataclass(frozen=True)
class CommandResponse:
    """The unit's answer to a command. ``correlation`` is None where the protocol has none.
    ``records`` are samples the answer carries (a JT808 position reply): stored, not acknowledged."""

    text: str
    correlation: int | None = None
    raw: bytes = b""
    records: tuple[Record, ...] = ()
    context: Any = None


InboundEvent = Login | Registration | RecordBatch | Undecoded | Heartbeat | TimeRequest | CommandResponse


# --- events from the gateway -----------------------------------------------------------


@dataclass(frozen=True)
class LoginAccepted:
    login: Login


@dataclass(frozen=True)
class LoginRejected:
    login: Login


@dataclass(frozen=True)
class RegistrationAccepted:
    registration: Registration
    auth_code: str = field(repr=False)


class RefusalReason(enum.StrEnum):
    ALREADY_REGISTERED = "already_registered"
    UNKNOWN_UNIT = "unknown_unit"


@dataclass(frozen=True)
class RegistrationRefused:
    registration: Registration
    reason: RefusalReason


@dataclass(frozen=True)
class Acknowledge:
    """Acknowledge a RecordBatch or an Undecoded frame (after its commit), or a Heartbeat."""

    event: RecordBatch | Undecoded | Heartbeat


@dataclass(frozen=True)
class TimeAnswer:
    request: TimeRequest
    now: datetime  # UTC, read by the session


@dataclass(frozen=True)
class CommandRequest:
    """A command for the unit. The session sets ``correlation`` (a counter) before
    ``send``; a codec whose protocol carries one puts it on the wire (GT06 server flag,
    JT808 serial) and a codec whose protocol has none ignores it. ``redact`` lists
    substrings (passwords) never to be logged."""

    text: str = field(repr=False)  # may hold the unit's password (GT06 `DYD,<password>#`)
    correlation: int | None = None
    redact: tuple[str, ...] = field(default=(), repr=False)


OutboundEvent = (
    LoginAccepted | LoginRejected | RegistrationAccepted | RegistrationRefused | Acknowledge | TimeAnswer
    | CommandRequest
)


class Codec(Protocol):
    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the unit; b"" signals end of stream."""

    def next_event(self) -> InboundEvent | _NeedData:
        """Next decoded event, NEED_DATA, or raise a ProtocolError subclass. After a Login
        (or Registration) a codec may return NEED_DATA until the gateway's answer is sent."""

    def send(self, event: OutboundEvent) -> bytes:
        """Bytes to write for the gateway's event (may be b""). Raises RuntimeError when
        the event makes no sense in the codec's state: a bug in the caller, not bad data."""

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decoded: a partial frame when > 0."""

    # Optional: ``discarded``, the bytes a codec that resynchronises on a start marker
    # (GT06) has skipped so far; the session counts them.


class CodecState(enum.Enum):
    """Where a login-then-stream codec is: the unit has yet to log in, its login awaits the
    gateway's answer, it is accepted, or it was refused."""

    AWAIT_LOGIN = "AWAIT_LOGIN"
    AWAIT_DECISION = "AWAIT_DECISION"
    ONLINE = "ONLINE"
    REJECTED = "REJECTED"


class BufferedCodec:
    """The input half of a Codec over a byte stream, shared by the TCP drivers' codecs.

    It keeps the bytes received in ``_buffer``, notes the end of stream (``receive_data(b"")``;
    more data after it is a RuntimeError) and remembers the first ProtocolError: from then on
    ``receive_data``, ``next_event`` and the subclass's ``send`` (which calls
    ``_raise_if_broken`` first) raise an error of the same class, so a broken codec stays broken.

    A subclass implements ``send``, or gives the two tables the ``send`` here follows (h11's
    transition table): ``OUTBOUND`` maps (state, event class, class of what an Acknowledge
    acknowledges or None) to the state after sending the event, ``ENCODERS`` an event class
    to the method that returns its bytes. And it implements these hooks:

    - ``_next_event()``: decode the next event from the front of ``_buffer``, deleting the bytes
      it consumed, or return NEED_DATA; raise a ProtocolError subclass for bad input. It may read
      ``_eof`` (GT06 drops a trailing half start marker once no partner can follow).
    - ``_awaiting_decision()``: True while a Login or Registration awaits the gateway's answer
      and the codec leaves later bytes unread on purpose (the unit waits too). Default False.
    - ``buffered``: override where decoded bytes wait elsewhere (JT808's subpackages being
      reassembled) so that they count as a partial frame.

    When ``_next_event()`` returns NEED_DATA after the end of stream while ``buffered`` is not 0
    and no decision is awaited, ``next_event`` raises FrameError: the stream ended inside a frame.
    """

    OUTBOUND: Mapping[tuple[Any, type, type | None], Any] = {}
    ENCODERS: Mapping[type, Callable[[Any, Any], bytes]] = {}
    state: Any  # what OUTBOUND is keyed by: a CodecState (or the codec's own states)

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._error: ProtocolError | None = None

    def send(self, event: OutboundEvent) -> bytes:
        """The bytes for ``event`` by the tables; TypeError for an event this codec never
        sends, RuntimeError for one its state does not allow: the caller's bug, not the unit's."""
        self._raise_if_broken()
        encode = self.ENCODERS.get(type(event))
        if encode is None:
            raise TypeError(f"not an outbound event for this codec: {type(event).__name__}")
        subject = type(event.event) if isinstance(event, Acknowledge) else None
        after = self.OUTBOUND.get((self.state, type(event), subject))
        if after is None:
            what = type(event).__name__ + (f"({subject.__name__})" if subject else "")
            raise RuntimeError(f"cannot send {what} in state {self.state.value}")
        data = encode(self, event)
        self.state = after
        return data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet decoded: a partial frame when > 0."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the unit; b"" signals end of stream."""
        self._raise_if_broken()
        if not data:
            self._eof = True
            return
        if self._eof:
            raise RuntimeError("receive_data() after end of stream")
        self._buffer += data

    def next_event(self) -> InboundEvent | _NeedData:
        """Next decoded event, NEED_DATA, or raise a ProtocolError subclass (and stay broken)."""
        self._raise_if_broken()
        try:
            event = self._next_event()
            if event is NEED_DATA and self._eof and self.buffered and not self._awaiting_decision():
                raise FrameError(f"stream ended inside a frame ({self.buffered} bytes buffered)")
        except ProtocolError as exc:
            self._error = exc
            raise
        return event

    def _next_event(self) -> InboundEvent | _NeedData:
        raise NotImplementedError

    def _awaiting_decision(self) -> bool:
        return getattr(self, "state", None) is CodecState.AWAIT_DECISION

    def _raise_if_broken(self) -> None:
        if self._error is not None:
            raise type(self._error)(f"codec is broken by an earlier error: {self._error}")


# --- the driver descriptor -------------------------------------------------------------


class CredentialKind(enum.StrEnum):
    NONE = "NONE"  # identified by IMEI only
    INDIVIDUAL = "INDIVIDUAL"  # a password per unit
    SHARED = "SHARED"  # stored credentials referenced by id


class Transport(enum.StrEnum):
    TCP = "TCP"
    CLOUD = "CLOUD"


@dataclass(frozen=True)
class CommandOutcome:
    """The driver's verdict on a command response."""

    succeeded: bool
    detail: str
    state: Mapping[str, Any] = field(default_factory=dict)  # state implied by the answer


@dataclass(frozen=True)
class Driver:
    """Everything the gateway needs to run one brand's protocol.

    ``state_from_record(record, model_options) -> {property: value}`` maps a record to
    vehicle-state properties (lower-case capability names). ``encode_command(capability,
    model_options, password) -> CommandRequest`` and ``judge_response(capability,
    request, response) -> CommandOutcome`` implement the model's commands.
    """

    name: str  # module name under drivers/, e.g. "teltonika"
    brand: str  # API brand, e.g. "TELTONIKA"
    credential_kind: CredentialKind
    transport: Transport
    default_port: int | None
    codec_factory: Callable[..., Codec] | None = None
    state_from_record: Callable[[Record, Mapping[str, Any]], dict[str, Any]] | None = None
    encode_command: Callable[[str, Mapping[str, Any], str | None], CommandRequest] | None = None
    judge_response: Callable[[str, CommandRequest, CommandResponse], CommandOutcome] | None = None
    # True where a command's answer carries the command's correlation (GT06 server flag,
    # JT808 reply serial). Where it does not (Teltonika Codec 12), a command that times out
    # ends the session: a late answer could otherwise be taken for the next command's.
    correlates_commands: bool = False
    # Module under simulators/ that stands in for this brand's units (or cloud); the
    # `fleetgate simulate` subcommand is its name with dashes. None: the driver's name.
    simulator: str | None = None
    # True where the unit presents its INDIVIDUAL password in its login (JT808's
    # authentication code); the session then refuses a login whose password differs.
    password_at_login: bool = False
