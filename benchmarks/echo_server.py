"""The ceiling for benchmarks/ingest.py: a bare trio server that frames one brand's protocol
and acknowledges each packet without decoding, checking or storing anything.

Teltonika: every IMEI is accepted, each AVL packet answered with its record count. GT06:
every frame is echoed (its protocol number and serial, with a CRC). JT/T 808: every message
is answered by a 0x8001 "success" naming its id and serial.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from drivers.gt06.frames import crc_itu  # noqa: E402
from drivers.jt808.frames import check_code, escape, unescape  # noqa: E402


class Connection:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def fill(self, size: int) -> bool:
        while len(self.buffer) < size:
            data = await self.stream.receive_some(65536)
            if not data:
                return False
            self.buffer.extend(data)
        return True


async def teltonika(conn: Connection) -> None:
    buffer = conn.buffer
    if not await conn.fill(2) or not await conn.fill(2 + int.from_bytes(buffer[:2], "big")):
        return
    del buffer[: 2 + int.from_bytes(buffer[:2], "big")]
    await conn.stream.send_all(b"\x01")
    while await conn.fill(10):
        total = 8 + int.from_bytes(buffer[4:8], "big") + 4
        if not await conn.fill(total):
            return
        count = buffer[9]
        del buffer[:total]
        await conn.stream.send_all(count.to_bytes(4, "big"))


async def gt06(conn: Connection) -> None:
    buffer = conn.buffer
    while await conn.fill(4):
        header = 4 if buffer[0] == 0x79 else 3
        total = header + int.from_bytes(buffer[2:header], "big") + 2
        if not await conn.fill(total):
            return
        protocol, serial = buffer[header], buffer[total - 6:total - 4]
        del buffer[:total]
        covered = bytes([5, protocol]) + serial
        await conn.stream.send_all(b"\x78\x78" + covered + crc_itu(covered).to_bytes(2, "big") + b"\r\n")


async def jt808(conn: Connection) -> None:
    buffer = conn.buffer
    while True:
        end = buffer.find(b"\x7e", 1)
        while end < 0:
            if not await conn.fill(len(buffer) + 1):
                return
            end = buffer.find(b"\x7e", 1)
        content = unescape(bytes(buffer[1:end]))
        del buffer[: end + 1]
        wide = content[2] & 0x40  # the version flag: a 2019 header, with its version byte and 10-byte number
        terminal = content[4:15] if wide else content[4:10]
        serial = content[15:17] if wide else content[10:12]
        header = b"\x80\x01" + bytes([0x40 if wide else 0, 5]) + terminal + b"\0\0"
        answer = header + serial + content[:2] + b"\0"
        await conn.stream.send_all(b"\x7e" + escape(answer + bytes([check_code(answer)])) + b"\x7e")


async def main(port: int, brand: str) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    protocol = {"teltonika": teltonika, "gt06": gt06, "jt808": jt808}[brand]

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await protocol(Connection(stream))
        except trio.BrokenResourceError:
            pass

    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)
    await trio.serve_listeners(handle, listeners)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--brand", choices=("teltonika", "gt06", "jt808"), default="teltonika")
    args = parser.parse_args()
    try:
        trio.run(main, args.port, args.brand)
    except KeyboardInterrupt:
        sys.exit(0)
