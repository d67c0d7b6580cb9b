"""`fleetgate events ...`: the event log, queried or followed live."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.cli.interrupts import say
from gateway.cli.output import collect, positive, show
from gateway.cli.parser import subcommands
from gateway.client import AdminClient

TYPES_HELP = "comma-separated event types: VehicleStateRecorded, VehicleChanged, CommandExecuted, UnitSeen"


def event_line(kind: str, event: dict[str, Any]) -> str:
    """One readable line per event."""
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
    params = {k: v for k, v in (("vehicle_id", args.vehicle), ("event_types", args.types)) if v}
    start = f"the events after #{args.after}, then new ones" if args.after else "new events"

    def opened() -> None:
        say(f"waiting for {start} (Ctrl-C to stop)")

    last = args.after
    try:
        for kind, event in client.stream_events(params, last, opened):
            print(json.dumps(event) if args.json else event_line(kind, event), flush=True)
            last = event.get("id", last)
    except KeyboardInterrupt:
        resume = f"; read on with --after {last}" if last else ""
        raise KeyboardInterrupt(f"interrupted{resume}") from None


def events_query(client: AdminClient, args: argparse.Namespace) -> None:
    query = {k: v for k, v in (("vehicle_id", args.vehicle), ("occurred_after", args.after),
                               ("occurred_before", args.before)) if v}
    if args.types:
        query["event_types"] = [t.strip() for t in args.types.split(",") if t.strip()]

    def page(limit: int, token: str | None) -> dict:
        return client.post("/event-log-entries/query", {**query, "limit": limit, **({"page_token": token} if token else {})})

    events = collect(page, args.limit, args.page_token)
    show(args, events, lambda rows: "\n".join(event_line(e["type"], e) for e in rows) if rows else "no events")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    tail = actions.add_parser("tail", parents=[common], help="follow the live event stream (Ctrl-C to stop)")
    tail.add_argument("--vehicle", metavar="ID", help="only this vehicle's events")
    tail.add_argument("--types", "--event-types", metavar="TYPES", help=TYPES_HELP)
    tail.add_argument("--after", metavar="EVENT_ID",
                      help="first replay the events after this event id (where an earlier tail stopped)")
    tail.set_defaults(run=events_tail)

    query = actions.add_parser("query", parents=[common], help="the event log, oldest first, with filters")
    query.add_argument("--vehicle", metavar="ID", help="only this vehicle's events")
    query.add_argument("--types", "--event-types", metavar="TYPES", help=TYPES_HELP)
    query.add_argument("--after", metavar="TIME", help="events that occurred after this time, RFC 3339")
    query.add_argument("--before", metavar="TIME", help="events that occurred before this time, RFC 3339")
    query.add_argument("--limit", type=positive, default=50, help="at most this many events (default 50)")
    query.add_argument("--page-token", metavar="TOKEN", help="read on where an earlier query stopped")
    query.set_defaults(run=events_query)
