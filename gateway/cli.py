"""The `fleetgate` command (also `python -m gateway`)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import trio

from gateway.cli_admin import add_parsers, run_admin_command
from gateway.config import ConfigError, load_config
from gateway.logs import setup_logging


async def _serve(config) -> None:
    from gateway.app import run_gateway

    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(run_gateway, config)
            async for signum in signals:
                import logging

                logging.getLogger("gateway").info("%s received: shutting down", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def serve(args: argparse.Namespace) -> int:
    from gateway.app import StartupError
    from gateway.store import StoreError

    try:
        config = load_config(args.config, args.data_dir)
    except ConfigError as exc:
        print(f"fleetgate: config error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log.level, config.log.format)
    try:
        trio.run(_serve, config)
    except (StartupError, StoreError) as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"fleetgate: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetgate", description="Self-hosted telematics gateway.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_parser = commands.add_parser("serve", help="run the gateway")
    serve_parser.add_argument("--config", type=Path, help="TOML config file (every key optional)")
    serve_parser.add_argument("--data-dir", type=Path, help="override data_dir (default ./fleetgate-data)")
    serve_parser.set_defaults(run=None)
    add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return run_admin_command(args)


if __name__ == "__main__":
    sys.exit(main())
