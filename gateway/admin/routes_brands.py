"""/telematics-brands: what each brand needs, and what is available to attach."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from drivers.base import CredentialKind, Transport
from drivers.brands import BRANDS
from gateway.admin import answers, views
from gateway.admin.openapi import answer
from gateway.admin.auth import Access
from gateway.admin.context import brand_in_path, Ctx
from gateway.admin.json_body import AdminRoute

router = APIRouter(tags=["telematics brands"], route_class=AdminRoute,
                   dependencies=[Depends(Access("vehicles:read"))])


@router.get("/telematics-brands", responses=answer(answers.BrandList))
async def list_brands(ctx: Ctx) -> dict:
    items = []
    for brand in BRANDS.values():
        item = {"brand": brand.name, "credential_kind": str(brand.credential_kind), "transport": str(brand.transport)}
        listener = ctx.config.listener(brand.driver)
        if listener is not None:
            bound = next((b for b in ctx.listeners if b["brand"] == brand.name), None)
            item["port"] = bound["port"] if bound else listener.port
        items.append(item)
    return {"items": items}


@router.get("/telematics-brands/{brand}/available-credentials", responses=answer(answers.CredentialsList))
async def available_credentials(brand: str, ctx: Ctx) -> dict:
    found = brand_in_path(brand)
    if found.credential_kind is not CredentialKind.SHARED:
        return {"items": []}
    rows = await ctx.registry.list_credentials(found.name, "", views.MAX_LIMIT)
    return {"items": [views.credentials(row) for row in rows]}


@router.get("/telematics-brands/{brand}/available-telematics-units", responses=answer(answers.AvailableUnitPage))
@router.get("/telematics-brands/{brand}/available-telematics-unit", include_in_schema=False)
async def available_units(
    brand: str,
    ctx: Ctx,
    limit: views.Limit = views.DEFAULT_LIMIT,
    page_token: Annotated[str | None, Query()] = None,
) -> dict:
    found = brand_in_path(brand)
    after = views.decode_token(page_token, (str, str)) or ["", ""]
    if found.transport is Transport.CLOUD:
        # Cloud units are never "seen" on a listener: the vendor cloud lists them, all at
        # once, under each credentials record. Pages follow (serial, credentials id).
        listed = sorted(await ctx.cloud.available_units() if ctx.cloud else [], key=_cloud_position)
        rows = [unit for unit in listed if _cloud_position(unit) > (after[0], after[1])][:limit + 1]
        return views.page(rows, limit, lambda unit: list(_cloud_position(unit)))
    rows = await ctx.registry.available_units(found, after[0], limit + 1)
    return views.page(rows, limit, lambda unit: [unit["id"], ""])


def _cloud_position(unit: dict) -> tuple[str, str]:
    return unit["id"], unit["remote_address"]


@router.get("/telematics-brands/{brand}/available-vehicle-models", responses=answer(answers.VehicleModelList))
async def available_models(brand: str, ctx: Ctx) -> dict:
    found = brand_in_path(brand)
    return {"items": [m.to_api() for m in ctx.registry.catalog.values() if m.brand == found.name]}
