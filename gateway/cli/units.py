"""`fleetgate units available`: units a listener has seen, or a cloud lists, that are in no
vehicle yet: what can be registered."""

from __future__ import annotations

import argparse

from gateway.cli.brands import brand_name, brand_names
from gateway.cli.output import show_rows
from gateway.cli.parser import subcommands
from gateway.client import AdminClient

COLUMNS = [("unit", "id"), ("brand", "brand"), ("first seen", "first_seen_at"), ("last seen", "last_seen_at"),
           ("times", "seen_count"), ("from", "remote_address")]


def units_available(client: AdminClient, args: argparse.Namespace) -> None:
    brands = [args.brand] if args.brand else brand_names(client)
    units = [u for b in brands for u in client.all_items(f"/telematics-brands/{b}/available-telematics-units")]
    whose = f"{args.brand} units" if args.brand else "units"
    show_rows(args, units, COLUMNS, f"no {whose} available: a unit is listed once it connects (or its cloud lists "
                                    "it) while it is in no vehicle")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    available = actions.add_parser(
        "available", parents=[common],
        help="units seen on a listener (or listed by a cloud) that are in no vehicle, with when and from where")
    available.add_argument("--brand", type=brand_name,
                           help="only this brand's units, e.g. CONCOX (default: every brand's)")
    available.set_defaults(run=units_available)
