"""`fleetgate brands list`, and brand names on the command line: as the API names them, in
any case; a protocol's name (GT06, JT/T 808) is answered with its brand's."""

from __future__ import annotations

import argparse
import re

from drivers.brands import BRANDS, lookup
from gateway.cli.output import show_rows
from gateway.cli.parser import subcommands
from gateway.client import AdminClient


def _squashed(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


# Names people use that are not the brand's: each driver's protocol name, and the standard's.
_OTHER_NAMES = {_squashed(b.driver): b.name for b in BRANDS.values()} | {"JTT808": "JT808"}


def brand_name(text: str) -> str:
    """An argparse type: the brand as the API names it."""
    brand = lookup(text)
    if brand is not None:
        return brand.name
    squashed = _squashed(text)
    meant = _OTHER_NAMES.get(squashed) or (squashed if squashed in BRANDS else None)
    hint = f"; did you mean {meant}?" if meant else ""
    raise argparse.ArgumentTypeError(f"unknown brand '{text}'{hint} (brands: {', '.join(BRANDS)})")


def brand_names(client: AdminClient) -> list[str]:
    """The brands the gateway knows, as it lists them."""
    return [row["brand"] for row in client.get("/telematics-brands")["items"]]


def brands_list(client: AdminClient, args: argparse.Namespace) -> None:
    columns = [("brand", "brand"), ("credential kind", "credential_kind"), ("transport", "transport"),
               ("port", "port")]
    show_rows(args, client.get("/telematics-brands")["items"], columns, "no brands")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    actions.add_parser("list", parents=[common], help="each brand with its credential kind, transport and port",
                       ).set_defaults(run=brands_list)
