"""Abuse benchmark: what strangers cost a running gateway, and what its fleet notices.

    .venv/bin/python benchmarks/abuse.py            # full run: 20,000 silent connections, 1 million fake logins
    .venv/bin/python benchmarks/abuse.py --quick    # 2,000 silent connections, 20,000 fake logins
    .venv/bin/python benchmarks/abuse.py --quick --no-listener-caps   # only the descriptor reserve holds
    .venv/bin/python benchmarks/abuse.py --quick --nice -10   # on a machine busy with other work (as root)

The gateway runs as its own process (`python -m gateway serve`, default settings but for
the seen-units cap) on a temporary data dir. 100 real Teltonika units
(benchmarks/loadgen.py) send one packet a second, first alone, then while connections
that never send a byte and fake logins with random unknown IMEIs (benchmarks/flood.py,
in their own processes, at the lowest CPU priority: they stand in for other machines)
hit the same listener. Meanwhile GET /vehicles is timed on the
admin socket and the gateway's RSS sampled. After the measured window the fake logins
run to their end; then the seen-units rows and the UnitSeen events written are counted.
Every process shares the machine's cores. Not part of the test suite: figures are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.ingest import loadgen, register, rss_kib, wait_for_health  # noqa: E402

SILENT_PER_PROCESS = 10_000  # each flood process stays well inside its own open-file limit
UNITS = 100
CONNECT = 3.0  # seconds the real units have to log in before the attack starts


class AdminProbe:
    """GET /vehicles every ``interval`` seconds on its own thread; keeps each answer's time."""

    def __init__(self, socket: Path, interval: float = 0.25):
        self.socket, self.interval = socket, interval
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AdminProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, base_url="http://localhost", timeout=30) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    ok = client.get("/vehicles").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.latencies.append(time.perf_counter() - start)
                else:
                    self.failures += 1
                self._stop.wait(self.interval)

    def summary(self) -> dict:
        found = sorted(self.latencies)
        if not found:
            return {"requests": 0, "failures": self.failures}
        return {"requests": len(found), "failures": self.failures, "p50_ms": statistics.median(found) * 1000,
                "p99_ms": found[min(len(found) - 1, int(0.99 * len(found)))] * 1000, "max_ms": found[-1] * 1000}


def flood(mode: str, port: int, **options) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "benchmarks" / "flood.py"), mode, "--port", str(port)]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    # 19 below the rest: the attackers stand in for machines elsewhere, whose work should
    # not be taken out of the gateway's share of this machine's cores.
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.nice(19))


def metrics(socket: Path) -> str:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://localhost", timeout=30) as c:
        return c.get("/metrics").text


def metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def counted(database: Path) -> dict:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return {
            "seen_unit_rows": conn.execute("SELECT count(*) FROM seen_units").fetchone()[0],
            "unit_seen_events": conn.execute("SELECT count(*) FROM events WHERE type = 'UnitSeen'").fetchone()[0],
            "database_bytes": sum(path.stat().st_size for path in (database, Path(f"{database}-wal")) if path.exists()),
        }


