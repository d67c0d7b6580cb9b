"""Sans-IO Concox GT06 / GT06N codec (protocol_specs/gt06/spec.md).

States: AWAIT_LOGIN -> (Login event) -> AWAIT_DECISION -> (send LoginAccepted) -> ONLINE;
``send(LoginRejected)`` writes nothing (the unit gets no answer) and leads to REJECTED.

Framing: bytes in front of a ``7878`` / ``7979`` start marker are skipped and counted in
``discarded`` (a unit's stream may start mid-frame after a modem glitch). A frame that
starts with a marker is delimited by its length field alone -- a ``0D0A`` pair inside the
content is data, not a stop -- and must then end in ``0D0A`` with a matching CRC; if not,
a ProtocolError subclass is raised and the codec stays broken.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from construct import ConstructError, StreamError, TerminatedError

from drivers.base import (
    NEED_DATA, CodecState, Acknowledge, BufferedCodec, ChecksumError, CommandRequest, CommandResponse, FrameError, InboundEvent,
    LengthError, Login, LoginAccepted, LoginRejected, OutboundEvent, Position, ProtocolError, Record, RecordBatch,
    TimeAnswer, TimeRequest, Undecoded, UnexpectedMessage, UnsupportedMessage, _NeedData,
)
from drivers.gt06 import frames

COORDINATE_SCALE = 1_800_000  # degrees x 1,800,000 = minutes x 30,000
_MAX_TZ_MINUTES = 14 * 60
_MAX_COMMAND_TEXT = frames.SHORT_MAX_CONTENT - 7  # length byte, server flag, language word
_START = re.compile(rb"\x78\x78|\x79\x79")
_MARKER_BYTES = (frames.SHORT_START[0], frames.LONG_START[0])


State = CodecState  # the states this codec moves through


def protocol_error_from(exc: ConstructError) -> ProtocolError:
    """The ProtocolError a construct failure inside a frame's content stands for."""
    if isinstance(exc, (StreamError, TerminatedError)):
        # content ran out early or left bytes over: it disagrees with the length field
        return LengthError(f"content does not match its packet layout: {exc}")
    return FrameError(str(exc))


def parse_content(protocol: int, content: bytes):
    try:
        return frames.CONTENTS[protocol].parse(content)
    except ConstructError as exc:
        raise protocol_error_from(exc) from None


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


def device_time(parsed_time, offset_minutes: int) -> datetime | None:
    """UTC from the unit's date-time in a zone ``offset_minutes`` east of UTC; None when the
    six bytes are no calendar date (units send zeros before their clock is set): the
    session then stamps the record with its receive time."""
    t = parsed_time
    try:
        local = datetime(2000 + t.year, t.month, t.day, t.hour, t.minute, t.second, tzinfo=timezone.utc)
    except ValueError:
        return None
    return local - timedelta(minutes=offset_minutes)


def position_from(gps) -> Position:
    status = gps.course_status
    if gps.latitude > 90 * COORDINATE_SCALE or gps.longitude > 180 * COORDINATE_SCALE:
        raise FrameError(f"coordinates out of range: {gps.latitude}, {gps.longitude}")
    latitude = gps.latitude / COORDINATE_SCALE
    longitude = gps.longitude / COORDINATE_SCALE
    return Position(
        # the status bits carry the hemisphere: latitude bit set = north, longitude bit set = west
        latitude=latitude if status.north else -latitude,
        longitude=-longitude if status.west else longitude,
        speed_kmh=float(gps.speed),
        course_deg=float(status.course),
        satellites=gps.info.satellites,
        valid=status.positioned,
    )


def status_fields(status) -> dict[str, Any]:
    info = status.terminal_info
    return {
        "oil_electricity_cut": info.oil_electricity_cut,
        "gps_tracking": info.gps_tracking,
        "terminal_alarm": info.alarm,
        "charging": info.charging,
        "acc": info.acc,
        "defence": info.defence,
        "voltage_level": status.voltage_level,
        "gsm_signal": status.gsm_signal,
        "alarm": status.alarm,
        "language": status.language,
    }


