"""/vehicles: the OneAPI Vehicle Lifecycle endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from drivers.brands import BRANDS, unit_id_problem
from gateway.admin import answers, views
from gateway.admin.auth import Access
from gateway.admin.context import Ctx
from gateway.admin.json_body import AdminRoute
from gateway.admin.openapi import answer, documented
from gateway.admin.schemas import AuthenticationIn, EnrolmentIn, Setup, VehicleIn, VehiclePatch
from gateway.runtime import Runtime
from gateway.registry import Authentication, Invalid

router = APIRouter(tags=["vehicles"], route_class=AdminRoute,
                   dependencies=[Depends(Access("vehicles:read", write="vehicles:write"))])


def _render(ctx: Runtime, row: dict) -> dict:
    return views.vehicle(row, ctx.registry.fleet_id, ctx.registry.catalog.get(row["model_id"]))


@router.post("/vehicles", status_code=201, responses=answer(answers.Vehicle, 201) | documented(409))
async def add_vehicle(body: VehicleIn, ctx: Ctx) -> dict:
    unit = body.telematics_unit
    brand = BRANDS[unit.brand]
    problem = unit_id_problem(brand, unit.id)
    if problem:
        raise Invalid(f"'telematics_unit.id': {problem}", "telematics_unit.id")
    auth = unit.authentication or AuthenticationIn()
    row = await ctx.registry.add_vehicle(
        unit_id=unit.id,
        brand=brand,
        model_id=unit.setup.vehicle_model_id,
        auth=Authentication(auth.password, auth.credentials_id),
        master_data=body.master_data.stored(),
        custom_fields=body.custom_fields,
        tags=body.tags,
        operation_status=body.operation_status,
    )
    return _render(ctx, row)


@router.get("/vehicles", responses=answer(answers.VehiclePage))
async def list_vehicles(
    ctx: Ctx,
    limit: views.Limit = views.DEFAULT_LIMIT,
    page_token: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> dict:
    after = views.decode_token(page_token, (str, str)) or ["", ""]
    rows = await ctx.registry.list_vehicles((after[0], after[1]), limit + 1, q or None)
    result = views.page(rows, limit, lambda row: [row["created_at"], row["id"]])
    result["items"] = [_render(ctx, row) for row in result["items"]]
    return result


@router.get("/vehicles/{vehicle_id}", responses=answer(answers.Vehicle))
async def get_vehicle(vehicle_id: str, ctx: Ctx) -> dict:
    return _render(ctx, await ctx.registry.get_vehicle(vehicle_id))


@router.patch("/vehicles/{vehicle_id}", responses=answer(answers.Vehicle))
async def patch_vehicle(vehicle_id: str, body: VehiclePatch, ctx: Ctx) -> dict:
    patch = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None:
            raise Invalid(f"'{name}' cannot be null.", name)
        patch[name] = value.stored(keep_nulls=True) if name == "master_data" else value
    return _render(ctx, await ctx.registry.update_vehicle(vehicle_id, patch))


@router.delete("/vehicles/{vehicle_id}", status_code=204)
async def delete_vehicle(vehicle_id: str, ctx: Ctx) -> Response:
    await ctx.registry.remove_vehicle(vehicle_id)
    return Response(status_code=204)


@router.put("/vehicles/{vehicle_id}/telematics-unit/setup", responses=answer(answers.SetupOut))
async def change_setup(vehicle_id: str, body: Setup, ctx: Ctx) -> dict:
    row = await ctx.registry.change_model(vehicle_id, body.vehicle_model_id)
    return {"vehicle_model_id": row["model_id"], "status": "SUCCEEDED"}


@router.put("/vehicles/{vehicle_id}/telematics-unit/authentication", status_code=204)
async def change_authentication(vehicle_id: str, body: AuthenticationIn, ctx: Ctx) -> Response:
    await ctx.registry.change_authentication(vehicle_id, Authentication(body.password, body.credentials_id))
    return Response(status_code=204)


@router.post("/vehicles/{vehicle_id}/telematics-unit/enrolment", status_code=201,
             responses=answer(answers.EnrolmentWindow, 201) | documented(409))
async def open_enrolment(vehicle_id: str, body: EnrolmentIn, ctx: Ctx) -> dict:
    return {"expires_at": await ctx.registry.open_enrolment(vehicle_id, body.expires_in)}
