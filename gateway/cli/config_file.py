"""`fleetgate config check FILE` and `fleetgate config example`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli.parser import subcommands
from gateway.config import ConfigError, load_config


def config_error(exc: ConfigError) -> int:
    """A config error as one line and exit status 2, the same for `serve` and `config check`."""
    print(f"fleetgate: config error: {exc}", file=sys.stderr)
    return 2


def check(args: argparse.Namespace) -> int:
    """One line: ok, or the error exactly as `serve --config FILE` would stop with it."""
    try:
        load_config(args.file)
    except ConfigError as exc:
        return config_error(exc)
    print(f"{args.file}: ok")
    return 0


def example(args: argparse.Namespace) -> int:
    from gateway.config_example import example as text

    print(text(), end="")
    return 0


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    checking = actions.add_parser("check", help="read a config file as `serve --config FILE` does; exit status "
                                                "0 when it is good, 2 with the error when not")
    checking.add_argument("file", type=Path, metavar="FILE", help="the TOML config file")
    checking.set_defaults(run=check)
    actions.add_parser("example", help="print every config key with its default and what it means "
                                       "(deploy/fleetgate.example.toml)").set_defaults(run=example)