def record_from(protocol: int, parsed, tz_minutes: int) -> Record:
    """The record a location, alarm or status packet carries (content already parsed)."""
    fields: dict[str, Any] = {"protocol": protocol}
    if protocol == frames.STATUS:
        fields.update(status_fields(parsed.status))
        if parsed.extension:
            fields["extension"] = parsed.extension.hex()
        return Record(device_time=None, position=None, fields=fields)
    gps = parsed.gps
    fields["gps_info_length"] = gps.info.length
    fields["gps_differential"] = gps.course_status.differential
    if protocol in frames.ALARMS:
        fields["lbs_length"] = parsed.lbs_length
    if protocol != frames.GPS:
        lbs = parsed.lbs
        fields.update(mcc=lbs.mcc, mnc=lbs.mnc, lac=lbs.lac, cell_id=lbs.cell_id)
    if protocol == frames.LOCATION_UTC:
        fields.update(acc=parsed.acc == 1, upload_mode=parsed.upload_mode, reupload=parsed.reupload == 1)
    if protocol in frames.ALARMS:
        fields.update(status_fields(parsed.status))
        fields["alarm_type"] = frames.ALARM_TYPES.get(parsed.status.alarm, "unknown")
    if parsed.get("mileage") is not None:
        fields["mileage"] = parsed.mileage
    if parsed.extension:
        fields["extension"] = parsed.extension.hex()
    offset = 0 if protocol in frames.UTC_PROTOCOLS else tz_minutes
    return Record(device_time=device_time(parsed.time, offset), position=position_from(gps), fields=fields)


def response_text(protocol: int, parsed) -> str:
    if protocol == frames.SHORT_RESPONSE:
        return parsed.text.decode("ascii", errors="replace")
    if parsed.encoding == frames.ENCODING_ASCII:
        return parsed.text.decode("ascii", errors="replace")
    if parsed.encoding == frames.ENCODING_UTF16BE:
        return parsed.text.decode("utf-16-be", errors="replace")
    raise FrameError(f"unknown content code {parsed.encoding:#04x} in a 0x21 response")


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


def reply_frame(protocol: int, serial: int) -> bytes:
    """The server's answer to login, status, location and alarm packets: the unit's
    protocol number and serial, no content ([GT06] §5.1.2, §5.3.2, §5.4.2)."""
    return frames.frame(protocol, b"", serial)


def time_answer_frame(now: datetime, serial: int) -> bytes:
    utc = now.astimezone(timezone.utc)
    if not 2000 <= utc.year <= 2255:
        raise ValueError(f"{utc.year} cannot be written as a GT06 year")
    content = frames.TimeAnswerContent.build(
        {"year": utc.year - 2000, "month": utc.month, "day": utc.day, "hour": utc.hour, "minute": utc.minute,
         "second": utc.second}
    )
    return frames.frame(frames.TIME_REQUEST, content, serial)


