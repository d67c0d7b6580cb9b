"""The admin API's OpenAPI document, saying what the API answers: problem JSON for every
error, and the statuses each operation can give (FastAPI's own document says 422)."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI
from fastapi.routing import APIRoute

from gateway.admin.auth import SOCKET_ONLY, access_of, every_route
from gateway.api_clients import SCOPES

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; `type` is one of the API's problem types.",
    "required": ["type", "title", "status", "detail", "flow_id"],
    "properties": {
        "type": {"type": "string", "examples": ["/problems/validation-error"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What is wrong, naming the field."},
        "flow_id": {"type": "string", "description": "The X-Flow-ID of the request."},
    },
}
BODY_STATUSES = (400, 408, 413)  # any operation taking a body: a bad, slow or too large one


def documented(*statuses: int) -> dict:
    """``responses=`` for a route: problems it can answer besides those every operation of
    its kind can (a bad request, an unknown id in the path, a bad body), which ``install`` adds."""
    return {status: {"description": HTTPStatus(status).phrase} for status in statuses}


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = generate()  # generate() keeps the document in app.openapi_schema
            _describe_access(app, document)
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
            elif rule == SOCKET_ONLY:
                operation["description"] = (operation.get("description", "") + "\n\nOn the admin socket only.").strip()


def _describe_problems(document: dict) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for fastapi_only in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_only, None)
    schemas["Problem"] = PROBLEM
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop("422", None)
            parameters = operation.get("parameters", [])
            statuses = set(BODY_STATUSES if "requestBody" in operation else ())
            if any(p["in"] != "path" for p in parameters):
                statuses.add(400)
            if any(p["in"] == "path" for p in parameters):
                statuses.add(404)
            for status in statuses:
                responses.setdefault(str(status), {"description": HTTPStatus(status).phrase})
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = problem
