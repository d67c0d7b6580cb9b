"""The `fleetgate` command (also `python -m gateway`)."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from pathlib import Path

import trio

from drivers.registry import DRIVERS, simulator_module
from gateway.cli_admin import add_parsers, run_admin_command
from gateway.config import ConfigError, load_config
from gateway.console.command import add_parser as add_console_parser
from gateway.console.command import run_console
from gateway.logs import setup_logging


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
        print(f"fleetgate: config error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log.level, config.log.format)
    tune_garbage_collector()
    try:
        trio.run(_serve, config)
    except BaseException as exc:  # noqa: BLE001 - unwrapped below; anything else is re-raised
        expected = [e for e in _leaves(exc) if isinstance(e, StartupError | StoreError | AdminSocketError | OSError)]
        if not expected:
            raise
        print(f"fleetgate: cannot start: {expected[0]}", file=sys.stderr)
        return 1
    return 0


def _leaves(exc: BaseException):
    """The exceptions inside (nested) exception groups, as trio's nurseries raise them."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetgate", description="Self-hosted telematics gateway.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_parser = commands.add_parser("serve", help="run the gateway")
    serve_parser.add_argument("--config", type=Path, help="TOML config file (every key optional)")
    serve_parser.add_argument("--data-dir", type=Path, help="override data_dir (default ./fleetgate-data)")
    serve_parser.set_defaults(run=None)
    add_parsers(commands)
    simulate = commands.add_parser("simulate", help="run simulated units against a gateway").add_subparsers(
        dest="protocol", required=True, metavar="PROTOCOL")
    for driver in DRIVERS.values():
        name = simulator_module(driver)
        module = importlib.import_module(f"simulators.{name}")
        sub = simulate.add_parser(name.replace("_", "-"), help=(module.__doc__ or name).strip().splitlines()[0])
        sub.set_defaults(simulator=name)
        module.add_arguments(sub)
    commands.add_parser("demo", help="start a throwaway gateway and simulated units, and show them at work")
    add_console_parser(commands)
    return parser


def simulate(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    module = importlib.import_module(f"simulators.{args.simulator}")
    try:
        report = trio.run(module.main_async, args)
    except KeyboardInterrupt:
        return 130
    summary = getattr(report, "summary", None)
    if summary is not None:
        print(summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "simulate":
        return simulate(args)
    if args.command == "demo":
        from gateway.demo import run_demo

        return run_demo()
    if args.command == "console":
        return run_console(args)
    return run_admin_command(args)


if __name__ == "__main__":
    sys.exit(main())
