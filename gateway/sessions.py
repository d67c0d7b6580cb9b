"""The generic TCP unit session: one task per connection around any driver's codec.

login -> (accept | record as seen and reject) -> records persisted, then acknowledged
-> commands, one at a time. The codec decides what bytes mean; this module decides
when to wait, when to give up and when an acknowledgement may go out (only after the
store has committed the records it covers).
"""

from __future__ import annotations

import hmac
import logging
import math
import os
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from functools import partial

import trio

from drivers.base import (
    NEED_DATA,
    Acknowledge,
    CommandRequest,
    CommandResponse,
    Driver,
    Heartbeat,
    Login,
    LoginAccepted,
    LoginRejected,
    ProtocolError,
    Record,
    RecordBatch,
    RefusalReason,
    Registration,
    RegistrationAccepted,
    RegistrationRefused,
    TimeAnswer,
    TimeRequest,
    Undecoded,
    UnexpectedMessage,
)
from gateway.clock import now_text, utc_now
from gateway.config import ListenerConfig
from gateway.ingest import prepare_batch
from gateway.proxy_protocol import ProxyHeader, ProxyHeaderError
from gateway.listeners import Admission, UnitConnections, UnitListener
from gateway.runtime import Runtime
from gateway.session_table import AttemptInFlight
from gateway.store import StoreError
from gateway.store import queries as q
from gateway.store import cluster, telemetry

log = logging.getLogger(__name__)

RECEIVE_SIZE = 16384
SEND_TIMEOUT = 10  # seconds a unit may take to read what we send before we drop it
MAX_UNACKED = 4  # packets whose commit may be pending before the session stops reading