def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fg-abuse-"))
    socket = work / "admin.sock"
    config = work / "abuse.toml"
    caps = "max_unauthenticated = 1000000\naccepts_per_second = 1000000\n" if args.no_listener_caps else ""
    if args.accepts_per_second and not args.no_listener_caps:
        caps = f"accepts_per_second = {args.accepts_per_second}\n"
    config.write_text(
        f'data_dir = "{work / "data"}"\n[admin]\nsocket = "{socket}"\n[log]\nlevel = "warning"\n'
        f"[sessions]\nmax_seen_units = {args.seen_cap}\n"
        f'[drivers.teltonika]\nhost = "127.0.0.1"\nport = 0\n{caps}'
        "[drivers.gt06]\nenabled = false\n[drivers.jt808]\nenabled = false\n[drivers.niu]\nenabled = false\n"
    )
    log = open(work / "gateway.log", "w")
    gateway = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)], cwd=ROOT,
                               stderr=log, text=True)
    floods: list[subprocess.Popen] = []
    try:
        port = next(item["port"] for item in wait_for_health(socket, gateway)["listeners"]
                    if item["driver"] == "teltonika")
        trio.run(register, socket, UNITS)
        print("alone: 100 units, 1 packet/s each ...", file=sys.stderr)
        alone, _ = window(port, gateway.pid, socket, args)
        rss_before = rss_kib(gateway.pid)

        print(f"attack: {args.silent:,} silent connections and {args.logins:,} fake logins ...", file=sys.stderr)
        started: list[float] = []

        def attack() -> None:
            hold = args.settle + args.duration + 10
            for first in range(0, args.silent, SILENT_PER_PROCESS):
                floods.append(flood("silent", port, count=min(SILENT_PER_PROCESS, args.silent - first), duration=hold))
            floods.append(flood("logins", port, count=args.logins, connections=args.login_connections))
            started.append(time.perf_counter())

        attacked, during = window(port, gateway.pid, socket, args, attack)
        *silent_floods, logins = floods
        silent = [json.loads(process.communicate()[0]) for process in silent_floods]
        print("fake logins to their end ...", file=sys.stderr)
        peak = attacked["peak_rss_kib"]
        while logins.poll() is None:
            peak = max(peak, rss_kib(gateway.pid))
            time.sleep(0.5)
        login_flood = json.loads(logins.stdout.read())
        login_seconds = time.perf_counter() - started[0]
        print("alone again ...", file=sys.stderr)
        again, _ = window(port, gateway.pid, socket, args)
        after = metrics(socket)
        rss_after = rss_kib(gateway.pid)
        database = counted(work / "data" / "fleetgate.db")
    finally:
        for process in (*floods, gateway):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
        log.close()
    tracebacks = (work / "gateway.log").read_text().count("Traceback")
    shutil.rmtree(work)
    return {
        "settings": {"silent": args.silent, "logins": args.logins, "seen_cap": args.seen_cap,
                     "listener_caps": not args.no_listener_caps, "duration": args.duration},
        "alone": alone, "attacked": attacked, "alone_after": again,
        "silent_flood": silent, "login_flood": {**login_flood, "wall_seconds": login_seconds},
        "gateway": {
            "rss_before_kib": rss_before, "rss_peak_kib": peak, "rss_after_kib": rss_after,
            "connections_open_during": metric_sum(during, "fleetgate_connections_open"),
            "evicted": metric_sum(after, "fleetgate_connections_shed_total", reason="evicted"),
            "shed_fd_reserve": metric_sum(after, "fleetgate_connections_shed_total", reason="fd_reserve"),
            "accept_errors": metric_sum(after, "fleetgate_accept_errors_total"),
            "login_timeouts": metric_sum(after, "fleetgate_frames_refused_total", reason="login_timeout"),
            "unknown_unit_logins": metric_sum(after, "fleetgate_frames_refused_total", reason="unknown_unit"),
            "tracebacks_in_log": tracebacks,
            **database,
        },
    }


def window(port: int, gateway_pid: int, socket: Path, args, attack=None) -> tuple[dict, str]:
    """100 units logged in, then (``attack()`` called, if given, and) ``args.settle`` s, then
    one measured window of ``args.duration`` s, GET /vehicles timed all along. Returns the
    window's figures and a /metrics reading from its middle."""
    result: dict = {}
    units = threading.Thread(target=lambda: result.update(
        loadgen(port, UNITS, 1, 1.0, args.duration, gateway_pid, connect_time=CONNECT + args.settle)))
    with AdminProbe(socket) as probe:
        units.start()
        time.sleep(CONNECT)  # the fleet is connected first, as it would be
        if attack is not None:
            attack()
        time.sleep(args.settle)
        opened = metrics(socket)
        time.sleep(args.duration / 2)
        middle = metrics(socket)
        units.join()
        result["commits"] = commits(opened, metrics(socket))
    result["admin"] = probe.summary()
    return result, middle


def commits(before: str, after: str) -> dict:
    """Commits between two /metrics readings: how many jobs each, how long each took."""
    batches, jobs, seconds = (metric_sum(after, name) - metric_sum(before, name) for name in (
        "fleetgate_commit_batches_total", "fleetgate_commit_jobs_total", "fleetgate_commit_seconds_total"))
    return {"batches": batches, "jobs_per_batch": jobs / max(batches, 1), "mean_ms": seconds / max(batches, 1) * 1000}


def cores(window: dict) -> float:
    """The gateway's CPU use in a loadgen window, in cores (loadgen measures it per packet)."""
    return window.get("server_cpu_us_per_packet", 0) * window["packets"] / window["duration"] / 1e6


