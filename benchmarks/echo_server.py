"""The ceiling for benchmarks/ingest.py: a bare trio server that speaks just enough
Teltonika to acknowledge packets (accept every IMEI, answer each AVL packet with its
record count) without decoding, checking or storing anything."""

from __future__ import annotations

import argparse
import resource
import sys

import trio


async def handle(stream: trio.SocketStream) -> None:
    buffer = bytearray()

    async def fill(size: int) -> bool:
        while len(buffer) < size:
            data = await stream.receive_some(65536)
            if not data:
                return False
            buffer.extend(data)
        return True

    try:
        if not await fill(2) or not await fill(2 + int.from_bytes(buffer[:2], "big")):
            return
        del buffer[: 2 + int.from_bytes(buffer[:2], "big")]
        await stream.send_all(b"\x01")
        while await fill(10):
            total = 8 + int.from_bytes(buffer[4:8], "big") + 4
            if not await fill(total):
                return
            count = buffer[9]
            del buffer[:total]
            await stream.send_all(count.to_bytes(4, "big"))
    except trio.BrokenResourceError:
        pass


async def main(port: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)
    await trio.serve_listeners(handle, listeners)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    try:
        trio.run(main, parser.parse_args().port)
    except KeyboardInterrupt:
        sys.exit(0)
