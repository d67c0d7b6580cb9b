"""Success answers of the admin API, for its OpenAPI document.

The routes build their answers as dicts (gateway/admin/views.py) and these models describe
them; tests/gateway/test_api_answers.py holds the two together. The models are never
instantiated on a request: see ``answer`` in gateway/admin/openapi.py for why.
Every model forbids other properties, so the document says exactly what an answer holds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from drivers.base import CredentialKind, Transport
from drivers.brands import BRANDS
from gateway.admin.schemas import CustomFields, FuelType, OperationStatus, Transmission, VehicleType, omitted
from gateway.api_clients import SCOPES
from gateway.catalog import load_catalog
from gateway.registry import CREDENTIAL_FIELDS
from gateway.store.events import EVENT_TYPES

_MODELS = load_catalog().values()
# The vocabularies of the bundled catalog: every command and state property some model lists.
CAPABILITY_COMMANDS = tuple(sorted({c for model in _MODELS for c in model.commands}))
STATE_PROPERTIES = tuple(sorted({p for model in _MODELS for p in model.vehicle_state}))
# The `{command}` path parameter: a capability in kebab case (DISABLE_DRIVING -> disable-driving).
COMMAND_NAMES = tuple(c.lower().replace("_", "-") for c in CAPABILITY_COMMANDS)

Timestamp = Annotated[str, Field(description="RFC 3339, UTC, milliseconds: 2021-01-19T13:13:09.952Z.",
                                  examples=["2021-01-19T13:13:09.952Z"], json_schema_extra={"format": "date-time"})]
BrandName = Literal[tuple(BRANDS)]
NextPageToken = Annotated[str | None, Field(description="Pass as `page_token` for the next page; null on the last.")]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- vehicles ------------------------------------------------------------------------

class Capabilities(Answer):
    commands: list[Literal[CAPABILITY_COMMANDS]]
    vehicle_state: list[Literal[STATE_PROPERTIES]]


class MasterDataOut(Answer):
    """The master data as stored: only the fields that were given."""

    modified_at: Timestamp
    vin: str = omitted()
    license_plate: str = omitted()
    brand: str = omitted()
    model: str = omitted()
    custom_name: str = omitted()
    fuel_type: FuelType = omitted()
    year_of_production: int = omitted()
    transmission: Transmission = omitted()
    vehicle_type: VehicleType = omitted()
    remark: str = omitted()


class TelematicsUnitOut(Answer):
    id: str
    attached_at: Timestamp
    manufacturer: str
    brand: BrandName
    type: Literal["EMBEDDED"]
    vehicle_model_id: str


class LifeStatus(Answer):
    value: Literal["ONLINE", "OFFLINE"]
    modified_at: Timestamp


class OperationStatusOut(Answer):
    value: OperationStatus
    modified_at: Timestamp


class Vehicle(Answer):
    id: str
    fleet_id: str
    created_at: Timestamp
    master_data: MasterDataOut
    capabilities: Capabilities
    telematics_unit: TelematicsUnitOut
    life_status: LifeStatus
    operation_status: OperationStatusOut
    custom_fields_modified_at: Timestamp
    custom_fields: CustomFields
    tags: list[str]


class VehiclePage(Answer):
    items: list[Vehicle]
    next_page_token: NextPageToken


class SetupOut(Answer):
    vehicle_model_id: str
    status: Literal["SUCCEEDED"]


class EnrolmentWindow(Answer):
    expires_at: Annotated[Timestamp, Field(description="The window closes then, or once the unit enrolled.")]


# --- state and records -----------------------------------------------------------------

class Position(Answer):
    lat: float
    lon: float


# The value of each state property, as the drivers map it (drivers/*/mapping.py).
STATE_VALUES: dict[str, Any] = {
    "position": Position,
    "altitude_in_meters": float,
    "speed_in_kilometers_per_hour": float,
    "mileage_in_kilometers": float,
    "fuel_level_in_percent": float,
    "cellular_signal_quality": Annotated[int, Field(ge=0, le=5)],
    "driving_enabled": bool,
    "ignition": Literal["ON", "OFF"],
    "central_lock": Literal["LOCKED", "UNLOCKED"],
    "top_case_lock": Literal["LOCKED", "UNLOCKED"],
    "top_case_lid": Literal["OPEN", "CLOSED"],
}
if set(STATE_VALUES) != {p.lower() for p in STATE_PROPERTIES}:  # a catalog property needs its value here
    raise RuntimeError(f"answers.STATE_VALUES does not match the catalog's state properties {STATE_PROPERTIES}")


def _reported(name: str, value: Any) -> type[Answer]:
    title = "".join(word.title() for word in name.split("_"))
    return create_model(f"{title}Reported", __base__=Answer, value=(value, ...),
                        timestamp=(Annotated[Timestamp, Field(description="When the unit measured the value.")], ...))


State = create_model(
    "State", __base__=Answer, __doc__="One entry per property the unit reported that the vehicle's model lists.",
    **{name: (_reported(name, value), omitted()) for name, value in STATE_VALUES.items()},
)


class Record(Answer):
    recorded_at: Annotated[Timestamp, Field(description="The unit's time of the record.")]
    received_at: Timestamp
    state: Annotated[dict[str, Any], Field(description="Vehicle-state properties as the driver mapped them "
                                                       "(every one the record gave, listed by the model or not).")]
    raw: Annotated[dict[str, Any], Field(description="The protocol's own fields; an undecoded frame's hex and "
                                                     "message type.")]


class RecordPage(Answer):
    items: list[Record]
    next_page_token: NextPageToken


# --- credentials -------------------------------------------------------------------------

class CredentialsOut(Answer):
    """Never the secret. The identity under its kind's name: `client_id` or `account`."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [identity]}
                                                           for identity, _ in CREDENTIAL_FIELDS.values()]})

    id: str
    brand: BrandName
    name: str
    kind: Literal[tuple(CREDENTIAL_FIELDS)]
    client_id: str = omitted()
    account: str = omitted()
    created_at: Timestamp
    modified_at: Timestamp


