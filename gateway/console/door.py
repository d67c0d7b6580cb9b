"""The console's door: a loopback HTTP server that lets one browser through to the admin socket.

The admin socket's file permissions are its only lock, and a browser cannot open a Unix
socket. A TCP port on 127.0.0.1 is open to every local user and to any web page the
operator visits, so the door lets in only the browser that opened its one-time login URL
(it gets an unguessable HttpOnly, SameSite=Strict cookie), only under its own address (a
page on another host name that resolves to 127.0.0.1 - DNS rebinding - gets 403) and never
a request another site started (Origin, Sec-Fetch-Site). What passes goes to the admin API
unchanged, and answers stream back as they come (the event stream included).
"""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path

import httpx
import trio
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.admin.server import serve_admin
from gateway.console import PREFIX

LOGIN_PATH = "/login/"
# Headers of the browser's request the API has a use for; cookies stay at the door.
FORWARDED = ("accept", "content-type", "last-event-id", "x-flow-id")
# Hop-by-hop headers, and those hypercorn writes itself.
NOT_PASSED_BACK = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "date", "server"}
DOOR_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (a free port for 0); OSError if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _into_console() -> Response:
    # Not a 303: after a login that came from another site (command.py's file), a browser
    # sends no SameSite=Strict cookie along the same redirect chain. A navigation this page
    # starts is same-origin, and carries it.
    page = f'<!doctype html><meta http-equiv="refresh" content="0;url={PREFIX}/"><a href="{PREFIX}/">console</a>'
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _problem(status: int, name: str, title: str, detail: str) -> Response:
    body = {"type": f"/problems/{name}", "title": title, "status": status, "detail": detail, "flow_id": None}
    return Response(json.dumps(body), status, media_type="application/problem+json")


class Door:
    """The ASGI app behind the door; ``upstream`` is an httpx client on the admin socket."""

    def __init__(self, port: int, upstream: httpx.AsyncClient, socket_path: Path) -> None:
        self.origin = f"http://127.0.0.1:{port}"
        self.host = f"127.0.0.1:{port}"
        self.upstream, self.socket_path = upstream, socket_path
        self._login_token: str | None = secrets.token_urlsafe(32)
        self.login_url = f"{self.origin}{LOGIN_PATH}{self._login_token}"
        self._session = secrets.token_urlsafe(32)
        # Cookies are shared by every port of a host: one name per door keeps two consoles apart.
        self.cookie = f"fleetgate_console_{port}"

    async def serve(self, sock: socket.socket, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve on a socket from ``bind``; the admin socket's hypercorn handler serves TCP as well."""
        await serve_admin(self, sock, task_status=task_status)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return  # no websockets here; hypercorn closes the connection
        request = Request(scope, receive)
        response = self._own_answer(request)
        if response is None:
            await self._proxy(request, send)
            return
        response.raw_headers.extend(DOOR_HEADERS)
        await response(scope, receive, send)

    def _own_answer(self, request: Request) -> Response | None:
        """The door's answer, or None for a request that goes on to the gateway."""
        if request.headers.get("host") != self.host:
            return _problem(403, "forbidden", "Forbidden", f"This door answers only as {self.origin}.")
        origin = request.headers.get("origin")
        if origin is not None and origin != self.origin:
            return _problem(403, "forbidden", "Forbidden", "Requests from other sites are refused.")
        if request.url.path.startswith(LOGIN_PATH):
            # It may come from another site (to a browser, the file command.py hands it is
            # one): its token is what lets it in.
            return self._login(request)
        if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return _problem(403, "forbidden", "Forbidden", "Requests from other sites are refused.")
        if not self._signed_in(request):
            return _problem(401, "unauthorized", "Unauthorized",
                            "Open the login URL that `fleetgate console` printed; it works once.")
        if request.url.path == "/":
            return RedirectResponse(f"{PREFIX}/", 303)
        return None

    def _signed_in(self, request: Request) -> bool:
        return secrets.compare_digest(request.cookies.get(self.cookie, ""), self._session)

    def _login(self, request: Request) -> Response:
        token = request.url.path[len(LOGIN_PATH):]
        if self._login_token is not None and secrets.compare_digest(token, self._login_token):
            self._login_token = None  # once
            response = _into_console()
            response.set_cookie(self.cookie, self._session, path="/", httponly=True, samesite="strict")
            return response
        if self._signed_in(request):  # the same browser reloading the login URL
            return _into_console()
        return _problem(403, "forbidden", "Forbidden",
                        "This login URL was used already; start `fleetgate console` again for a new one.")

    async def _proxy(self, request: Request, send) -> None:
        scope = request.scope
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in request.headers.items() if k in FORWARDED]
        outgoing = self.upstream.build_request(request.method, target, headers=headers, content=await request.body())
        try:
            answer = await self.upstream.send(outgoing, stream=True)
        except httpx.TransportError:
            response = _problem(502, "service-unavailable", "Gateway unreachable",
                                f"No fleetgate is answering on {self.socket_path}.")
            await response(scope, request.receive, send)
            return
        try:
            headers = [(k, v) for k, v in answer.headers.raw if k.lower().decode() not in NOT_PASSED_BACK]
            await send({"type": "http.response.start", "status": answer.status_code,
                        "headers": headers + DOOR_HEADERS})
            async with trio.open_nursery() as nursery:
                # hypercorn swallows sends after the browser left; only receive() tells,
                # and an event stream would otherwise hold the admin socket forever.
                nursery.start_soon(_cancel_on_disconnect, request.receive, nursery.cancel_scope)
                async for chunk in answer.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                nursery.cancel_scope.cancel()
        except httpx.TransportError:
            pass  # the gateway went away mid-answer: the browser sees the answer cut short
        finally:
            await answer.aclose()


async def _cancel_on_disconnect(receive, cancel_scope: trio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    cancel_scope.cancel()


def upstream_client(socket_path: Path) -> httpx.AsyncClient:
    # No read timeout: commands wait for the unit ([commands] timeout) and the event stream never ends.
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(socket_path)), base_url="http://localhost",
                             timeout=httpx.Timeout(None, connect=10))
