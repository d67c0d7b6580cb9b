"""Composition root: one nursery holding the store writer, the listeners and the admin API."""

from __future__ import annotations

import fcntl
import logging
import os
import resource
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import trio

from gateway.admin.app import create_app
from gateway.admin.context import AdminContext
from gateway.admin.server import bind_admin_socket, serve_admin
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.registry import Registry
from gateway.secrets import SecretBox
from gateway.store import Store

log = logging.getLogger(__name__)

DATABASE_FILE = "fleetgate.db"
LOCK_FILE = "fleetgate.lock"


class StartupError(Exception):
    """The gateway cannot start; the message says why in one line."""


def gateway_version() -> str:
    try:
        return version("fleetgate")
    except PackageNotFoundError:
        return "0+unknown"


@contextmanager
def data_dir_lock(data_dir: Path):
    """An exclusive lock on the data dir, held for the gateway's lifetime.

    It is taken before the admin socket is touched: a second gateway on the same data
    dir must stop here instead of replacing the first one's socket.
    """
    data_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StartupError(
                f"another fleetgate (pid {holder}) is already running on data dir {data_dir}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def raise_open_file_limit() -> int:
    """Thousands of units need thousands of sockets: use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


async def run_gateway(config: Config, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run until cancelled. ``task_status.started`` gets the AdminContext once the
    admin socket accepts requests."""
    data_dir = config.data_dir
    socket_path = config.admin_socket
    with data_dir_lock(data_dir):
        limit = raise_open_file_limit()
        try:
            box = SecretBox.open(data_dir)
        except Exception as exc:
            raise StartupError(str(exc)) from None
        store = Store(
            data_dir / DATABASE_FILE, synchronous=config.store.synchronous, busy_timeout=config.store.busy_timeout
        )
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(store.run)
                registry = await Registry.open(store, box)
                ctx = AdminContext(config=config, registry=registry, metrics=Metrics(), version=gateway_version())
                app = create_app(ctx)
                sock = bind_admin_socket(socket_path, config.admin.group)
                try:
                    await nursery.start(serve_admin, app, sock)
                    log.info(
                        "fleetgate %s serving fleet %s: admin API on %s, data in %s, open-file limit %d",
                        ctx.version, registry.fleet_id, socket_path, data_dir, limit,
                    )
                    task_status.started(ctx)
                    await trio.sleep_forever()
                finally:
                    socket_path.unlink(missing_ok=True)
        finally:
            store.close()
