"""Hostile load for benchmarks/abuse.py and tests/hostile: strangers at a Teltonika listener.

    python benchmarks/flood.py logins --port P --count 5000 --connections 50
        fake logins with random unknown IMEIs, each on its own connection, until the
        gateway refuses and closes it
    python benchmarks/flood.py silent --port P --count 10000 --duration 60
        connections that never send a byte, reopened as soon as the gateway closes them

Prints one JSON object with what it did when it ends.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gateway.tuning import raise_open_file_limit  # noqa: E402


class Tally:
    def __init__(self) -> None:
        self.logins = self.refused = self.opened = self.closed_by_gateway = self.connect_errors = 0


async def _connect(host: str, port: int, tally: Tally) -> trio.socket.SocketType | None:
    sock = trio.socket.socket()
    try:
        await sock.connect((host, port))
    except OSError:
        sock.close()
        tally.connect_errors += 1
        await trio.sleep(0.05)  # the gateway sheds load: come back a little later
        return None
    tally.opened += 1
    return sock


async def fake_logins(host: str, port: int, count: int, tally: Tally, seed: int) -> None:
    ids = random.Random(seed)
    while tally.logins < count:
        tally.logins += 1
        sock = await _connect(host, port, tally)
        if sock is None:
            continue
        with sock:
            imei = str(ids.randrange(10**14, 10**15)).encode()
            try:
                await sock.send(len(imei).to_bytes(2, "big") + imei)
                answer = b""
                while data := await sock.recv(64):
                    answer += data
            except OSError:
                answer = b""
            tally.refused += answer == b"\x00"


async def silent(host: str, port: int, stop_at: float, tally: Tally) -> None:
    while trio.current_time() < stop_at:
        sock = await _connect(host, port, tally)
        if sock is None:
            continue
        with sock:
            with trio.move_on_at(stop_at):
                try:
                    while await sock.recv(64):
                        pass
                except OSError:
                    pass
                tally.closed_by_gateway += 1


async def main(args) -> None:
    raise_open_file_limit()
    tally = Tally()
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        if args.mode == "logins":
            for n in range(args.connections):
                nursery.start_soon(fake_logins, args.host, args.port, args.count, tally, args.seed * 1000 + n)
        else:
            stop_at = trio.current_time() + args.duration
            for n in range(args.count):
                nursery.start_soon(silent, args.host, args.port, stop_at, tally)
                if n % 500 == 499:
                    await trio.sleep(0)  # let the connections made so far settle
    print(json.dumps({"mode": args.mode, "seconds": time.perf_counter() - started, **vars(tally)}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["logins", "silent"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1000, help="fake logins, or silent connections held open")
    parser.add_argument("--connections", type=int, default=50, help="fake logins: how many at a time")
    parser.add_argument("--duration", type=float, default=30, help="silent: seconds to hold them open")
    parser.add_argument("--seed", type=int, default=15)
    trio.run(main, parser.parse_args())
