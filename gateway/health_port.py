"""`[cluster] health_listen`: GET /health on a TCP port, without authentication, for a load
balancer's health checks (HAProxy's `option httpchk`).

It answers only whether this gateway can do its work: 200 while the store commits, 503
during a storage fault. Nothing else is said there (no fleet id, no version, no ports),
and nothing else is served: the admin API stays on its socket and the HTTPS door.
Each request is read with a size and a time bound, answered and closed.
"""

from __future__ import annotations

import json
import logging

import trio

from gateway.store import Store

log = logging.getLogger(__name__)

MAX_REQUEST = 4096  # bytes of request line and headers
REQUEST_TIMEOUT = 5.0  # seconds to send them
MAX_CONNECTIONS = 64  # checks at once; more are closed unanswered


def answer(request: bytes, store: Store) -> bytes:
    """The whole HTTP/1.0 answer to ``request`` (its line and headers)."""
    method, _, rest = request.partition(b" ")
    path = rest.partition(b" ")[0].partition(b"?")[0]
    if method not in (b"GET", b"HEAD") or path != b"/health":
        return _response(404, "Not Found", {"status": "not found"}, method == b"HEAD")
    if store.fault is not None:
        return _response(503, "Service Unavailable", {"status": "unavailable", "since": store.fault.since},
                         method == b"HEAD")
    return _response(200, "OK", {"status": "ok"}, method == b"HEAD")


def _response(status: int, phrase: str, body: dict, head_only: bool) -> bytes:
    data = json.dumps(body).encode()
    head = (f"HTTP/1.0 {status} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode()
    return head if head_only else head + data


async def serve_health(listeners: list[trio.SocketListener], store: Store, *,
                       task_status=trio.TASK_STATUS_IGNORED) -> None:
    connections = trio.CapacityLimiter(MAX_CONNECTIONS)

    async def check(stream: trio.SocketStream) -> None:
        try:
            connections.acquire_nowait()
        except trio.WouldBlock:
            await stream.aclose()
            return
        try:
            async with stream:
                request = b""
                with trio.move_on_after(REQUEST_TIMEOUT):
                    while b"\r\n\r\n" not in request and b"\n\n" not in request:
                        data = await stream.receive_some(MAX_REQUEST)
                        if not data or len(request) + len(data) > MAX_REQUEST:
                            return
                        request += data
                    await stream.send_all(answer(request, store))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # a checker that went away
        finally:
            connections.release()

    task_status.started()
    await trio.serve_listeners(check, listeners)
