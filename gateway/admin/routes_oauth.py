"""POST /auth/oauth/token: OAuth2 client credentials (RFC 6749 4.4), on the HTTPS door only.

The OneAPI's clients send `grant_type` in the query and the client credentials as HTTP
Basic; OAuth2 libraries send a form body (4.4.2), with the credentials as Basic or as
`client_id` / `client_secret` in the body (2.3.1). All of these work. Errors are problem
JSON carrying RFC 6749's `error` (5.2).

Not on the admin socket: there no request needs a token, so the endpoint lives only where
its tokens are used, and client secrets are only ever checked on the TLS door.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.admin import answers
from gateway.admin.auth import DOOR_ONLY, Access
from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute
from gateway.admin.openapi import answer, documented
from gateway.admin.problems import Problem

router = APIRouter(tags=["OAuth2"], route_class=AdminRoute, dependencies=[Depends(Access(DOOR_ONLY))])
FORM = "application/x-www-form-urlencoded"
GRANT = "client_credentials"
# For the document: the form body (parsed by hand in _parameters, which also reads the query).
FORM_BODY = {"required": False, "content": {FORM: {"schema": {"type": "object", "properties": {
    "grant_type": {"type": "string", "enum": [GRANT], "description": "Required, here or in the query."},
    "scope": {"type": "string", "description": "Space-separated scopes; all of the client's by default."},
    "client_id": {"type": "string", "description": "Without HTTP Basic: the client's id."},
    "client_secret": {"type": "string", "description": "Without HTTP Basic: the client's secret."},
}}}}}


def _error(code: str, detail: str) -> Problem:
    if code == "invalid_client":
        return Problem("unauthorized", 401, detail, {"WWW-Authenticate": 'Basic realm="fleetgate"'},
                       {"error": code, "error_description": detail})
    return Problem("validation-error", 400, detail, members={"error": code, "error_description": detail})


async def _parameters(request: Request) -> dict[str, str]:
    """The query's and the form body's parameters; each may be given once (RFC 6749 3.2)."""
    body = await request.body()
    pairs = list(request.query_params.multi_items())
    if body:
        if request.headers.get("content-type", "").partition(";")[0].strip().lower() != FORM:
            raise _error("invalid_request", f"The request body must be {FORM}.")
        try:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise _error("invalid_request", f"The request body is not valid {FORM}.") from None
    parameters: dict[str, str] = {}
    for name, value in pairs:
        if name in parameters:
            raise _error("invalid_request", f"The parameter '{name[:64]}' is given more than once.")
        parameters[name] = value
    return parameters


def _client_credentials(request: Request, parameters: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization")
    in_body = "client_id" in parameters or "client_secret" in parameters
    if header is not None:
        if in_body:
            raise _error("invalid_request", "Client credentials go in the Authorization header or in the body, "
                                            "not in both.")
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, colon, secret = decoded.partition(":")
        if scheme.lower() != "basic" or not colon:
            raise _error("invalid_client", "The Authorization header must be HTTP Basic client_id:client_secret.")
        # 2.3.1: both are form-encoded before they are put together.
        return unquote_plus(client_id), unquote_plus(secret)
    if not in_body:
        raise _error("invalid_client", "The client credentials are missing: send them as HTTP Basic.")
    return parameters.get("client_id", ""), parameters.get("client_secret", "")


@router.post("/auth/oauth/token", responses=answer(answers.TokenOut) | documented(400, 401),
             openapi_extra={"requestBody": FORM_BODY})
async def token(request: Request, ctx: Ctx) -> JSONResponse:
    """A bearer token for an API client (RFC 6749 4.4); errors carry RFC 6749's `error`."""
    parameters = await _parameters(request)
    grant_type = parameters.get("grant_type")
    if grant_type is None:
        raise _error("invalid_request", "The parameter 'grant_type' is required.")
    if grant_type != GRANT:
        raise _error("unsupported_grant_type", f"Only the grant type '{GRANT}' is supported.")
    client_id, secret = _client_credentials(request, parameters)
    client = await ctx.api_clients.authenticate(client_id, secret)
    if client is None:
        raise _error("invalid_client", "The client credentials are not valid.")
    scopes = parameters.get("scope", "").split() or client["scopes"]
    beyond = sorted(set(scopes) - set(client["scopes"]))
    if beyond:
        raise _error("invalid_scope", f"The client may not have the scope '{beyond[0][:64]}'.")
    access_token = await ctx.api_clients.issue_token(client, sorted(set(scopes)))
    return JSONResponse(
        {"access_token": access_token, "token_type": "bearer", "expires_in": ctx.api_clients.token_lifetime,
         "scope": " ".join(sorted(set(scopes)))},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},  # RFC 6749 5.1
    )
