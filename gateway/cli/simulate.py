"""`fleetgate simulate PROTOCOL`: simulated units (or a cloud) against a gateway."""

from __future__ import annotations

import argparse
import importlib
import logging

import trio

from drivers.registry import DRIVERS, simulator_module


def add_parser(commands: argparse._SubParsersAction) -> None:
    simulate = commands.add_parser("simulate", help="run simulated units against a gateway").add_subparsers(
        dest="protocol", required=True, metavar="PROTOCOL")
    for driver in DRIVERS.values():
        name = simulator_module(driver)
        module = importlib.import_module(f"simulators.{name}")
        sub = simulate.add_parser(name.replace("_", "-"), help=(module.__doc__ or name).strip().splitlines()[0])
        sub.set_defaults(simulator=name, run=simulate_command)
        module.add_arguments(sub)


def simulate_command(args: argparse.Namespace) -> int:
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
