"""Composition root: one nursery holding the store writer, the listeners and the admin API."""

from __future__ import annotations

import logging
import socket
from contextlib import ExitStack, asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import trio

from drivers.base import Transport
from drivers.brands import BRANDS
from drivers.registry import DRIVERS
from gateway import locks
from gateway.admin.app import create_app
from gateway.admin.door import DoorError, door_tls, open_door, serve_door
from gateway.admin.server import admin_socket_lock, bind_admin_socket, remove_admin_socket, serve_admin
from gateway.amqp import EventPublisher
from gateway.api_clients import ApiClients
from gateway.cluster.event_pump import EventPump
from gateway.cluster.inherited import ADMIN, DOOR, HEALTH, Inherited
from gateway.cluster.node import ClusterNode
from gateway.clock import now_text, rfc3339, utc_now
from gateway.cloud import CloudFleet
from gateway.commands import Commands
from gateway.config import ApiConfig, ClusterConfig, Config, ListenerConfig
from gateway.health_port import serve_health
from gateway.listeners import UnitConnections
from gateway.metrics import Metrics
from gateway.registry import Registry, adopt_key
from gateway.runtime import Runtime
from gateway.secrets import SecretBox, SecretsError
from gateway.session_table import AuthThrottle, SessionTable
from gateway.sessions import serve_driver
from gateway.store import Store, StoreError, cluster, telemetry
from gateway.store.postgres import PostgresEngine
from gateway.strangers import Strangers
from gateway.tuning import raise_open_file_limit
from gateway.version import gateway_version

log = logging.getLogger(__name__)

DATABASE_FILE = "fleetgate.db"
LOCK_FILE = "fleetgate.lock"
PRUNE_EVERY = 3600  # seconds between retention passes
PRUNE_BATCH = 5000  # rows per transaction, so pruning never holds the writer for long


class StartupError(Exception):
    """The gateway cannot start; the message says why in one line."""


@contextmanager
def data_dir_lock(data_dir: Path):
    """An exclusive lock on the data dir, held for the gateway's lifetime.

    It is taken before the admin socket is touched: a second gateway on the same data
    dir must stop here instead of replacing the first one's socket.
    """
    path = data_dir / LOCK_FILE
    with ExitStack() as held:
        try:
            data_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
            held.enter_context(locks.hold(path, lambda pid: StartupError(
                f"another fleetgate (pid {pid}) is already running on data dir {data_dir}")))
        except OSError as exc:  # a read-only or full disk, a data dir that is a file ...
            raise StartupError(f"cannot lock {path}: {exc.strerror}") from None
        yield


def _register_metrics(runtime: Runtime) -> None:
    m, store = runtime.metrics, runtime.store
    m.counter("fleetgate_connections_total", "TCP connections accepted, by driver.")
    m.counter("fleetgate_frames_received_total", "Frames decoded, by driver.")
    m.counter("fleetgate_frames_refused_total", "Connections closed for bad input, by driver and reason.")
    m.counter("fleetgate_acks_sent_total", "Acknowledgements sent after a commit, by driver.")
    m.counter("fleetgate_bytes_discarded_total", "Bytes skipped to find the next frame start, by driver.")
    m.counter("fleetgate_frames_undecoded_total",
              "Frames (or parts of frames) kept raw because the driver does not decode them, by driver and message type.")
    m.counter("fleetgate_records_stored_total", "New records committed.", lambda: [({}, store.records_new)])
    m.counter("fleetgate_records_duplicate_total", "Resent records dropped as duplicates.",
              lambda: [({}, store.records_duplicate)])
    m.gauge("fleetgate_event_subscribers", "Clients on the live event stream.",
            lambda: [({}, runtime.events.subscribers)])
    m.gauge("fleetgate_sessions", "Authenticated unit sessions, by driver.",
            lambda: [({"driver": d}, runtime.sessions.count(d)) for d in DRIVERS])
    m.counter("fleetgate_commit_batches_total", "Store transactions committed.", lambda: [({}, store.batches)])
    m.counter("fleetgate_commit_jobs_total", "Jobs committed; jobs / batches is the mean batch size.",
              lambda: [({}, store.batch_jobs)])
    m.counter("fleetgate_commit_seconds_total", "Time spent committing batches; / batches is the mean latency.",
              lambda: [({}, store.commit_seconds)])
    m.gauge("fleetgate_store_healthy", "1 while the store can commit, 0 during a storage fault.",
            lambda: [({}, int(store.fault is None))])
    m.counter("fleetgate_store_faults_total",
              "Store operations failed by the disk or the database file, by kind: commit, checkpoint, read,"
              " probe (a retry while faulted).",
              lambda: [({"kind": kind}, count) for kind, count in store.faults.items()])
    publisher = runtime.amqp
    if publisher is not None:
        m.gauge("fleetgate_amqp_backlog", "Events committed and not yet confirmed by the AMQP broker.",
                lambda: [({}, publisher.backlog)])
        m.counter("fleetgate_amqp_published_total", "Events the AMQP broker confirmed, repeats after a lost "
                  "connection included.", lambda: [({}, publisher.published)])
        m.gauge("fleetgate_amqp_connected", "1 while the connection to the AMQP broker is up, else 0.",
                lambda: [({}, int(publisher.connected))])


