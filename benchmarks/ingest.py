"""Ingest benchmark: records persisted-then-acknowledged per second, ACK latency and the
gateway's memory per connected unit, with a bare trio server as the ceiling in the same run.

    .venv/bin/python benchmarks/ingest.py                 # Teltonika, full run, about 5 minutes
    .venv/bin/python benchmarks/ingest.py --brand gt06    # or jt808: the same phases for that brand
    .venv/bin/python benchmarks/ingest.py --quick         # short phases, under 2 minutes
    .venv/bin/python benchmarks/ingest.py --quick --trace # and where the gateway's time went, per phase

Each brand is measured against a bare server that frames and acknowledges that brand's
protocol (benchmarks/echo_server.py); its units log in as real ones (benchmarks/brands.py).
GT06 and JT/T 808 packets carry one record each, so for them the multi-record throughput
and event-subscriber phases are skipped.

The gateway runs as its own process (`python -m gateway serve`, synchronous=FULL by
default) on a temporary data dir; the load generator (benchmarks/loadgen.py) is another
process on the same 2 cores, so every figure includes the cost of generating the load.
Not part of the test suite: speed is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.brands import BRANDS  # noqa: E402
from benchmarks.commands import probe  # noqa: E402


def usage(pid: int) -> tuple[float, float, int]:
    """(wall time, CPU seconds used, bytes written to files) of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return time.time(), cpu, int(io["wchar"])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def register(socket: Path, count: int, brand: str = "teltonika") -> None:
    wire = BRANDS[brand]
    transport = httpx.AsyncHTTPTransport(uds=str(socket))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=60) as api:
        async def worker(start: int) -> None:
            for index in range(start, count, 32):
                unit = {"id": wire.unit_id(index), "brand": wire.api_brand, "setup": {"vehicle_model_id": wire.model}}
                if wire.password(index) is not None:
                    unit["authentication"] = {"password": wire.password(index)}
                body = {"telematics_unit": unit}
                response = await api.post("/vehicles", json=body)
                if response.status_code not in (201, 409):
                    raise RuntimeError(response.text)

        async with trio.open_nursery() as nursery:
            for start in range(32):
                nursery.start_soon(worker, start)


