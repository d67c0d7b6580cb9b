"""`fleetgate serve --workers N`: every core of one machine (DESIGN.md "One node or a cluster").

The supervisor holds the data dir's lock and the admin socket's, creates the key file,
binds every listening socket once (the unit listeners, the admin socket, [cluster]
health_listen, the HTTPS door) and starts N workers: `fleetgate serve` processes that
inherit those sockets (gateway/cluster/inherited.py), each a node of the cluster on the
PostgreSQL store. They all accept on the same sockets; the kernel hands each new
connection to one of them.

A worker that exits is started again after a pause, which doubles while workers keep
exiting soon after their start, so that a crash loop does not spin. A worker that exits
before it first serves stops the whole start instead: what stopped it (a database that
cannot be reached, a key that does not match the store) is the operator's to fix, and
the worker has said it on stderr. Each worker runs in a session of its own, so a Ctrl-C
at the terminal reaches the supervisor alone; on SIGTERM or SIGINT the supervisor sends
every worker SIGTERM, kills one that does not stop within STOP_TIMEOUT, and removes the
admin socket. A worker whose supervisor dies stops by itself (gateway/cluster/worker.py).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from contextlib import ExitStack, asynccontextmanager

import trio

from drivers.registry import DRIVERS
from gateway.admin.server import admin_socket_lock, bind_admin_socket, remove_admin_socket
from gateway.app import (StartupError, data_dir_lock, door_socket, listen_for_health, listen_for_units,
                         open_secret_box)
from gateway.cluster.inherited import ADMIN, DOOR, HEALTH, LIFELINE, Inherited, send_config
from gateway.config import Config

log = logging.getLogger(__name__)

FIRST_DELAY = 0.5  # seconds before a worker that exited is started again
LONGEST_DELAY = 30.0  # the pause doubles up to this while workers keep exiting soon after their start
STEADY = 60.0  # seconds a worker must have run for its exit to count as a first one again
STOP_TIMEOUT = 20.0  # seconds a worker has to stop after SIGTERM before it is killed


async def supervise(config: Config, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run the workers until cancelled; ``task_status.started`` once every one serves."""
    count = config.cluster.workers
    if not config.store.url:
        raise StartupError(f"{count} workers need the PostgreSQL store ([store] url): each worker is a node of a "
                           "cluster, and an SQLite data dir serves one process")
    with ExitStack() as held:
        held.enter_context(data_dir_lock(config.data_dir))
        held.enter_context(admin_socket_lock(config.admin_socket))
        door = held.enter_context(door_socket(config.api))
        open_secret_box(config)  # a new key is made here, not by workers racing to make it
        sockets = await _bind_listeners(config, held)
        if door is not None:
            sockets[DOOR] = [door[0].fileno()]
        admin, bound = bind_admin_socket(config.admin_socket, config.admin.group)
        held.enter_context(admin)
        sockets[ADMIN] = [admin.fileno()]
        try:
            async with trio.open_nursery() as nursery:
                workers = [Worker(number, config, sockets) for number in range(1, count + 1)]
                async with trio.open_nursery() as starting:
                    for worker in workers:
                        starting.start_soon(nursery.start, worker.run)
                log.info("%d workers serving (pids %s): admin API on %s", count,
                         ", ".join(str(worker.pid) for worker in workers), config.admin_socket)
                task_status.started()
        finally:
            remove_admin_socket(config.admin_socket, bound)


async def _bind_listeners(config: Config, held: ExitStack) -> dict[str, list[int]]:
    """The unit listeners and the health port, bound and kept open for the workers."""
    sockets = {}
    for name in DRIVERS:
        listener = config.listener(name)  # None for a cloud driver
        if listener is not None and listener.enabled:
            sockets[name] = _kept(await listen_for_units(name, listener), held)
    health = _kept(await listen_for_health(config.cluster), held)
    if health:
        sockets[HEALTH] = health
    return sockets


def _kept(listeners: list[trio.SocketListener], held: ExitStack) -> list[int]:
    """The listeners' descriptors; their sockets stay open while ``held`` is."""
    for listener in listeners:
        held.enter_context(listener.socket)
    return [listener.socket.fileno() for listener in listeners]


class Worker:
    """One of the N: a `fleetgate serve` process, started again whenever it exits."""

    def __init__(self, number: int, config: Config, sockets: dict[str, list[int]]):
        self.number, self.config, self.sockets = number, config, sockets
        self.pid: int | None = None

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        served = False
        delay = None
        while True:
            async with self._process() as (process, lifeline):
                since = trio.current_time()
                if await _says_it_serves(lifeline):
                    if served:
                        log.info("worker %d (pid %d) serves again", self.number, process.pid)
                    else:
                        served = True
                        task_status.started()
                status = await process.wait()
            if not served:
                raise StartupError(f"worker {self.number} {_exited(status)} before it served")
            lived = trio.current_time() - since
            delay = FIRST_DELAY if delay is None or lived >= STEADY else min(2 * delay, LONGEST_DELAY)
            log.warning("worker %d (pid %d) %s; starting it again in %.1f s", self.number, process.pid,
                        _exited(status), delay)
            await trio.sleep(delay)

    @asynccontextmanager
    async def _process(self):
        """A started worker and our end of its lifeline; once the block is left the worker
        has exited: stopped with SIGTERM (SIGKILL after STOP_TIMEOUT) if it still ran."""
        ours, theirs = socket.socketpair()
        with ours:
            with theirs:
                inherited = Inherited({**self.sockets, LIFELINE: [theirs.fileno()]})
                process = await trio.lowlevel.open_process(
                    [sys.executable, "-m", "gateway", "serve", "--worker", inherited.describe()],
                    pass_fds=inherited.all(), start_new_session=True)
            self.pid = process.pid
            lifeline = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
            try:
                with contextlib.suppress(trio.BrokenResourceError):  # it exited at once; its status says why
                    await send_config(lifeline, self.config)
                yield process, lifeline
            finally:
                with trio.CancelScope(shield=True):
                    await self._stop(process)

    async def _stop(self, process: trio.Process) -> None:
        if process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_TIMEOUT):
            await process.wait()
            return
        log.warning("worker %d (pid %d) did not stop within %.0f s of SIGTERM: killing it", self.number,
                    process.pid, STOP_TIMEOUT)
        process.kill()
        await process.wait()


async def _says_it_serves(lifeline: trio.SocketStream) -> bool:
    """True once the worker says it serves; False if it exits first."""
    try:
        return bool(await lifeline.receive_some())
    except trio.BrokenResourceError:
        return False


def _exited(status: int) -> str:
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"