class SessionEnded(Exception):
    """Ends a session in an expected way; ``reason`` labels the refusal counter when set."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason


class CommandTimeout(Exception):
    pass


class SessionLost(Exception):
    """The session ended while a command waited for its answer."""


@dataclass(eq=False)
class _PendingCommand:
    request: CommandRequest
    answered: trio.Event = field(default_factory=trio.Event)
    response: CommandResponse | None = None


class UnitSession:
    def __init__(self, runtime: Runtime, driver: Driver, listener: ListenerConfig, stream: trio.SocketStream):
        self.runtime = runtime
        self.driver = driver
        self.stream = stream
        self.number = runtime.node.next_session()  # this node's number for the connection, in its claim
        self.codec = driver.codec_factory(max_frame=listener.max_frame, **listener.codec_options())
        self.remote = _address(stream)
        self._listener = listener
        self._socket = stream.socket
        self._fd = stream.socket.fileno()
        # ACKs queued behind a commit (ingest_then). Until the socket closes they are
        # written from the commit callback, and every other send waits for them first,
        # so the unit gets bytes in the order the codec produced them.
        self._unacked = 0
        self._acks_written: trio.Event | None = None
        self._may_ack = True
        self.unit_id: str | None = None
        self.vehicle_id: str | None = None
        self.model_id: str | None = None
        self._timeouts = runtime.config.sessions
        self.deadline = math.inf  # what the session waits for must happen by then
        self._deadline_reason = ""
        self._expired = ""
        self._shed = ""
        self.on_login: Callable[[], None] = lambda: None  # the listener evicts it no more
        self._scope = trio.CancelScope()
        self._send_lock = trio.Lock()
        self._partial_since: float | None = None
        self._pending: _PendingCommand | None = None
        self._correlation = 0
        self._frame_received = runtime.metrics.series("fleetgate_frames_received_total", driver=driver.name)
        self._ack_sent = runtime.metrics.series("fleetgate_acks_sent_total", driver=driver.name)
        self._bytes_discarded = runtime.metrics.series("fleetgate_bytes_discarded_total", driver=driver.name)
        self._discarded = 0

    def _count(self, name: str, **labels: str) -> None:
        self.runtime.metrics.inc(name, driver=self.driver.name, **labels)

    def close(self) -> None:
        self._scope.cancel()

    def _wait_until(self, deadline: float, reason: str) -> None:
        self.deadline, self._deadline_reason = deadline, reason

    def expire(self) -> None:
        self._expired = self._deadline_reason
        self._scope.cancel()

    def shed(self, reason: str) -> None:
        """Hang up to keep the listener within its limits; gateway/listeners.py counts it."""
        self._shed = reason
        self._scope.cancel()

    async def run(self) -> None:
        self.runtime.sessions.track(self)
        with self._scope:
            try:
                await self._serve()
            except ProtocolError as exc:
                self._count("fleetgate_frames_refused_total", reason=exc.reason)
                log.info("%s connection from %s closed: %s", self.driver.name, self.remote, exc)
            except SessionEnded as exc:
                if exc.reason:
                    self._count("fleetgate_frames_refused_total", reason=exc.reason)
                log.info("%s connection from %s closed: %s", self.driver.name, self.remote, exc)
            except StoreError as exc:
                self._count("fleetgate_frames_refused_total", reason="commit_failed")
                log.error("%s unit %s: not committed, connection closed: %s", self.driver.brand, self.unit_id, exc)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                log.info("%s connection from %s lost: %s", self.driver.name, self.remote, exc or type(exc).__name__)
        if self._expired:
            self._count("fleetgate_frames_refused_total", reason=self._expired)
            log.info("%s connection from %s closed: %s", self.driver.name, self.remote, self._expired.replace("_", " "))
        elif self._shed:
            log.debug("%s connection from %s closed: %s", self.driver.name, self.remote, self._shed)
        await self._finish()

    async def _finish(self) -> None:
        self._may_ack = False  # from here on the fd may close and be reused by another connection
        self.runtime.sessions.untrack(self)
        if self._pending is not None:
            self._pending.answered.set()  # wakes the command with no response: SessionLost
        with trio.CancelScope(shield=True):
            await self.stream.aclose()
            if self.vehicle_id is not None and self.runtime.sessions.detach(self.vehicle_id, self):
                # OFFLINE only while this session still held the claim (a newer login, here or
                # on another node, keeps the vehicle ONLINE). During a store fault the store's
                # recovery settles it (app.settle_life_status).
                with trio.move_on_after(10), suppress(StoreError):
                    await self.runtime.store.write(cluster.release_session, self.vehicle_id, self.runtime.node.node_id,
                                                   self.number, now_text())

    # --- reading -------------------------------------------------------------------

    async def _next_event(self, login_deadline: float | None = None):
        while True:
            event = self.codec.next_event()
            discarded = getattr(self.codec, "discarded", 0)
            if discarded != self._discarded:  # bytes skipped to resynchronise on a frame start
                self._bytes_discarded(discarded - self._discarded)
                self._discarded = discarded
            # The frame deadline runs from the first byte the codec holds until it holds
            # none: an event between the packages of a subpackaged message (a JT/T 808
            # heartbeat) does not restart it, so no unit keeps a reassembly open forever.
            buffered = self.codec.buffered
            if not buffered:
                self._partial_since = None
            if event is not NEED_DATA:
                self._frame_received()
                return event
            now = trio.current_time()
            if buffered:
                self._partial_since = self._partial_since or now
                deadline, reason = self._partial_since + self._timeouts.frame_timeout, "frame_timeout"
            else:
                deadline, reason = now + self._timeouts.idle_timeout, "idle_timeout"
            if login_deadline is not None and login_deadline <= deadline:
                deadline, reason = login_deadline, "login_timeout"
            self._wait_until(deadline, reason)
            # Wait, then read: SocketStream.receive_some first tries a read that fails at
            # one packet per second and takes a second trip through the scheduler after
            # every read. Here each packet costs one park and one wake-up.
            await trio.lowlevel.wait_readable(self._socket)
            try:
                data = os.read(self._fd, RECEIVE_SIZE)
            except BlockingIOError:
                continue
            except OSError as exc:  # e.g. ECONNRESET
                raise trio.BrokenResourceError(exc.strerror) from exc
            if not data:
                raise SessionEnded("closed by the unit")
            self.codec.receive_data(data)

    async def _read_proxy_header(self, deadline: float) -> None:
        """The balancer's PROXY header, before the unit's first byte: the unit's address
        replaces the balancer's, and what follows the header goes to the codec."""
        peer = self.remote.rpartition(":")[0].strip("[]")
        if not self._listener.trusts_proxy(peer):
            raise SessionEnded(f"{peer} is not a balancer this listener takes PROXY headers from", "proxy_untrusted")
        header = ProxyHeader()
        self._wait_until(deadline, "login_timeout")
        while True:
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise SessionEnded("closed before its PROXY protocol header ended")
            try:
                found = header.receive_data(data)
            except ProxyHeaderError as exc:
                raise SessionEnded(str(exc), "proxy_header") from None
            if found is not None:
                address, rest = found
                self.remote = address or self.remote
                if rest:
                    self.codec.receive_data(rest)
                return

    async def _send(self, data: bytes) -> None:
        """Send from the session's own task, under the session's deadline."""
        if data:
            await self._acks_sent()
            self._wait_until(trio.current_time() + SEND_TIMEOUT, "send_timeout")
            try:
                self._send_lock.acquire_nowait()  # uncontended but for a command: skip the checkpoint
            except trio.WouldBlock:
                await self._send_lock.acquire()
            try:
                # Most ACKs fit the socket buffer at once: write them without the two
                # scheduler checkpoints trio's send_all takes (a measured 15% of the
                # gateway's time at 5,000 units); whatever does not fit goes the usual way.
                try:
                    sent = os.write(self._fd, data)
                except BlockingIOError:
                    sent = 0
                except (BrokenPipeError, ConnectionResetError):
                    # The unit is gone, as on the ACK path: what it sent before it went is
                    # still read and stored (unanswered, it sends it again), and the read
                    # ends the session.
                    return
                if sent < len(data):
                    await self.stream.send_all(data[sent:])
            finally:
                self._send_lock.release()

    # --- the conversation ----------------------------------------------------------

    async def _serve(self) -> None:
        login_deadline = trio.current_time() + self._timeouts.login_timeout
        if self._listener.proxy_protocol:
            await self._read_proxy_header(login_deadline)
        while True:
            login = await self._next_event(login_deadline)
            if isinstance(login, Login):
                break
            if isinstance(login, Registration):
                with self._attempt(login.unit_id):
                    await self._enrol(login)
            elif isinstance(login, Heartbeat):  # JT/T 808 units may beat before they authenticate
                await self._send(self.codec.send(Acknowledge(login)))
            else:
                raise UnexpectedMessage(f"expected a login, got {type(login).__name__}")
        # Past its login frame the connection is no stranger to evict: a real unit whose
        # answer the brake holds back must not lose its place to a flood meanwhile. One
        # attempt per unit id is in flight, and an unknown id is answered at once.
        self.on_login()
        with self._attempt(login.unit_id):
            if not await self._authenticate(login):
                return
        # The newest login wins on every node: a node holding an older session closes it.
        await self.runtime.store.write(cluster.claim_session, self.vehicle_id, self.runtime.node.node_id, self.number,
                                       now_text())
        log.info("%s unit %s (vehicle %s) online from %s", self.driver.brand, self.unit_id, self.vehicle_id,
                 self.remote)
        while True:
            event = await self._next_event()
            if isinstance(event, RecordBatch):
                await self._ingest(event)
            elif isinstance(event, Undecoded):
                await self._keep_undecoded(event)
            elif isinstance(event, Heartbeat):
                await self._send(self.codec.send(Acknowledge(event)))
            elif isinstance(event, TimeRequest):
                await self._send(self.codec.send(TimeAnswer(event, utc_now())))
            elif isinstance(event, CommandResponse):
                if event.records:  # e.g. the position a JT808 unit answers with
                    await self.runtime.store.ingest(self._rows(event.records, event.raw))
                self._deliver(event)
            else:
                raise UnexpectedMessage(f"unexpected {type(event).__name__} after login")

    def _attempt(self, unit_id: str) -> ExitStack:
        """The unit id's one authentication (or registration) in flight: a second
        connection trying meanwhile is hung up at once, so guesses cannot run in parallel."""
        try:
            return self.runtime.sessions.throttle.attempt((self.driver.brand, unit_id))
        except AttemptInFlight:
            raise SessionEnded(f"{self.driver.brand} unit {unit_id}: another authentication of it is in flight",
                               "auth_in_flight") from None

    async def _enrol(self, registration: Registration) -> None:
        runtime, brand = self.runtime, self.driver.brand
        outcome, password = await runtime.registry.enrol(brand, registration.unit_id)
        if outcome == "unknown":
            await runtime.registry.record_seen(brand, registration.unit_id, self.remote)
            self._count("fleetgate_frames_refused_total", reason="unknown_unit")
            await self._send(self.codec.send(RegistrationRefused(registration, RefusalReason.UNKNOWN_UNIT)))
            raise SessionEnded(f"{brand} unit {registration.unit_id} registered but is in no vehicle")
        if outcome == "accepted":
            # The unit's own password, sent once, to the unit whose id it was set for.
            log.info("%s unit %s from %s enrolled", brand, registration.unit_id, self.remote)
            await self._send(self.codec.send(RegistrationAccepted(registration, password)))
        else:
            log.info("%s unit %s from %s registered, but its enrolment window is not open: refused", brand,
                     registration.unit_id, self.remote)
            await self._send(self.codec.send(RegistrationRefused(registration, RefusalReason.ALREADY_REGISTERED)))

    async def _authenticate(self, login: Login) -> bool:
        runtime, brand = self.runtime, self.driver.brand
        self.unit_id = login.unit_id
        if runtime.store.fault is not None:
            # Hung up without an answer: a refusal could read as a wrong identity, and
            # the unit keeps its records for when the store commits again.
            raise SessionEnded(f"{brand} unit {login.unit_id} not taken: the store cannot commit", "store_unavailable")
        vehicle = await runtime.store.read(q.vehicle_of_unit, brand, login.unit_id)
        if vehicle is None:
            # Listed under available-telematics-units; nothing it presented is kept.
            await runtime.registry.record_seen(brand, login.unit_id, self.remote)
            self._count("fleetgate_frames_refused_total", reason="unknown_unit")
            log.info("%s unit %s from %s is in no vehicle: refused", brand, login.unit_id, self.remote)
            await self._send(self.codec.send(LoginRejected(login)))
            return False
        if self.driver.password_at_login:
            expected = await runtime.registry.unit_password(vehicle["id"]) or ""
            presented = login.password or ""
            key, address, throttle = (brand, login.unit_id), self.remote.rpartition(":")[0], runtime.sessions.throttle
            delay = throttle.delay(key, address)
            # The login arrived in time; its answer may now take as long as the brake says.
            self._wait_until(trio.current_time() + delay + SEND_TIMEOUT, "login_timeout")
            if not hmac.compare_digest(presented.encode(), expected.encode()):
                throttle.failed(key, address)
                self._count("fleetgate_frames_refused_total", reason="auth_failure")
                log.warning("%s unit %s from %s presented a wrong password", brand, login.unit_id, self.remote)
                await trio.sleep(delay)
                await self._send(self.codec.send(LoginRejected(login)))
                return False
            if throttle.engaged(key, address):
                await trio.sleep(delay)  # as long as a wrong code's answer: the time tells nothing
            throttle.succeeded(key)
        self.vehicle_id, self.model_id = vehicle["id"], vehicle["model_id"]
        runtime.sessions.attach(self.vehicle_id, self)
        await self._send(self.codec.send(LoginAccepted(login)))
        return True

    async def _ingest(self, batch: RecordBatch) -> None:
        for label in batch.undecoded:
            self._note_undecoded(label, "kept raw in the record")
        await self._persist_then_ack(batch.records, batch.raw, self.codec.send(Acknowledge(batch)))

    async def _keep_undecoded(self, frame: Undecoded) -> None:
        """A frame the driver does not understand is stored raw, for a later version to
        decode, and answered as its protocol expects: it never costs the session."""
        self._note_undecoded(frame.message_type, frame.detail)
        kept = {"message_type": frame.message_type, "hex": frame.raw.hex().upper(), "detail": frame.detail}
        record = Record(device_time=None, fields={"undecoded": kept})
        await self._persist_then_ack((record,), frame.raw, self.codec.send(Acknowledge(frame)))

    def _note_undecoded(self, message_type: str, detail: str) -> None:
        self._count("fleetgate_frames_undecoded_total", message_type=message_type)
        if self.runtime.sessions.first_time((self.driver.brand, self.unit_id, message_type)):
            log.warning("%s unit %s sent %s, which the %s driver does not decode (%s): kept raw, session goes on",
                        self.driver.brand, self.unit_id, message_type, self.driver.name, detail)

    async def _persist_then_ack(self, records: tuple[Record, ...], raw: bytes, ack: bytes) -> None:
        # The ACK is encoded by the caller, in turn with the codec's other replies, and
        # written by _committed once the records are durable: only then may the unit
        # forget them. Meanwhile the session reads on; a unit that waits for its ACK
        # sends nothing.
        self._unacked += 1
        await self.runtime.store.ingest_then(self._rows(records, raw), partial(self._committed, ack))
        if self._unacked >= MAX_UNACKED:
            await self._acks_sent()

    def _committed(self, ack: bytes, error: BaseException | None) -> None:
        """Called in the event loop when the batch holding this packet's records is done."""
        self._unacked -= 1
        if not self._unacked and self._acks_written is not None:
            self._acks_written.set()
            self._acks_written = None
        if not self._may_ack or (error is None and not ack):
            return
        if error is not None:
            # No ACK for this packet nor any after it: the unit keeps and resends them.
            self._may_ack = False
            self._count("fleetgate_frames_refused_total", reason="commit_failed")
            log.error("%s unit %s: records not committed, no ACK sent: %s", self.driver.brand, self.unit_id, error)
            self.close()
            return
        try:
            sent = os.write(self._fd, ack)
        except BlockingIOError:
            sent = 0
        except OSError:  # the unit is gone; the session's read says so
            self._may_ack = False
            return
        if sent < len(ack):
            # Not even a few bytes fit the socket's send buffer: a unit that does not read.
            self._may_ack = False
            self._expired = "send_timeout"
            self.close()
            return
        self._ack_sent()

    async def _acks_sent(self) -> None:
        while self._unacked:
            if self._acks_written is None:
                self._acks_written = trio.Event()
            await self._acks_written.wait()

    def _rows(self, records: tuple[Record, ...], raw: bytes) -> telemetry.BatchRows:
        model = self.runtime.registry.catalog.get(self.model_id)
        return prepare_batch(
            self.driver, model.options if model else {}, self.vehicle_id, self.unit_id, records,
            raw, utc_now(), self._timeouts.max_clock_skew,
        )

    # --- commands ------------------------------------------------------------------

    async def command(self, request: CommandRequest, timeout: float) -> CommandResponse:
        """Send one command and wait for its answer. The caller ensures one at a time."""
        self._correlation = (self._correlation + 1) & 0xFFFF
        pending = _PendingCommand(replace(request, correlation=self._correlation))
        self._pending = pending
        try:
            # Sent from the caller's task: its own timeout, not the session's deadline.
            try:
                with trio.fail_after(SEND_TIMEOUT):
                    async with self._send_lock:
                        if self._unacked:  # its ACKs go first: they need not wait for the commit pacing
                            self.runtime.store.hurry()
                        await self._acks_sent()
                        await self.stream.send_all(self.codec.send(pending.request))
            except trio.TooSlowError:
                self.close()  # a unit that does not read is gone
                raise
            with trio.move_on_after(timeout):
                await pending.answered.wait()
                if pending.response is None:
                    raise SessionLost()
                return pending.response
        finally:
            self._pending = None
        if not self.driver.correlates_commands:
            # Nothing would tell this command's late answer from the next one's.
            log.info("%s unit %s: command timed out; closing the session", self.driver.brand, self.unit_id)
            self.close()
        raise CommandTimeout()

    def _deliver(self, response: CommandResponse) -> None:
        pending = self._pending
        if pending is None or (response.correlation is not None and response.correlation != pending.request.correlation):
            log.info("%s unit %s: dropped an answer no command is waiting for", self.driver.brand, self.unit_id)
            return
        pending.response = response
        pending.answered.set()


