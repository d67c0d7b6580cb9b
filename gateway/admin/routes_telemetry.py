"""Vehicle state, record history and commands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from gateway.admin import answers, views
from gateway.admin.auth import Access, CallerOf
from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute
from gateway.admin.openapi import answer, documented
from gateway.store import telemetry

router = APIRouter(tags=["vehicle state and commands"], route_class=AdminRoute,
                   dependencies=[Depends(Access("vehicles:read", write="commands"))])

# The document lists the commands the catalog's models know; the route takes any text, so
# that a command the vehicle's model lacks, known or not, answers 409 command-not-supported
# (as it did before the list) rather than a 400 from the path's validation.
Command = Annotated[str, Path(description="A capability in kebab case; a vehicle runs those its model lists.",
                              json_schema_extra={"enum": list(answers.COMMAND_NAMES)})]


@router.get("/vehicles/{vehicle_id}/state", responses=answer(answers.State))
async def vehicle_state(vehicle_id: str, ctx: Ctx) -> dict:
    return await ctx.registry.vehicle_state(vehicle_id)


@router.get("/vehicles/{vehicle_id}/records", responses=answer(answers.RecordPage))
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


@router.post("/vehicles/{vehicle_id}/commands/{command}", responses=answer(answers.State) | documented(409, 502, 504))
async def run_command(vehicle_id: str, command: Command, ctx: Ctx, caller: CallerOf) -> dict:
    """Runs the command on the unit and answers the vehicle's state afterwards."""
    return await ctx.commands.execute(vehicle_id, command, caller.uid, caller.client_id)
