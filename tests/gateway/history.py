"""A vehicle's history as the records API gives it, split the way the field tests read it."""

from __future__ import annotations

from tests.conftest import eventually


async def history(api, vehicle_id: str) -> tuple[list[str], list[dict]]:
    """(message types of the frames kept raw, the records), from GET /vehicles/{id}/records."""
    items = (await api.get(f"/vehicles/{vehicle_id}/records", params={"limit": 500})).json()["items"]
    kept = [item["raw"]["undecoded"]["message_type"] for item in items if "undecoded" in item["raw"]]
    return kept, [item for item in items if "undecoded" not in item["raw"]]


async def field_variants_sent(report, records: int = 6) -> None:
    """Wait until every unit of a ``--profile field`` fleet has sent a message of another
    type and had ``records`` records acknowledged."""

    async def sent():
        return all(unit.others_sent >= 1 and unit.stats.acked >= records for unit in report.units)

    await eventually(sent, timeout=20)