def report(result: dict) -> str:
    windows, g = (result["alone"], result["attacked"], result["alone_after"]), result["gateway"]
    logins = result["login_flood"]

    def row(name: str, cell) -> str:
        return f"{name:36}" + "".join(f"{cell(w):>26}" for w in windows)

    lines = [f"{os.cpu_count()} cores; gateway, units, floods and probe on one machine (load average "
             f"{os.getloadavg()[0]:.1f}); listener caps {'on (defaults)' if result['settings']['listener_caps'] else 'off'}",
             f"{'':36}{'alone':>26}{'under attack':>26}{'alone again':>26}",
             row("ACK p50 / p99 / max (ms), 100 units", lambda w: f"{w['p50_ms']:.1f} / {w['p99_ms']:.1f} / {w['max_ms']:.1f}"),
             row("units connected / errors", lambda w: f"{w['connected']} / {w['errors']}"),
             row("GET /vehicles p50 / p99 / max (ms)",
                 lambda w: f"{w['admin']['p50_ms']:.1f} / {w['admin']['p99_ms']:.1f} / {w['admin']['max_ms']:.1f}"
                           + (f" ({w['admin']['failures']} failed)" if w["admin"]["failures"] else "")),
             row("gateway CPU (cores)", lambda w: f"{cores(w):.2f}"),
             row("commits: mean ms / jobs each",
                 lambda w: f"{w['commits']['mean_ms']:.1f} / {w['commits']['jobs_per_batch']:.1f}"),
             f"unit connections open in the gateway under attack: {g['connections_open_during']:,.0f}"]
    silent_opened = sum(s["opened"] for s in result["silent_flood"])
    lines += [
        f"silent connections held by the flood: {result['settings']['silent']:,} "
        f"({silent_opened:,} opened in all, the gateway evicted {g['evicted']:,.0f} strangers, "
        f"{g['login_timeouts']:,.0f} met the login deadline)",
        f"fake logins: {logins['logins']:,} in {logins['wall_seconds']:.0f} s "
        f"({logins['logins'] / logins['wall_seconds']:,.0f}/s; refused as unknown {g['unknown_unit_logins']:,.0f},"
        f" connect errors {logins['connect_errors']:,})",
        f"seen-unit rows: {g['seen_unit_rows']:,} (cap {result['settings']['seen_cap']:,}); UnitSeen events written: "
        f"{g['unit_seen_events']:,}; database {g['database_bytes'] / 2**20:.1f} MiB",
        f"gateway RSS: {g['rss_before_kib'] / 1024:.0f} MiB before, peak {g['rss_peak_kib'] / 1024:.0f} MiB, "
        f"{g['rss_after_kib'] / 1024:.0f} MiB after",
        f"accept errors: {g['accept_errors']:,.0f}; shed at the descriptor reserve: {g['shed_fd_reserve']:,.0f}; "
        f"tracebacks in the gateway's log: {g['tracebacks_in_log']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--silent", type=int, default=20_000, help="connections that never send, held open")
    parser.add_argument("--logins", type=int, default=1_000_000, help="fake logins with random unknown IMEIs")
    parser.add_argument("--login-connections", type=int, default=50, help="fake logins at a time")
    parser.add_argument("--seen-cap", type=int, default=10_000, help="[sessions] max_seen_units")
    parser.add_argument("--duration", type=float, default=30, help="seconds each ACK window measures")
    parser.add_argument("--settle", type=float, default=10, help="seconds the attack runs before the window")
    parser.add_argument("--accepts-per-second", type=float, help="the listener's accepts_per_second (default: its default)")
    parser.add_argument("--no-listener-caps", action="store_true",
                        help="lift max_unauthenticated and accepts_per_second: only the descriptor reserve holds")
    parser.add_argument("--quick", action="store_true", help="2,000 silent connections, 20,000 fake logins, 15 s")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the gateway, the units and the probe (negative, as root: ahead of other "
                             "work on a shared machine; the floods stay 19 below)")
    args = parser.parse_args()
    if args.nice:
        os.nice(args.nice)  # inherited by every process started from here
    if args.quick:
        args.silent, args.logins, args.duration, args.settle = 2_000, 20_000, 15, 5
    result = run(args)
    print(report(result))
    print(json.dumps(result))
