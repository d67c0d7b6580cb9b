"""The event log published to RabbitMQ: every event, in the log's order, at least once,
through a broker crash; a dead broker is a backlog, never an error to a unit.

A real broker (tests/servers.py) and a real AMQP client reading a durable queue that is
bound before the gateway publishes (RabbitMQ drops unroutable messages and confirms them);
with ``own_queue`` the gateway declares and binds that queue itself (`[events.amqp] queue`).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass

import httpx
import pika
import pytest
import trio

from gateway.app import run_gateway
from gateway.config import load_config

from tests.conftest import TEST_TIMEOUT, eventually, listener_port
from tests.gateway.seed import TELTONIKA_MODEL, unit_body
from tests.servers import free_port, rabbitmq  # noqa: F401 - the broker fixture
from tests.teltonika_unit import ScriptedUnit, avl_packet

IMEI = "356307042441013"
BROKER_TIMEOUT = 120  # seconds for a test that restarts the broker: a start takes seconds, more on a busy machine


@dataclass(frozen=True)
class Received:
    routing_key: str
    properties: pika.BasicProperties
    body: bytes


@pytest.fixture
def exchange(rabbitmq) -> str:  # noqa: F811
    """A durable topic exchange of this test's own, with a durable queue bound to every key."""
    name = f"fleetgate.events.test-{uuid.uuid4().hex[:8]}"
    rabbitmq.start()  # unless it runs: a failed test may have left it killed
    with rabbitmq.connect() as connection:
        channel = connection.channel()
        channel.exchange_declare(name, "topic", durable=True)
        channel.queue_declare(name, durable=True)
        channel.queue_bind(name, name, "#")
    return name


@pytest.fixture
def own_queue(request, rabbitmq, exchange) -> str:  # noqa: F811
    """The gateway's own queue (`[events.amqp] queue`), the only one bound to the exchange:
    the consumer's queue of ``exchange`` is deleted. The gateway declares it, unless the test
    is parametrized with arguments for it: then it is declared here first, as its owner would
    with arguments of their own, and the gateway takes it as it is."""
    name, arguments = f"{exchange}.own", getattr(request, "param", None)
    with rabbitmq.connect() as connection:
        channel = connection.channel()
        channel.queue_delete(exchange)
        if arguments is not None:
            channel.queue_declare(name, durable=True, arguments=arguments)
    return name


@pytest.fixture
def extra_config(request) -> str:
    if "exchange" not in request.fixturenames:  # a broker nobody runs
        return f'[events.amqp]\nurl = "amqp://guest:guest@127.0.0.1:{free_port()}/"\n'
    broker, exchange = request.getfixturevalue("rabbitmq"), request.getfixturevalue("exchange")
    queue = request.getfixturevalue("own_queue") if "own_queue" in request.fixturenames else ""
    return f'[events.amqp]\nurl = "{broker.url}"\nexchange = "{exchange}"\nqueue = "{queue}"\n'


def _drain(broker, queue: str) -> list[Received]:
    received = []
    with broker.connect() as connection:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return received
            received.append(Received(method.routing_key, properties, body))


async def _event_log(api) -> list[dict]:
    events, token = [], None
    while True:
        page = (await api.post("/event-log-entries/query", json={"limit": 500, "page_token": token})).json()
        events += page["items"]
        token = page["next_page_token"]
        if token is None:
            return events


class Stream:
    """A Teltonika unit sending one record after another, each acknowledged."""

    def __init__(self, unit: ScriptedUnit):
        self.unit, self.sent, self.running = unit, 0, True

    async def run(self) -> None:
        while self.running:
            self.sent += 1
            await self.unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000 + self.sent * 1000,
                                                        "lat": 52.5, "lon": 13.4 + self.sent / 1e4}))
            assert await self.unit.read_exactly(4) == b"\x00\x00\x00\x01"  # stored, whatever the broker does
            await trio.sleep(0.02)

    async def more(self, count: int = 5) -> None:
        """Wait until ``count`` more records were stored."""
        target = self.sent + count

        async def sent() -> bool:
            return self.sent >= target

        await eventually(sent, timeout=TEST_TIMEOUT)


