"""What the admin routes reach: the gateway's Runtime."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from drivers.brands import BRANDS, Brand
from gateway.registry import NotFound
from gateway.runtime import Runtime

async def context(request: Request) -> Runtime:
    return request.app.state.runtime


Ctx = Annotated[Runtime, Depends(context)]  # what a route declares to get the Runtime


def brand_in_path(brand: str) -> Brand:
    found = BRANDS.get(brand.upper())
    if found is None:
        raise NotFound(f"There is no telematics brand '{brand}'.")
    return found
