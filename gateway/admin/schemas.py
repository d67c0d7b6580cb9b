"""Request bodies of the admin API. Unknown properties are refused (extra="forbid")."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

FuelType = Literal["ELECTRIC", "PETROL", "DIESEL", "HYBRID", "HYDROGEN", "GAS", "OTHER"]
Transmission = Literal["AUTOMATIC", "MANUAL"]
VehicleType = Literal["CAR", "MOPED", "SCOOTER", "KICK_SCOOTER", "BICYCLE", "VAN", "TRUCK", "DEV_KIT", "OTHER"]
OperationStatus = Literal["OPERATING", "GARAGE"]
Text = Annotated[StrictStr, Field(max_length=256)]
_TAG = re.compile(r"^[a-z0-9_]{1,50}$")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Setup(Body):
    vehicle_model_id: StrictStr


class AuthenticationIn(Body):
    password: StrictStr | None = None
    credentials_id: StrictStr | None = None


class TelematicsUnitIn(Body):
    id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    brand: StrictStr
    setup: Setup
    authentication: AuthenticationIn | None = None


class MasterData(Body):
    """Every field optional; on PATCH a null removes the field."""

    vin: Annotated[StrictStr, Field(pattern=r"^[A-HJ-NPR-Z0-9]{17}$")] | None = None
    license_plate: Annotated[StrictStr, Field(max_length=30)] | None = None
    brand: Text | None = None
    model: Text | None = None
    custom_name: Text | None = None
    fuel_type: FuelType | None = None
    # Sent as a string of four digits, returned as an integer (as the OneAPI does).
    year_of_production: Annotated[StrictStr, Field(pattern=r"^[0-9]{4}$")] | None = None
    transmission: Transmission | None = None
    vehicle_type: VehicleType | None = None
    remark: Annotated[StrictStr, Field(max_length=2000)] | None = None

    def stored(self, keep_nulls: bool = False) -> dict:
        data = self.model_dump(exclude_unset=True) if keep_nulls else self.model_dump(exclude_none=True)
        if data.get("year_of_production") is not None:
            data["year_of_production"] = int(data["year_of_production"])
        return data


def _check_custom_fields(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    if len(value) > 50:
        raise ValueError("at most 50 custom fields are allowed")
    for key, item in value.items():
        if not 1 <= len(key) <= 64:
            raise ValueError(f"custom field name '{key[:70]}' must be 1 to 64 characters")
        if not isinstance(item, str | int | float | bool):
            raise ValueError(f"custom field '{key}' must be a string, number or boolean")
    return value


def _check_tags(value: list[StrictStr] | None) -> list[str] | None:
    if value is None:
        return value
    unique = list(dict.fromkeys(value))  # duplicates removed, first order kept
    if len(unique) > 20:
        raise ValueError("at most 20 tags are allowed")
    for tag in unique:
        if not _TAG.match(tag):
            raise ValueError(f"tag '{tag[:60]}' must match ^[a-z0-9_]{{1,50}}$")
    return unique


class VehicleIn(Body):
    telematics_unit: TelematicsUnitIn
    master_data: MasterData = MasterData()
    custom_fields: dict[StrictStr, Any] = {}
    tags: list[StrictStr] = []
    operation_status: OperationStatus = "OPERATING"

    _custom = field_validator("custom_fields")(_check_custom_fields)
    _tags = field_validator("tags")(_check_tags)


class VehiclePatch(Body):
    master_data: MasterData | None = None
    custom_fields: dict[StrictStr, Any] | None = None
    tags: list[StrictStr] | None = None
    operation_status: OperationStatus | None = None

    _custom = field_validator("custom_fields")(_check_custom_fields)
    _tags = field_validator("tags")(_check_tags)


Identity = Annotated[StrictStr, Field(min_length=1, max_length=256)]
SecretText = Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class CredentialsIn(Body):
    """Fleet client credentials (client_id, client_secret) or a NIU account (account,
    password); which pair is given decides the kind (gateway.registry.credentials_kind)."""

    brand: StrictStr
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    client_id: Identity | None = None
    client_secret: SecretText | None = None
    account: Identity | None = None
    password: SecretText | None = None


class CredentialsPatch(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    client_id: Identity | None = None
    client_secret: SecretText | None = None
    account: Identity | None = None
    password: SecretText | None = None


class EnrolmentIn(Body):
    expires_in: Annotated[StrictInt, Field(ge=1, le=86_400)] = 600  # seconds the window stays open
