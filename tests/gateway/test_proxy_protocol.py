"""The PROXY protocol header, versions 1 and 2 (HAProxy's proxy-protocol.txt), read as a
balancer sends it: whole or a byte at a time, with the unit's first bytes behind it."""

from __future__ import annotations

import pytest

from gateway.proxy_protocol import V2_SIGNATURE, ProxyHeader, ProxyHeaderError

LOGIN = bytes.fromhex("000f333536333037303432343431303133")  # a Teltonika login after the header

V2_TCP4 = V2_SIGNATURE + bytes.fromhex("2111000c" "cb007107" "c0000201" "9c41" "13a3")
V2_TCP6 = V2_SIGNATURE + bytes.fromhex("21210024") + bytes.fromhex(
    "20010db8000000000000000000000007" "20010db8000000000000000000000001" "9c41" "13a3")
V2_TCP4_WITH_TLV = V2_SIGNATURE + bytes.fromhex("21110013" "cb007107" "c0000201" "9c41" "13a3" "0400040a0b0c0d")
V2_LOCAL = V2_SIGNATURE + bytes.fromhex("20000000")
V2_LOCAL_WITH_ADDRESSES = V2_SIGNATURE + bytes.fromhex("2011000c" "7f000001" "7f000001" "0001" "0002")


def read(data: bytes, step: int | None = None):
    header = ProxyHeader()
    step = step or len(data)
    for start in range(0, len(data), step):
        found = header.receive_data(data[start:start + step])
        if found is not None:  # the session hands the codec what follows
            address, rest = found
            return address, rest + data[start + step:]
    return None


@pytest.mark.parametrize("step", [None, 1, 7])
@pytest.mark.parametrize("header,address", [
    (V2_TCP4, "203.0.113.7:40001"),
    (V2_TCP6, "[2001:db8::7]:40001"),
    (V2_TCP4_WITH_TLV, "203.0.113.7:40001"),
    (V2_LOCAL, None),
    (V2_LOCAL_WITH_ADDRESSES, None),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 40001 5027\r\n", "203.0.113.7:40001"),
    (b"PROXY TCP6 2001:db8::7 2001:db8::1 40001 5027\r\n", "[2001:db8::7]:40001"),
    (b"PROXY UNKNOWN\r\n", None),
    (b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", None),
])
def test_a_header_gives_the_units_address_and_the_bytes_after_it(header, address, step):
    assert read(header + LOGIN, step) == (address, LOGIN)


@pytest.mark.parametrize("header", [V2_TCP4, b"PROXY TCP4 203.0.113.7 192.0.2.1 40001 5027\r\n"])
def test_a_header_not_yet_whole_asks_for_more(header):
    assert read(header[:-1]) is None


@pytest.mark.parametrize("data,message", [
    (LOGIN, "does not start with a PROXY protocol header"),
    (b"GET / HTTP/1.1\r\n", "does not start with a PROXY protocol header"),
    (V2_SIGNATURE + bytes.fromhex("1111000c") + bytes(12), "unknown version and command byte 0x11"),
    (V2_SIGNATURE + bytes.fromhex("2211000c") + bytes(12), "unknown version and command byte 0x22"),
    (V2_SIGNATURE + bytes.fromhex("21110fff"), "too long"),
    (V2_SIGNATURE + bytes.fromhex("21120000"), "family and protocol 0x12"),  # UDP over IPv4
    (V2_SIGNATURE + bytes.fromhex("21110004") + bytes(4), "family and protocol 0x11 with 4 bytes"),
    (V2_SIGNATURE + bytes.fromhex("21310000"), "family and protocol 0x31"),  # a Unix socket
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 40001\r\n", "expected TCP4 or TCP6 and four fields"),
    (b"PROXY UDP4 203.0.113.7 192.0.2.1 40001 5027\r\n", "expected TCP4 or TCP6"),
    (b"PROXY TCP4 2001:db8::7 192.0.2.1 40001 5027\r\n", "'2001:db8::7' is not an IPv4 address"),
    (b"PROXY TCP6 203.0.113.7 2001:db8::1 40001 5027\r\n", "'203.0.113.7' is not an IPv6 address"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 040001 5027\r\n", "is not a port"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 65536 5027\r\n", "is not a port"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 -1 5027\r\n", "is not a port"),
    (b"PROXY " + b"x" * 120, "no line end within 107 bytes"),
])
def test_anything_else_is_refused(data, message):
    with pytest.raises(ProxyHeaderError, match=message):
        read(data)
