"""Where a live one-record packet's CPU goes, stage by stage, on one thread.

The gateway's event loop and its writer thread share one interpreter (the GIL), so these
stages, with the event loop's own work, bound how many packets per second the gateway can
take, whatever the number of cores. Each packet is what benchmarks/loadgen.py sends in the ACK latency
phase, for one of 5,000 units; batches of 500 (``--batch``) are stored as the writer would
store them.
No sockets and no event loop: only the codec, ``prepare_batch``, ``persist_batches`` and
the COMMIT, each timed with the thread's CPU clock.

    .venv/bin/python benchmarks/pipeline.py [--rounds 6] [--batch 500]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.brands import avl_packet, imei  # noqa: E402
from drivers.base import Acknowledge, Login, LoginAccepted, RecordBatch  # noqa: E402
from drivers.teltonika import DRIVER as TELTONIKA  # noqa: E402
from gateway.clock import utc_now  # noqa: E402
from gateway.ingest import prepare_batch  # noqa: E402
from gateway.store import Store  # noqa: E402
from gateway.store.sqlite import WriterConnection  # noqa: E402
from gateway.store.queries import insert_vehicle  # noqa: E402
from gateway.store.telemetry import persist_batches  # noqa: E402

UNITS = 5000
BATCH = 500  # packets per commit: what the writer gathers at 5,000 packets/s after a stall
MODEL_OPTIONS = {"immobiliser_output": 1}


def logged_in_codec(index: int):
    codec = TELTONIKA.codec_factory()
    login = imei(index).encode()
    codec.receive_data(len(login).to_bytes(2, "big") + login)
    event = codec.next_event()
    assert isinstance(event, Login)
    codec.send(LoginAccepted(event))
    return codec


def vehicle_row(vehicle_id: str, unit_id: str) -> dict[str, str]:
    at = "2024-01-01T00:00:00.000Z"
    return {"id": vehicle_id, "created_at": at, "master_data": "{}", "master_data_modified_at": at,
            "custom_fields": "{}", "custom_fields_modified_at": at, "tags": "[]", "operation_status": "OPERATING",
            "operation_status_modified_at": at, "life_status": "ONLINE", "life_status_modified_at": at,
            "model_id": "benchmark", "unit_brand": "TELTONIKA", "unit_id": unit_id, "attached_at": at}


def run(rounds: int, batch_size: int = BATCH) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "pipeline.db"
        Store(path).close()  # the gateway's schema and page size
        conn = sqlite3.connect(path, isolation_level=None, factory=WriterConnection)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        codecs = [logged_in_codec(index) for index in range(UNITS)]
        vehicles = [f"VEHICLE{index:05d}" for index in range(UNITS)]
        with conn:  # registered, as the gateway's are: persist_batches writes state for vehicles that exist
            for index, vehicle_id in enumerate(vehicles):
                insert_vehicle(conn, vehicle_row(vehicle_id, imei(index)))
        spent = dict.fromkeys(("decode", "prepare", "persist", "commit"), 0.0)
        packets, clock_ms = 0, int(time.time() * 1000)
        for round_number in range(rounds):
            measured = round_number > 0  # the first round fills the state table
            for start in range(0, UNITS, batch_size):
                rows = []
                for index in range(start, min(start + batch_size, UNITS)):
                    clock_ms += 1
                    packet = avl_packet(clock_ms, 1, index)
                    t0 = time.thread_time()
                    codec = codecs[index]
                    codec.receive_data(packet)
                    batch = codec.next_event()
                    assert isinstance(batch, RecordBatch)
                    codec.send(Acknowledge(batch))
                    t1 = time.thread_time()
                    rows.append(prepare_batch(TELTONIKA, MODEL_OPTIONS, vehicles[index], imei(index), batch.records,
                                              batch.raw, utc_now(), 600.0))
                    t2 = time.thread_time()
                    if measured:
                        spent["decode"] += t1 - t0
                        spent["prepare"] += t2 - t1
                t0 = time.thread_time()
                conn.execute("BEGIN IMMEDIATE")
                conn.start_events()
                stored = persist_batches(conn, rows)
                t1 = time.thread_time()
                conn.execute("COMMIT")
                t2 = time.thread_time()
                assert stored == len(rows)
                if measured:
                    spent["persist"] += t1 - t0
                    spent["commit"] += t2 - t1
                    packets += len(rows)
        conn.close()
    return {stage: seconds / packets * 1e6 for stage, seconds in spent.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6, help="packets per unit (the first is not measured)")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help="packets per commit (about 10 at 500 packets/s with the default commit_interval)")
    args = parser.parse_args()
    per_packet = run(args.rounds, args.batch)
    total = sum(per_packet.values())
    for stage, us in per_packet.items():
        print(f"{stage:8} {us:6.1f} us/packet")
    print(f"{'total':8} {total:6.1f} us/packet (the event loop, the sockets and the thread hop come on top:"
          " benchmarks/ingest.py measures the whole gateway)")
