"""What the simulator tests share: a tiny in-test server built on a driver's codec, and
running a simulated fleet against it. Each test file subclasses Server with how its
protocol's server answers (on_event)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from drivers.base import NEED_DATA, CommandResponse, LoginAccepted, LoginRejected, ProtocolError, RecordBatch


class Link:
    """One connection to the server, with what the server knows about it so far."""

    def __init__(self, stream: trio.SocketStream, codec: Any) -> None:
        self.stream, self.codec = stream, codec
        self.lock = trio.Lock()  # answers and a test's commands are written from different tasks
        self.unit: str | None = None  # whom the login named
        self.number = 0  # which connection of that unit this is, as the server counts them
        self.batches = 0  # record batches on this connection

    async def send(self, message: Any) -> None:
        await self.write(self.codec.send(message))

    async def write(self, data: bytes) -> None:
        async with self.lock:
            await self.stream.send_all(data)


def count_login(logins: dict[str, int], link: Link, login: Any) -> None:
    """Number ``link`` by the logins of its unit so far, refused ones included."""
    link.unit = login.unit_id
    logins[link.unit] += 1
    link.number = logins[link.unit]


class Server:
    """Feeds each connection through a fresh ``codec_factory()``, keeps the record batches
    and command responses per unit, and hands every event to ``on_event(link, event)``
    (True: hang up). Tests wait_for() a condition; it is checked again after each event.
    ``links`` holds each unit's last accepted connection, for pushing commands."""

    def __init__(self, codec_factory: Callable[[], Any]) -> None:
        self.codec_factory = codec_factory
        self.batches: dict[str, list[RecordBatch]] = defaultdict(list)
        self.responses: dict[str, list[CommandResponse]] = defaultdict(list)
        self.links: dict[str, Link] = {}
        self.changed = trio.Event()

    async def on_event(self, link: Link, event: Any) -> bool:
        raise NotImplementedError

    async def answer_login(self, link: Link, login: Any, accepted: bool) -> bool:
        """Accept ``login`` or refuse it and hang up (True), as the real gateway does."""
        if not accepted:
            await link.send(LoginRejected(login))
            return True
        await link.send(LoginAccepted(login))
        self.links[link.unit] = link
        return False

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, condition) -> None:
        while not condition():
            await self.changed.wait()

    async def handle(self, stream: trio.SocketStream) -> None:
        link = Link(stream, self.codec_factory())
        try:
            while data := await stream.receive_some(4096):
                link.codec.receive_data(data)
                while (event := link.codec.next_event()) is not NEED_DATA:
                    if isinstance(event, RecordBatch):
                        link.batches += 1
                        self.batches[link.unit].append(event)
                    elif isinstance(event, CommandResponse):
                        self.responses[link.unit].append(event)
                    if await self.on_event(link, event):
                        return
                    self._notify()
        except (ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self._notify()
            await stream.aclose()

    def records(self, unit: str) -> list:
        return [record for batch in self.batches[unit] for record in batch.records]


@asynccontextmanager
async def serving(handler: Callable) -> AsyncIterator[int]:
    """Serve ``handler`` on a free port of 127.0.0.1 while the block (which gets the port)
    runs; all of it must end within 10 s."""
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            yield listeners[0].socket.getsockname()[1]
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def running(handler: Callable, fleet: Callable, *args: Any, **options: Any) -> AsyncIterator[Any]:
    """Serve ``handler`` and start ``fleet(port, *args, **options)`` against it; the block
    gets the fleet's live report, and leaving it stops both."""
    async with serving(handler) as port, trio.open_nursery() as nursery:
        yield await nursery.start(partial(fleet, port, *args, **options))
        nursery.cancel_scope.cancel()
