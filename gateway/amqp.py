"""The event log, published to RabbitMQ (`[events.amqp]`): every event, in the log's
order, at least once.

The publisher reads the events table after a cursor kept in the store, publishes a batch
with publisher confirms, and moves the cursor only once the broker confirmed the whole
batch. A broker restart, a lost connection or a gateway killed mid-batch therefore repeats
events (with the same message id) and loses none. It runs as a task of its own that reads
committed events, so a slow or dead broker means a growing backlog (`/metrics`,
`/health`), never a slower ACK to a unit.

In a cluster one live node publishes (``turn``: the nodes agree on one by their leases), from
the cursor in the store. While the nodes' view of who is alive changes, two may publish the
same events for a moment: repeats, as after a lost connection, and the cursor never passes
an event the broker did not confirm.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import trio

from gateway.amqp_link import BrokerLink, LinkError, Message
from gateway.config import AmqpConfig
from gateway.store import Store, StoreError
from gateway.store.events import START, Event, Position, last_position, query_events
from gateway.store.queries import get_meta, set_meta

log = logging.getLogger(__name__)

CURSOR = "amqp_published_through"  # meta key: the log position of the last event the broker confirmed
ENVELOPE_VERSION = 1  # metadata.version: raised when an event's data changes incompatibly
BATCH = 500  # events per confirmed batch
IDLE_CHECK = 1.0  # seconds between looks at the log and the link when nothing woke the publisher
OPEN_TIMEOUT = 20.0  # seconds for a connection to be ready (pika gives up after 15)
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # seconds between connection attempts, doubling
STORE_RETRY = 1.0  # seconds before reading or moving the cursor again after a storage fault


def redacted(url: str) -> str:
    """The broker's URL without its password, for log lines."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    where = f"{parts.username}@{host}" if parts.username else host
    return f"{parts.scheme}://{where}{f':{parts.port}' if parts.port else ''}{parts.path}"


def envelope(event: Event, fleet_id: str) -> Message:
    """The OneAPI's envelope around the event as the API shows it. Built from the stored
    row alone, so a repeat is byte for byte the first message."""
    data = event.to_api()
    metadata = {"message_id": data["id"], "message_type": event.type, "occurred_at": event.occurred_at,
                "version": ENVELOPE_VERSION, "flow_id": f"{fleet_id}-{event.id}"}
    body = json.dumps({"metadata": metadata, "data": data}, separators=(",", ":")).encode()
    return Message(routing_key=event.type, body=body, message_id=data["id"], type=event.type)


def cursor_text(position: Position) -> str:
    return f"{position[0]}:{position[1]}"


def cursor_from(text: str | None) -> Position:
    """A stored cursor: "xid:id" (events.Position), or a bare event id as SQLite wrote it."""
    if not text:
        return START
    xid, _, event_id = text.rpartition(":")
    return int(xid or 0), int(event_id)


class EventPublisher:
    def __init__(self, store: Store, config: AmqpConfig, fleet_id: str, turn: Callable[[], bool] = lambda: True):
        self.store, self.config, self.fleet_id = store, config, fleet_id
        self.turn = turn  # whether this node is the one that publishes
        self.cursor: Position = START  # the last event the broker confirmed
        self.newest = 0  # the id of the newest event known to be committed
        self.published = 0  # messages confirmed since start, repeats included
        self.link: BrokerLink | None = None
        self._wake = trio.Event()

    @property
    def connected(self) -> bool:
        return self.link is not None and self.link.alive

    @property
    def backlog(self) -> int:
        """Events committed and not yet confirmed by the broker: exact on SQLite, whose ids
        count up by one; an estimate on PostgreSQL, whose sequence leaves gaps."""
        return max(0, self.newest - self.cursor[1])

    def status(self) -> dict:
        """For /health: a dead broker is a state of the publisher, not of the gateway."""
        return {"connected": self.connected, "backlog": self.backlog, "published": self.published}

    def committed(self, events: list[Event]) -> None:
        """The store's hook after a commit, in the event loop: costs a comparison."""
        if events:
            self.newest = max(self.newest, events[-1].id)
            self._wake.set()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.cursor = cursor_from(await self.store.read(get_meta, CURSOR))
        self.newest = max(self.newest, (await self.store.read(last_position))[1])
        task_status.started()
        where = f"{redacted(self.config.url)} exchange {self.config.exchange}"
        where += f" queue {self.config.queue}" if self.config.queue else ""
        delay, reported = BACKOFF_FIRST, ""
        while True:
            if not self.turn():
                await trio.sleep(IDLE_CHECK)
                continue
            try:  # another node may have published since this one last did
                self.cursor = cursor_from(await self.store.read(get_meta, CURSOR))
            except StoreError:
                await trio.sleep(STORE_RETRY)
                continue
            self.link = BrokerLink(self.config.url, self.config.exchange, self.config.queue)
            try:
                await self.link.open(OPEN_TIMEOUT)
                log.info("publishing the event log to %s after event %d (%d waiting)", where, self.cursor[1],
                         self.backlog)
                delay, reported = BACKOFF_FIRST, ""
                await self._publish_until_lost()
                log.info("another node publishes the event log now")
                continue
            except LinkError as exc:
                # Once per kind of failure at warning level: a broker down for an hour is one line.
                (log.warning if str(exc) != reported else log.debug)(
                    "AMQP broker %s: %s; %d events waiting, next attempt in %.1f s", where, exc, self.backlog, delay)
                reported = str(exc)
            finally:
                self.link.close()
            await trio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _publish_until_lost(self) -> None:
        """Publish until the link is lost (LinkError) or another node's turn comes."""
        while self.turn():
            self._wake = trio.Event()  # before reading: a commit after the read sets it
            try:
                events = await self.store.read(query_events, after=self.cursor, vehicle_id=None, types=None,
                                               occurred_after=None, occurred_before=None, limit=BATCH)
            except StoreError:
                await trio.sleep(STORE_RETRY)
                continue
            if not events:
                with trio.move_on_after(IDLE_CHECK):
                    await self._wake.wait()
                if not self.link.alive:
                    raise LinkError(self.link.reason or "the connection closed")
                continue
            self.newest = max(self.newest, events[-1].id)
            await self.link.publish([envelope(event, self.fleet_id) for event in events])
            await self._move_cursor(events[-1].position)
            self.published += len(events)

    async def _move_cursor(self, through: Position) -> None:
        # Until this commits, a restart publishes the batch again: a repeat, never a loss.
        while True:
            try:
                await self.store.write(set_meta, CURSOR, cursor_text(through))
                self.cursor = through
                return
            except StoreError:
                await trio.sleep(STORE_RETRY)
