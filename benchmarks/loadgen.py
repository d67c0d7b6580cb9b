"""Load generator for benchmarks/ingest.py: many units of one brand in one trio process.

Each unit logs in (benchmarks/brands.py: a Teltonika IMEI, a GT06 login, a JT/T 808
authentication with the code its vehicle was registered with), then sends location packets
and times each one until its ACK comes back. `--interval 0` sends the next packet as soon as
the ACK arrives (closed loop, for throughput); `--interval S` sends one every S seconds with
the units' phases spread evenly (for latency at a given rate). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.brands import BRANDS  # noqa: E402
from gateway.tuning import raise_open_file_limit, tune_garbage_collector  # noqa: E402


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.records = 0
        self.connected = 0
        self.errors = 0


async def _answer(stream: trio.SocketStream, buffer: bytearray, parse):
    """``parse(buffer)`` once it finds a whole answer; None if the server hung up first."""
    while (found := parse(buffer)) is None:
        data = await stream.receive_some(4096)
        if not data:
            return None
        buffer.extend(data)
    return found


async def unit(index: int, host: str, port: int, args, stats: Stats, start_at: float, stop_at: float) -> None:
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError:
        stats.errors += 1
        return
    try:
        async with stream:
            await _converse(stream, index, args, stats, start_at, stop_at)
    except trio.BrokenResourceError:  # the server hung up on this unit: counted, the others go on
        stats.errors += 1


async def _converse(stream: trio.SocketStream, index: int, args, stats: Stats, start_at: float,
                    stop_at: float) -> None:
    wire = BRANDS[args.brand](index)
    buffer = bytearray()
    await stream.send_all(wire.login())
    if not await _answer(stream, buffer, wire.login_answer):
        stats.errors += 1
        return
    stats.connected += 1
    phase = (index / max(args.units, 1)) * args.interval
    await trio.sleep_until(start_at + phase)
    next_send = trio.current_time()
    while trio.current_time() < stop_at:
        packet = wire.packet(args.records)
        sent = trio.current_time()
        await stream.send_all(packet)
        records = await _answer(stream, buffer, wire.ack)
        if records is None:
            stats.errors += 1
            return
        done = trio.current_time()
        if done <= stop_at:
            stats.latencies.append(done - sent)
            stats.records += records
        if args.interval:
            next_send += args.interval
            await trio.sleep_until(next_send)


async def main(args) -> None:
    raise_open_file_limit()
    # The gateway's collector settings, for the same reason: with the defaults, full passes
    # over 5,000 units' objects stalled this process for about 80 ms several times a
    # second, and each stall was counted as ACK latency.
    tune_garbage_collector()
    stats = Stats()
    start_at = trio.current_time() + args.connect_time
    stop_at = start_at + args.duration
    # The measured window in wall-clock time, for whoever samples the server meanwhile.
    window_start = time.time() + args.connect_time
    async with trio.open_nursery() as nursery:
        for index in range(args.units):
            nursery.start_soon(unit, index, args.host, args.port, args, stats, start_at, stop_at)
            if index % 200 == 199:
                await trio.sleep(0)  # let the accept loop keep up
    latencies = sorted(stats.latencies)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    print(json.dumps({
        "units": args.units, "connected": stats.connected, "errors": stats.errors,
        "duration": args.duration, "records": stats.records, "records_per_s": stats.records / args.duration,
        "packets": len(latencies), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "window": [window_start, window_start + args.duration],
    }))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brand", choices=sorted(BRANDS), default="teltonika")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--records", type=int, default=1, help="records per packet (Teltonika only)")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between packets; 0 = closed loop")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured sending")
    parser.add_argument("--connect-time", type=float, default=3.0, help="seconds allowed for all units to log in")
    trio.run(main, parser.parse_args())
