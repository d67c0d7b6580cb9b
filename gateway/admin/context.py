"""What the admin routes reach: the registry, the config, the running listeners."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from drivers.brands import BRANDS, Brand
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.registry import NotFound, Registry


@dataclass
class AdminContext:
    config: Config
    registry: Registry
    metrics: Metrics
    version: str
    listeners: list[dict[str, Any]] = field(default_factory=list)  # filled as listeners bind


def context(request: Request) -> AdminContext:
    return request.app.state.context


def brand_in_path(brand: str) -> Brand:
    found = BRANDS.get(brand.upper())
    if found is None:
        raise NotFound(f"There is no telematics brand '{brand}'.")
    return found
