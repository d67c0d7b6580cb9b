"""`fleetgate credentials ...`: shared credentials for cloud brands (NIU): a NIU account, or
fleet client credentials. Secrets are read from a prompt or stdin, and never shown."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli import PROG
from gateway.cli.brands import brand_name
from gateway.cli.output import read_secret, show, show_rows, table
from gateway.cli.parser import subcommands
from gateway.client import AdminClient, ClientError

CREDENTIAL_COLUMNS = [("id", "id"), ("brand", "brand"), ("name", "name"), ("kind", "kind"),
                      ("client id", "client_id"), ("account", "account"), ("created", "created_at")]
# What each kind's secret is called on the API, and for people.
SECRETS = {"client": ("client_secret", "client secret"), "account": ("password", "password")}


def _row(credentials: dict[str, Any]) -> str:
    return table([credentials], CREDENTIAL_COLUMNS)


def credentials_add(client: AdminClient, args: argparse.Namespace) -> None:
    body = {"brand": args.brand, "name": args.name or args.account or args.client_id}
    if args.account:
        body.update(account=args.account, password=read_secret(f"password of NIU account {args.account}: "))
    else:
        body.update(client_id=args.client_id, client_secret=read_secret(f"client secret for '{body['name']}': "))
    show(args, client.post("/credentials", body), _row)


def credentials_list(client: AdminClient, args: argparse.Namespace) -> None:
    if args.brand:
        rows = client.get(f"/telematics-brands/{args.brand}/available-credentials")["items"]
    else:
        rows = client.all_items("/credentials")
    show_rows(args, rows, CREDENTIAL_COLUMNS, f"no credentials yet: `{PROG} credentials add` stores some")


def credentials_show(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.get(f"/credentials/{args.credentials_id}"), _row)


def credentials_set(client: AdminClient, args: argparse.Namespace) -> None:
    changes = {k: v for k, v in (("name", args.name), ("client_id", args.client_id), ("account", args.account)) if v}
    if not changes:
        raise ClientError(f"nothing to change: see `{PROG} credentials set --help`")
    show(args, client.request("PATCH", f"/credentials/{args.credentials_id}", json=changes), _row)


def credentials_rotate(client: AdminClient, args: argparse.Namespace) -> None:
    credentials = client.get(f"/credentials/{args.credentials_id}")
    field, called = SECRETS[credentials["kind"]]
    whose = f"NIU account {credentials['account']}" if credentials["kind"] == "account" else f"'{credentials['name']}'"
    secret = read_secret(f"new {called} of {whose}: ")
    show(args, client.request("PATCH", f"/credentials/{args.credentials_id}", json={field: secret}),
         lambda row: f"credentials {row['id']}: new {called} stored; every vehicle using them signs in with it "
                     "from its next request")


def credentials_remove(client: AdminClient, args: argparse.Namespace) -> None:
    client.delete(f"/credentials/{args.credentials_id}")
    show(args, {"removed": args.credentials_id}, lambda r: f"credentials {args.credentials_id} removed")


def _credentials_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("credentials_id", metavar="ID", help=f"the credentials' id (see `{PROG} credentials list`)")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    add = actions.add_parser("add", parents=[common],
                             help="store credentials; the secret or password is read from a prompt or stdin")
    add.add_argument("--brand", type=brand_name, default="NIU", help="the cloud brand (default NIU)")
    add.add_argument("--name", help="a name for people (default: the account or client id)")
    login = add.add_mutually_exclusive_group(required=True)
    login.add_argument("--account", metavar="EMAIL", help="a NIU account (e-mail or phone), as in NIU's app")
    login.add_argument("--client-id", metavar="ID", help="fleet client credentials' client id")
    add.set_defaults(run=credentials_add)

    listing = actions.add_parser("list", parents=[common], help="list credentials (never their secrets)")
    listing.add_argument("--brand", type=brand_name, help="only those this brand's vehicles can use")
    listing.set_defaults(run=credentials_list)

    show_parser = actions.add_parser("show", parents=[common], help="show one credentials record")
    _credentials_argument(show_parser)
    show_parser.set_defaults(run=credentials_show)

    change = actions.add_parser("set", parents=[common], help="rename credentials, or change their account or "
                                                              "client id (the secret: `rotate`)")
    _credentials_argument(change)
    change.add_argument("--name", help="a new name for people")
    identity = change.add_mutually_exclusive_group()
    identity.add_argument("--account", metavar="EMAIL", help="the NIU account's new e-mail or phone")
    identity.add_argument("--client-id", metavar="ID", help="the new client id")
    change.set_defaults(run=credentials_set)

    rotate = actions.add_parser(
        "rotate", parents=[common],
        help="replace the secret (a client secret, or an account's password), read from a prompt or stdin; "
             "every vehicle using the credentials takes it without a restart")
    _credentials_argument(rotate)
    rotate.set_defaults(run=credentials_rotate)

    remove = actions.add_parser("remove", parents=[common], help="remove credentials no vehicle uses")
    _credentials_argument(remove)
    remove.set_defaults(run=credentials_remove)
