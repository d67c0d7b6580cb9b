"""Sans-IO JT/T 808 codec (2013 and 2019 headers), protocol_specs/jt808/spec.md.

States (drivers.base.CodecState): AWAIT_LOGIN -> (0x0100 Registration | 0x0102 Login) ->
AWAIT_DECISION. A registration decision leads back to AWAIT_LOGIN (the terminal then
authenticates with the code it got); ``send(LoginAccepted)`` leads to ONLINE,
``send(LoginRejected)`` to REJECTED. Two tables hold the transitions, in the manner of
h11: INBOUND says which message ids each state takes and how their bodies are read,
OUTBOUND which events the gateway may send in which state and where they lead.

Before the terminal authenticated only 0x0100, 0x0102 and 0x0002 are taken and every
malformed input raises a ProtocolError subclass, after which the codec stays broken. Once
it is online, a frame that is well framed, passes its check code and carries the
terminal's own number never ends the session: a message id without a decoder, a body
this codec cannot read, an encrypted body or a body-length field that disagrees with the
frame is handed on as Undecoded (answered 0x8001 "not supported" after it is stored).
The codec never logs, and no exception message carries a body: an authentication code
never leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta, timezone

from drivers.base import (
    NEED_DATA, Acknowledge, BufferedCodec, ChecksumError, CodecState, CommandRequest, CommandResponse, FrameError,
    Heartbeat, InboundEvent, LengthError, Login, LoginAccepted, LoginRejected, ProtocolError,
    RecordBatch, RefusalReason, Registration, RegistrationAccepted, RegistrationRefused, Undecoded,
    UnexpectedMessage, UnsupportedMessage, _NeedData,
)
from drivers.jt808 import bodies, fast, frames
from drivers.jt808.commands import command_body

State = CodecState


@dataclass(frozen=True)
class MessageContext:
    """What a reply needs: the message id and serial(s) (one per subpackage), the terminal
    and its header version (None: 2013). 0x0001 answers also keep the id and result they answer."""

    message_id: int
    serials: tuple[int, ...]
    unit_id: str
    protocol_version: int | None
    reply_id: int | None = None
    result: int | None = None


@dataclass
class _Assembly:
    """A subpackaged message being put back together (packages arrive in order over TCP)."""

    message_id: int
    total: int
    unit_id: str
    serials: list[int] = field(default_factory=list)
    parts: list[bytes] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)


# Taken after authentication only by a new connection: a second 0x0102 would present the
# code again for a check the session makes once, and a 0x0100 asks for enrolment.
AFTER_AUTH_REFUSED = frozenset({frames.REGISTRATION, frames.AUTHENTICATION})
RESULT_WORDS = {0: "OK", 1: "FAILED", 2: "WRONG_MESSAGE", 3: "UNSUPPORTED"}  # 0x0001 / 0x8001 result
RESULT_OK, RESULT_FAILED, RESULT_UNSUPPORTED = 0, 1, 3
REFUSAL_RESULTS = {RefusalReason.ALREADY_REGISTERED: 3, RefusalReason.UNKNOWN_UNIT: 4}  # 0x8100 result


def _auth_code(text: str) -> bytes:
    try:
        code = text.encode("gbk")
    except UnicodeEncodeError:  # its message would quote the code
        raise ValueError("the authentication code is not GBK text") from None
    if not 0 < len(code) <= 255:  # 2019's 0x0102 gives the code a one-byte length
        raise ValueError("an authentication code has 1 to 255 bytes")
    return code


class Jt808Codec(BufferedCodec):
    def __init__(self, max_frame: int = 2048, device_tz_hours: float = 8.0, max_message: int = 32768) -> None:
        super().__init__()
        self.max_frame = max_frame
        self.max_message = max_message  # a reassembled subpackaged body
        self.device_tz = timezone(timedelta(hours=device_tz_hours))
        self.state = State.AWAIT_LOGIN
        self.unit_id: str | None = None  # set when the login is accepted
        self.protocol_version: int | None = None  # the 2019 header's version byte, None for 2013
        self.next_serial = 0  # the platform's own serial for replies (commands use their correlation)
        self._pending: Login | Registration | None = None
        self._assembly: _Assembly | None = None

    @property
    def buffered(self) -> int:
        """Also the packages of a subpackaged message still being reassembled."""
        return len(self._buffer) + (len(self._assembly.raw) if self._assembly else 0)

    # --- outbound ---------------------------------------------------------------------

    # (state, outbound event, what an Acknowledge acknowledges) -> the state after sending it
    # (drivers.base.BufferedCodec.send). A miss is the caller's mistake, not the terminal's.
    OUTBOUND = {
        (State.AWAIT_DECISION, LoginAccepted, None): State.ONLINE,
        (State.AWAIT_DECISION, LoginRejected, None): State.REJECTED,
        (State.AWAIT_DECISION, RegistrationAccepted, None): State.AWAIT_LOGIN,  # it authenticates next, or hangs up
        (State.AWAIT_DECISION, RegistrationRefused, None): State.AWAIT_LOGIN,
        (State.AWAIT_LOGIN, Acknowledge, Heartbeat): State.AWAIT_LOGIN,
        (State.ONLINE, Acknowledge, Heartbeat): State.ONLINE,
        (State.ONLINE, Acknowledge, RecordBatch): State.ONLINE,
        (State.ONLINE, Acknowledge, Undecoded): State.ONLINE,
        (State.ONLINE, CommandRequest, None): State.ONLINE,
    }

    def _login_decided(self, event: LoginAccepted | LoginRejected) -> bytes:
        ctx = self._decided(event.login).context
        if isinstance(event, LoginRejected):
            return self._general_response(ctx, ctx.serials[0], RESULT_FAILED)
        self.unit_id, self.protocol_version = ctx.unit_id, ctx.protocol_version
        return self._general_response(ctx, ctx.serials[0], RESULT_OK)

    def _registration_decided(self, event: RegistrationAccepted | RegistrationRefused) -> bytes:
        if isinstance(event, RegistrationAccepted):
            code, result = _auth_code(event.auth_code), 0  # checked before the decision is taken
        else:
            code, result = None, REFUSAL_RESULTS[event.reason]
        ctx = self._decided(event.registration).context
        body = frames.RegistrationReply.build({"reply_serial": ctx.serials[0], "result": result, "auth_code": code})
        return self._frame(frames.REGISTRATION_REPLY, ctx, body)

    def _acknowledge(self, event: Acknowledge) -> bytes:
        target = event.event
        if not isinstance(target.context, MessageContext):
            raise RuntimeError(f"cannot acknowledge a {type(target).__name__} this codec did not decode")
        # One 0x8001 per serial: a reassembled message acknowledges each of its packages.
        result = RESULT_UNSUPPORTED if isinstance(target, Undecoded) else RESULT_OK
        return b"".join(self._general_response(target.context, serial, result) for serial in target.context.serials)

    def _command(self, event: CommandRequest) -> bytes:
        message_id, body = command_body(event.text, self.protocol_version)
        serial = self._take_serial() if event.correlation is None else event.correlation & 0xFFFF
        return fast.frame(message_id, self.unit_id, serial, body, self.protocol_version)

    ENCODERS = {
        LoginAccepted: _login_decided, LoginRejected: _login_decided,
        RegistrationAccepted: _registration_decided, RegistrationRefused: _registration_decided,
        Acknowledge: _acknowledge, CommandRequest: _command,
    }

    def _decided(self, subject: Login | Registration) -> Login | Registration:
        if self._pending != subject:
            raise RuntimeError(f"no such {type(subject).__name__} awaits a decision")
        self._pending = None
        return subject

    def _take_serial(self) -> int:
        serial, self.next_serial = self.next_serial, (self.next_serial + 1) & 0xFFFF
        return serial

    def _frame(self, message_id: int, ctx: MessageContext, body: bytes) -> bytes:
        return fast.frame(message_id, ctx.unit_id, self._take_serial(), body, ctx.protocol_version)

    def _general_response(self, ctx: MessageContext, serial: int, result: int) -> bytes:
        return self._frame(frames.PLATFORM_RESPONSE, ctx, fast.general_response_body(serial, ctx.message_id, result))

    # --- inbound: frames --------------------------------------------------------------

    def _next_event(self) -> InboundEvent | _NeedData:
        while self._buffer and self.state is not State.AWAIT_DECISION:
            if self.state is State.REJECTED:
                raise UnexpectedMessage("data after the authentication was rejected")
            found = self._next_frame()
            if found is None:
                break
            event = self._message(*found)
            if event is not None:  # None: a package of a message still being reassembled
                return event
        return NEED_DATA

    def _next_frame(self) -> tuple[bytes, bytes] | None:
        """(raw frame, unescaped content) of the next whole frame, or None."""
        buf = self._buffer
        if buf[0] != frames.FLAG:
            raise FrameError(f"a frame starts with 0x7E, got {buf[0]:#04x}")
        end = buf.find(b"\x7e", 1)
        if end < 0:
            if len(buf) >= self.max_frame:
                raise LengthError(f"no closing 0x7E within max_frame ({self.max_frame} bytes)")
            return None
        if end + 1 > self.max_frame:
            raise LengthError(f"a {end + 1}-byte frame is longer than max_frame ({self.max_frame})")
        if end == 1:
            raise FrameError("empty frame (0x7E 0x7E)")
        raw = bytes(buf[: end + 1])
        del buf[: end + 1]
        try:
            return raw, frames.unescape(raw[1:-1])
        except ValueError as exc:
            raise FrameError(str(exc)) from None

    def _message(self, raw: bytes, content: bytes) -> InboundEvent | None:
        if len(content) < frames.HEADER_2013 + 1:
            raise FrameError(f"{len(content)} bytes are too few for a message")
        sent, computed = content[-1], frames.check_code(content[:-1])
        if sent != computed:
            raise ChecksumError(f"check code {sent:#04x}, computed {computed:#04x}")
        header = fast.header(content)
        ctx = MessageContext(header.message_id, (header.serial,), header.phone, header.protocol_version)
        self._check_allowed(ctx)
        size = header.size
        if not header.fits:
            detail = f"the body has {len(content) - 1 - size} bytes, its header declares {header.body_length}"
            return self._not_decoded(ctx, raw, detail, LengthError)
        if header.encryption:
            detail = f"an encrypted body (encryption bits {header.encryption:03b}): fleetgate holds no RSA key"
            return self._not_decoded(ctx, raw, detail, UnsupportedMessage)
        body = content[size:-1]
        package = header.package
        if package is not None and package != (1, 1):
            return self._package(ctx, *package, body, raw)
        return self._decode(ctx, body, raw)

    def _check_allowed(self, ctx: MessageContext) -> None:
        message_id = ctx.message_id
        if 0x8000 <= message_id <= 0x8FFF or message_id >= 0xF000:
            raise UnexpectedMessage(f"the terminal sent platform message {message_id:#06x}")
        if self.state is State.AWAIT_LOGIN:
            if message_id not in INBOUND[State.AWAIT_LOGIN]:
                raise UnexpectedMessage(f"message {message_id:#06x} before the terminal authenticated")
            return
        if ctx.unit_id != self.unit_id:
            raise UnexpectedMessage(f"a frame of terminal {ctx.unit_id} in the session of terminal {self.unit_id}")
        if message_id in AFTER_AUTH_REFUSED:
            raise UnexpectedMessage(f"message {message_id:#06x} after the terminal authenticated")

    def _not_decoded(self, ctx: MessageContext, raw: bytes, detail: str, error: type[ProtocolError]) -> Undecoded:
        """Online, a frame kept raw; before the authentication, nothing to keep it for."""
        if self.state is not State.ONLINE:
            raise error(detail)
        return Undecoded(f"{ctx.message_id:#06x}", raw, detail, context=ctx)

    def _package(self, ctx: MessageContext, total: int, index: int, body: bytes, raw: bytes) -> InboundEvent | None:
        if not 1 <= index <= total:
            raise FrameError(f"package index {index} of {total}")
        asm = self._assembly
        if asm is None:
            if index != 1:
                raise FrameError(f"package {index}/{total} of message {ctx.message_id:#06x} without package 1")
            asm = self._assembly = _Assembly(ctx.message_id, total, ctx.unit_id)
        elif (ctx.message_id, total, ctx.unit_id, index) != (asm.message_id, asm.total, asm.unit_id,
                                                               len(asm.parts) + 1):
            raise FrameError(f"package {index}/{total} of {ctx.message_id:#06x} does not continue "
                             f"{len(asm.parts)}/{asm.total} of {asm.message_id:#06x}")
        asm.serials.append(ctx.serials[0])
        asm.parts.append(body)
        asm.raw += raw
        if sum(map(len, asm.parts)) > self.max_message:
            raise LengthError(f"subpackaged message longer than max_message ({self.max_message})")
        if index < total:
            return None
        self._assembly = None
        return self._decode(replace(ctx, serials=tuple(asm.serials)), b"".join(asm.parts), bytes(asm.raw))

    # --- inbound: bodies --------------------------------------------------------------

    def _decode(self, ctx: MessageContext, body: bytes, raw: bytes) -> InboundEvent:
        decoder = INBOUND[self.state].get(ctx.message_id)
        if decoder is None:
            return self._not_decoded(ctx, raw, "a message id this driver does not decode", UnsupportedMessage)
        if self.state is not State.ONLINE:
            return decoder(self, ctx, body, raw)
        try:
            return decoder(self, ctx, body, raw)
        except ProtocolError as exc:
            return self._not_decoded(ctx, raw, f"a body this driver cannot read: {exc}", type(exc))

    def _heartbeat(self, ctx: MessageContext, body: bytes, raw: bytes) -> Heartbeat:
        return Heartbeat(raw=raw, context=ctx)  # the body is empty; a vendor's extra bytes are ignored

    def _registration(self, ctx: MessageContext, body: bytes, raw: bytes) -> Registration:
        attributes = bodies.registration_attributes(body, ctx.protocol_version)
        return self._await(Registration(unit_id=ctx.unit_id, attributes=attributes, context=ctx))

    def _login(self, ctx: MessageContext, body: bytes, raw: bytes) -> Login:
        code, attributes = bodies.authentication(body, ctx.protocol_version)
        return self._await(Login(unit_id=ctx.unit_id, password=code, attributes=attributes, context=ctx))

    def _await(self, event: Login | Registration) -> Login | Registration:
        self._pending = event
        self.state = State.AWAIT_DECISION
        return event

    def _location(self, ctx: MessageContext, body: bytes, raw: bytes) -> RecordBatch:
        return self._batch_of(ctx, [fast.location(body)], raw)

    def _batch(self, ctx: MessageContext, body: bytes, raw: bytes) -> RecordBatch:
        _, locations = fast.batch(body)
        if not locations:
            raise FrameError("a batch upload announces 0 locations")
        return self._batch_of(ctx, locations, raw)

    def _batch_of(self, ctx: MessageContext, locations, raw: bytes) -> RecordBatch:
        records = tuple(bodies.location_record(location, self.device_tz) for location in locations)
        return RecordBatch(records=records, raw=raw, context=ctx,
                           undecoded=bodies.truncated_items(ctx.message_id, locations))

    def _terminal_response(self, ctx: MessageContext, body: bytes, raw: bytes) -> CommandResponse:
        reply_serial, reply_id, result = fast.general_response(body)
        text = RESULT_WORDS.get(result, f"RESULT_{result}")
        context = replace(ctx, reply_id=reply_id, result=result)
        return CommandResponse(text=text, correlation=reply_serial, raw=raw, context=context)

    def _location_reply(self, ctx: MessageContext, body: bytes, raw: bytes) -> CommandResponse:
        reply_serial, location = fast.location_reply(body)
        return CommandResponse(text="OK", correlation=reply_serial, raw=raw,
                               records=(bodies.location_record(location, self.device_tz),), context=ctx)


# The message ids each state takes, and how their bodies are read (spec §3). Before the
# authentication any other id is an UnexpectedMessage; after it one without a decoder is
# kept raw, except AFTER_AUTH_REFUSED.
INBOUND = {
    State.AWAIT_LOGIN: {
        frames.REGISTRATION: Jt808Codec._registration,
        frames.AUTHENTICATION: Jt808Codec._login,
        frames.HEARTBEAT: Jt808Codec._heartbeat,
    },
    State.ONLINE: {
        frames.HEARTBEAT: Jt808Codec._heartbeat,
        frames.LOCATION: Jt808Codec._location,
        frames.BATCH: Jt808Codec._batch,
        frames.TERMINAL_RESPONSE: Jt808Codec._terminal_response,
        frames.POSITION_REPLY: Jt808Codec._location_reply,
        frames.CONTROL_REPLY: Jt808Codec._location_reply,
    },
}
