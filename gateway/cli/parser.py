"""The `fleetgate` command line. Only the chosen command's module is imported to add its
arguments: `fleetgate health`, a container's health check every 30 s, then starts without
loading the gateway, the simulators or the web stack."""

from __future__ import annotations

import argparse
import importlib

from gateway.cli import PROG, admin

# name: (one line of help, "module:function" that adds the command's arguments and sets
# its `run`). Admin commands take the `common` parent parser (--socket, --json) and get
# `run(client, args)` called with a client on the admin socket.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("run the gateway", "gateway.cli.serve:add_arguments"),
    "vehicles": ("register, change, inspect and command vehicles", "gateway.cli.vehicles:add_arguments"),
    "models": ("the vehicle-model catalog", "gateway.cli.models:add_arguments"),
    "units": ("telematics units that are in no vehicle yet", "gateway.cli.units:add_arguments"),
    "brands": ("the telematics brands and how their units authenticate", "gateway.cli.brands:add_arguments"),
    "credentials": ("shared credentials for cloud brands (NIU)", "gateway.cli.credentials:add_arguments"),
    "api-clients": ("clients of the HTTPS door (OAuth2 client credentials)", "gateway.cli.api_clients:add_arguments"),
    "events": ("the event log: query it, or follow it live", "gateway.cli.events:add_arguments"),
    "health": ("one line on whether the gateway is healthy; exit status 0 if it is",
               "gateway.cli.health:add_health"),
    "metrics": ("the gateway's Prometheus metrics", "gateway.cli.health:add_metrics"),
    "config": ("check a config file, or print the example with every key",
               "gateway.cli.config_file:add_arguments"),
    "simulate": ("run simulated units (or the NIU cloud) against a gateway", "gateway.cli.simulate:add_arguments"),
    "demo": ("start a throwaway gateway and simulated units, and show them at work", "gateway.cli.parser:add_demo"),
    "console": ("open the web console: a one-time login URL on 127.0.0.1 that leads to the admin socket",
                "gateway.console.command:add_arguments"),
}


def add_demo(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo()


class _Version(argparse.Action):
    """--version, reading the installed version only when asked (it costs an import)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from gateway.version import gateway_version

        print(f"fleetgate {gateway_version()}")
        parser.exit()


def subcommands(parser: argparse.ArgumentParser, metavar: str = "ACTION") -> argparse._SubParsersAction:
    return parser.add_subparsers(dest=metavar.lower(), required=True, metavar=metavar,
                                 help=f"`{parser.prog} {metavar} --help` says more")


def chosen_command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(chosen: str | None = None, *, every: bool = False) -> argparse.ArgumentParser:
    """The parser, with the arguments of the ``chosen`` command (of ``every`` one: tests)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Self-hosted telematics gateway.")
    parser.add_argument("--version", action=_Version, help="print fleetgate's version and exit")
    commands = subcommands(parser, "COMMAND")
    common = admin.common_arguments()
    for name, (helptext, where) in COMMANDS.items():
        sub = commands.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        if every or name == chosen:
            module, function = where.split(":")
            getattr(importlib.import_module(module), function)(sub, common)
    return parser