def _address(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "unknown"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve_driver(runtime: Runtime, driver: Driver, listener: ListenerConfig, connections: UnitConnections,
                       sockets: list[trio.SocketListener], *, task_status=trio.TASK_STATUS_IGNORED):
    """One TCP listener for ``driver`` on its bound ``sockets``; every connection gets its own UnitSession."""
    unit_listener = UnitListener(driver.name, listener, connections, sockets)
    port = sockets[0].socket.getsockname()[1]
    runtime.listeners.append({"driver": driver.name, "brand": driver.brand, "host": listener.host, "port": port})
    log.info("%s listener on %s:%d", driver.name, listener.host, port)
    task_status.started(port)
    await unit_listener.serve(partial(_handle, runtime, driver, listener))


async def _handle(runtime: Runtime, driver: Driver, listener: ListenerConfig, stream: trio.SocketStream,
                  admission: Admission) -> None:
    runtime.metrics.inc("fleetgate_connections_total", driver=driver.name)
    session = UnitSession(runtime, driver, listener, stream)
    session.on_login = admission.logging_in
    admission.on_evict(session.shed)
    try:
        await session.run()
    except Exception:
        # A bug in one connection's handling must not take the listener down.
        runtime.metrics.inc("fleetgate_frames_refused_total", driver=driver.name, reason="internal_error")
        log.exception("%s connection from %s failed", driver.name, session.remote)