def wait_for_health(socket: Path, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {process.stderr.read()}")
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://localhost") as c:
                return c.get("/health").json()
        except (httpx.TransportError, FileNotFoundError):
            time.sleep(0.1)
    raise RuntimeError("gateway did not start")


def open_subscribers(socket_path: Path, idle: int) -> list[socket.socket]:
    """``idle`` event-stream clients filtered to vehicles that send nothing, plus one
    unfiltered client that never reads a byte (the slow consumer of issue 7)."""
    clients = []
    for n in range(idle + 1):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(socket_path))
        query = f"?vehicle_id=IDLE{n}" if n < idle else ""
        client.sendall(f"GET /events{query} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        clients.append(client)
    return clients


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by ``pids`` together (a process gone meanwhile counts nothing)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def loadgen(port: int, units: int, records: int, interval: float, duration: float, server_pid: int,
            connect_time: float | None = None, brand: str = "teltonika",
            groups: dict[str, Callable[[], list[int]]] | None = None):
    """Run the load generator; while it runs, sample the server's peak RSS, and its CPU
    time and bytes written per packet over the measured window. ``groups``: more processes
    (by name, a function giving their pids) whose CPU per packet is reported in
    ``cpu_us_per_packet``, beside the load generator's own."""
    command = [sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), "--brand", brand, "--port", str(port),
               "--units", str(units),
               "--records", str(records), "--interval", str(interval), "--duration", str(duration),
               "--connect-time", str(connect_time or max(3.0, units / 700))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    watched = {**(groups or {}), "load generator": lambda: [process.pid]}
    peak, samples, group_samples = 0, [], []
    while process.poll() is None:
        peak = max(peak, rss_kib(server_pid))
        samples.append(usage(server_pid))
        group_samples.append((time.time(), {name: cpu_seconds(pids()) for name, pids in watched.items()}))
        time.sleep(0.25)
    result = json.loads(process.stdout.read())
    result["peak_rss_kib"] = peak
    start, end = result["window"]
    inside = [sample for sample in samples if start <= sample[0] <= end]
    if len(inside) >= 2 and result["packets"]:
        (t1, cpu1, written1), (t2, cpu2, written2) = inside[0], inside[-1]
        packets = result["packets"] / duration * (t2 - t1)
        result["server_cpu_us_per_packet"] = (cpu2 - cpu1) / packets * 1e6
        result["server_bytes_written_per_packet"] = (written2 - written1) / packets
    grouped = [sample for sample in group_samples if start <= sample[0] <= end]
    if len(grouped) >= 2 and result["packets"]:
        (t1, first), (t2, last) = grouped[0], grouped[-1]
        packets = result["packets"] / duration * (t2 - t1)
        result["cpu_us_per_packet"] = {name: (last[name] - first[name]) / packets * 1e6 for name in first}
    return result


def command_phases(socket: Path, port: int, index: int, capacity: dict, args, pid: int) -> dict:
    """Command and state-read round trips on the idle gateway, then beside one-record
    packets at 90% of the rate the capacity phase measured (open loop, the same units)."""
    print("command phase, idle ...", file=sys.stderr)
    idle = trio.run(probe, str(socket), port, index, 0, args.duration, args.command_unit_interval)
    rate = 0.9 * capacity["records_per_s"]
    connect = max(3.0, args.capacity_units / 700)
    print(f"command phase beside {rate:,.0f} packets/s ...", file=sys.stderr)
    loaded = {}

    def beside() -> None:
        try:
            loaded.update(trio.run(probe, str(socket), port, index, connect + 1, args.duration - 2,
                                   args.command_unit_interval))
        except Exception as exc:  # raised again in the benchmark's thread
            loaded["error"] = exc

    thread = threading.Thread(target=beside)
    thread.start()
    try:
        load = loadgen(port, args.capacity_units, 1, args.capacity_units / rate, args.duration, pid,
                       connect_time=connect)
    finally:
        thread.join()
    if "error" in loaded:
        raise loaded["error"]
    return {"idle": idle, "loaded": loaded, "load": load, "target_packets_per_s": rate}


def write_config(work: Path, brand: str, synchronous: str = "FULL", commit_interval: float = 0.02) -> Path:
    """A gateway config in ``work``: its data dir and admin socket there, one listener
    (``brand``'s, on a free port), warnings only in the log."""
    config = work / "bench.toml"
    drivers = "".join(
        f'[drivers.{name}]\nhost = "127.0.0.1"\nport = 0\n' if name == brand else f"[drivers.{name}]\nenabled = false\n"
        for name in BRANDS)
    config.write_text(
        f'data_dir = "{work / "data"}"\n[admin]\nsocket = "{work / "admin.sock"}"\n[log]\nlevel = "warning"\n'
        f'[store]\nsynchronous = "{synchronous}"\ncommit_interval = {commit_interval}\n' + drivers
    )
    return config


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fg-bench-"))
    socket = work / "admin.sock"
    config = write_config(work, args.brand, args.synchronous, args.commit_interval)
    trace_file = work / "trace.json"
    command = ([sys.executable, str(ROOT / "benchmarks" / "traced_gateway.py"), str(trace_file)] if args.trace
               else [sys.executable, "-m", "gateway"])
    gateway = subprocess.Popen([*command, "serve", "--config", str(config)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    echo = None
    multi = BRANDS[args.brand].multi_record
    phase = partial(loadgen, brand=args.brand)
    try:
        health = wait_for_health(socket, gateway)
        port = next(item["port"] for item in health["listeners"] if item["driver"] == args.brand)
        count = max(args.units, args.throughput_units if multi else 0, args.capacity_units)
        print(f"registering {count} {args.brand} vehicles ...", file=sys.stderr)
        trio.run(register, socket, count + 1, args.brand)  # the last one for the command phase
        idle_rss = rss_kib(gateway.pid)

        throughput = subscribed = None
        if multi:
            print("throughput phase ...", file=sys.stderr)
            throughput = phase(port, args.throughput_units, args.records, 0, args.duration, gateway.pid)
        if multi and args.subscribers:
            print(f"throughput phase with {args.subscribers} idle event subscribers and one that never reads ...",
                  file=sys.stderr)
            clients = open_subscribers(socket, args.subscribers)
            try:
                subscribed = phase(port, args.throughput_units, args.records, 0, args.duration, gateway.pid)
            finally:
                for client in clients:
                    client.close()
            # The database grows with every phase and inserts slow down as it does: measure
            # the baseline again after, and compare with the mean of the two.
            print("throughput phase again, without subscribers ...", file=sys.stderr)
            again = phase(port, args.throughput_units, args.records, 0, args.duration, gateway.pid)
            throughput["records_per_s_before"] = throughput["records_per_s"]
            throughput["records_per_s_after"] = again["records_per_s"]
            throughput["records_per_s"] = (throughput["records_per_s"] + again["records_per_s"]) / 2
        print(f"latency phase ... (gateway RSS {rss_kib(gateway.pid) / 1024:.0f} MiB, "
              f"{idle_rss / 1024:.0f} MiB after registering)", file=sys.stderr)
        latency = phase(port, args.units, 1, 1.0, args.duration, gateway.pid)
        # The packet rate the latency phase runs against: how much headroom 1 packet/s per
        # unit leaves decides how fast a backlog drains after any stall.
        print("capacity phase (one-record packets, closed loop) ...", file=sys.stderr)
        capacity = phase(port, args.capacity_units, 1, 0, args.duration, gateway.pid)
        commands = None
        if args.brand == "teltonika" and args.commands:
            commands = command_phases(socket, port, count, capacity, args, gateway.pid)

        echo = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "echo_server.py"), "--brand", args.brand],
                                stdout=subprocess.PIPE, text=True)
        echo_port = int(echo.stdout.readline())
        print("ceiling (bare trio server) ...", file=sys.stderr)
        echo_throughput = phase(echo_port, args.throughput_units, args.records, 0, args.duration, echo.pid) \
            if multi else None
        echo_latency = phase(echo_port, args.units, 1, 1.0, args.duration, echo.pid)
        echo_capacity = phase(echo_port, args.capacity_units, 1, 0, args.duration, echo.pid)
    finally:
        for process in (gateway, echo):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        trace = json.loads(trace_file.read_text()) if args.trace and trace_file.exists() else None
        shutil.rmtree(work, ignore_errors=True)
    per_unit = (latency["peak_rss_kib"] - idle_rss) / max(latency["connected"], 1)
    return {
        "brand": args.brand, "synchronous": args.synchronous,
        "gateway": {"throughput": throughput, "throughput_with_subscribers": subscribed, "latency": latency,
                    "capacity": capacity, "commands": commands, "idle_rss_kib": idle_rss, "rss_per_unit_kib": round(per_unit, 1)},
        "ceiling": {"throughput": echo_throughput, "latency": echo_latency, "capacity": echo_capacity},
        "trace": trace and traced_phases(trace, {"latency": latency, "capacity": capacity,
                                                 "commands beside 90%": commands and commands["load"]}),
    }


