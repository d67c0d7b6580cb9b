"""The PROXY protocol header a TCP load balancer puts before a connection's first byte
(HAProxy's proxy-protocol.txt, versions 1 and 2), so that a listener behind it sees each
unit's own address rather than the balancer's: in logs, in the seen-units list and in the
per-address authentication brake.

Sans-IO: ``ProxyHeader.receive_data`` takes bytes as they arrive and, once the header is
whole, gives the unit's address and whatever the unit sent after it.
"""

from __future__ import annotations

import ipaddress
import struct

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest version 1 line, CRLF included
V2_MAX_BODY = 1024  # addresses and TLVs; balancers send well under this
_V2_FIXED = 16  # signature, version and command, family and protocol, body length

_TCP4, _TCP6, _UNSPEC = 0x11, 0x21, 0x00
_LOCAL, _PROXY = 0x20, 0x21  # version 2 with the LOCAL or the PROXY command


class ProxyHeaderError(Exception):
    """The connection does not start with a PROXY protocol header this listener accepts."""


class ProxyHeader:
    """Reads one PROXY protocol header.

    ``receive_data`` returns None until the header is whole, then ``(address, rest)``:
    the unit's ``host:port`` (``[host]:port`` for IPv6), or None when the balancer speaks
    for itself (version 2 LOCAL, version 1 UNKNOWN: its health checks), and the bytes
    after the header. It raises ProxyHeaderError for anything else.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def receive_data(self, data: bytes) -> tuple[str | None, bytes] | None:
        self._buffer += data
        buffer = self._buffer
        if V2_SIGNATURE.startswith(buffer[:12]):
            return _version_2(buffer)
        if V1_PREFIX.startswith(buffer[:6]):
            return _version_1(buffer)
        raise ProxyHeaderError("the connection does not start with a PROXY protocol header")


def _version_2(buffer: bytes) -> tuple[str | None, bytes] | None:
    if len(buffer) < _V2_FIXED:
        return None
    command, family, length = struct.unpack_from(">BBH", buffer, 12)
    if command not in (_LOCAL, _PROXY):
        raise ProxyHeaderError(f"PROXY protocol version 2: unknown version and command byte 0x{command:02x}")
    if length > V2_MAX_BODY:
        raise ProxyHeaderError(f"PROXY protocol version 2: a {length}-byte header body is too long")
    end = _V2_FIXED + length
    if len(buffer) < end:
        return None
    body, rest = buffer[_V2_FIXED:end], buffer[end:]
    if command == _LOCAL or family == _UNSPEC:
        return None, rest
    if family == _TCP4 and length >= 12:
        source, _, port = struct.unpack_from(">4s4sH", body)
        return f"{ipaddress.IPv4Address(source)}:{port}", rest
    if family == _TCP6 and length >= 36:
        source, _, port = struct.unpack_from(">16s16sH", body)
        return f"[{ipaddress.IPv6Address(source)}]:{port}", rest
    raise ProxyHeaderError(f"PROXY protocol version 2: family and protocol 0x{family:02x} with {length} bytes "
                           "is not TCP over IPv4 or IPv6")


def _version_1(buffer: bytes) -> tuple[str | None, bytes] | None:
    end = buffer.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(buffer) >= V1_MAX:
            raise ProxyHeaderError(f"PROXY protocol version 1: no line end within {V1_MAX} bytes")
        return None
    words, rest = buffer[:end].split(b" "), buffer[end + 2:]
    if words[1:2] == [b"UNKNOWN"]:
        return None, rest
    if len(words) != 6 or words[1] not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError("PROXY protocol version 1: expected TCP4 or TCP6 and four fields")
    try:
        kind = ipaddress.IPv4Address if words[1] == b"TCP4" else ipaddress.IPv6Address
        source, _ = _ip(words[2], kind), _ip(words[3], kind)
        port = _port(words[4])
        _port(words[5])
    except ValueError as exc:
        raise ProxyHeaderError(f"PROXY protocol version 1: {exc}") from None
    return (f"{source}:{port}" if kind is ipaddress.IPv4Address else f"[{source}]:{port}"), rest


def _ip(word: bytes, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]):
    try:
        return kind(word.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{word[:40]!r} is not an {kind.__name__[:4]} address") from None


def _port(word: bytes) -> int:
    """A port as version 1 writes it: decimal, no sign, no leading zero."""
    if not word.isdigit() or (word[:1] == b"0" and word != b"0") or int(word) > 65535:
        raise ValueError(f"{word[:8]!r} is not a port")
    return int(word)
