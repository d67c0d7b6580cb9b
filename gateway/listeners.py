"""Accepting unit connections without letting strangers take what the gateway needs.

Every unit connection holds a file descriptor. Unit connections together may hold at
most the process's open-file limit minus a reserve ([sessions] fd_reserve) minus what
was open when the listeners started (the store, the logs, the listening sockets): the
reserve is what the admin socket, its clients and the cloud client always have. Each
listener also caps its connections ([drivers.<name>] max_connections), the connections
not yet logged in (max_unauthenticated) and its accept rate (accepts_per_second).

A new connection over a cap makes room by evicting the oldest connection that has not
logged in; with none to evict it is closed at once, and the listener waits for a
connection to end (or a second) before it accepts again. Logged-in units are never evicted, so a flood
of connections that never send cannot push out the fleet, and a real unit arriving
during one gets in and logs in.

trio.serve_listeners is not used: it logs a traceback and sleeps on every EMFILE.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import trio

from gateway.config import ListenerConfig
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

# accept(2) errors that say the process or the system is out of something, not that the
# listener broke: counted, logged now and then, and retried after a pause.
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
ACCEPT_RETRY = 0.1  # seconds between accepts while out of resources
FULL_RETRY = 1.0  # seconds a full listener waits at most for a connection to end
LOG_EVERY = 10.0  # seconds between two log lines about the same accept error
BURST = 0.1  # seconds' worth of accepts that may come at once


def open_descriptors() -> int:
    """How many file descriptors this process has open now (one directory read)."""
    for path in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(path)) - 1  # the listing's own descriptor
        except OSError:
            continue
    return 0


class Admission:
    """One accepted unit connection, as the listener tracks it."""

    __slots__ = ("listener", "_hang_up", "closing")

    def __init__(self, listener: UnitListener):
        self.listener = listener
        self._hang_up: Callable[[str], None] | None = None
        self.closing = False  # evicted, its descriptor not closed yet

    def on_evict(self, hang_up: Callable[[str], None]) -> None:
        """How the connection's handler ends it, given the reason, when the listener evicts it."""
        self._hang_up = hang_up
        if self.closing:
            hang_up("evicted")

    def ended(self) -> None:
        self._hang_up = None

    def logging_in(self) -> None:
        """The unit sent its login: never evicted from now on."""
        self.listener.unauthenticated.pop(self, None)

    def evict(self) -> None:
        """Close this connection, which has not logged in, to make room for a newer one."""
        listener = self.listener
        del listener.unauthenticated[self]
        self.closing = True
        listener.closing += 1
        listener.connections.closing += 1
        listener.count_shed("evicted")
        if self._hang_up is not None:
            self._hang_up("evicted")


class UnitConnections:
    """What all unit listeners share: the budget of descriptors unit connections may hold."""

    def __init__(self, fd_reserve: int, metrics: Metrics):
        self.limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.reserve = fd_reserve
        self.budget = self.limit - fd_reserve - open_descriptors()
        if self.budget < 1:
            raise ValueError(f"the open-file limit {self.limit} leaves no descriptors for units beside "
                             f"[sessions] fd_reserve = {fd_reserve}; raise the limit or lower the reserve")
        self.listeners: list[UnitListener] = []
        self.open = 0
        self.closing = 0
        self._ended = trio.Event()  # set (and replaced) whenever a unit connection ends
        self.metrics = metrics
        metrics.gauge("fleetgate_unit_fd_budget", "File descriptors unit connections may hold, all listeners together.",
                      lambda: [({}, self.budget)])
        metrics.gauge("fleetgate_connections_open", "Unit connections open, by driver.",
                      lambda: [({"driver": lst.name}, lst.open) for lst in self.listeners])
        metrics.gauge("fleetgate_connections_unauthenticated", "Unit connections not logged in yet, by driver.",
                      lambda: [({"driver": lst.name}, len(lst.unauthenticated)) for lst in self.listeners])
        metrics.counter("fleetgate_connections_shed_total",
                        "Unit connections closed to keep within limits, by driver and reason: evicted (the oldest"
                        " not logged in, to make room), connection_cap, fd_reserve.")
        metrics.counter("fleetgate_accept_errors_total",
                        "Failed accepts because the process or system ran out of something, by driver and error.")

    def full(self) -> bool:
        return self.open - self.closing >= self.budget

    def oldest_unauthenticated(self) -> Admission | None:
        oldest = None
        for listener in self.listeners:
            first = next(iter(listener.unauthenticated.items()), None)
            if first is not None and (oldest is None or first[1] < oldest[1]):
                oldest = first
        return None if oldest is None else oldest[0]

    def ended(self, admission: Admission) -> None:
        self.open -= 1
        self.closing -= admission.closing
        self._ended.set()
        self._ended = trio.Event()

    async def wait_for_an_end(self) -> None:
        await self._ended.wait()


