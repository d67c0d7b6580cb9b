"""The bundled vehicle-model catalog (models.json) and its loader."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from drivers.brands import BRANDS
from gateway.ids import is_ulid

VEHICLE_TYPES = ("CAR", "MOPED", "SCOOTER", "KICK_SCOOTER", "BICYCLE", "VAN", "TRUCK", "DEV_KIT", "OTHER")


@dataclass(frozen=True)
class VehicleModel:
    id: str
    brand: str
    vehicle_brand: str
    vehicle_model: str
    vehicle_type: str
    commands: tuple[str, ...]
    vehicle_state: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def capabilities(self) -> dict[str, list[str]]:
        return {"commands": list(self.commands), "vehicle_state": list(self.vehicle_state)}

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "brand": self.brand,
            "vehicle_brand": self.vehicle_brand,
            "vehicle_model": self.vehicle_model,
            "vehicle_type": self.vehicle_type,
            "capabilities": self.capabilities,
        }


def parse_catalog(document: dict[str, Any]) -> dict[str, VehicleModel]:
    models: dict[str, VehicleModel] = {}
    for entry in document["models"]:
        model = VehicleModel(
            id=entry["id"],
            brand=entry["brand"],
            vehicle_brand=entry["vehicle_brand"],
            vehicle_model=entry["vehicle_model"],
            vehicle_type=entry["vehicle_type"],
            commands=tuple(entry["capabilities"]["commands"]),
            vehicle_state=tuple(entry["capabilities"]["vehicle_state"]),
            options=dict(entry.get("options", {})),
        )
        if not is_ulid(model.id) or model.id in models:
            raise ValueError(f"catalog: model id {model.id!r} is not a unique ULID")
        if model.brand not in BRANDS:
            raise ValueError(f"catalog: model {model.id} has unknown brand {model.brand!r}")
        if model.vehicle_type not in VEHICLE_TYPES:
            raise ValueError(f"catalog: model {model.id} has unknown vehicle_type {model.vehicle_type!r}")
        models[model.id] = model
    return models


@cache
def load_catalog() -> dict[str, VehicleModel]:
    text = resources.files(__package__).joinpath("models.json").read_text()
    return parse_catalog(json.loads(text))


def models_of_brand(brand: str) -> list[VehicleModel]:
    return [m for m in load_catalog().values() if m.brand == brand]
