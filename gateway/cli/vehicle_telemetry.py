"""`fleetgate vehicles state | command | records`: what a vehicle reports, and commands to it."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Any

from gateway.catalog import load_catalog
from gateway.cli.output import collect, positive, show, state_lines
from gateway.client import AdminClient


def kebab(capability: str) -> str:
    return capability.lower().replace("_", "-")


def vehicles_state(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.get(f"/vehicles/{args.vehicle_id}/state"), state_lines)


def vehicles_command(client: AdminClient, args: argparse.Namespace) -> None:
    state = client.request("POST", f"/vehicles/{args.vehicle_id}/commands/{args.command_name}")
    show(args, state, lambda s: f"{args.command_name}: done\n{state_lines(s)}")


def _value(value: Any) -> str:
    if isinstance(value, dict) and {"lat", "lon"} <= set(value):
        return f"{value['lat']:.6f},{value['lon']:.6f}"
    return str(value)


def record_line(record: dict[str, Any]) -> str:
    """A record in one line: its device time, then what it says (or what it is, undecoded)."""
    undecoded = record.get("raw", {}).get("undecoded")
    if undecoded:
        what = f"undecoded {undecoded.get('message_type')}: {undecoded.get('hex', '')[:64]}"
    else:
        what = " ".join(f"{name}={_value(value)}" for name, value in record.get("state", {}).items()) or "-"
    return f"{record['recorded_at']}  {what}"


def vehicles_records(client: AdminClient, args: argparse.Namespace) -> None:
    def page(limit: int, token: str | None) -> dict:
        params = {k: v for k, v in (("from", args.start), ("to", args.end), ("page_token", token)) if v}
        return client.get(f"/vehicles/{args.vehicle_id}/records", params={**params, "limit": limit})

    records = collect(page, args.limit, args.page_token)
    show(args, records, lambda rows: "\n".join(map(record_line, rows)) if rows else "no records in that time")


def commands_by_model() -> str:
    """Each command of the catalog with the vehicle models that have it, for `--help`."""
    models = load_catalog().values()
    lines = ["commands, and the vehicle models that have them (a vehicle takes those of its model):"]
    for command in sorted({kebab(c) for m in models for c in m.commands}):
        having = [f"{m.brand} {m.vehicle_model}" for m in models if command in map(kebab, m.commands)]
        lines += textwrap.wrap("; ".join(having), 100, initial_indent=f"  {command:<28}",
                               subsequent_indent=" " * 30)
    return "\n".join(lines)


def add_actions(actions: argparse._SubParsersAction, common: argparse.ArgumentParser,
                vehicle_argument: Callable[[argparse.ArgumentParser], None]) -> None:
    state = actions.add_parser("state", parents=[common],
                               help="the vehicle's latest state, each property with its own time")
    vehicle_argument(state)
    state.set_defaults(run=vehicles_state)

    catalog = {kebab(c) for m in load_catalog().values() for c in m.commands}
    command = actions.add_parser("command", parents=[common], epilog=commands_by_model(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 help="send a command, e.g. disable-driving, and wait for the unit's answer")
    vehicle_argument(command)
    command.add_argument("command_name", metavar="COMMAND", type=kebab, choices=sorted(catalog),
                         help="the command, in kebab case (disable-driving) or as the capability (DISABLE_DRIVING)")
    command.set_defaults(run=vehicles_command)

    records = actions.add_parser("records", parents=[common],
                                 help="the vehicle's record history by device time, oldest first")
    vehicle_argument(records)
    records.add_argument("--from", dest="start", metavar="TIME",
                         help="from this device time on, RFC 3339 (2024-05-01T00:00:00Z)")
    records.add_argument("--to", dest="end", metavar="TIME", help="before this device time, RFC 3339")
    records.add_argument("--limit", type=positive, default=50, help="at most this many records (default 50)")
    records.add_argument("--page-token", metavar="TOKEN", help="read on where an earlier listing stopped")
    records.set_defaults(run=vehicles_records)
