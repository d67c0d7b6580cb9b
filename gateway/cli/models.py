"""`fleetgate models list`: the vehicle models each brand's units can be registered with."""

from __future__ import annotations

import argparse

from gateway.cli.brands import brand_name, brand_names
from gateway.cli.output import show_rows
from gateway.cli.parser import subcommands
from gateway.client import AdminClient

COLUMNS = [("id", "id"), ("brand", "brand"), ("vehicle", "vehicle_model"), ("type", "vehicle_type"),
           ("commands", "capabilities.commands")]


def models_list(client: AdminClient, args: argparse.Namespace) -> None:
    brands = [args.brand] if args.brand else brand_names(client)
    models = [m for b in brands for m in client.get(f"/telematics-brands/{b}/available-vehicle-models")["items"]]
    show_rows(args, models, COLUMNS, f"no vehicle models for {args.brand}" if args.brand else "no vehicle models")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    listing = actions.add_parser("list", parents=[common], help="list vehicle models and their capabilities")
    listing.add_argument("--brand", type=brand_name, help="only this brand's models (default: every brand's)")
    listing.set_defaults(run=models_list)
