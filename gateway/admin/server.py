"""Serving the admin API on a Unix socket with hypercorn's trio worker."""

from __future__ import annotations

import grp
import logging
import os
import socket
import struct
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import wrap_app

from gateway import locks

log = logging.getLogger(__name__)

# The uid of the process on the other end of the admin socket (SO_PEERCRED), for the
# command audit. Set per connection; the request tasks hypercorn spawns inherit it.
PEER_UID: ContextVar[int | None] = ContextVar("admin_peer_uid", default=None)
# Which door a request came in by: SOCKET (full rights) or HTTPS (a bearer token with the
# route's scope, gateway/admin/auth.py). Set per connection; anything else counts as HTTPS.
SOCKET, HTTPS = "socket", "https"
DOOR: ContextVar[str | None] = ContextVar("admin_door", default=None)

MAX_SOCKET_PATH = 100  # the kernel's limit is 108 bytes including the terminator
PROBE_TIMEOUT = 1.0  # seconds for a connect to a socket that may be served
HANDSHAKE_TIMEOUT = 10.0  # seconds for a TLS handshake on the HTTPS door


class AdminSocketError(Exception):
    pass


@contextmanager
def admin_socket_lock(path: Path):
    """Hold ``<socket>.lock`` for the gateway's lifetime and make sure nothing serves ``path``.

    Gateways with different data dirs may be given the same socket path: the lock stops a
    second fleetgate, the probe anything else still answering there (an older gateway, say).
    """
    path = path.absolute()
    with locks.hold(path.with_name(path.name + ".lock"), lambda pid: AdminSocketError(
            f"another fleetgate (pid {pid}) serves the admin socket {path}")):
        if path.is_socket() and _answers(path):
            raise AdminSocketError(f"something already serves the admin socket {path}; refusing to take it over")
        yield


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_TIMEOUT)
    try:
        probe.connect(os.fsencode(path))
    except OSError:  # ECONNREFUSED: a stale socket file, nobody listens
        return False
    finally:
        probe.close()
    return True


def bind_admin_socket(path: Path, group: str = "") -> tuple[socket.socket, tuple[int, int]]:
    """Bind the socket at ``path`` with mode 0660 from its first moment; return it and the
    (device, inode) of its file, for ``remove_admin_socket``.

    The socket is bound under a temporary name, given its mode (and group), then
    renamed into place, so no client ever sees it with looser permissions, and the
    process umask is left alone. The caller holds ``admin_socket_lock``, so a socket
    already at ``path`` is a stale one from a gateway that died.
    """
    path = path.absolute()
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise AdminSocketError(
            f"admin socket path {path} is longer than {MAX_SOCKET_PATH} bytes; set [admin] socket to a shorter path"
        )
    gid = -1
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise AdminSocketError(f"admin socket group '{group}' does not exist") from None
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        staging.unlink(missing_ok=True)
        sock.bind(os.fsencode(staging))
        os.chmod(staging, 0o660)
        if gid != -1:
            os.chown(staging, -1, gid)
        if path.exists() and not path.is_socket():
            raise AdminSocketError(f"{path} exists and is not a socket; refusing to replace it")
        bound = os.stat(staging)  # a rename keeps the inode
        os.replace(staging, path)
        sock.listen(128)
    except BaseException:
        sock.close()
        staging.unlink(missing_ok=True)
        raise
    sock.setblocking(False)
    return sock, (bound.st_dev, bound.st_ino)


def remove_admin_socket(path: Path, bound: tuple[int, int]) -> None:
    """Unlink the socket file at ``path`` only if it is still the one this gateway bound."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if (found.st_dev, found.st_ino) == bound:
        path.unlink(missing_ok=True)


def _peer_uid(sock) -> int | None:
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (OSError, AttributeError):
        return None
    return uid


async def serve_http(app, sock: socket.socket, on_connection, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve HTTP/1.1 on a bound, listening socket with hypercorn's trio connection handler.

    We run the accept loop ourselves (hypercorn's worker_serve would do the same) so that
    ``on_connection(stream, serve)`` sees each connection first: it may read the peer, set
    context variables the requests inherit, wrap the stream (TLS), then ``await serve(stream)``.
    """
    config = HypercornConfig()
    config.accesslog = None
    config.errorlog = logging.getLogger("gateway.admin.hypercorn")
    config.ssl_handshake_timeout = HANDSHAKE_TIMEOUT
    asgi = wrap_app(app, config.wsgi_max_body_size, "asgi")
    context = WorkerContext(None)
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))

    async def serve(stream: trio.abc.Stream) -> None:
        await TCPServer(asgi, config, context, {}, stream)

    async def handle(stream: trio.SocketStream) -> None:
        await on_connection(stream, serve)

    await trio.serve_listeners(handle, [listener], task_status=task_status)


async def serve_admin(app, sock: socket.socket, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve the admin socket: whoever may open the socket file has every right."""

    async def on_connection(stream: trio.SocketStream, serve) -> None:
        PEER_UID.set(_peer_uid(stream.socket))
        # Only a Unix socket is the administrator's door; this also serves the console's
        # loopback TCP door, whose own app checks who comes in.
        DOOR.set(SOCKET if stream.socket.family == socket.AF_UNIX else None)
        await serve(stream)

    await serve_http(app, sock, on_connection, task_status=task_status)
