"""`fleetgate serve`: run the gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from gateway.cli import PROG
from gateway.cli.config_file import config_error
from gateway.cli.interrupts import leaves
from gateway.config import ConfigError, load_config
from gateway.logs import setup_logging


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=f"TOML config file; every key is optional (`{PROG} config example` lists them)")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="override data_dir (default ./fleetgate-data): database, key file, admin socket")
    parser.set_defaults(run=serve)


async def _serve(config) -> None:
    from gateway.app import run_gateway

    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(run_gateway, config)
            async for signum in signals:
                logging.getLogger("gateway").info("%s received: shutting down", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def serve(args: argparse.Namespace) -> int:
    from gateway.admin.server import AdminSocketError
    from gateway.app import StartupError
    from gateway.store import StoreError
    from gateway.tuning import tune_garbage_collector

    try:
        config = load_config(args.config, args.data_dir)
    except ConfigError as exc:
        return config_error(exc)
    setup_logging(config.log.level, config.log.format)
    tune_garbage_collector()
    try:
        trio.run(_serve, config)
    except BaseException as exc:  # noqa: BLE001 - unwrapped below; anything else is re-raised
        expected = [e for e in leaves(exc) if isinstance(e, StartupError | StoreError | AdminSocketError | OSError)]
        if not expected:
            raise
        print(f"fleetgate: cannot start: {expected[0]}", file=sys.stderr)
        return 1
    return 0
