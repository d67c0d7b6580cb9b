"""Request bodies of the admin API. Unknown properties are refused (extra="forbid")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

from drivers.base import CredentialKind
from drivers.brands import BRANDS

FuelType = Literal["ELECTRIC", "PETROL", "DIESEL", "HYBRID", "HYDROGEN", "GAS", "OTHER"]
Transmission = Literal["AUTOMATIC", "MANUAL"]
VehicleType = Literal["CAR", "MOPED", "SCOOTER", "KICK_SCOOTER", "BICYCLE", "VAN", "TRUCK", "DEV_KIT", "OTHER"]
OperationStatus = Literal["OPERATING", "GARAGE"]
Text = Annotated[StrictStr, Field(max_length=256)]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


# Brand names are case-insensitive on input; the document lists them as they are written out.
BrandName = Annotated[Literal[tuple(BRANDS)], BeforeValidator(_upper)]
SharedBrandName = Annotated[
    Literal[tuple(b.name for b in BRANDS.values() if b.credential_kind is CredentialKind.SHARED)],
    BeforeValidator(_upper),
]


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def omitted() -> Any:
    """The default of a PATCH field whose type is ``X | SkipJsonSchema[None]``: left out, the
    stored value stays. The model lets null through for the route to refuse by name; the
    document offers neither null nor a default."""
    return Field(None, json_schema_extra=_no_default)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Setup(Body):
    vehicle_model_id: StrictStr


class AuthenticationIn(Body):
    password: StrictStr | None = None
    credentials_id: StrictStr | None = None


class TelematicsUnitIn(Body):
    id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    brand: BrandName
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


MAX_CUSTOM_FIELDS, MAX_CUSTOM_FIELD_NAME = 50, 64


def _check_custom_fields(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_CUSTOM_FIELDS:
        raise ValueError(f"at most {MAX_CUSTOM_FIELDS} custom fields are allowed")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_CUSTOM_FIELD_NAME:
            raise ValueError(f"custom field name '{key[:70]}' must be 1 to {MAX_CUSTOM_FIELD_NAME} characters")
        if not isinstance(item, str | int | float | bool):
            raise ValueError(f"custom field '{key}' must be a string, number or boolean")
    return value


CustomFields = Annotated[
    dict[StrictStr, Any],
    AfterValidator(_check_custom_fields),
    WithJsonSchema({  # what _check_custom_fields holds to, for the document
        "type": "object", "maxProperties": MAX_CUSTOM_FIELDS,
        "propertyNames": {"minLength": 1, "maxLength": MAX_CUSTOM_FIELD_NAME},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    }),
]


def _unique_tags(value: list[str]) -> list[str]:
    unique = list(dict.fromkeys(value))  # duplicates removed, first order kept
    if len(unique) > 20:
        raise ValueError("at most 20 tags are allowed")
    return unique


Tags = Annotated[list[Annotated[StrictStr, Field(pattern=r"^[a-z0-9_]{1,50}$")]], AfterValidator(_unique_tags)]


class VehicleIn(Body):
    telematics_unit: TelematicsUnitIn
    master_data: MasterData = MasterData()
    custom_fields: CustomFields = {}
    tags: Tags = []
    operation_status: OperationStatus = "OPERATING"


class VehiclePatch(Body):
    master_data: MasterData | SkipJsonSchema[None] = omitted()
    custom_fields: CustomFields | SkipJsonSchema[None] = omitted()
    tags: Tags | SkipJsonSchema[None] = omitted()
    operation_status: OperationStatus | SkipJsonSchema[None] = omitted()


Identity = Annotated[StrictStr, Field(min_length=1, max_length=256)]
SecretText = Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class CredentialsIn(Body):
    """Fleet client credentials (client_id, client_secret) or a NIU account (account,
    password); which pair is given decides the kind (gateway.registry.credentials_kind)."""

    brand: SharedBrandName
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    client_id: Identity | SkipJsonSchema[None] = omitted()
    client_secret: SecretText | SkipJsonSchema[None] = omitted()
    account: Identity | SkipJsonSchema[None] = omitted()
    password: SecretText | SkipJsonSchema[None] = omitted()


class CredentialsPatch(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = omitted()
    client_id: Identity | SkipJsonSchema[None] = omitted()
    client_secret: SecretText | SkipJsonSchema[None] = omitted()
    account: Identity | SkipJsonSchema[None] = omitted()
    password: SecretText | SkipJsonSchema[None] = omitted()


class EnrolmentIn(Body):
    expires_in: Annotated[StrictInt, Field(ge=1, le=86_400)] = 600  # seconds the window stays open
