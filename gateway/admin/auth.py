"""Who may use which route.

On the admin socket, whoever may open the socket file has every right (an Authorization
header is accepted and ignored). On the HTTPS door every route needs a bearer token
(RFC 6750) carrying the route's scope, except the few marked PUBLIC, and routes marked
SOCKET_ONLY do not exist there. Each router declares its routes' access once, as a
dependency (``Access``); what is not an API route (the OpenAPI document, /docs, the
console's files) is decided by path in ``OUTSIDE_API``. tests/gateway/test_door_routes.py
fails for a route with no decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before included routers were kept whole
    iter_route_contexts = None
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.admin import problems
from gateway.admin.problems import Problem
from gateway.admin.server import DOOR, PEER_UID, SOCKET
from gateway.api_clients import SCOPES

PUBLIC = "public"  # no token needed, on either door (/health)
SOCKET_ONLY = "socket-only"  # the administrator's: 404 on the HTTPS door
DOOR_ONLY = "door-only"  # 404 on the socket, no bearer token on the door (the token endpoint)
REALM = 'Bearer realm="fleetgate"'
READING = ("GET", "HEAD")

# Paths served outside the API's routes, by prefix.
OUTSIDE_API = {"/openapi.json": PUBLIC, "/docs": SOCKET_ONLY, "/console": SOCKET_ONLY}


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a uid on the admin socket, an API client on the HTTPS door."""

    uid: int | None = None
    client_id: str | None = None
    token: str | None = field(default=None, repr=False)  # the bearer token, for a stream that outlives a request


class Access:
    """A router's access rule: a scope (or PUBLIC, SOCKET_ONLY, DOOR_ONLY) for its reading
    routes (GET) and one for the others, the same unless ``write`` is given."""

    def __init__(self, read: str, write: str | None = None):
        for rule in (read, write or read):
            if rule not in SCOPES and rule not in (PUBLIC, SOCKET_ONLY, DOOR_ONLY):
                raise ValueError(f"unknown access rule {rule!r}")
        self.read, self.write = read, write or read

    def rule(self, method: str) -> str:
        return self.read if method in READING else self.write

    async def __call__(self, request: Request) -> None:
        rule = self.rule(request.method)
        if DOOR.get() == SOCKET:
            if rule == DOOR_ONLY:
                raise _not_here(request)
            request.state.caller = Caller(uid=PEER_UID.get())
            return
        if rule == SOCKET_ONLY:
            raise _not_here(request)
        if rule in (PUBLIC, DOOR_ONLY):
            request.state.caller = Caller()
            return
        token = bearer_token(request)
        grant = await request.app.state.runtime.api_clients.grant(token) if token else None
        if grant is None:
            raise _unauthorized(presented=token is not None)
        if rule not in grant.scopes:
            shown = " ".join(sorted(grant.scopes))
            raise Problem("forbidden", 403, f"This request needs the scope '{rule}'; the token carries: {shown}.",
                          {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{rule}"'},
                          {"error": "insufficient_scope"})
        request.state.caller = Caller(client_id=grant.client_id, token=token)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _unauthorized(presented: bool) -> Problem:
    # RFC 6750 3.1: no error code in the challenge when the request carried no token.
    if presented:
        detail = "The bearer token is unknown, expired or revoked; get a new one at /auth/oauth/token."
        challenge = f'{REALM}, error="invalid_token"'
    else:
        detail = "This request needs a bearer token: get one at /auth/oauth/token with the client credentials."
        challenge = REALM
    return Problem("unauthorized", 401, detail, {"WWW-Authenticate": challenge}, {"error": "invalid_token"})


def _not_here(request: Request) -> Problem:
    return Problem("resource-not-found", 404, f"There is nothing at {request.url.path}.")


async def caller(request: Request) -> Caller:
    return request.state.caller


CallerOf = Annotated[Caller, Depends(caller)]  # what a route declares to learn who called


def access_of(route) -> Access | None:
    """The access rule an API route declares (through its router), if any."""
    found = [d.dependency for d in route.dependencies if isinstance(d.dependency, Access)]
    return found[0] if len(found) == 1 else None


def every_route(app) -> list:
    """The app's routes, those of included routers among them: newer FastAPI versions keep
    an included router whole in ``app.routes``."""
    if iter_route_contexts is None:
        return list(app.routes)
    return [context.original_route for context in iter_route_contexts(app.routes)]


def undecided_routes(app) -> list[str]:
    """Routes with no access decision: an API route without exactly one ``Access``, or
    another route outside ``OUTSIDE_API``. On the HTTPS door such a route would be open."""
    undecided = []
    for route in every_route(app):
        if isinstance(route, APIRoute):
            decided = access_of(route) is not None or (not route.include_in_schema and outside_api_rule(route.path))
        else:
            decided = outside_api_rule(route.path) is not None
        if not decided:
            undecided.append(f"{','.join(sorted(getattr(route, 'methods', None) or ['*']))} {route.path}")
    return undecided


def outside_api_rule(path: str) -> str | None:
    for prefix, rule in OUTSIDE_API.items():
        if path == prefix or path.startswith(prefix + "/"):
            return rule
    return None


class DoorPaths:
    """ASGI middleware: on the HTTPS door, what only the socket serves answers 404 for
    every method (a 405 would tell that the path exists): the socket-only routes and the
    socket-only paths of ``OUTSIDE_API``."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._hidden: list | None = None  # the socket-only routes, found at the first request

    def _socket_only(self, scope: Scope) -> bool:
        rule = outside_api_rule(scope["path"])
        if rule is not None:
            return rule == SOCKET_ONLY
        if self._hidden is None:
            self._hidden = [route for route in every_route(scope["app"]) if isinstance(route, APIRoute)
                            and access_of(route) and {access_of(route).rule(m) for m in route.methods} == {SOCKET_ONLY}]
        return any(route.matches(scope)[0] is not Match.NONE for route in self._hidden)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and DOOR.get() != SOCKET and self._socket_only(scope):
            response = problems.problem_response(Request(scope), "resource-not-found", 404,
                                                 f"There is nothing at {scope['path']}.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