def traced_phases(trace: dict, phases: dict[str, dict | None]) -> dict:
    """Per measured phase: the scheduler's passes (how many, the share of the time they
    took, their durations) and each traced span's duration, in ms (benchmarks/traced_gateway.py)."""

    def spread(values: list[float]) -> dict:
        ordered = sorted(values)
        return {"n": len(ordered), **{f"p{p}": ordered[min(len(ordered) - 1, len(ordered) * p // 100)]
                                      for p in (50, 90, 99)}} if ordered else {"n": 0}

    out = {}
    for name, phase in phases.items():
        if not phase:
            continue
        start, end = phase["window"]
        passes = [duration * 1000 for at, duration, _ in trace["passes"] if start <= at <= end]
        spans: dict[str, list[float]] = {}
        for at, label, seconds in trace["spans"]:
            if start <= at <= end:
                spans.setdefault(label, []).append(seconds * 1000)
        out[name] = {"passes": spread(passes), "busy": sum(passes) / 1000 / (end - start),
                     "spans": {label: spread(values) for label, values in sorted(spans.items())}}
    return out


def report(result: dict, args) -> str:
    g, c = result["gateway"], result["ceiling"]
    rows = [
        *([("records/s persisted then ACKed" + (" (mean of 2)" if g["throughput_with_subscribers"] else ""),
            f"{g['throughput']['records_per_s']:,.0f}",
            f"{c['throughput']['records_per_s']:,.0f}",
            f"{args.throughput_units} units, {args.records} records/packet, closed loop")] if g["throughput"] else []),
        ("one-record packets/s",
         f"{g['capacity']['records_per_s']:,.0f} "
         f"({g['capacity']['records_per_s'] / c['capacity']['records_per_s']:.2f} of bare)",
         f"{c['capacity']['records_per_s']:,.0f}",
         f"{args.capacity_units} units, 1 record/packet, closed loop"),
        ("ACK p50 / p99 / max (ms)",
         f"{g['latency']['p50_ms']:.1f} / {g['latency']['p99_ms']:.1f} / {g['latency']['max_ms']:.1f}",
         f"{c['latency']['p50_ms']:.1f} / {c['latency']['p99_ms']:.1f} / {c['latency']['max_ms']:.1f}",
         f"{g['latency']['connected']} units, 1 packet/s each"
         + (f", {g['latency']['errors']} connections lost" if g['latency']['errors'] else "")),
        *([(f"records/s with {args.subscribers + 1} event subscribers",
            f"{g['throughput_with_subscribers']['records_per_s']:,.0f} "
            f"({(g['throughput_with_subscribers']['records_per_s'] / g['throughput']['records_per_s'] - 1) * 100:+.1f}%)",
            "-", f"{args.subscribers} idle (other vehicles) + 1 that never reads")]
          if g["throughput_with_subscribers"] else []),
        ("CPU per packet (µs)", f"{g['latency'].get('server_cpu_us_per_packet', 0):.0f}",
         f"{c['latency'].get('server_cpu_us_per_packet', 0):.0f}", "in the ACK latency phase, both threads"),
        ("bytes written to files per packet", f"{g['latency'].get('server_bytes_written_per_packet', 0):,.0f}", "-",
         "in the ACK latency phase: WAL and checkpoint"),
        ("RSS per connected unit (KiB)", f"{g['rss_per_unit_kib']}", "-",
         f"peak {g['latency']['peak_rss_kib'] / 1024:.0f} MiB vs idle {g['idle_rss_kib'] / 1024:.0f} MiB"),
    ]
    if g["commands"]:
        m = g["commands"]
        for name, label, goal in (("command", "command round trip", "50"), ("state", "GET .../state", "20")):
            idle, loaded = m["idle"][name], m["loaded"][name]
            rows.append((f"{label} p50 / p99 (ms)",
                         f"{loaded['p50_ms']:.1f} / {loaded['p99_ms']:.1f}",
                         "-", f"beside {m['load']['records_per_s']:,.0f} packets/s (90%); idle "
                              f"{idle['p50_ms']:.1f} / {idle['p99_ms']:.1f}; goal p99 <= {goal}; n={loaded['count']}"
                              + (f"; the unit streams every {args.command_unit_interval:g} s"
                                 if args.command_unit_interval else "")))
    lines = [f"{result['brand']}, synchronous={result['synchronous']}, commit_interval={args.commit_interval},"
             f" {os.cpu_count()} cores, gateway and load generator on one machine",
             f"{'':34} {'fleetgate':>24} {'bare trio':>24}  load"]
    lines += [f"{name:34} {ours:>24} {ceiling:>24}  {load}" for name, ours, ceiling, load in rows]
    for phase, traced in (result.get("trace") or {}).items():
        passes = traced["passes"]
        lines.append(f"trace, {phase}: {passes['n']} scheduler passes, busy {traced['busy']:.0%}, each p50 / p90 / p99 "
                     f"{passes.get('p50', 0):.1f} / {passes.get('p90', 0):.1f} / {passes.get('p99', 0):.1f} ms")
        lines += [f"    {label:28} n={span['n']:<6} p50 / p90 / p99 {span['p50']:.1f} / {span['p90']:.1f} / {span['p99']:.1f} ms"
                  for label, span in traced["spans"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brand", choices=sorted(BRANDS), default="teltonika")
    parser.add_argument("--units", type=int, default=5000, help="units for the latency phase (1 packet/s each)")
    parser.add_argument("--throughput-units", type=int, default=100, help="units for the throughput phase")
    parser.add_argument("--capacity-units", type=int, default=1000,
                        help="units for the capacity phase (one-record packets, closed loop)")
    parser.add_argument("--records", type=int, default=20, help="records per packet in the throughput phase")
    parser.add_argument("--duration", type=float, default=20, help="seconds each phase measures")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--commit-interval", type=float, default=0.02,
                        help="the gateway's [store] commit_interval (0: commit as soon as a packet waits)")
    parser.add_argument("--subscribers", type=int, default=100,
                        help="idle event-stream subscribers for the second throughput run (0: skip it)")
    parser.add_argument("--no-commands", dest="commands", action="store_false",
                        help="skip the command phases (Teltonika only)")
    parser.add_argument("--command-unit-interval", type=float, default=0, metavar="S",
                        help="the commanded unit also sends a one-record packet every S seconds, so that commands "
                             "find ACKs owed to it (0: it sends none)")
    parser.add_argument("--trace", action="store_true",
                        help="run the gateway under benchmarks/traced_gateway.py and report, per phase, its scheduler's "
                             "passes and how long store reads, writes and commands took")
    parser.add_argument("--quick", action="store_true", help="500 units (200 in the capacity phase), 6 s phases, no subscriber phases: under 2 minutes")
    args = parser.parse_args()
    if args.quick:
        args.units, args.capacity_units, args.duration, args.subscribers = 500, 200, 6, 0
    result = run(args)
    print(report(result, args))
    print(json.dumps(result))
