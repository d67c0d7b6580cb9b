"""`fleetgate api-clients`: clients of the HTTPS door, which get bearer tokens with OAuth2
client credentials. Managed over the admin socket only; a secret is printed once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.cli.output import show, show_rows, table
from gateway.cli.parser import subcommands
from gateway.client import AdminClient

COLUMNS = [("id", "id"), ("name", "name"), ("client id", "client_id"), ("scopes", "scopes"),
           ("created", "created_at"), ("rotated", "rotated_at")]
SCOPES = "vehicles:read, vehicles:write, commands, credentials, events:read"


def show_secret(args: argparse.Namespace, row: dict[str, Any]) -> None:
    """The client and its secret, printed this once; the warning goes to stderr, so that
    `--json` output stays a document."""
    show(args, row, lambda r: table([r], COLUMNS) + f"\nclient secret: {r['client_secret']}")
    print("Store the client secret now: the gateway keeps only a hash of it and cannot show it again.",
          file=sys.stderr)


def api_clients_add(client: AdminClient, args: argparse.Namespace) -> None:
    scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
    show_secret(args, client.post("/api-clients", {"name": args.name, "scopes": scopes}))


def api_clients_list(client: AdminClient, args: argparse.Namespace) -> None:
    show_rows(args, client.all_items("/api-clients"), COLUMNS,
              "no API clients: add one with `api-clients add --name NAME --scopes ...`")


def api_clients_rotate(client: AdminClient, args: argparse.Namespace) -> None:
    show_secret(args, client.request("POST", f"/api-clients/{args.api_client_id}/rotate"))


def api_clients_remove(client: AdminClient, args: argparse.Namespace) -> None:
    client.delete(f"/api-clients/{args.api_client_id}")
    show(args, {"removed": args.api_client_id},
         lambda r: f"API client {args.api_client_id} removed; its tokens no longer work")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    add = actions.add_parser("add", parents=[common], help="add a client; its secret is printed once")
    add.add_argument("--name", required=True, help="who uses it, e.g. booking")
    add.add_argument("--scopes", required=True, help=f"comma-separated, of: {SCOPES}")
    add.set_defaults(run=api_clients_add)
    actions.add_parser("list", parents=[common], help="list clients (never their secrets)").set_defaults(
        run=api_clients_list)
    for name, run, helptext in (
        ("rotate", api_clients_rotate, "a new secret, printed once; the old one and its tokens stop working"),
        ("remove", api_clients_remove, "remove a client; its tokens stop working"),
    ):
        action = actions.add_parser(name, parents=[common], help=helptext)
        action.add_argument("api_client_id", metavar="ID", help="the API client's id (from `api-clients list`)")
        action.set_defaults(run=run)
