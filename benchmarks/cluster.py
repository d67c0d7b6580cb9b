"""Cluster benchmark (issue 18): the same Teltonika load against three stores in one run.

    .venv/bin/python benchmarks/cluster.py            # about 10 minutes
    .venv/bin/python benchmarks/cluster.py --quick    # short phases and fewer units: 4-5 minutes

Setups, one after another on a fresh store each:
- SQLite, one node (the default gateway);
- PostgreSQL, one node (a private server this script starts, fsync on, as in production);
- PostgreSQL, `serve --workers 2`: one supervisor, two worker nodes accepting on one port.

Phases per setup (benchmarks/loadgen.py as a separate process, as in benchmarks/ingest.py):
records persisted then acknowledged per second (100 units, 20 records a packet, closed
loop); ACK p50/p99 at --units units sending one packet a second; one-record packets per
second (closed loop). CPU per packet is given per process group: the gateway (every
process of it), the PostgreSQL server (every backend) and the load generator. Everything
runs on this one machine: the figures say what each setup costs here, not what more
machines would give (README "Scaling out" estimates that from them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.ingest import loadgen, register, wait_for_health  # noqa: E402
from tests.servers import start_postgres  # noqa: E402


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def run_setup(name: str, store_url: str, workers: int, args, postmaster: int | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fg-cluster-bench-"))
    socket = work / "admin.sock"
    config = work / "bench.toml"
    store = f'url = "{store_url}"\n' if store_url else 'synchronous = "FULL"\n'
    config.write_text(
        f'data_dir = "{work / "data"}"\n[admin]\nsocket = "{socket}"\n[log]\nlevel = "warning"\n[store]\n{store}'
        f'[secrets]\nkey_file = "{work / "secrets.key"}"\n'
        '[drivers.teltonika]\nhost = "127.0.0.1"\nport = 0\n[drivers.gt06]\nenabled = false\n'
        '[drivers.jt808]\nenabled = false\n[drivers.niu]\nenabled = false\n')
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    if workers > 1:
        command += ["--workers", str(workers)]
    gateway = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    groups = {"gateway": lambda: descendants(gateway.pid)}
    if postmaster is not None:
        groups["PostgreSQL"] = lambda: descendants(postmaster)
    try:
        health = wait_for_health(socket, gateway)
        port = next(item["port"] for item in health["listeners"] if item["driver"] == "teltonika")
        count = max(args.units, args.capacity_units, 100)
        print(f"{name}: registering {count} vehicles ...", file=sys.stderr)
        trio.run(register, socket, count)
        phases = {}
        for phase, units, records, interval in (("throughput", 100, 20, 0), ("latency", args.units, 1, 1.0),
                                                ("capacity", args.capacity_units, 1, 0)):
            print(f"{name}: {phase} phase ...", file=sys.stderr)
            phases[phase] = loadgen(port, units, records, interval, args.duration, gateway.pid, groups=groups)
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()
        shutil.rmtree(work, ignore_errors=True)
    return {"setup": name, "workers": workers, **phases}


def report(results: list[dict], args) -> str:
    lines = [f"Teltonika, {os.cpu_count()} cores, gateway, PostgreSQL and load generator on one machine; "
             f"{args.duration:g} s phases",
             f"{'':26} {'records/s':>10} {'1-record pkts/s':>16} {'ACK p50 / p99 (ms)':>20}  "
             "CPU per packet in the latency phase (µs): gateway / PostgreSQL / load generator"]
    for result in results:
        latency = result["latency"]
        cpu = latency.get("cpu_us_per_packet", {})
        lines.append(
            f"{result['setup']:26} {result['throughput']['records_per_s']:>10,.0f} "
            f"{result['capacity']['records_per_s']:>16,.0f} "
            f"{latency['p50_ms']:>9.1f} / {latency['p99_ms']:>7.1f}  "
            f"{cpu.get('gateway', 0):.0f} / {cpu.get('PostgreSQL', 0):.0f} / {cpu.get('load generator', 0):.0f}"
            f"  ({latency['connected']} units)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=5000, help="units in the ACK latency phase (1 packet/s each)")
    parser.add_argument("--capacity-units", type=int, default=1000, help="units in the capacity phase")
    parser.add_argument("--duration", type=float, default=20, help="seconds each phase measures")
    parser.add_argument("--workers", type=int, default=2, help="workers of the third setup")
    parser.add_argument("--quick", action="store_true", help="1,000 units (200 in the capacity phase), 6 s phases")
    args = parser.parse_args()
    if args.quick:
        args.units, args.capacity_units, args.duration = 1000, 200, 6
    server = start_postgres()
    if server is None:
        sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
    try:
        postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
        results = [
            run_setup("SQLite, one node", "", 1, args, None),
            run_setup("PostgreSQL, one node", server.new_database(), 1, args, postmaster),
            run_setup(f"PostgreSQL, {args.workers} workers", server.new_database(), args.workers, args, postmaster),
        ]
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
    print(report(results, args))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
