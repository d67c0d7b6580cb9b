"""`fleetgate models ...` and `fleetgate units ...`: what each brand offers and has seen."""

from __future__ import annotations

import argparse

from drivers.brands import BRANDS, lookup
from gateway.cli.output import show, table
from gateway.client import AdminClient, ClientError


def models_list(client: AdminClient, args: argparse.Namespace) -> None:
    brands = [lookup(args.brand).name] if args.brand and lookup(args.brand) else list(BRANDS)
    if args.brand and not lookup(args.brand):
        raise ClientError(f"unknown brand '{args.brand}' (known: {', '.join(BRANDS)})")
    models = [m for b in brands for m in client.get(f"/telematics-brands/{b}/available-vehicle-models")["items"]]
    columns = [("id", "id"), ("brand", "brand"), ("vehicle", "vehicle_model"), ("type", "vehicle_type"),
               ("commands", "capabilities.commands")]
    show(args, models, lambda rows: table(rows, columns))


def units_available(client: AdminClient, args: argparse.Namespace) -> None:
    items = client.get(f"/telematics-brands/{args.brand}/available-telematics-units")["items"]
    columns = [("unit", "id"), ("brand", "brand"), ("first seen", "first_seen_at"), ("last seen", "last_seen_at"),
               ("from", "remote_address")]
    show(args, items, lambda rows: table(rows, columns))


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    models = commands.add_parser("models", help="the vehicle-model catalog").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    mlist = models.add_parser("list", parents=[common], help="list vehicle models and their capabilities")
    mlist.add_argument("--brand")
    mlist.set_defaults(run=models_list)

    units = commands.add_parser("units", help="telematics units").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    available = units.add_parser("available", parents=[common], help="units seen but not in a vehicle")
    available.add_argument("--brand", required=True)
    available.set_defaults(run=units_available)
