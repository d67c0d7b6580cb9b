"""Serving the admin API on a Unix socket with hypercorn's trio worker."""

from __future__ import annotations

import grp
import logging
import os
import socket
import struct
from contextvars import ContextVar
from pathlib import Path

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import wrap_app

log = logging.getLogger(__name__)

# The uid of the process on the other end of the admin socket (SO_PEERCRED), for the
# command audit. Set per connection; the request tasks hypercorn spawns inherit it.
PEER_UID: ContextVar[int | None] = ContextVar("admin_peer_uid", default=None)

MAX_SOCKET_PATH = 100  # the kernel's limit is 108 bytes including the terminator


class AdminSocketError(Exception):
    pass


def bind_admin_socket(path: Path, group: str = "") -> socket.socket:
    """Bind the socket at ``path`` with mode 0660 from its first moment.

    The socket is bound under a temporary name, given its mode (and group), then
    renamed into place, so no client ever sees it with looser permissions, and the
    process umask is left alone. The caller holds the data-dir lock, so a socket
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
        os.replace(staging, path)
        sock.listen(128)
    except BaseException:
        sock.close()
        staging.unlink(missing_ok=True)
        raise
    sock.setblocking(False)
    return sock


def _peer_uid(sock) -> int | None:
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (OSError, AttributeError):
        return None
    return uid


async def serve_admin(app, sock: socket.socket, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve HTTP/1.1 on the bound Unix socket with hypercorn's trio connection handler.

    We run the accept loop ourselves (hypercorn's worker_serve would do the same) so
    each connection's peer uid can be read before hypercorn takes the stream over.
    """
    config = HypercornConfig()
    config.accesslog = None
    config.errorlog = logging.getLogger("gateway.admin.hypercorn")
    asgi = wrap_app(app, config.wsgi_max_body_size, "asgi")
    context = WorkerContext(None)
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))

    async def handle(stream: trio.SocketStream) -> None:
        PEER_UID.set(_peer_uid(stream.socket))
        await TCPServer(asgi, config, context, {}, stream)

    await trio.serve_listeners(handle, [listener], task_status=task_status)
