"""How fast the event publisher empties a backlog into RabbitMQ, and what it costs.

A store is filled with VehicleStateRecorded events (the most common kind, with the state
a one-record Teltonika packet gives), then one ``EventPublisher`` publishes them, with
publisher confirms, to a private broker (Debian's rabbitmq-server, started as the tests
start it) through a durable queue, so that every message is persisted as in production.
Prints events/s and the gateway process's CPU per event (both threads: the event loop,
which reads and wraps the events, and pika's).

    .venv/bin/python benchmarks/amqp.py [--events 50000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gateway.amqp import EventPublisher  # noqa: E402
from gateway.clock import now_text  # noqa: E402
from gateway.config import AmqpConfig  # noqa: E402
from gateway.store import Store  # noqa: E402
from gateway.store.events import log_event  # noqa: E402
from tests.servers import RabbitMQ, rabbitmq_missing  # noqa: E402

EXCHANGE = QUEUE = "fleetgate.events.benchmark"
STATE = {
    "position": {"timestamp": "2024-05-01T12:00:00.000Z", "value": {"lat": 52.520008, "lon": 13.404954}},
    "speed_in_kilometers_per_hour": {"timestamp": "2024-05-01T12:00:00.000Z", "value": 37},
    "ignition": {"timestamp": "2024-05-01T12:00:00.000Z", "value": "ON"},
    "mileage_in_kilometers": {"timestamp": "2024-05-01T12:00:00.000Z", "value": 15231.4},
    "cellular_signal_quality": {"timestamp": "2024-05-01T12:00:00.000Z", "value": 4},
}


def fill(conn, count: int) -> None:
    at = now_text()
    for index in range(count):
        log_event(conn, "VehicleStateRecorded", f"V{index % 5000:04d}", "TELTONIKA", f"35630704{index % 5000:07d}",
                  at, STATE)


def prepare_broker(broker: RabbitMQ) -> None:
    with broker.connect() as connection:
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, "topic", durable=True)
        channel.queue_declare(QUEUE, durable=True)
        channel.queue_bind(QUEUE, EXCHANGE, "#")
        channel.queue_purge(QUEUE)


async def measure(store: Store, broker: RabbitMQ, events: int) -> dict:
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        for _ in range(events // 1000):
            await store.write(fill, 1000)
        publisher = EventPublisher(store, AmqpConfig(url=broker.url, exchange=EXCHANGE), "BENCH")
        cpu, start = time.process_time(), time.perf_counter()
        await nursery.start(publisher.run)
        while publisher.backlog:
            await trio.sleep(0.01)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        nursery.cancel_scope.cancel()
    return {"events": publisher.published, "seconds": round(wall, 2), "events_per_second": round(publisher.published / wall),
            "cpu_us_per_event": round(cpu / publisher.published * 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    missing = rabbitmq_missing()
    if missing:
        print(f"benchmarks/amqp.py: {missing}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="fgbench") as directory:
        broker = RabbitMQ(Path(directory) / "broker")
        try:
            broker.start()
            prepare_broker(broker)
            store = Store(Path(directory) / "fleetgate.db")
            try:
                print(json.dumps(trio.run(measure, store, broker, args.events)))
            finally:
                store.close()
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
