"""JSON request bodies, read strictly: every value the API accepts can be stored and sent back.

Python's json module accepts what JSON text can say but JSON output cannot: lone UTF-16
surrogates (`"\\udc00"`), which no UTF-8 encoder writes, and NaN and infinities. A body
holding one is refused here, before any route sees it, with the field it is in. So is
text holding a NUL character, which PostgreSQL cannot store; a path or query parameter
holding one is refused the same way (a path id with it names nothing: 404).
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

SHOWN = 64  # characters of a property name a detail repeats


def loads(data: bytes) -> Any:
    """Parse a request body; json.JSONDecodeError (-> invalid-json) or HTTPException 400
    (-> validation-error) for what cannot be stored."""
    try:
        text = data.decode("utf-8")  # RFC 8259: JSON exchanged between systems is UTF-8
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("not UTF-8 text", "", exc.start) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    except ValueError:  # an integer past Python's digit limit for str -> int
        raise json.JSONDecodeError("a number has too many digits", "", 0) from None
    problem = unstorable(value)
    if problem is not None:
        raise HTTPException(400, problem)
    return value


def unstorable(value: Any) -> str | None:
    """A detail naming the first value (in document order) that cannot be written back as JSON."""
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:  # not recursive: nesting is as deep as the parser allowed
        path, node = stack.pop()
        if isinstance(node, dict):
            for key in node:
                if not _is_unicode(key):
                    return (f"{_where(path)}the property name '{_shown(key)}' is not Unicode text "
                            "(it holds a lone surrogate).")
                if "\x00" in key:
                    return f"{_where(path)}a property name holds a NUL character."
            stack.extend((path + (key,), item) for key, item in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((path + (index,), item) for index, item in reversed(list(enumerate(node))))
        elif isinstance(node, str) and not _is_unicode(node):
            return f"{_where(path)}the text is not Unicode (it holds a lone surrogate)."
        elif isinstance(node, str) and "\x00" in node:
            return f"{_where(path)}the text holds a NUL character."
        elif isinstance(node, float) and not math.isfinite(node):
            return f"{_where(path)}NaN and infinite numbers are not allowed."
    return None


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    return text[:SHOWN].encode("utf-8", "backslashreplace").decode("utf-8")


def _where(path: tuple) -> str:
    return f"'{'.'.join(_shown(str(part)) for part in path)}': " if path else "The request body: "


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        return loads(await self.body())


class AdminRoute(APIRoute):
    """Every admin route reads its JSON body through ``loads``."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            if any("\x00" in value for value in request.path_params.values()):
                raise HTTPException(404, "There is no such resource.")
            for name, value in request.query_params.multi_items():
                if "\x00" in name or "\x00" in value:
                    raise HTTPException(400, f"'{_shown(name)}': the text holds a NUL character.")
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return handle