def _fan_out(runtime: Runtime):
    """The store's hook after each commit: the live stream, and the publisher's wake-up."""
    bus, publisher = runtime.events, runtime.amqp
    if publisher is None:
        return bus.publish

    def committed(events) -> None:
        bus.publish(events)
        publisher.committed(events)

    return committed


async def prune_forever(runtime: Runtime) -> None:
    """Retention: delete old records and events in small transactions, now and then."""
    store = runtime.config.store
    kept = [(table, column, days) for table, column, days in (
        ("records", "received_at", store.record_retention_days),
        ("events", "occurred_at", store.event_retention_days),
    ) if days]
    while kept:
        for table, column, days in kept:
            if not runtime.node.owns("retention"):  # in a cluster one node prunes
                continue
            cutoff = rfc3339(utc_now() - timedelta(days=days))
            try:
                while await runtime.store.write(telemetry.prune_before, table, column, cutoff, PRUNE_BATCH):
                    await trio.sleep(0.1)  # let ingest batches in between
            except StoreError as exc:
                log.info("retention pass on %s skipped: %s", table, exc)
        await trio.sleep(PRUNE_EVERY)


async def settle_life_status(runtime: Runtime) -> None:
    """After a store fault: sessions that ended during it could not release their claim
    (and store their vehicle's OFFLINE); release every claim of this node whose session
    is no longer live."""
    try:
        settled = await runtime.store.write(cluster.settle_claims, runtime.node.node_id,
                                            runtime.sessions.live_claims(), now_text())
    except StoreError:
        return  # faulted again: the next recovery settles them
    if settled:
        log.info("%d vehicles whose session ended during the store fault are offline", settled)


