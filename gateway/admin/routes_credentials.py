"""/credentials: shared credentials for cloud brands, fleet client credentials or a NIU
account. The secret (client secret or password) is write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from drivers.brands import lookup
from gateway.admin import answers, views
from gateway.admin.auth import Access
from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute
from gateway.admin.openapi import answer, documented
from gateway.admin.schemas import CredentialsIn, CredentialsPatch
from gateway.registry import Invalid

router = APIRouter(tags=["credentials"], route_class=AdminRoute, dependencies=[Depends(Access("credentials"))])


@router.post("/credentials", status_code=201, responses=answer(answers.CredentialsOut, 201))
async def add_credentials(body: CredentialsIn, ctx: Ctx) -> dict:
    brand = lookup(body.brand)
    if brand is None:
        raise Invalid(f"'brand': unknown brand '{body.brand}'.", "brand")
    fields = body.model_dump(exclude_none=True, exclude={"brand", "name"})
    row = await ctx.registry.add_credentials(brand, body.name, fields)
    return views.credentials(row)


@router.get("/credentials", responses=answer(answers.CredentialsPage))
async def list_credentials(
    ctx: Ctx,
    limit: views.Limit = views.DEFAULT_LIMIT,
    page_token: Annotated[str | None, Query()] = None,
) -> dict:
    after = views.decode_token(page_token, (str,)) or [""]
    rows = await ctx.registry.list_credentials(None, after[0], limit + 1)
    result = views.page(rows, limit, lambda row: [row["id"]])
    result["items"] = [views.credentials(row) for row in result["items"]]
    return result


@router.get("/credentials/{credentials_id}", responses=answer(answers.CredentialsOut))
async def get_credentials(credentials_id: str, ctx: Ctx) -> dict:
    return views.credentials(await ctx.registry.get_credentials(credentials_id))


@router.patch("/credentials/{credentials_id}", responses=answer(answers.CredentialsOut))
async def patch_credentials(credentials_id: str, body: CredentialsPatch, ctx: Ctx) -> dict:
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise Invalid(f"'{name}' cannot be null.", name)
    return views.credentials(await ctx.registry.update_credentials(credentials_id, changes))


@router.delete("/credentials/{credentials_id}", status_code=204, responses=documented(409))
async def delete_credentials(credentials_id: str, ctx: Ctx) -> Response:
    await ctx.registry.remove_credentials(credentials_id)
    return Response(status_code=204)
