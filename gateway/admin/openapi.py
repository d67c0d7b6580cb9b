"""The admin API's OpenAPI document, saying what the API answers: each operation's success
answer (gateway/admin/answers.py), problem JSON for every error, and the statuses each
operation can give (FastAPI's own document says 422)."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from gateway.admin.auth import DOOR_ONLY, READING, SOCKET_ONLY, access_of, every_route
from gateway.admin.problems import TITLES
from gateway.api_clients import SCOPES

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; `type` is one of the API's problem types.",
    "required": ["type", "title", "status", "detail", "flow_id"],
    "properties": {
        "type": {"type": "string", "enum": [f"/problems/{name}" for name in TITLES]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What is wrong, naming the field."},
        "flow_id": {"type": "string", "description": "The X-Flow-ID of the request."},
        "error": {"type": "string", "description": "OAuth2's error code (RFC 6749 5.2, RFC 6750 3.1): on "
                                                   "the token endpoint's problems and the door's 401 and 403."},
        "error_description": {"type": "string", "description": "The token endpoint's problems: as `detail`."},
    },
}
BODY_STATUSES = (400, 408, 413)  # any operation taking a body: a bad, slow or too large one


def documented(*statuses: int) -> dict:
    """``responses=`` for a route: problems it can answer besides those every operation of
    its kind can (a bad request, an unknown id in the path, a bad body), which ``install`` adds."""
    return {str(status): {"description": HTTPStatus(status).phrase} for status in statuses}


def answer(model: type[BaseModel], status: int = 200) -> dict:
    """``responses=`` for a route whose success answer ``model`` describes.

    For the document only: the route keeps returning a dict annotated ``-> dict``, which
    FastAPI checks for being a dict and writes out with pydantic's JSON encoder. Given as
    ``response_model``, the model would validate every answer in full: a page of 500
    vehicles took 13.6 ms against 1.2 ms (and with no annotation at all, FastAPI's
    jsonable_encoder took 68 ms). tests/gateway/test_api_answers.py holds the answers
    to the document instead.
    """
    return {status: {"model": model, "description": HTTPStatus(status).phrase}}


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = generate()  # generate() keeps the document in app.openapi_schema
            _describe_access(app, document)
            _describe_answers(document)
            _describe_problems(document)
        return app.openapi_schema

    app.openapi = openapi


def _describe_access(app: FastAPI, document: dict) -> None:
    """Each operation's scope on the HTTPS door (none on the admin socket)."""
    document.setdefault("components", {})["securitySchemes"] = {"oauth2": {
        "type": "oauth2",
        "description": "On the HTTPS door only: a bearer token for an API client's credentials. "
                       "The admin socket needs none.",
        "flows": {"clientCredentials": {"tokenUrl": "/auth/oauth/token", "scopes": SCOPES}},
    }, "clientBasic": {
        "type": "http", "scheme": "basic",
        "description": "An API client's client_id and client_secret, for the token endpoint.",
    }}
    for route in every_route(app):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        access = access_of(route)
        if access is None:  # create_app refuses such an app
            continue
        for method in route.methods:
            operation = document["paths"][route.path_format][method.lower()]
            rule = access.rule(method)
            operation["security"] = [{"oauth2": [rule]}] if rule in SCOPES else []
            if rule in SCOPES:
                operation["responses"].update(documented(401, 403))
            elif rule in (SOCKET_ONLY, DOOR_ONLY):  # the other door answers 404
                where = "the admin socket" if rule == SOCKET_ONLY else "the HTTPS door"
                operation["description"] = (operation.get("description", "") + f"\n\nOn {where} only.").strip()
                operation["responses"].update(documented(404))
            if rule == DOOR_ONLY:  # the token endpoint: client credentials as HTTP Basic, or in the body
                operation["security"] = [{"clientBasic": []}, {}]


def _describe_answers(document: dict) -> None:
    """A success answer is the model ``answer`` gave, not also FastAPI's schema for ``dict``
    (which it merges in beside the model's $ref)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if str(status).startswith("2") and "$ref" in schema:
                    response["content"]["application/json"]["schema"] = {"$ref": schema["$ref"]}


def _describe_problems(document: dict) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for fastapi_only in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_only, None)
    schemas["Problem"] = PROBLEM
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            responses.pop("422", None)
            parameters = operation.get("parameters", [])
            statuses = set(BODY_STATUSES if "requestBody" in operation else ())
            if any(p["in"] != "path" for p in parameters):
                statuses.add(400)
            if any(p["in"] == "path" for p in parameters):
                statuses.add(404)
            # A write answers 503 while the store cannot commit; /health says so, with the reason.
            if method.upper() not in READING or path == "/health":
                statuses.add(503)
            for status in statuses:
                responses.setdefault(str(status), {"description": HTTPStatus(status).phrase})
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = problem
