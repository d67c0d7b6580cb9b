"""Problem JSON (RFC 9457) for every error the API gives, FastAPI's and Starlette's included."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from gateway.registry import DomainError
from gateway.store import StoreError

TITLES = {
    "validation-error": "Validation error",
    "invalid-json": "Invalid JSON",
    "referenced-resource-not-found": "Referenced resource not found",
    "credentials-rejected": "Credentials rejected",
    "resource-not-found": "Resource not found",
    "method-not-allowed": "Method not allowed",
    "request-timeout": "Request timeout",
    "content-too-large": "Content too large",
    "conflicting-resource": "Conflicting resource",
    "vehicle/command-not-supported": "Command not supported",
    "vehicle/conflicting-command": "Conflicting command",
    "vehicle/conflicting-state": "Conflicting state",
    "telematics-unit/error": "Telematics unit error",
    "telematics-unit/timeout": "Telematics unit timeout",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "service-unavailable": "Service unavailable",
    "internal-server-error": "Internal server error",
}

METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")  # what a route may serve


class Problem(Exception):
    """Raise from a route to answer with a problem; ``members`` are added to the problem
    object (RFC 9457 extension members, e.g. OAuth2's ``error``)."""

    def __init__(self, name: str, status: int, detail: str, headers: dict[str, str] | None = None,
                 members: dict[str, str] | None = None):
        super().__init__(detail)
        self.name, self.status, self.detail = name, status, detail
        self.headers, self.members = headers, members or {}


def problem_response(
    request: Request, name: str, status: int, detail: str, headers: dict[str, str] | None = None,
    members: dict[str, str] | None = None,
) -> JSONResponse:
    flow_id = getattr(request.state, "flow_id", None)
    body = {"type": f"/problems/{name}", "title": TITLES[name], "status": status, "detail": detail, "flow_id": flow_id,
            **(members or {})}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _allowed_methods(request: Request) -> str:
    """The methods some route serves at this request's path, for a 405's Allow header.

    Starlette's own 405 names the methods of the first route that matched the path only.
    """
    routes = request.app.router.routes
    return ", ".join(
        method for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def _field_path(loc: tuple) -> str:
    # Drop the location ("body", "query", ...) and pydantic's union/type tags so the path reads as the JSON does.
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)]
    return ".".join(p for p in parts if not p.startswith("function-") and p not in ("str", "int", "bool", "float"))


def describe_validation(errors: list[dict]) -> tuple[str, str]:
    """The problem type and a detail naming the field, from pydantic's first error."""
    first = errors[0]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return "invalid-json", f"The request body is not valid JSON: {first.get('ctx', {}).get('error', 'syntax error')}."
    path = _field_path(tuple(first.get("loc", ())))
    if kind == "extra_forbidden":
        name = path.rsplit(".", 1)[-1]
        where = path.rsplit(".", 1)[0] if "." in path else ""
        return "validation-error", f"The property '{name}' is not allowed" + (f" in '{where}'." if where else ".")
    if kind == "missing":
        if not path:
            return "validation-error", "The request needs a JSON body."
        return "validation-error", f"The property '{path}' is required."
    message = first.get("msg", "is invalid").removeprefix("Value error, ")
    if kind == "model_attributes_type" and not path:
        return "validation-error", "The request body must be a JSON object."
    return "validation-error", f"'{path}': {message}."


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        name, detail = describe_validation(list(exc.errors()))
        return problem_response(request, name, 400, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            return problem_response(request, "method-not-allowed", 405, f"{request.method} is not allowed on "
                                    f"{request.url.path}.", {"Allow": _allowed_methods(request)})
        if exc.status_code == 404:
            return problem_response(request, "resource-not-found", 404, f"There is nothing at {request.url.path}.")
        if exc.status_code == 400:
            return problem_response(request, "validation-error", 400, str(exc.detail))
        return problem_response(request, "internal-server-error", 500, str(exc.detail))

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(request, exc.problem, exc.status, exc.detail)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        # A storage fault: writes fail until the store recovers by itself; reads mostly work.
        detail = f"The gateway's storage failed ({exc}); try again later."
        return problem_response(request, "service-unavailable", 503, detail)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.name, exc.status, exc.detail, exc.headers, exc.members)
