"""Sans-IO Teltonika codec: IMEI login, AVL data (Codec 8 / 8E / 16), Codec 12 commands.

States: AWAIT_LOGIN -> (Login event) -> AWAIT_DECISION -> (send LoginAccepted) -> ONLINE.
``send(LoginRejected)`` leads to REJECTED: the unit is expected to hang up. OUTBOUND holds
what may be sent in which state. Bad framing, a bad CRC, an oversize length, data before
the login and a command sent by the unit raise a ProtocolError subclass, after which the
codec stays broken. A packet with a good CRC after the login never does: another codec's
packet, a Codec 12 type other than a response, and AVL records this driver cannot read
are Undecoded (the last answered with the record count the unit sent, spec.md §2).

AVL bodies are decoded with ``struct`` (``decode_avl_body``) rather than with the construct
declarations in frames.py: on typical FMB records construct parses about 7.5k records/s
interpreted and 43k compiled, this decoder about 270k (benchmarks/teltonika_decode.py);
the whole codec path with Record objects about 89k. A hypothesis test
(tests/drivers/test_teltonika.py) holds the decoder to the construct declarations: same
values and the same error class on arbitrary bytes. Values are read unsigned there; the
ids io_types lists as signed are turned into signed values when the Record is made.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from drivers.base import (
    NEED_DATA, Acknowledge, BufferedCodec, ChecksumError, CodecState, CommandRequest, CommandResponse, FrameError,
    Heartbeat, InboundEvent, LengthError, Login, LoginAccepted, LoginRejected, Position, ProtocolError,
    Record, RecordBatch, Undecoded, UnexpectedMessage, UnsupportedMessage, _NeedData, parse,
)
from drivers.teltonika import frames
from drivers.teltonika.io_types import SIGNED_IO, signed

IMEI_DIGITS = 15
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_TIMESTAMP_MS = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc) - _EPOCH).total_seconds()) * 1000
_MIN_AVL_BODY = 3  # codec id, N1, N2 (a packet may carry no record at all)


State = CodecState  # the states this codec moves through
# Codecs whose packets are AVL data (codec id, N1, records, N2) and are answered with a
# record count: ours, and GH3000's Codec 7, which this driver keeps raw.
COUNTED_CODECS = frozenset({*frames.AVL_CODECS, frames.CODEC_7})


# --- AVL body decoder --------------------------------------------------------------------

# (timestamp, priority, longitude, latitude, altitude, angle, satellites, speed, event_io,
#  generation_type or None, total, {io id: unsigned int}, {io id: width} of the ids
#  io_types lists as signed, {io id: bytes})
RawRecord = tuple
_VALUE_CODES = ("B", "H", "I", "Q")
_SIGNED_IDS = frozenset(SIGNED_IO)
_NONE_SIGNED: dict[int, int] = {}  # shared by the many records without a signed id; never changed


class _Layout:
    """Where the codecs differ: widths of the event id, counts and IO ids."""

    def __init__(self, event: str, generation: bool, count: str, io_id: str, nx: bool) -> None:
        # one unpack for timestamp, priority, GPS element, event id, [generation,] total
        self.head = struct.Struct(">QBiihHBH" + event + ("B" if generation else "") + count)
        self.generation = generation
        self.wide_counts = count == "H"
        self.io_id = io_id
        self.nx = nx
        # per value width: (struct code, bytes per id/value pair, value width)
        self.groups = tuple((code, struct.calcsize(">" + io_id + code), struct.calcsize(code)) for code in _VALUE_CODES)


_LAYOUTS = {
    frames.CODEC_8: _Layout("B", False, "B", "B", nx=False),
    frames.CODEC_8E: _Layout("H", False, "H", "H", nx=True),
    frames.CODEC_16: _Layout("H", True, "B", "H", nx=False),
}
_NX_HEAD = struct.Struct(">HH")
_group_structs: dict[tuple[str, str, int], struct.Struct] = {}
_CACHED_GROUP_MAX = 64  # real records carry a few dozen IO per group at most


def _group_struct(id_code: str, value_code: str, count: int) -> struct.Struct:
    key = (id_code, value_code, count)
    found = _group_structs.get(key)
    if found is None:
        found = struct.Struct(">" + (id_code + value_code) * count)
        if count <= _CACHED_GROUP_MAX:  # a hostile count must not grow the cache
            _group_structs[key] = found
    return found


def decode_avl_body(body: bytes) -> tuple[int, list[RawRecord], int]:
    """(codec id, records, N2) from the bytes codec id .. N2; ProtocolError otherwise."""
    try:
        layout = _LAYOUTS[body[0]]
    except (IndexError, KeyError):
        raise UnsupportedMessage(f"codec id {body[:1].hex() or 'missing'} is not an AVL codec") from None
    try:
        return body[0], *_decode_records(body, layout)
    except (struct.error, IndexError):
        raise LengthError("content does not match the data field length: records run past it") from None


def _decode_records(body: bytes, layout: _Layout) -> tuple[list[RawRecord], int]:
    head, wide, id_code, size = layout.head, layout.wide_counts, layout.io_id, len(body)
    records = []
    pos = 2
    for _ in range(body[1]):
        fields = head.unpack_from(body, pos)
        pos += head.size
        if not layout.generation:
            fields = (*fields[:9], None, fields[9])
        io: dict[int, int] = {}
        widths = _NONE_SIGNED
        for value_code, pair_size, width in layout.groups:
            if wide:
                count = body[pos] << 8 | body[pos + 1]
                pos += 2
            else:
                count = body[pos]
                pos += 1
            if count:
                if count * pair_size > size - pos:
                    raise IndexError("IO group runs past the body")
                group = _group_struct(id_code, value_code, count)
                values = group.unpack_from(body, pos)
                pos += group.size
                pairs = iter(values)
                io.update(zip(pairs, pairs))
                signed_ids = _SIGNED_IDS.intersection(values[::2])
                if signed_ids:
                    widths = {**widths, **dict.fromkeys(signed_ids, width)}
        nx: dict[int, bytes] = {}
        if layout.nx:
            count = body[pos] << 8 | body[pos + 1]
            pos += 2
            for _ in range(count):
                io_id, length = _NX_HEAD.unpack_from(body, pos)
                pos += 4
                if pos + length > size:
                    raise IndexError("NX value runs past the body")
                nx[io_id] = body[pos : pos + length]
                pos += length
        records.append((*fields, io, widths, nx))
    n2 = body[pos]
    if pos + 1 != size:
        raise LengthError(f"{size - pos - 1} bytes left over after N2: content does not match the data field length")
    return records, n2


def record_from_raw(codec_id: int, raw: RawRecord) -> Record:
    timestamp, priority, lon, lat, altitude, angle, satellites, speed, event_io, generation, _, io, widths, nx = raw
    if timestamp > _MAX_TIMESTAMP_MS:
        raise FrameError(f"timestamp {timestamp} ms is past the year 9999")
    latitude, longitude = lat / 10_000_000, lon / 10_000_000
    position = Position(
        latitude=latitude,
        longitude=longitude,
        altitude_m=float(altitude),
        speed_kmh=float(speed),
        course_deg=float(angle),
        satellites=satellites,
        # The unit repeats its last fix with 0 satellites (and speed/angle 0) when it has
        # none; 0/0 is what it sends before its first fix ever.
        valid=satellites > 0 and (lat != 0 or lon != 0),
    )
    values = dict(zip(map(str, io), io.values()))
    fields = {"codec": codec_id, "priority": priority, "event_io": event_io, "io": values}
    if widths:
        # Kept beside the values read signed: the only ones whose bytes their number does
        # not show at a glance, and the only ones a later table could read otherwise.
        fields["io_hex"] = io_hex = {}
        for io_id, width in widths.items():
            key = str(io_id)
            io_hex[key] = io[io_id].to_bytes(width, "big").hex()
            values[key] = signed(io[io_id], width)
    if nx:
        values.update((str(io_id), value.hex()) for io_id, value in nx.items())
    if generation is not None:
        fields["generation_type"] = generation
    return Record(device_time=_EPOCH + timedelta(milliseconds=timestamp), position=position, fields=fields)


# --- the codec --------------------------------------------------------------------------


class TeltonikaCodec(BufferedCodec):
    def __init__(self, max_frame: int = 2048) -> None:
        super().__init__()
        self.max_frame = max_frame
        self.state = State.AWAIT_LOGIN
        self.unit_id: str | None = None

    # (state, outbound event, what an Acknowledge acknowledges) -> the state after sending it
    # (drivers.base.BufferedCodec.send). A miss is the caller's mistake, not the unit's.
    OUTBOUND = {
        (State.AWAIT_DECISION, LoginAccepted, None): State.ONLINE,
        (State.AWAIT_DECISION, LoginRejected, None): State.REJECTED,  # the unit is expected to hang up
        (State.ONLINE, Acknowledge, Heartbeat): State.ONLINE,
        (State.ONLINE, Acknowledge, RecordBatch): State.ONLINE,
        (State.ONLINE, Acknowledge, Undecoded): State.ONLINE,
        (State.ONLINE, CommandRequest, None): State.ONLINE,
    }

    def _login_decided(self, event: LoginAccepted | LoginRejected) -> bytes:
        return frames.LOGIN_ACCEPT if isinstance(event, LoginAccepted) else frames.LOGIN_REJECT

    def _acknowledge(self, event: Acknowledge) -> bytes:
        target = event.event
        if isinstance(target, RecordBatch):
            # The unit compares this count with what it sent and resends on a mismatch.
            return len(target.records).to_bytes(4, "big")
        if isinstance(target, Undecoded) and isinstance(target.context, int):
            return target.context.to_bytes(4, "big")  # the count it sent: the packet is stored raw
        return b""  # the keepalive byte has no answer; nor has a codec outside the AVL packets

    def _command(self, event: CommandRequest) -> bytes:
        return encode_command_frame(event.text)

    ENCODERS = {LoginAccepted: _login_decided, LoginRejected: _login_decided, Acknowledge: _acknowledge,
                 CommandRequest: _command}

    # --- internals --------------------------------------------------------------------

    def _next_event(self) -> InboundEvent | _NeedData:
        if not self._buffer or self.state is State.AWAIT_DECISION:
            return NEED_DATA
        if self.state is State.REJECTED:
            raise UnexpectedMessage("data after the login was rejected")
        if self.state is State.AWAIT_LOGIN:
            return self._login()
        if self._buffer[0] == frames.KEEPALIVE[0]:
            del self._buffer[:1]
            return Heartbeat(raw=frames.KEEPALIVE)
        return self._packet()

    def _login(self) -> Login | _NeedData:
        buf = self._buffer
        if buf[0] == frames.KEEPALIVE[0]:
            raise UnexpectedMessage("keepalive before the IMEI login")
        if len(buf) < 2:
            return NEED_DATA
        length = int.from_bytes(buf[:2], "big")
        if length == 0:
            # Four zero bytes open an AVL or command packet: a valid frame, but only
            # after the login. Anything else with a zero length is no frame at all.
            if len(buf) < 4:
                return NEED_DATA
            if buf[:4] == frames.PREAMBLE:
                raise UnexpectedMessage("data packet before the IMEI login")
            raise FrameError("IMEI length 0")
        if length != IMEI_DIGITS:
            raise FrameError(f"IMEI length {length}, expected {IMEI_DIGITS} digits")
        if len(buf) < 2 + length:
            return NEED_DATA
        imei = bytes(buf[2 : 2 + length])
        if not imei.isdigit():
            raise FrameError(f"IMEI is not all digits: {imei!r}")
        del buf[: 2 + length]
        self.unit_id = imei.decode("ascii")
        self.state = State.AWAIT_DECISION
        return Login(unit_id=self.unit_id)

    def _packet(self) -> InboundEvent | _NeedData:
        buf = self._buffer
        if buf[:4] != frames.PREAMBLE[: min(4, len(buf))]:
            raise FrameError(f"expected the 4 zero-byte preamble, got {bytes(buf[:4]).hex()}")
        if len(buf) < frames.HEADER_SIZE:
            return NEED_DATA
        length = int.from_bytes(buf[4:8], "big")
        total = frames.HEADER_SIZE + length + frames.TRAILER_SIZE
        if total > self.max_frame:
            raise LengthError(f"data field length {length} makes a {total}-byte frame, max {self.max_frame}")
        if length < _MIN_AVL_BODY:
            raise LengthError(f"data field length {length} is too short for any packet")
        if len(buf) < total:
            return NEED_DATA
        frame = bytes(buf[:total])
        del buf[:total]
        body = frame[frames.HEADER_SIZE : -frames.TRAILER_SIZE]
        sent_crc = int.from_bytes(frame[-frames.TRAILER_SIZE :], "big")
        crc = frames.crc16_ibm(body)
        if sent_crc != crc:
            raise ChecksumError(f"CRC field {sent_crc:#010x}, computed {crc:#06x}")
        codec_id = body[0]
        if codec_id in frames.AVL_CODECS:
            return self._record_batch(body, frame)
        if codec_id == frames.CODEC_12:
            return self._command_response(body, frame)
        count = body[1] if codec_id in COUNTED_CODECS else None
        return Undecoded(f"codec {codec_id:#04x}", frame, "a codec id this driver does not decode", context=count)

    def _record_batch(self, body: bytes, frame: bytes) -> RecordBatch | Undecoded:
        try:
            codec_id, raws, n2 = decode_avl_body(body)
            if n2 != len(raws):
                raise FrameError(f"N1 ({len(raws)}) differs from N2 ({n2})")
            records = tuple(record_from_raw(codec_id, raw) for raw in raws)
        except ProtocolError as exc:
            # Kept raw and answered with the count the unit sent (Undecoded.context): a unit
            # without it would send this packet again and again, and nothing recorded after it.
            return Undecoded(f"codec {body[0]:#04x}", frame, f"records this driver cannot read: {exc}", context=body[1])
        return RecordBatch(records=records, raw=frame)

    def _command_response(self, body: bytes, frame: bytes) -> CommandResponse | Undecoded:
        try:
            parsed = parse(frames.Codec12Body, body, "Codec 12 body")
        except ProtocolError as exc:
            return Undecoded("codec 0x0c", frame, f"a Codec 12 body this driver cannot read: {exc}")
        if parsed.type == frames.COMMAND_TYPE:
            raise UnexpectedMessage("the unit sent a command (type 0x05); only responses are expected")
        if parsed.type != frames.RESPONSE_TYPE:
            detail = "a Codec 12 type this driver does not decode"
            return Undecoded(f"codec 0x0c type {parsed.type:#04x}", frame, detail)
        if parsed.quantity1 != parsed.quantity2:
            detail = f"Codec 12 quantities differ: {parsed.quantity1} and {parsed.quantity2}"
            return Undecoded("codec 0x0c", frame, detail)
        # Answers are ASCII in practice; a stray byte must not cost us the rest.
        return CommandResponse(text=parsed.text.decode("utf-8", errors="replace"), raw=frame)


def encode_command_frame(text: str) -> bytes:
    """A Codec 12 command frame (type 0x05) carrying ``text``."""
    try:
        payload = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"command text must be ASCII: {text!r}") from None
    return frames.frame(frames.Codec12Body.build({"type": frames.COMMAND_TYPE, "text": payload}))

