"""/api-clients: the HTTPS door's clients, managed over the admin socket only. A client's
secret is in the answer that created or rotated it, and nowhere ever again."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field, StrictStr

from gateway.admin import answers, views
from gateway.admin.auth import SOCKET_ONLY, Access
from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute
from gateway.admin.openapi import answer
from gateway.admin.schemas import Body
from gateway.api_clients import SCOPES

router = APIRouter(tags=["API clients (admin socket only)"], route_class=AdminRoute,
                   dependencies=[Depends(Access(SOCKET_ONLY))])


class ApiClientIn(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[Literal[tuple(SCOPES)]], Field(min_length=1, max_length=len(SCOPES) * 4)]


@router.post("/api-clients", status_code=201, responses=answer(answers.ApiClientSecret, 201))
async def add_api_client(body: ApiClientIn, ctx: Ctx) -> dict:
    """The answer holds `client_secret`: store it now, it is never shown again."""
    row, secret = await ctx.api_clients.add(body.name, body.scopes)
    return {**row, "client_secret": secret}


@router.get("/api-clients", responses=answer(answers.ApiClientPage))
async def list_api_clients(
    ctx: Ctx,
    limit: views.Limit = views.DEFAULT_LIMIT,
    page_token: Annotated[str | None, Query()] = None,
) -> dict:
    after = views.decode_token(page_token, (str,)) or [""]
    return views.page(await ctx.api_clients.list(after[0], limit + 1), limit, lambda row: [row["id"]])


@router.delete("/api-clients/{api_client_id}", status_code=204)
async def remove_api_client(api_client_id: str, ctx: Ctx) -> Response:
    """Its tokens stop working at once."""
    await ctx.api_clients.remove(api_client_id)
    return Response(status_code=204)


@router.post("/api-clients/{api_client_id}/rotate", responses=answer(answers.ApiClientSecret))
async def rotate_api_client(api_client_id: str, ctx: Ctx) -> dict:
    """A new secret, in this answer only; the old secret and its tokens stop working at once."""
    row, secret = await ctx.api_clients.rotate(api_client_id)
    return {**row, "client_secret": secret}
