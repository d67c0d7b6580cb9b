"""/health and /metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute

router = APIRouter(tags=["gateway"], route_class=AdminRoute)


@router.get("/health")
async def health(ctx: Ctx) -> dict:
    return {
        "status": "ok",
        "fleet_id": ctx.registry.fleet_id,
        "version": ctx.version,
        "listeners": ctx.listeners,
    }


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Ctx) -> PlainTextResponse:
    ctx.metrics.set("fleetgate_vehicles", await ctx.registry.count_vehicles())
    return PlainTextResponse(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
