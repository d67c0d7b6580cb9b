"""Sans-IO JT/T 808 codec (2013 and 2019 headers), protocol_specs/jt808/spec.md.

States: AWAIT_AUTH -> (0x0100 Registration | 0x0102 Login) -> AWAIT_DECISION. A registration
decision leads back to AWAIT_AUTH (the terminal then authenticates with the code it got);
``send(LoginAccepted)`` leads to ONLINE, ``send(LoginRejected)`` to REJECTED. Before the
terminal authenticated only 0x0100, 0x0102 and 0x0002 are taken. Every malformed input
raises a ProtocolError subclass, after which the codec stays broken. The codec never logs,
and no exception message carries a body: an authentication code never leaves it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from construct import ConstructError, StreamError, TerminatedError

from drivers.base import (
    NEED_DATA, Acknowledge, BufferedCodec, ChecksumError, CommandRequest, CommandResponse, FrameError, Heartbeat,
    InboundEvent, LengthError, Login, LoginAccepted, LoginRejected, OutboundEvent, Position, ProtocolError, Record,
    RecordBatch, RefusalReason, Registration, RegistrationAccepted, RegistrationRefused, Undecoded,
    UnexpectedMessage, UnsupportedMessage, _NeedData,
)
from drivers.jt808 import frames
from drivers.jt808.commands import command_body


class State(enum.Enum):
    AWAIT_AUTH = "AWAIT_AUTH"
    AWAIT_DECISION = "AWAIT_DECISION"
    ONLINE = "ONLINE"
    REJECTED = "REJECTED"


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


BEFORE_AUTH = frozenset({frames.REGISTRATION, frames.AUTHENTICATION, frames.HEARTBEAT})
ONLINE_MESSAGES = frozenset({frames.HEARTBEAT, frames.LOCATION, frames.BATCH, frames.TERMINAL_RESPONSE,
                             frames.POSITION_REPLY, frames.CONTROL_REPLY})
RESULT_WORDS = {0: "OK", 1: "FAILED", 2: "WRONG_MESSAGE", 3: "UNSUPPORTED"}  # 0x0001 / 0x8001 result
RESULT_OK, RESULT_UNSUPPORTED = 0, 3
REFUSAL_RESULTS = {RefusalReason.ALREADY_REGISTERED: 3, RefusalReason.UNKNOWN_UNIT: 4}  # 0x8100 result


def _body_error(exc: ConstructError) -> ProtocolError:
    if isinstance(exc, (StreamError, TerminatedError)):
        return LengthError(f"body content does not fit its length: {type(exc).__name__}")
    return FrameError(f"malformed body: {type(exc).__name__}")


def _auth_code(text: str) -> bytes:
    try:
        code = text.encode("gbk")
    except UnicodeEncodeError:  # its message would quote the code
        raise ValueError("the authentication code is not GBK text") from None
    if not 0 < len(code) <= 255:  # 2019's 0x0102 gives the code a one-byte length
        raise ValueError("an authentication code has 1 to 255 bytes")
    return code


def text_field(raw: bytes) -> str:
    """A fixed-width text field: padding removed; hex when it is not printable ASCII."""
    stripped = raw.rstrip(b"\x00")
    if all(0x20 <= b < 0x7F for b in stripped):
        return stripped.decode("ascii").rstrip(" ")
    return stripped.hex()


def gbk_field(raw: bytes) -> str:
    stripped = raw.rstrip(b"\x00")
    try:
        return stripped.decode("gbk")
    except UnicodeDecodeError:
        return stripped.hex()


class Jt808Codec(BufferedCodec):
    def __init__(self, max_frame: int = 2048, device_tz_hours: float = 8.0, max_message: int = 32768) -> None:
        super().__init__()
        self.max_frame = max_frame
        self.max_message = max_message  # a reassembled subpackaged body
        self.device_tz = timezone(timedelta(hours=device_tz_hours))
        self.state = State.AWAIT_AUTH
        self.unit_id: str | None = None  # set when the login is accepted
        self.protocol_version: int | None = None  # the 2019 header's version byte, None for 2013
        self.next_serial = 0  # the platform's own serial for replies (commands use their correlation)
        self._pending: Login | Registration | None = None
        self._assembly: _Assembly | None = None

    @property
    def buffered(self) -> int:
        """Also the packages of a subpackaged message still being reassembled."""
        return len(self._buffer) + (len(self._assembly.raw) if self._assembly else 0)

    def send(self, event: OutboundEvent) -> bytes:
        self._raise_if_broken()
        if isinstance(event, LoginAccepted | LoginRejected):
            ctx = self._decided(event.login).context
            if isinstance(event, LoginAccepted):
                self.state, self.unit_id, self.protocol_version = State.ONLINE, ctx.unit_id, ctx.protocol_version
                return self._general_response(ctx, ctx.serials[0], 0)
            self.state = State.REJECTED
            return self._general_response(ctx, ctx.serials[0], 1)
        if isinstance(event, RegistrationAccepted | RegistrationRefused):
            if isinstance(event, RegistrationAccepted):
                code, result = _auth_code(event.auth_code), 0  # checked before the decision is taken
            else:
                code, result = None, REFUSAL_RESULTS[event.reason]
            ctx = self._decided(event.registration).context
            body = frames.RegistrationReply.build({"reply_serial": ctx.serials[0], "result": result, "auth_code": code})
            self.state = State.AWAIT_AUTH  # the terminal authenticates next, or hangs up
            return self._frame(frames.REGISTRATION_REPLY, ctx, body)
        if isinstance(event, Acknowledge):
            target = event.event
            allowed = (State.AWAIT_AUTH, State.ONLINE) if isinstance(target, Heartbeat) else (State.ONLINE,)
            if self.state not in allowed or not isinstance(target.context, MessageContext):
                raise RuntimeError(f"cannot acknowledge {type(target).__name__} in state {self.state.value}")
            # One 0x8001 per serial: a reassembled message acknowledges each of its packages.
            # A message this driver does not decode is answered "not supported" (result 3).
            result = RESULT_UNSUPPORTED if isinstance(target, Undecoded) else RESULT_OK
            return b"".join(self._general_response(target.context, serial, result) for serial in target.context.serials)
        if isinstance(event, CommandRequest):
            if self.state is not State.ONLINE:
                raise RuntimeError(f"cannot send a command in state {self.state.value}")
            message_id, body = command_body(event.text, self.protocol_version)
            serial = self._take_serial() if event.correlation is None else event.correlation & 0xFFFF
            return frames.frame(message_id, self.unit_id, serial, body, self.protocol_version)
        raise TypeError(f"not an outbound event for this codec: {type(event).__name__}")

    # --- outbound ---------------------------------------------------------------------

    def _decided(self, subject: Login | Registration) -> Login | Registration:
        if self.state is not State.AWAIT_DECISION or self._pending != subject:
            raise RuntimeError(f"no such {type(subject).__name__} awaits a decision (state {self.state.value})")
        self._pending = None
        return subject

    def _take_serial(self) -> int:
        serial, self.next_serial = self.next_serial, (self.next_serial + 1) & 0xFFFF
        return serial

    def _frame(self, message_id: int, ctx: MessageContext, body: bytes) -> bytes:
        return frames.frame(message_id, ctx.unit_id, self._take_serial(), body, ctx.protocol_version)

    def _general_response(self, ctx: MessageContext, serial: int, result: int) -> bytes:
        body = frames.GeneralResponse.build({"reply_serial": serial, "reply_id": ctx.message_id, "result": result})
        return self._frame(frames.PLATFORM_RESPONSE, ctx, body)

    # --- inbound ----------------------------------------------------------------------

    def _awaiting_decision(self) -> bool:
        return self.state is State.AWAIT_DECISION

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
        try:
            header = frames.Header.parse(content[:-1])
        except ConstructError as exc:
            raise FrameError(f"malformed header: {exc}") from None
        props = header.properties
        size = (frames.HEADER_2019 if props.version_flag else frames.HEADER_2013)
        size += frames.PACKAGE_ITEM if props.subpackage else 0
        body = content[size:-1]
        if len(body) != props.body_length:
            raise LengthError(f"body has {len(body)} bytes, the header says {props.body_length}")
        if props.encryption:
            raise UnsupportedMessage(f"encrypted body (encryption bits {props.encryption:03b}) is not supported")
        self._check_allowed(header.message_id, header.phone)
        ctx = MessageContext(header.message_id, (header.serial,), header.phone, header.protocol_version)
        package = header.package
        if package is not None and (package.total, package.index) != (1, 1):
            return self._package(ctx, package.total, package.index, body, raw)
        return self._decode(ctx, body, raw)

    def _check_allowed(self, message_id: int, unit_id: str) -> None:
        if 0x8000 <= message_id <= 0x8FFF or message_id >= 0xF000:
            raise UnexpectedMessage(f"the terminal sent platform message {message_id:#06x}")
        if self.state is State.AWAIT_AUTH:
            if message_id not in BEFORE_AUTH:
                raise UnexpectedMessage(f"message {message_id:#06x} before the terminal authenticated")
            return
        if unit_id != self.unit_id:
            raise UnexpectedMessage(f"a frame of terminal {unit_id} in the session of terminal {self.unit_id}")
        if message_id in BEFORE_AUTH and message_id not in ONLINE_MESSAGES:
            raise UnexpectedMessage(f"message {message_id:#06x} after the terminal authenticated")

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

    def _decode(self, ctx: MessageContext, body: bytes, raw: bytes) -> InboundEvent:
        message_id = ctx.message_id
        if self.state is State.ONLINE and message_id not in ONLINE_MESSAGES:
            return Undecoded(f"{message_id:#06x}", raw, "a message id this driver does not decode", context=ctx)
        try:
            if message_id == frames.HEARTBEAT:
                return Heartbeat(raw=raw, context=ctx)  # the body is empty; a vendor's extra bytes are ignored
            if message_id == frames.REGISTRATION:
                return self._await(self._registration(ctx, body))
            if message_id == frames.AUTHENTICATION:
                return self._await(self._login(ctx, body))
            if message_id == frames.LOCATION:
                return RecordBatch(records=(self._record(frames.Location.parse(body)),), raw=raw, context=ctx)
            if message_id == frames.BATCH:
                batch = frames.Batch.parse(body)
                if batch.count == 0:
                    raise FrameError("a batch upload announces 0 locations")
                return RecordBatch(records=tuple(map(self._record, batch.locations)), raw=raw, context=ctx)
            if message_id == frames.TERMINAL_RESPONSE:
                answer = frames.GeneralResponse.parse(body)
                text = RESULT_WORDS.get(answer.result, f"RESULT_{answer.result}")
                context = replace(ctx, reply_id=answer.reply_id, result=answer.result)
                return CommandResponse(text=text, correlation=answer.reply_serial, raw=raw, context=context)
            reply = frames.LocationReply.parse(body)  # 0x0201 and 0x0500
            return CommandResponse(text="OK", correlation=reply.reply_serial, raw=raw,
                                   records=(self._record(reply.location),), context=ctx)
        except ConstructError as exc:
            raise _body_error(exc) from None

    def _await(self, event: Login | Registration) -> Login | Registration:
        self._pending = event
        self.state = State.AWAIT_DECISION
        return event

    def _registration(self, ctx: MessageContext, body: bytes) -> Registration:
        if ctx.protocol_version is not None:
            layout, declaration = "2019", frames.Registration2019
        elif len(body) >= frames.REGISTRATION_2013_MIN:
            layout, declaration = "2013", frames.Registration2013
        else:
            layout, declaration = "2011", frames.Registration2011
        parsed = declaration.parse(body)
        # Since 2013 a plate colour of 0 means "not registered yet": the field holds the VIN.
        plate_key = "vin" if layout != "2011" and parsed.plate_color == 0 else "plate"
        attributes = {
            "province": parsed.province, "city": parsed.city, "maker": text_field(parsed.maker),
            "model": text_field(parsed.model), "terminal_id": text_field(parsed.terminal_id),
            "plate_color": parsed.plate_color, plate_key: gbk_field(parsed.plate), "version": layout,
        }
        return Registration(unit_id=ctx.unit_id, attributes=attributes, context=ctx)

    def _login(self, ctx: MessageContext, body: bytes) -> Login:
        if ctx.protocol_version is None:
            code = body.rstrip(b"\x00")  # the 2011 STRING type ended in a 0 terminator
            attributes = {"protocol_version": "2013"}
        else:
            parsed = frames.Authentication2019.parse(body)
            code = parsed.code
            attributes = {"protocol_version": "2019", "version_byte": ctx.protocol_version,
                          "imei": text_field(parsed.imei), "software_version": text_field(parsed.software_version)}
        # latin-1 maps every byte to one character: distinct codes never compare equal.
        return Login(unit_id=ctx.unit_id, password=code.decode("latin-1"), attributes=attributes, context=ctx)

    def _record(self, location) -> Record:
        status = location.status
        fields: dict = {
            "alarm_flags": location.alarm,
            "alarms": [name for bit, name in enumerate(frames.ALARM_NAMES) if location.alarm >> bit & 1],
            "status_flags": status,
            "acc_on": bool(status & 1),
            "positioned": bool(status >> 1 & 1),
            "oil_cut": bool(status >> 10 & 1),
            "circuit_cut": bool(status >> 11 & 1),
            "door_locked": bool(status >> 12 & 1),
        }
        raw_items: dict[str, str] = {}
        for item in location.additional:
            known = frames.ITEMS.get(item.id)
            value = item.value
            if known is not None and len(value) == known[1]:
                number = int.from_bytes(value, "big")
                fields[known[0]] = number / known[2] if known[2] else number
            elif item.id == frames.ANALOG and len(value) == 4:
                fields["analog_ad0"] = int.from_bytes(value[2:], "big")
                fields["analog_ad1"] = int.from_bytes(value[:2], "big")
            else:  # unknown, vendor-defined, or a known id with an unexpected length
                raw_items[f"{item.id:02x}"] = value.hex()
        if raw_items:
            fields["raw_items"] = raw_items
        latitude, longitude = location.latitude / 1e6, location.longitude / 1e6
        if status & 0b100:
            latitude = -latitude
        if status & 0b1000:
            longitude = -longitude
        in_range = abs(latitude) <= 90 and abs(longitude) <= 180 and (latitude, longitude) != (0, 0)
        position = Position(
            latitude=latitude, longitude=longitude, altitude_m=float(location.altitude),
            speed_kmh=location.speed / 10, course_deg=float(location.course),
            satellites=fields.get("satellites"), valid=fields["positioned"] and in_range,
        )
        return Record(device_time=self._device_time(location.time, fields), position=position, fields=fields)

    def _device_time(self, bcd: bytes, fields: dict) -> datetime | None:
        digits = bcd.hex()
        if not digits.isdigit():
            raise FrameError(f"location time is not BCD: {digits}")
        year, month, day, hour, minute, second = (int(digits[i : i + 2]) for i in range(0, 12, 2))
        try:
            local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=self.device_tz)
        except ValueError:
            # All zeros (no time yet) or an impossible date: keep the record, untimed.
            fields["time_bcd"] = digits
            return None
        return local.astimezone(timezone.utc)
