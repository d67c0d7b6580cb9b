"""Bounds on what one admin request may cost: the size of its body and the time to send it."""

from __future__ import annotations

import trio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admin import problems


class BodyLimits:
    """ASGI middleware that reads a request's whole body before the app runs.

    Admin bodies are small JSON, so holding one costs little, and a client that announces
    or sends more than ``max_bytes`` gets a 413 at once, one that has not sent its body
    within ``timeout`` seconds a 408. Either way the request's body was not read to its end,
    so hypercorn closes the connection after the answer.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = Headers(scope=scope).get("content-length", "").lstrip("0")
        # h11 lets only digits through; compare lengths first, int() refuses 5,000 of them
        too_large = len(announced) > len(str(self.max_bytes)) or int(announced or 0) > self.max_bytes
        chunks: list[bytes] = []
        size, complete = 0, False
        with trio.move_on_after(self.timeout):
            while not (complete or too_large):
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # nobody left to answer
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                too_large = size > self.max_bytes
                complete = not message.get("more_body", False)
        if too_large:
            problem = ("content-too-large", 413, f"The request body is larger than the {self.max_bytes} bytes "
                                                 "this API accepts.")
        elif not complete:
            problem = ("request-timeout", 408, f"The request body did not arrive within {self.timeout:g} seconds.")
        else:
            await self.app(scope, _replay(b"".join(chunks), receive), send)
            return
        await problems.problem_response(Request(scope), *problem)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body in one message, then the connection's own messages (a disconnect, say)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