class Gt06Codec(BufferedCodec):
    def __init__(self, max_frame: int = 1024, default_tz_minutes: int = 0) -> None:
        if abs(default_tz_minutes) > _MAX_TZ_MINUTES:
            raise ValueError(f"default_tz_minutes {default_tz_minutes} is beyond +-14 hours")
        super().__init__()
        self.max_frame = max_frame
        self.tz_minutes = default_tz_minutes  # replaced by the login's zone when it has one
        self.state = State.AWAIT_LOGIN
        self.unit_id: str | None = None
        self.discarded = 0  # bytes skipped in front of start markers
        self.skipped = 0  # documented no-reply packets consumed without an event
        self._serial = 0  # the server's own information serial numbers (0x80 commands)

    def send(self, event: OutboundEvent) -> bytes:
        self._raise_if_broken()
        if isinstance(event, LoginAccepted | LoginRejected):
            if self.state is not State.AWAIT_DECISION:
                raise RuntimeError(f"no login awaits a decision (state {self.state.value})")
            if isinstance(event, LoginRejected):
                # Servers stay silent for an IMEI they do not know; the session hangs up.
                self.state = State.REJECTED
                return b""
            self.state = State.ONLINE
            return reply_frame(frames.LOGIN, event.login.context)
        if self.state is not State.ONLINE:
            raise RuntimeError(f"cannot send {type(event).__name__} before the login is accepted")
        if isinstance(event, Acknowledge):
            if isinstance(event.event, Undecoded):
                return b""  # nothing says what a unit expects for a type no document describes
            context = event.event.context
            if not (isinstance(context, tuple) and len(context) == 2):
                raise RuntimeError("only events of this codec can be acknowledged")
            protocol, serial = context
            return reply_frame(protocol, serial)
        if isinstance(event, TimeAnswer):
            return time_answer_frame(event.now, event.request.context)
        if isinstance(event, CommandRequest):
            self._serial = (self._serial + 1) & 0xFFFF
            return encode_command_frame(event.text, event.correlation or 0, self._serial)
        raise TypeError(f"not an outbound event: {type(event).__name__}")

    # --- internals --------------------------------------------------------------------

    def _next_event(self) -> InboundEvent | _NeedData:
        while self.state is not State.AWAIT_DECISION:
            frame = self._next_frame()
            if frame is None:
                return NEED_DATA
            event = self._decode(frame)
            if event is not None:
                return event
        return NEED_DATA  # the unit waits for the login answer; so do its bytes

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
        total = header + length + len(frames.STOP)
        if length < frames.LENGTH_OVERHEAD:
            raise LengthError(f"length field {length} is shorter than protocol number, serial and CRC")
        if total > self.max_frame:
            raise LengthError(f"length field {length} makes a {total}-byte frame, max {self.max_frame}")
        if len(buf) < total:
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        crc_ok = frames.crc_itu(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big")
        if frame[-2:] != frames.STOP:
            # A good CRC says the length was right and only the stop bytes are wrong;
            # otherwise the length field did not lead to the frame's end.
            if crc_ok:
                raise FrameError(f"stop bytes {frame[-2:].hex()}, expected 0d0a")
            raise LengthError(f"no 0d0a stop where the length field {length} puts the frame's end")
        if not crc_ok:
            raise ChecksumError(f"CRC field {frame[-4:-2].hex()} does not match the frame")
        return frame

    def _decode(self, frame: bytes) -> InboundEvent | None:
        header = 4 if frame[:2] == frames.LONG_START else 3
        protocol = frame[header]
        content = frame[header + 1 : -6]
        serial = int.from_bytes(frame[-6:-4], "big")
        if protocol not in frames.KNOWN and self.state is State.ONLINE:
            return Undecoded(f"{protocol:#04x}", frame, "a protocol number this driver does not decode")
        if protocol not in frames.KNOWN:
            raise UnsupportedMessage(f"protocol number {protocol:#04x} is not supported")
        if self.state is State.REJECTED:
            raise UnexpectedMessage("data after the login was refused")
        if self.state is State.AWAIT_LOGIN:
            if protocol != frames.LOGIN:
                raise UnexpectedMessage(f"protocol {protocol:#04x} before the login")
            return self._login(content, serial)
        if protocol == frames.LOGIN:
            raise UnexpectedMessage("a second login on the same connection")
        if protocol == frames.COMMAND:
            raise UnexpectedMessage("the unit sent a server command (0x80)")
        if protocol in frames.SKIPPED:
            self.skipped += 1
            return None
        if protocol == frames.SHORT_RESPONSE and content and content[0] < 4:
            raise FrameError(f"command length {content[0]} is shorter than the server flag")
        parsed = parse_content(protocol, content)
        if protocol == frames.TIME_REQUEST:
            return TimeRequest(raw=frame, context=serial)
        if protocol in frames.RESPONSES:
            return self._response(protocol, parsed, frame)
        record = record_from(protocol, parsed, self.tz_minutes)
        return RecordBatch(records=(record,), raw=frame, context=(protocol, serial))

    def _login(self, content: bytes, serial: int) -> Login:
        parsed = parse_content(frames.LOGIN, content)
        self.unit_id = imei_from_terminal_id(parsed.terminal_id)
        attributes = login_attributes(parsed)
        if "time_zone_minutes" in attributes:
            self.tz_minutes = attributes["time_zone_minutes"]
        self.state = State.AWAIT_DECISION
        return Login(unit_id=self.unit_id, attributes=attributes, context=serial)

    def _response(self, protocol: int, parsed, frame: bytes) -> CommandResponse:
        text = response_text(protocol, parsed)
        return CommandResponse(text=text, correlation=parsed.server_flag, raw=frame)
