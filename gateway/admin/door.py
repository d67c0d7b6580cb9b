"""The HTTPS door: the admin API on a TCP port, for booking software on other machines.

The same app as on the admin socket; auth.py makes every route ask for a bearer token
there. TLS 1.2 or newer, from the operator's certificate: a plain-HTTP request fails the
handshake and gets no HTTP answer. Plain HTTP is allowed only on a loopback address and
only when asked for (`[api] allow_plain_http`), for a TLS proxy on the same machine.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from pathlib import Path

import trio

from gateway.admin.server import DOOR, HTTPS, serve_http
from gateway.config import ApiConfig

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 512  # at once; more are closed as they come, so the door cannot take the units' file handles


class DoorError(Exception):
    """The door cannot open; the message says why in one line."""


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:  # an OSError too: first
        raise DoorError(f"[api] tls_cert {cert} and tls_key {key} are not a PEM certificate and its key ({exc.reason})") \
            from None
    except OSError as exc:
        raise DoorError(f"[api] cannot read the TLS certificate or key: {exc.strerror}: {exc.filename}") from None
    return context


def _loopback(host: str) -> bool:
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return all(ipaddress.ip_address(entry[4][0]).is_loopback for entry in found)


def door_tls(config: ApiConfig) -> ssl.SSLContext | None:
    """The door's TLS context, or None for plain HTTP where the config allows it."""
    if config.tls_cert is not None and config.tls_key is not None:
        return tls_context(config.tls_cert, config.tls_key)
    if config.tls_cert is not None or config.tls_key is not None:
        raise DoorError("[api] tls_cert and tls_key go together: set both")
    if not config.allow_plain_http:
        raise DoorError(f"[api] listen = \"{config.listen}\" needs tls_cert and tls_key (plain HTTP only with "
                        "allow_plain_http = true, on a loopback address)")
    host = config.address[0]
    if not _loopback(host):
        raise DoorError(f"[api] allow_plain_http is for loopback addresses only, not {host}: set tls_cert and tls_key")
    return None


def open_door(config: ApiConfig) -> tuple[socket.socket, ssl.SSLContext | None]:
    """The door's listening socket and TLS context (None for plain HTTP), by the config."""
    context = door_tls(config)
    host, port = config.address
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise DoorError(f"[api] cannot listen on {config.listen}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock, context


async def serve_door(app, sock: socket.socket, context: ssl.SSLContext | None, *,
                     task_status=trio.TASK_STATUS_IGNORED) -> None:
    connections = trio.CapacityLimiter(MAX_CONNECTIONS)

    async def on_connection(stream: trio.SocketStream, serve) -> None:
        try:
            connections.acquire_nowait()
        except trio.WouldBlock:
            log.debug("HTTPS door full (%d connections): closing a new one", MAX_CONNECTIONS)
            return
        try:
            DOOR.set(HTTPS)
            await serve(stream if context is None else trio.SSLStream(stream, context, server_side=True,
                                                                       https_compatible=True))
        finally:
            connections.release()

    await serve_http(app, sock, on_connection, task_status=task_status)
