"""Where a packet's CPU goes: each thread's user and kernel time per packet, for the gateway
and for the bare trio server (benchmarks/echo_server.py) in the same run, at a fixed rate.

    .venv/bin/python benchmarks/threads.py                # 500 units, 1 packet/s each, 10 s
    .venv/bin/python benchmarks/threads.py --units 1000 --spy

benchmarks/ingest.py gives one figure per process; this one says which thread spent it (the
event loop, the store's writer and readers, which trio runs on its cached worker threads, so
one writer's work may show under several names) and, with --spy, what the event loop's
thread spent it on. --spy samples the gateway with py-spy (`.venv/bin/pip install py-spy`,
not a dependency) only while a thread holds the interpreter (--gil), so idle waits do not
count, and sorts the samples into stages by the innermost function of the stack that
begins one. py-spy pauses the process for each sample: read its shares, not its rates.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.brands import BRANDS  # noqa: E402
from benchmarks.ingest import register, wait_for_health, write_config  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
# (stage, pattern of a frame that begins it); the innermost frame that matches decides.
STAGES = [
    ("decode and encode (the codec)", re.compile(r"^BufferedCodec\.(next_event|send) ")),
    ("rows (ingest.prepare_batch)", re.compile(r"^prepare_batch ")),
    ("store, event loop side", re.compile(r"^Store\.")),
    ("session (sessions.py)", re.compile(r"^UnitSession\.")),
    ("admin API", re.compile(r"\((gateway/admin|hypercorn|starlette|fastapi)/")),
]
OTHER = "trio's scheduler and the rest"


def threads(pid: int) -> dict[str, tuple[str, int, int]]:
    """Each thread of ``pid``: its name and its user and kernel CPU in clock ticks."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rpartition(")")[2].split()
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:  # ended meanwhile
            continue
        found[tid] = (name, int(fields[11]), int(fields[12]))
    return found


def measure(pid: int, port: int, args, spy_output: Path | None = None) -> dict:
    """Per-thread µs per packet while ``args.units`` units send one packet a second."""
    connect = max(3.0, args.units / 700)
    loadgen = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), "--brand", args.brand, "--port", str(port),
         "--units", str(args.units), "--records", "1", "--interval", "1.0", "--duration", str(args.seconds + 4),
         "--connect-time", str(connect)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(connect + 2)  # every unit connected, logged in and sending
        before, start = threads(pid), time.monotonic()
        if spy_output:
            subprocess.run([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid), "-d",
                            str(args.seconds), "-r", "250", "--threads", "--gil", "--format", "raw",
                            "-o", str(spy_output)], check=True, capture_output=True)
        else:
            time.sleep(args.seconds)
        after, seconds = threads(pid), time.monotonic() - start
    finally:
        loadgen.wait()
    packets = args.units * seconds  # one a second each
    per_thread: dict[str, list[float]] = {}
    for tid, (name, user, kernel) in after.items():
        _, user0, kernel0 = before.get(tid, (name, 0, 0))
        label = "event loop" if tid == str(pid) else name
        spent = per_thread.setdefault(label, [0.0, 0.0])
        spent[0] += (user - user0) / TICKS / packets * 1e6
        spent[1] += (kernel - kernel0) / TICKS / packets * 1e6
    return {name: spent for name, spent in per_thread.items() if sum(spent) >= 1}


def stages(raw: Path) -> Counter:
    """Event-loop samples by stage, from py-spy's raw output (one stack a line, then its count)."""
    counts: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            continue
        stage = OTHER
        for frame in frames[1:]:
            stage = next((name for name, pattern in STAGES if pattern.search(frame)), stage)
        counts[stage] += int(count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brand", choices=sorted(BRANDS), default="teltonika")
    parser.add_argument("--units", type=int, default=500, help="units, each sending one one-record packet a second")
    parser.add_argument("--seconds", type=float, default=10, help="seconds measured")
    parser.add_argument("--spy", action="store_true", help="also sort the event loop's samples into stages (py-spy)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fg-threads-"))
    gateway = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(write_config(work, args.brand))],
                               cwd=ROOT)
    echo = None
    try:
        health = wait_for_health(work / "admin.sock", gateway)
        port = next(item["port"] for item in health["listeners"] if item["driver"] == args.brand)
        trio.run(register, work / "admin.sock", args.units, args.brand)
        print(f"{args.units} {args.brand} units at 1 packet/s, {args.seconds:.0f} s: fleetgate ...", file=sys.stderr)
        fleetgate = measure(gateway.pid, port, args, work / "spy.txt" if args.spy else None)
        echo = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "echo_server.py"), "--brand", args.brand],
                                stdout=subprocess.PIPE, text=True)
        print("... and the bare trio server", file=sys.stderr)
        bare = measure(echo.pid, int(echo.stdout.readline()), args)
        counts = stages(work / "spy.txt") if args.spy else None
    finally:
        for process in (gateway, echo):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'µs per packet':40} {'user':>8} {'kernel':>8}")
    for title, per_thread in (("fleetgate", fleetgate), ("bare trio server", bare)):
        for name, (user, kernel) in sorted(per_thread.items(), key=lambda item: -sum(item[1])):
            print(f"{title + ', ' + name:40} {user:8.0f} {kernel:8.0f}")
        total_user, total_kernel = (sum(spent[i] for spent in per_thread.values()) for i in (0, 1))
        print(f"{title + ', all threads':40} {total_user:8.0f} {total_kernel:8.0f}")
    if counts:
        loop_user = fleetgate["event loop"][0]
        print(f"\nthe event loop's user time by stage ({sum(counts.values())} samples holding the interpreter)")
        for stage, count in counts.most_common():
            share = count / sum(counts.values())
            print(f"  {stage:38} {share:6.1%} {share * loop_user:6.0f} µs")


if __name__ == "__main__":
    main()
