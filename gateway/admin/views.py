"""How stored rows look on the API."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Query

from drivers.brands import BRANDS
from gateway.admin.problems import Problem
from gateway.catalog import VehicleModel
from gateway.clock import parse_rfc3339, rfc3339
from gateway.registry import CREDENTIAL_FIELDS, Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
MAX_TOKEN = 200  # characters; the page tokens this API gives out are under 100
MAX_ROW_ID = 2**63 - 1  # SQLite's largest INTEGER


def vehicle(row: dict[str, Any], fleet_id: str, model: VehicleModel | None) -> dict[str, Any]:
    master_data = json.loads(row["master_data"])
    return {
        "id": row["id"],
        "fleet_id": fleet_id,
        "created_at": row["created_at"],
        "master_data": {"modified_at": row["master_data_modified_at"], **master_data},
        "capabilities": model.capabilities if model else {"commands": [], "vehicle_state": []},
        "telematics_unit": {
            "id": row["unit_id"],
            "attached_at": row["attached_at"],
            "manufacturer": BRANDS[row["unit_brand"]].manufacturer,
            "brand": row["unit_brand"],
            "type": "EMBEDDED",
            "vehicle_model_id": row["model_id"],
        },
        "life_status": {"value": row["life_status"], "modified_at": row["life_status_modified_at"]},
        "operation_status": {"value": row["operation_status"], "modified_at": row["operation_status_modified_at"]},
        "custom_fields_modified_at": row["custom_fields_modified_at"],
        "custom_fields": json.loads(row["custom_fields"]),
        "tags": json.loads(row["tags"]),
    }


def credentials(row: dict[str, Any]) -> dict[str, Any]:
    # Never the secret: it is write-only. The identity under its kind's own name.
    identity, _ = CREDENTIAL_FIELDS[row["kind"]]
    return {
        "id": row["id"],
        "brand": row["brand"],
        "name": row["name"],
        "kind": row["kind"],
        identity: row["client_id"],
        "created_at": row["created_at"],
        "modified_at": row["modified_at"],
    }


def timestamp(name: str, value: str | None) -> str | None:
    """A timestamp query parameter in the stored form, or a 400 naming the parameter."""
    if value is None:
        return None
    try:
        return rfc3339(parse_rfc3339(value))
    except ValueError:
        raise Invalid(f"'{name}' must be an RFC 3339 timestamp such as 2021-01-19T13:13:09.952Z.", name) from None


def encode_token(position: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_token(token: str | None, shape: tuple[type, ...]) -> list | None:
    """The position a page token holds, its parts typed by ``shape`` (str, or int for a
    row id written as digits); a 400 for any token this API did not give out."""
    if token is None:
        return None
    position = None
    if len(token) <= MAX_TOKEN:
        try:
            position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, RecursionError):  # bad base64, UTF-8 or JSON are all ValueErrors
            pass
    if isinstance(position, list) and len(position) == len(shape) and all(isinstance(p, str) for p in position):
        typed = [row_id(part) if kind is int else part for kind, part in zip(shape, position)]
        if None not in typed:
            return typed
    raise Problem("validation-error", 400, "'page_token' is not a token this API gave out.")


def row_id(text: str) -> int | None:
    """A store row id (an event id, say) written in decimal, or None if ``text`` is not one."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ROW_ID))):
        return None
    value = int(text)
    return value if value <= MAX_ROW_ID else None


def page(items: list[dict[str, Any]], limit: int, position_of) -> dict[str, Any]:
    """Callers fetch limit + 1 rows: the extra one tells whether another page exists."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_page_token": encode_token(position_of(items[-1])) if more else None}