async def _caught_up(gateway) -> bool:
    return gateway.amqp.connected and gateway.amqp.backlog == 0


async def test_every_event_reaches_the_broker_across_a_broker_crash(gateway, api, rabbitmq, exchange,  # noqa: F811
                                                                  own_queue):
    # The gateway's own queue: a crash soon after the gateway bound it can lose the binding
    # (gateway/amqp_link.py); the gateway binds it again when it connects.
    publisher = gateway.amqp
    with trio.fail_after(BROKER_TIMEOUT):
        await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))
        unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
        assert await unit.login() == b"\x01"
        stream = Stream(unit)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.run)
            await eventually(lambda: _caught_up(gateway), timeout=TEST_TIMEOUT)
            await stream.more()

            await trio.to_thread.run_sync(rabbitmq.kill)
            await eventually(lambda: _disconnected(gateway), timeout=TEST_TIMEOUT)
            await stream.more()  # units go on as before
            health = await api.get("/health")
            assert health.status_code == 200 and health.json()["amqp"]["connected"] is False
            assert health.json()["amqp"]["backlog"] > 0
            metrics = (await api.get("/metrics")).text
            assert "fleetgate_amqp_connected 0" in metrics
            assert int(re.search(r"^fleetgate_amqp_backlog (\d+)$", metrics, re.M)[1]) > 0

            await trio.to_thread.run_sync(rabbitmq.start)
            await stream.more()
            stream.running = False
        last = int((await _event_log(api))[-1]["id"])  # on PostgreSQL the pump tells the publisher a moment later
        await eventually(lambda: _published_through(gateway, last), timeout=TEST_TIMEOUT)
        received = await trio.to_thread.run_sync(_drain, rabbitmq, own_queue)
        log = await _event_log(api)

    assert len(log) > stream.sent  # the vehicle's own events and every record's
    by_id = {event["id"]: event for event in log}
    first: dict[str, Received] = {}
    for message in received:
        properties = message.properties
        assert (properties.content_type, properties.delivery_mode) == ("application/json", 2)
        envelope = json.loads(message.body)
        metadata, data = envelope["metadata"], envelope["data"]
        assert data == by_id[properties.message_id], "the event as the query shows it"
        assert metadata == {"message_id": data["id"], "message_type": data["type"], "occurred_at": data["occurred_at"],
                            "version": 1, "flow_id": f"{gateway.registry.fleet_id}-{data['id']}"}
        assert message.routing_key == properties.type == data["type"]
        # A repeat (the broker lost the connection before confirming) is the same message.
        assert first.setdefault(properties.message_id, message).body == message.body
    assert list(first) == [event["id"] for event in log]  # every event, first seen in the log's order
    assert publisher.published >= len(log)


async def test_an_event_that_reached_no_queue_is_published_again(gateway, api, rabbitmq, exchange,  # noqa: F811
                                                               own_queue):
    """The binding gone while the gateway publishes (as a broker crash can lose a recent one):
    the broker returns the mandatory message and confirms it, the batch fails, and the next
    connection binds the queue again and publishes from the cursor."""
    with trio.fail_after(TEST_TIMEOUT):
        await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))
        before = await _event_log(api)
        await eventually(lambda: _published_through(gateway, int(before[-1]["id"])))
        link = gateway.amqp.link

        def unbind() -> None:
            with rabbitmq.connect() as connection:
                connection.channel().queue_unbind(own_queue, exchange, "#")

        await trio.to_thread.run_sync(unbind)
        await api.post("/vehicles", json=unit_body("TELTONIKA", "356307042441021", TELTONIKA_MODEL))
        log = await _event_log(api)
        await eventually(lambda: _published_through(gateway, int(log[-1]["id"])))
    received = await trio.to_thread.run_sync(_drain, rabbitmq, own_queue)
    assert len(log) > len(before)
    # Every event, first seen in the log's order; the batch returned may repeat.
    assert list(dict.fromkeys(message.properties.message_id for message in received)) == [e["id"] for e in log]
    assert gateway.amqp.link is not link  # a new connection, which bound the queue again


