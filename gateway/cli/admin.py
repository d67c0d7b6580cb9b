"""What every command that talks to a running gateway over its admin socket shares."""

from __future__ import annotations

import argparse
import sys


def add_common(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """--socket (and --json); the command's ``run(client, args)`` gets a client on the socket."""
    parser.add_argument("--socket", metavar="PATH",
                        help="admin socket (default: $FLEETGATE_SOCKET or fleetgate-data/admin.sock)")
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    parser.set_defaults(admin=True)


def common_arguments() -> argparse.ArgumentParser:
    """The parent parser of every admin subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    add_common(common)
    return common


def run_admin_command(args: argparse.Namespace) -> int:
    from gateway.client import AdminClient, ClientError, socket_path  # httpx: only for commands that use it

    try:
        with AdminClient(socket_path(args.socket)) as client:
            args.run(client, args)
    except ClientError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    return 0
