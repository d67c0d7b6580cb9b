"""`fleetgate serve`: run the gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from functools import partial
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
    parser.add_argument("--workers", type=_count, metavar="N",
                        help="override [cluster] workers (default 1): N processes, each a node of the cluster on "
                             "the PostgreSQL store, accepting on the same listeners and admin socket")
    # A worker started by `serve --workers N`: the sockets it inherits (gateway/cluster/inherited.py).
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.set_defaults(run=serve)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of workers (1 or more)")
    return int(text)


async def _serve(run, config) -> None:
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(run, config)
            async for signum in signals:
                logging.getLogger("gateway").info("%s received: shutting down", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def _main(args: argparse.Namespace):
    """The config, and what runs it: the gateway, a supervisor of workers, or a worker."""
    if args.worker is not None:
        from gateway.cluster.inherited import LIFELINE, Inherited, receive_config
        from gateway.cluster.worker import run_worker

        inherited = Inherited.parse(args.worker)
        lifeline = inherited.socket(LIFELINE)
        config = receive_config(lifeline)
        return config, partial(run_worker, config, inherited, lifeline)
    config = load_config(args.config, args.data_dir)
    if args.workers is not None:
        config.cluster.workers = args.workers
    if config.cluster.workers > 1:
        from gateway.cluster.supervisor import supervise

        return config, partial(_serve, supervise, config)
    from gateway.app import run_gateway

    return config, partial(_serve, run_gateway, config)


def serve(args: argparse.Namespace) -> int:
    from gateway.admin.server import AdminSocketError
    from gateway.app import StartupError
    from gateway.store import StoreError
    from gateway.tuning import tune_garbage_collector

    try:
        config, main = _main(args)
    except ConfigError as exc:
        return config_error(exc)
    setup_logging(config.log.level, config.log.format, pid=config.cluster.workers > 1)
    tune_garbage_collector()
    try:
        trio.run(main)
    except BaseException as exc:  # noqa: BLE001 - unwrapped below; anything else is re-raised
        expected = [e for e in leaves(exc) if isinstance(e, StartupError | StoreError | AdminSocketError | OSError)]
        if not expected:
            raise
        print(f"fleetgate: cannot start: {expected[0]}", file=sys.stderr)
        return 1
    return 0