@pytest.mark.parametrize("own_queue", [{"x-queue-type": "quorum"}, {"x-max-length": 1000}], indirect=True)
async def test_a_queue_declared_with_arguments_of_its_own_is_taken_as_it_is(gateway, api, rabbitmq, exchange,  # noqa: F811
                                                                             own_queue):
    """Declared without those arguments the broker would refuse it (PRECONDITION_FAILED)."""
    with trio.fail_after(TEST_TIMEOUT):
        await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))
        log = await _event_log(api)
        await eventually(lambda: _published_through(gateway, int(log[-1]["id"])))
    received = await trio.to_thread.run_sync(_drain, rabbitmq, own_queue)
    assert [message.properties.message_id for message in received] == [event["id"] for event in log]


async def _disconnected(gateway) -> bool:
    return not gateway.amqp.connected


async def test_a_dead_broker_is_a_backlog_not_an_error(gateway, api):
    vehicle = (await api.post("/vehicles", json=unit_body("TELTONIKA", IMEI, TELTONIKA_MODEL))).json()
    with trio.fail_after(TEST_TIMEOUT):
        unit = await ScriptedUnit.connect(listener_port(gateway, "teltonika"), IMEI)
        assert await unit.login() == b"\x01"
        await unit.stream.send_all(avl_packet({"ms": 1_700_000_000_000, "lat": 52.5, "lon": 13.4}))
        assert await unit.read_exactly(4) == b"\x00\x00\x00\x01"
    waiting = len(await _event_log(api))
    assert waiting >= 3  # created, online, the record

    async def amqp_status():  # on PostgreSQL the publisher hears of events from the log's pump
        health = await api.get("/health")
        assert health.status_code == 200
        return health.json()["amqp"] == {"connected": False, "backlog": waiting, "published": 0}

    await eventually(amqp_status)
    assert (await api.get(f"/vehicles/{vehicle['id']}/state")).json()["position"]["value"]["lat"] == 52.5


async def test_a_restarted_gateway_goes_on_from_where_the_broker_confirmed(config_file, rabbitmq, exchange):  # noqa: F811
    config = load_config(config_file)
    for imei in ("356307042441013", "356307042441021"):  # each run adds a vehicle: events to publish
        with trio.fail_after(TEST_TIMEOUT):
            async with trio.open_nursery() as nursery:
                runtime = await nursery.start(run_gateway, config)
                transport = httpx.AsyncHTTPTransport(uds=str(config.admin_socket))
                async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
                    assert (await api.post("/vehicles", json=unit_body("TELTONIKA", imei, TELTONIKA_MODEL))
                            ).status_code == 201
                    log = await _event_log(api)
                    # Through the last event logged: on PostgreSQL the publisher learns of
                    # new events from the log's pump, a moment after their commit.
                    await eventually(lambda: _published_through(runtime, int(log[-1]["id"])))
                nursery.cancel_scope.cancel()
    received = await trio.to_thread.run_sync(_drain, rabbitmq, exchange)
    # Stopped cleanly after the broker confirmed everything: the second run repeats nothing.
    assert [message.properties.message_id for message in received] == [event["id"] for event in log]
    assert len(log) == 2
    await eventually(_no_link_left)


async def _published_through(gateway, event_id: int) -> bool:
    return gateway.amqp.connected and gateway.amqp.cursor[1] >= event_id


async def _no_link_left() -> bool:
    """Every connection the gateway made is closed, and its thread gone."""
    return not any(thread.name == "fleetgate-amqp" for thread in threading.enumerate())