class UnitListener:
    """``sockets``: the listener's bound sockets (one per address it listens on)."""

    def __init__(self, name: str, config: ListenerConfig, connections: UnitConnections,
                 sockets: list[trio.SocketListener]):
        self.name, self.config, self.connections = name, config, connections
        self.open = 0
        self.closing = 0
        self.unauthenticated: OrderedDict[Admission, float] = OrderedDict()  # -> accepted at, oldest first
        self._tokens, self._tokens_at = max(1.0, config.accepts_per_second * BURST), 0.0
        self._errors = 0  # accept errors since the last log line
        self._next_log = 0.0
        self._sockets = sockets
        connections.listeners.append(self)

    async def serve(self, handler: Callable[[trio.SocketStream, Admission], Awaitable[None]]) -> None:
        """Accept until cancelled; ``handler(stream, admission)`` runs each connection."""
        self._tokens_at = trio.current_time()
        async with trio.open_nursery() as nursery:
            for listener in self._sockets:
                nursery.start_soon(self._accept_loop, listener, handler, nursery)

    async def _accept_loop(self, listener: trio.SocketListener, handler, nursery: trio.Nursery) -> None:
        async with listener:
            while True:
                await self._pace()
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in OUT_OF_RESOURCES:
                        raise
                    self._out_of_resources(exc)
                    victim = self.connections.oldest_unauthenticated()
                    if victim is not None:  # a descriptor for the next one, which may be a real unit
                        victim.evict()
                    await trio.sleep(ACCEPT_RETRY)
                    continue
                admission = self._admit(stream)
                if admission is None:
                    # Full of logged-in units: accept again when one leaves, or the budget
                    # was eaten by something else, which the units cannot wait for.
                    with trio.move_on_after(FULL_RETRY):
                        await self.connections.wait_for_an_end()
                    continue
                nursery.start_soon(self._run, handler, stream, admission)

    def _admit(self, stream: trio.SocketStream) -> Admission | None:
        """Make room for ``stream`` within every cap, or close it and return None."""
        connections, config = self.connections, self.config
        if len(self.unauthenticated) >= config.max_unauthenticated:
            next(iter(self.unauthenticated)).evict()
        if self.open - self.closing >= config.max_connections and not self._make_room(self, "connection_cap"):
            stream.socket.close()
            return None
        # A descriptor inside the reserve means something beside the units took more than
        # the budget counted on: the reserve is still not the units' to use.
        over = connections.full() or stream.socket.fileno() >= connections.limit - connections.reserve
        if over and not self._make_room(None, "fd_reserve"):
            stream.socket.close()
            return None
        admission = Admission(self)
        self.unauthenticated[admission] = trio.current_time()
        self.open += 1
        connections.open += 1
        return admission

    def _make_room(self, listener: UnitListener | None, reason: str) -> bool:
        """Evict the oldest connection not logged in, of ``listener`` or of any listener;
        False (and the new connection is counted as shed for ``reason``) when there is none."""
        victim = (next(iter(listener.unauthenticated), None) if listener is not None
                  else self.connections.oldest_unauthenticated())
        if victim is None:
            self.count_shed(reason)
            return False
        victim.evict()
        return True

    def count_shed(self, reason: str) -> None:
        self.connections.metrics.inc("fleetgate_connections_shed_total", driver=self.name, reason=reason)

    async def _run(self, handler, stream: trio.SocketStream, admission: Admission) -> None:
        try:
            await handler(stream, admission)
        finally:
            stream.socket.close()  # the handler's job; done again (a no-op then) whatever it did
            # The session and its admission refer to each other: without this, each ended
            # session would wait for the cycle collector, whose passes then stall the loop.
            admission.ended()
            self.unauthenticated.pop(admission, None)
            self.open -= 1
            self.closing -= admission.closing
            self.connections.ended(admission)

    async def _pace(self) -> None:
        """At most accepts_per_second, in bursts of a tenth of a second's worth at most: a
        burst of new connections is work the event loop does at once, ahead of the ACKs
        of the units it serves."""
        rate = self.config.accepts_per_second
        burst = max(1.0, rate * BURST)
        while True:
            now = trio.current_time()
            self._tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            await trio.sleep((1 - self._tokens) / rate)

    def _out_of_resources(self, exc: OSError) -> None:
        """One log line now and then, with a count, instead of a traceback per accept."""
        self.connections.metrics.inc("fleetgate_accept_errors_total", driver=self.name,
                                     error=errno.errorcode[exc.errno])
        self._errors += 1
        now = trio.current_time()
        if now >= self._next_log:
            log.warning("%s listener cannot accept: %s (%s), %d time(s) since the last such line; retrying every"
                        " %.1f s, reported at most every %.0f s", self.name, os.strerror(exc.errno),
                        errno.errorcode[exc.errno], self._errors, ACCEPT_RETRY, LOG_EVERY)
            self._errors, self._next_log = 0, now + LOG_EVERY
