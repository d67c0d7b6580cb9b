"""Flow ids, request counts and the last word on errors, for every admin request."""

from __future__ import annotations

import logging
import uuid

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admin import problems
from gateway.metrics import Metrics

log = logging.getLogger(__name__)


class FlowIds:
    """ASGI middleware: every answer carries a flow id (the caller's X-Flow-ID, kept for
    tracing, or a new one) and is counted by method and status; an error no route handled
    is logged and answered with a 500 problem.

    Plain ASGI, not Starlette's ``@app.middleware("http")``: that one runs the rest of the
    app in a task of its own and hands the answer over through a memory stream. Each hand-
    over is a trip through the event loop, and under load every trip waits its turn behind
    the units' packets; an operator's request made several of them.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        flow_id = Headers(scope=scope).get("x-flow-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["flow_id"] = flow_id
        status = None

        async def send_with_flow_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != b"x-flow-id"]
                message = {**message, "headers": [*headers, (b"x-flow-id", flow_id.encode("latin-1"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_flow_id)
        except Exception:
            log.exception("unhandled error on %s %s (flow %s)", scope["method"], scope["path"], flow_id)
            if status is not None:
                raise  # the answer has begun: the server ends the connection
            response = problems.problem_response(
                Request(scope), "internal-server-error", 500, "The gateway failed to handle this request.")
            await response(scope, receive, send_with_flow_id)
        finally:
            if status is not None:
                self.metrics.inc("fleetgate_admin_requests_total", method=scope["method"], status=str(status))
