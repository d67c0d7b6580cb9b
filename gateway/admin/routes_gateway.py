"""/health and /metrics."""

from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from gateway.admin.auth import PUBLIC, SOCKET_ONLY, Access
from gateway.admin.context import Ctx
from gateway.admin import answers
from gateway.admin.json_body import AdminRoute
from gateway.admin.openapi import answer
from gateway.admin.problems import Problem
from gateway.store import StoreError

router = APIRouter(tags=["gateway"], route_class=AdminRoute)


@router.get("/health", dependencies=[Depends(Access(PUBLIC))], responses=answer(answers.Health))
async def health(ctx: Ctx) -> dict:
    fault = ctx.store.fault
    if fault is not None:
        raise Problem("service-unavailable", 503,
                      f"The store cannot commit since {fault.since} ({fault.kind} failed): {fault.reason}.")
    return {
        "status": "ok",
        "fleet_id": ctx.registry.fleet_id,
        "version": ctx.version,
        "listeners": ctx.listeners,
        **({"api": ctx.door} if ctx.door else {}),
        **({"amqp": ctx.amqp.status()} if ctx.amqp else {}),
        **({"node": ctx.node.status()} if ctx.node.clustered else {}),
    }


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(Access(SOCKET_ONLY))])
async def metrics(ctx: Ctx) -> PlainTextResponse:
    with suppress(StoreError):  # a failing read must not hide the metrics that show it
        ctx.metrics.set("fleetgate_vehicles", await ctx.registry.count_vehicles())
    return PlainTextResponse(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