class CredentialsList(Answer):
    items: list[CredentialsOut]


class CredentialsPage(CredentialsList):
    next_page_token: NextPageToken


# --- brands --------------------------------------------------------------------------

class BrandOut(Answer):
    brand: BrandName
    credential_kind: Literal[tuple(CredentialKind)]
    transport: Literal[tuple(Transport)]
    port: Annotated[int, Field(description="The listener's port (the bound one); only for an enabled "
                                           "TCP driver.")] = omitted()


class BrandList(Answer):
    items: list[BrandOut]


class AvailableUnit(Answer):
    id: str
    brand: BrandName
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    remote_address: Annotated[str, Field(description="`ip:port` of the last connection (TCP), or the id of "
                                                     "the credentials the vendor cloud lists the unit under.")]
    seen_count: Annotated[int, Field(ge=1, description="How often the unit reached a listener while in no "
                                                        "vehicle; TCP units only.")] = omitted()


class AvailableUnitPage(Answer):
    items: list[AvailableUnit]
    next_page_token: NextPageToken


class VehicleModelOut(Answer):
    id: str
    brand: BrandName
    vehicle_brand: str
    vehicle_model: str
    vehicle_type: VehicleType
    capabilities: Capabilities


class VehicleModelList(Answer):
    items: list[VehicleModelOut]


# --- events --------------------------------------------------------------------------

class EventOut(Answer):
    id: Annotated[str, Field(description="Decimal; the `id:` of the stream and its `after` / Last-Event-ID.")]
    type: Literal[EVENT_TYPES]
    vehicle_id: Annotated[str | None, Field(description="Null for UnitSeen.")]
    brand: BrandName | None
    unit_id: str | None
    occurred_at: Timestamp
    data: Annotated[dict[str, Any], Field(description="By type: VehicleChanged `reasons` (CREATED, "
                                                      "LIFE_STATUS_CHANGED, MASTER_DATA_CHANGED, ...) and what "
                                                      "changed; VehicleStateRecorded the state; CommandExecuted "
                                                      "the command and its result.")]


class EventPage(Answer):
    items: list[EventOut]
    next_page_token: NextPageToken


# --- gateway -------------------------------------------------------------------------

class ListenerOut(Answer):
    driver: str
    brand: BrandName
    host: str
    port: Annotated[int, Field(description="The bound port, also when the config asked for port 0.")]


class DoorOut(Answer):
    host: str
    port: int
    tls: bool


class AmqpOut(Answer):
    connected: bool
    backlog: Annotated[int, Field(description="Events committed and not yet published.")]
    published: int


class NodeOut(Answer):
    id: Annotated[str, Field(description="This node's id in the cluster; new at every start.")]
    name: Annotated[str, Field(description="Host and process id.")]
    live_nodes: Annotated[int, Field(description="Nodes whose lease is current, this one included.")]


class Health(Answer):
    status: Literal["ok"]
    fleet_id: str
    version: str
    listeners: list[ListenerOut]
    api: Annotated[DoorOut, Field(description="The HTTPS door, when it is open.")] = omitted()
    amqp: Annotated[AmqpOut, Field(description="The RabbitMQ link, when one is configured.")] = omitted()
    node: Annotated[NodeOut, Field(description="This gateway as a node of a cluster, on PostgreSQL.")] = omitted()


# --- API clients and OAuth2 ------------------------------------------------------------

class ApiClientOut(Answer):
    id: str
    name: str
    client_id: str
    scopes: list[Literal[tuple(SCOPES)]]
    created_at: Timestamp
    rotated_at: Timestamp | None


class ApiClientSecret(ApiClientOut):
    client_secret: Annotated[str, Field(description="Shown in this answer only: store it now.")]


class ApiClientPage(Answer):
    items: list[ApiClientOut]
    next_page_token: NextPageToken


class TokenOut(Answer):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: Annotated[int, Field(description="Seconds the token stays valid.")]
    scope: Annotated[str, Field(description="The granted scopes, space-separated.")]
