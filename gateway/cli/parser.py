"""The `fleetgate` command line: every command and its arguments."""

from __future__ import annotations

import argparse

from gateway.cli import admin, catalog, credentials, events, serve, simulate, vehicles
from gateway.console.command import add_parser as add_console_parser
from gateway.console.command import run_console

# Commands that talk to a running gateway over its admin socket, one module per resource;
# each adds its subcommands with add_parser(commands, common).
ADMIN_RESOURCES = (vehicles, catalog, credentials, events)


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetgate", description="Self-hosted telematics gateway.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(commands)
    common = admin.common_arguments()
    for resource in ADMIN_RESOURCES:
        resource.add_parser(commands, common)
    simulate.add_parser(commands)
    commands.add_parser(
        "demo", help="start a throwaway gateway and simulated units, and show them at work").set_defaults(run=_demo)
    add_console_parser(commands)
    commands.choices["console"].set_defaults(run=run_console)
    return parser
