"""Vehicle state, record history and commands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gateway.admin import views
from gateway.admin.auth import Access, CallerOf
from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute
from gateway.admin.openapi import documented
from gateway.store import telemetry

router = APIRouter(tags=["vehicle state and commands"], route_class=AdminRoute,
                   dependencies=[Depends(Access("vehicles:read", write="commands"))])


@router.get("/vehicles/{vehicle_id}/state")
async def vehicle_state(vehicle_id: str, ctx: Ctx) -> dict:
    return await ctx.registry.vehicle_state(vehicle_id)


@router.get("/vehicles/{vehicle_id}/records")
async def vehicle_records(
    vehicle_id: str,
    ctx: Ctx,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    limit: views.Limit = views.DEFAULT_LIMIT,
    page_token: Annotated[str | None, Query()] = None,
) -> dict:
    await ctx.registry.get_vehicle(vehicle_id)
    after = views.decode_token(page_token, (str, int)) or ["", 0]
    rows = await ctx.store.read(
        telemetry.list_records, vehicle_id, views.timestamp("from", start) or "", views.timestamp("to", end) or "9999",
        tuple(after), limit + 1,
    )
    result = views.page(rows, limit, lambda row: [row["recorded_at"], str(row["id"])])
    for item in result["items"]:
        del item["id"]
    return result


@router.post("/vehicles/{vehicle_id}/commands/{command}", responses=documented(409, 502, 504))
async def run_command(vehicle_id: str, command: str, ctx: Ctx, caller: CallerOf) -> dict:
    return await ctx.commands.execute(vehicle_id, command, caller.uid, caller.client_id)