@asynccontextmanager
async def writer_running(store: Store):
    """The store's writer, outliving the rest of the gateway: what the rest writes while it
    stops (a node leaving its cluster, sessions whose vehicles go OFFLINE) still commits."""
    scope = trio.CancelScope(shield=True)

    async def run(task_status=trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await store.run(task_status=task_status)

    async with trio.open_nursery() as nursery:
        await nursery.start(run)
        try:
            yield
        finally:
            scope.cancel()


def open_store(config: Config) -> Store:
    """SQLite in the data dir, or the PostgreSQL database of a cluster ([store] url)."""
    if config.store.url:
        return Store(PostgresEngine(config.store.url, node=socket.gethostname()),
                     commit_interval=config.store.commit_interval)
    return Store(config.data_dir / DATABASE_FILE, synchronous=config.store.synchronous,
                 busy_timeout=config.store.busy_timeout, commit_interval=config.store.commit_interval)


def open_secret_box(config: Config) -> SecretBox:
    """The key that encrypts secrets, created on first start."""
    try:
        return SecretBox.open(config.secrets_key)
    except Exception as exc:
        raise StartupError(str(exc)) from None


async def _listen(what: str, host: str, port: int, where: str) -> list[trio.SocketListener]:
    try:
        return await trio.open_tcp_listeners(port, host=host or None)
    except OSError as exc:
        raise StartupError(f"cannot listen for {what} on {where}: {exc.strerror}") from None


async def listen_for_units(name: str, listener: ListenerConfig) -> list[trio.SocketListener]:
    return await _listen(name, listener.host, listener.port, f"{listener.host}:{listener.port}")


async def listen_for_health(config: ClusterConfig) -> list[trio.SocketListener]:
    """[cluster] health_listen's sockets; none when it is unset."""
    address = config.health_address
    if address is None:
        return []
    return await _listen("health checks", address[0], address[1], config.health_listen)


@contextmanager
def door_socket(config: ApiConfig, inherited: Inherited | None = None):
    """The HTTPS door's socket and TLS context, when the config opens the door. Bound before
    anything else starts, so that a door that cannot open stops the start with one line."""
    if not config.listen:
        yield None
        return
    try:
        sock, context = open_door(config) if inherited is None else (inherited.socket(DOOR), door_tls(config))
    except DoorError as exc:
        raise StartupError(str(exc)) from None
    with sock:
        yield sock, context


async def open_doors(nursery: trio.Nursery, runtime: Runtime, app, door) -> None:
    """The HTTPS door and the event publisher, when the config asks for them."""
    if runtime.amqp is not None:
        await nursery.start(runtime.amqp.run)
    if door is not None:
        sock, context = door
        host, port = sock.getsockname()[:2]
        runtime.door = {"host": host, "port": port, "tls": context is not None}
        await nursery.start(serve_door, app, sock, context)
        log.info("HTTPS door on %s:%d%s", host, port, "" if context else " (plain HTTP, loopback only)")


async def open_health_port(nursery: trio.Nursery, runtime: Runtime, inherited: Inherited | None) -> None:
    """[cluster] health_listen, when set: the balancer's health checks."""
    cluster = runtime.config.cluster
    listeners = await listen_for_health(cluster) if inherited is None else inherited.listeners(HEALTH)
    if not listeners:
        return
    runtime.health_port = listeners[0].socket.getsockname()[1]
    await nursery.start(serve_health, listeners, runtime.store)
    log.info("health checks on %s:%d", cluster.health_address[0], runtime.health_port)


async def run_gateway(config: Config, inherited: Inherited | None = None, *,
                      task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run until cancelled. ``task_status.started`` gets the Runtime once the listeners
    and the admin socket accept connections. ``inherited``: a worker's sockets, bound by
    its supervisor, which also holds the locks and removes the admin socket."""
    data_dir = config.data_dir
    socket_path = config.admin_socket
    with ExitStack() as held:
        if inherited is None:
            held.enter_context(data_dir_lock(data_dir))
            held.enter_context(admin_socket_lock(socket_path))
        door = held.enter_context(door_socket(config.api, inherited))
        limit = raise_open_file_limit()
        box = open_secret_box(config)
        store = open_store(config)
        try:
            async with httpx.AsyncClient() as http, writer_running(store), trio.open_nursery() as nursery:
                await nursery.start(store.run_maintenance)
                strangers = Strangers(store, config.sessions.max_seen_units,
                                      config.sessions.unit_seen_events_per_minute)
                await nursery.start(strangers.run)
                try:
                    await store.write(adopt_key, box, config.secrets_key)
                except SecretsError as exc:
                    raise StartupError(str(exc)) from None
                registry = await Registry.open(store, box, strangers)
                if not config.store.url:
                    # One node alone: no session survived its last run. (In a cluster the
                    # other nodes release a dead node's sessions when its lease runs out.)
                    tcp_brands = [b.name for b in BRANDS.values() if b.transport is Transport.TCP]
                    await store.write(cluster.release_all, tcp_brands, now_text())
                runtime = Runtime(config=config, store=store, registry=registry, metrics=Metrics(),
                                  version=gateway_version())
                runtime.sessions = SessionTable(AuthThrottle(address_threshold=config.sessions.address_auth_failures))
                runtime.node = ClusterNode(store, config.store.url or None, config.cluster.lease,
                                           sessions=runtime.sessions)
                await nursery.start(runtime.node.run)
                runtime.api_clients = ApiClients(store, config.api.token_lifetime)
                if config.events.amqp.url:
                    runtime.amqp = EventPublisher(store, config.events.amqp, registry.fleet_id,
                                                  turn=lambda: runtime.node.owns("amqp publisher"))
                if config.store.url:  # every node's events, in the cluster's order, from the log
                    await nursery.start(EventPump(store, config.store.url, _fan_out(runtime)).run)
                else:
                    store.on_events = _fan_out(runtime)
                store.on_recovered = lambda: nursery.start_soon(settle_life_status, runtime)
                await nursery.start(runtime.sessions.enforce_deadlines)
                runtime.commands = Commands(runtime)
                registry.on_vehicle_removed.append(lambda row: runtime.sessions.close_vehicle(row["id"]))
                registry.on_model_changed.append(runtime.sessions.model_changed)
                _register_metrics(runtime)
                app = create_app(runtime)
                try:
                    connections = UnitConnections(config.sessions.fd_reserve, runtime.metrics)
                except ValueError as exc:
                    raise StartupError(str(exc)) from None
                for name, driver in DRIVERS.items():
                    listener = config.listener(name)  # None for a cloud driver
                    if listener is not None and listener.enabled:
                        sockets = await listen_for_units(name, listener) if inherited is None else \
                            inherited.listeners(name)
                        await nursery.start(serve_driver, runtime, driver, listener, connections, sockets)
                if config.drivers.niu.enabled:
                    runtime.cloud = CloudFleet(runtime, config.drivers.niu, http)
                    await nursery.start(runtime.cloud.run)
                nursery.start_soon(prune_forever, runtime)
                if inherited is None:
                    sock, bound = bind_admin_socket(socket_path, config.admin.group)
                else:
                    sock, bound = inherited.socket(ADMIN), None
                try:
                    await nursery.start(serve_admin, app, sock)
                    await open_doors(nursery, runtime, app, door)
                    await open_health_port(nursery, runtime, inherited)
                    log.info(
                        "fleetgate %s serving fleet %s: admin API on %s, data in %s, open-file limit %d",
                        runtime.version, registry.fleet_id, socket_path, data_dir, limit,
                    )
                    task_status.started(runtime)
                    await trio.sleep_forever()
                finally:
                    if bound is not None:
                        remove_admin_socket(socket_path, bound)
        finally:
            store.close()
