"""One connection to a RabbitMQ broker with one confirming channel, run by pika's I/O loop
on a thread of its own.

pika's objects belong to the thread that made them; ``add_callback_threadsafe`` is their
one thread-safe door, and the trio side hears back through its trio token. A batch is
published at once and confirmed as a whole: the broker acknowledges many messages per
frame, where waiting for each message's confirmation in turn (pika's BlockingChannel)
managed some 270 messages a second against a local broker, an fsync each.

With a queue of its own the link declares and binds it on every connection, before the first
message. RabbitMQ keeps a binding in its metadata store, which a crash can lose when the
binding was made shortly before (seen with 3.10: the exchange and the queue came back, the
binding did not); the broker then confirms every message as taken and drops it. The link
binds again each time it connects and publishes as mandatory, so a message that reached no
queue comes back (basic.return, before its confirm) and fails its batch.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import partial

import pika
import pika.exceptions
import trio
from pika import spec

log = logging.getLogger(__name__)
# pika logs every failed connection attempt at ERROR, with a traceback, and even a close
# while closing; the publisher says what matters once (gateway/amqp.py).
logging.getLogger("pika").setLevel(logging.CRITICAL)

CONFIRM_TIMEOUT = 30.0  # seconds for the broker to confirm a batch; then the link is given up
LIVENESS_CHECK = 1.0  # seconds between looks at the connection while a batch waits


class LinkError(Exception):
    """The broker is unreachable, refused something, or the connection was lost."""


@dataclass(frozen=True)
class Message:
    routing_key: str
    body: bytes
    message_id: str
    type: str


@dataclass(eq=False)
class _Batch:
    done: trio.Event = field(default_factory=trio.Event)
    error: LinkError | None = None


def parameters(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    # One attempt: the publisher's own backoff decides when to try again.
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.stack_timeout = 15
    # A broker that stops reading (a memory or disk alarm) is given up after a minute.
    params.blocked_connection_timeout = 60
    params.client_properties = {"connection_name": "fleetgate event publisher"}
    return params


class BrokerLink:
    """Create it in the trio thread; ``open`` it, ``publish`` batches, ``close`` it once."""

    def __init__(self, url: str, exchange: str, queue: str = ""):
        self._params = parameters(url)
        self.exchange, self.queue = exchange, queue
        self.alive = False  # written by the link's thread, read anywhere
        self._closing = False  # set by close(): a connection that opens after it is closed at once
        self.reason = ""  # why the link failed or ended, for the log
        self._token = trio.lowlevel.current_trio_token()
        self._opened = trio.Event()
        self._connection: pika.SelectConnection | None = None
        self._channel = None
        self._batch: _Batch | None = None
        self._unconfirmed: set[int] = set()
        self._next_tag = 1
        self._returned = ""  # why a message of the batch in flight reached no queue
        self._queue_missing = False  # the passive look found no queue: the next channel declares it

    # --- the trio side ---------------------------------------------------------------

    async def open(self, timeout: float) -> None:
        threading.Thread(target=self._run, name="fleetgate-amqp", daemon=True).start()
        with trio.move_on_after(timeout):
            await self._opened.wait()
        if not self.alive:
            raise LinkError(self.reason or f"no connection within {timeout:g} s")

    async def publish(self, messages: list[Message]) -> None:
        """Return once the broker confirmed every message; LinkError if it did not."""
        batch = _Batch()
        self._in_thread(partial(self._publish, messages, batch))
        with trio.move_on_after(CONFIRM_TIMEOUT) as waited:
            while not batch.done.is_set():
                with trio.move_on_after(LIVENESS_CHECK):
                    await batch.done.wait()
                # A connection that ended before its thread took the batch never answers for it.
                if not self.alive and not batch.done.is_set():
                    raise LinkError(self.reason or "the connection closed")
        if waited.cancelled_caught:
            raise LinkError(f"the broker confirmed nothing within {CONFIRM_TIMEOUT:g} s")
        if batch.error is not None:
            raise batch.error

    def close(self) -> None:
        """Close the connection (the thread ends with it); safe to call more than once."""
        self._closing = True
        try:
            self._in_thread(self._close_now)
        except LinkError:
            pass  # already gone

    def _in_thread(self, callback) -> None:
        connection = self._connection
        try:
            connection.ioloop.add_callback_threadsafe(callback)
        except Exception:  # no connection, or its loop is closed: the thread has ended
            raise LinkError(self.reason or "the connection is closed") from None

    # --- the link's thread -----------------------------------------------------------

    def _to_trio(self, callback) -> None:
        try:
            self._token.run_sync_soon(callback)
        except trio.RunFinishedError:
            pass  # the gateway stopped; nobody waits any more

    def _run(self) -> None:
        try:
            self._connection = pika.SelectConnection(
                self._params, on_open_callback=self._on_open, on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_close)
            self._connection.ioloop.start()  # until a callback below stops it
        except Exception as exc:  # a bug in a callback must still end the link visibly
            self._note(exc)
            log.exception("the AMQP link failed")
        finally:
            self._end()
        if self._connection is not None:
            self._connection.ioloop.close()

    def _note(self, reason: object) -> None:
        self.reason = self.reason or (str(reason) or type(reason).__name__)

    def _end(self) -> None:
        self.alive = False
        if self._batch is not None:
            self._finish(LinkError(self.reason or "the connection closed"))
        self._to_trio(self._opened.set)

    def _on_open(self, connection) -> None:
        if self._closing:  # close() came before there was a connection to close
            self._close_now()
            return
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel) -> None:
        # Again after the passive look at the queue found none: the broker closed that channel.
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_close)
        channel.add_on_return_callback(self._on_return)
        channel.exchange_declare(self.exchange, "topic", durable=True, callback=self._on_exchange)

    def _on_exchange(self, _frame) -> None:
        if not self.queue:
            self._confirming()
            return
        # A look first: a queue its owner declared with arguments of its own (a quorum queue,
        # a length limit) is taken as it is; declared again without them it would be refused.
        self._channel.queue_declare(self.queue, durable=True, passive=not self._queue_missing, callback=self._on_queue)

    def _on_queue(self, _frame) -> None:
        self._channel.queue_bind(self.queue, self.exchange, routing_key="#", callback=lambda _frame: self._confirming())

    def _confirming(self) -> None:
        self._channel.confirm_delivery(self._on_confirm, callback=self._on_confirming)

    def _on_confirming(self, _frame) -> None:
        self.alive = True
        self._to_trio(self._opened.set)

    def _on_channel_close(self, _channel, reason) -> None:
        if (self.queue and not self.alive and not self._queue_missing and not self._closing
                and isinstance(reason, pika.exceptions.ChannelClosedByBroker) and reason.reply_code == 404):
            self._queue_missing = True  # the passive look: no such queue yet
            self._connection.channel(on_open_callback=self._on_channel)
            return
        # E.g. the exchange exists with another type: this connection is of no more use.
        self._note(reason)
        self._close_now()

    def _on_open_error(self, connection, error) -> None:
        self._note(error)
        connection.ioloop.stop()

    def _on_close(self, connection, reason) -> None:
        self._note(reason)
        connection.ioloop.stop()

    def _close_now(self) -> None:
        connection = self._connection
        try:
            connection.close()
        except pika.exceptions.ConnectionWrongStateError:  # closing or closed already
            connection.ioloop.stop()

    def _publish(self, messages: list[Message], batch: _Batch) -> None:
        self._batch = batch
        if not messages:
            self._finish(None)
        try:
            for message in messages:
                properties = pika.BasicProperties(
                    content_type="application/json", delivery_mode=2, message_id=message.message_id,
                    type=message.type, app_id="fleetgate")
                self._channel.basic_publish(self.exchange, message.routing_key, message.body, properties,
                                            mandatory=bool(self.queue))
                self._unconfirmed.add(self._next_tag)
                self._next_tag += 1
        except pika.exceptions.AMQPError as exc:
            self._note(exc)
            self._finish(LinkError(self.reason))
            self._close_now()

    def _on_return(self, _channel, method, _properties, _body) -> None:
        self._returned = self._returned or (
            f"a {method.routing_key} message reached no queue ({method.reply_text}): is {self.queue} still bound?")

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if isinstance(method, spec.Basic.Nack):
            self._note("the broker refused to take a message (nack)")
            self._finish(LinkError(self.reason))
            self._close_now()
            return
        if method.multiple:
            self._unconfirmed = {tag for tag in self._unconfirmed if tag > method.delivery_tag}
        else:
            self._unconfirmed.discard(method.delivery_tag)
        if not self._unconfirmed and self._batch is not None:
            if self._returned:  # confirmed, and dropped: the next connection binds again
                self._note(self._returned)
                self._finish(LinkError(self.reason))
                self._close_now()
                return
            self._finish(None)

    def _finish(self, error: LinkError | None) -> None:
        batch, self._batch = self._batch, None
        if batch is not None:
            batch.error = error
            self._to_trio(batch.done.set)
