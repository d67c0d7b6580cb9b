"""`fleetgate credentials ...`: shared credentials for cloud brands (NIU)."""

from __future__ import annotations

import argparse

from gateway.cli.output import read_secret, show, table
from gateway.client import AdminClient

CREDENTIAL_COLUMNS = [("id", "id"), ("brand", "brand"), ("name", "name"), ("kind", "kind"),
                      ("client id", "client_id"), ("account", "account"), ("created", "created_at")]


def credentials_add(client: AdminClient, args: argparse.Namespace) -> None:
    body = {"brand": args.brand, "name": args.name or args.account or args.client_id}
    if args.account:
        body.update(account=args.account, password=read_secret(f"password of NIU account {args.account}: "))
    else:
        body.update(client_id=args.client_id, client_secret=read_secret(f"client secret for '{body['name']}': "))
    show(args, client.post("/credentials", body), lambda row: table([row], CREDENTIAL_COLUMNS))


def credentials_list(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.all_items("/credentials"), lambda rows: table(rows, CREDENTIAL_COLUMNS))


def credentials_remove(client: AdminClient, args: argparse.Namespace) -> None:
    client.delete(f"/credentials/{args.credentials_id}")
    show(args, {"removed": args.credentials_id}, lambda r: f"credentials {args.credentials_id} removed")


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    credentials = commands.add_parser("credentials", help="shared credentials for cloud brands").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    cadd = credentials.add_parser("add", parents=[common],
                                  help="store credentials; the secret or password is read from a prompt or stdin")
    cadd.add_argument("--brand", default="NIU")
    cadd.add_argument("--name", help="a name for people (default: the account or client id)")
    login = cadd.add_mutually_exclusive_group(required=True)
    login.add_argument("--account", metavar="EMAIL", help="a NIU account (e-mail or phone), as in NIU's app")
    login.add_argument("--client-id", help="fleet client credentials' client id")
    cadd.set_defaults(run=credentials_add)
    credentials.add_parser("list", parents=[common], help="list credentials").set_defaults(run=credentials_list)
    cremove = credentials.add_parser("remove", parents=[common], help="remove unused credentials")
    cremove.add_argument("credentials_id")
    cremove.set_defaults(run=credentials_remove)
