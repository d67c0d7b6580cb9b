"""`fleetgate events ...`: the event log."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.client import AdminClient


def event_line(kind: str, event: dict[str, Any]) -> str:
    """One readable line per event for `fleetgate events tail`."""
    if kind == "StreamDropped":
        return f"stream dropped ({event.get('reason')}); resume with --after {event.get('resume_after')}"
    data = event.get("data", {})
    who = f"vehicle {event['vehicle_id']}" if event.get("vehicle_id") else "no vehicle"
    unit = f"{event.get('brand')} {event.get('unit_id')}"
    if kind == "VehicleStateRecorded":
        parts = []
        for name, entry in data.items():
            value = entry.get("value")
            if isinstance(value, dict) and {"lat", "lon"} <= set(value):
                value = f"{value['lat']:.5f},{value['lon']:.5f}"
            parts.append(f"{name}={value}")
        what = " ".join(parts)
    elif kind == "VehicleChanged":
        what = ", ".join(data.get("reasons", [])) + (f" -> {data['life_status']}" if "life_status" in data else "")
    elif kind == "CommandExecuted":
        what = f"{data.get('command')} {data.get('result')} in {data.get('duration_ms')} ms"
    else:
        what = f"from {data.get('remote_address')}"
    return f"{event['occurred_at']}  #{event['id']}  {kind:<20} {who} ({unit})  {what}"


def events_tail(client: AdminClient, args: argparse.Namespace) -> None:
    params = {k: v for k, v in (("vehicle_id", args.vehicle), ("event_types", args.event_types)) if v}
    try:
        for kind, event in client.stream_events(params, args.after):
            print(json.dumps(event) if args.json else event_line(kind, event), flush=True)
    except KeyboardInterrupt:
        pass


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    events = commands.add_parser("events", help="the event log").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    tail = events.add_parser("tail", parents=[common], help="follow the live event stream (Ctrl-C to stop)")
    tail.add_argument("--vehicle", help="only this vehicle's events")
    tail.add_argument("--event-types", help="comma-separated: VehicleStateRecorded,VehicleChanged,...")
    tail.add_argument("--after", help="replay from after this event id first")
    tail.set_defaults(run=events_tail)
