"""What every command that talks to a running gateway over its admin socket shares."""

from __future__ import annotations

import argparse
import sys

from gateway.client import AdminClient, ClientError, socket_path


def common_arguments() -> argparse.ArgumentParser:
    """--socket and --json, as a parent parser for every admin command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", help="admin socket (default: $FLEETGATE_SOCKET or fleetgate-data/admin.sock)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    # Every admin command's ``run(client, args)`` is called with a client on the socket.
    common.set_defaults(admin=True)
    return common


def run_admin_command(args: argparse.Namespace) -> int:
    try:
        with AdminClient(socket_path(args.socket)) as client:
            args.run(client, args)
    except ClientError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    return 0
