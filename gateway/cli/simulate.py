"""`fleetgate simulate PROTOCOL`: simulated units (or a cloud) against a gateway, with a live
status line, until --duration ends or a signal stops them; the end report either way."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

import trio

from drivers.registry import DRIVERS, simulator_module
from gateway.cli.interrupts import say
from gateway.cli.parser import subcommands
from simulators.status import LiveStatus


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    parser.description = ("Run simulated units (or the NIU cloud) against a gateway. Simulators are named by "
                          "protocol, as the [drivers.*] config tables are: gt06 simulates the brand CONCOX.")
    simulate = subcommands(parser, "PROTOCOL")
    for driver in DRIVERS.values():
        name = simulator_module(driver)
        module = importlib.import_module(f"simulators.{name}")
        doc = (module.__doc__ or name).strip()
        sub = simulate.add_parser(name.replace("_", "-"), help=_first_paragraph(doc), description=doc,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.set_defaults(simulator=name, run=simulate_command)
        module.add_arguments(sub)


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.split("\n\n")[0].split())


def simulate_command(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    module = importlib.import_module(f"simulators.{args.simulator}")
    report, signum = trio.run(_simulate, module, args)
    print(report.summary(), flush=True)
    if signum is None:
        return 0
    say(f"simulator stopped by {signal.Signals(signum).name}")
    return 128 + signum


async def _simulate(module, args: argparse.Namespace):
    """Run the simulator with its status line until it ends (--duration) or SIGINT or SIGTERM
    stops it; its report and the signal (None at the end of --duration)."""
    signum = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def until_done(task_status: trio.TaskStatus) -> None:
                await module.main_async(args, task_status=task_status)
                nursery.cancel_scope.cancel()

            report = await nursery.start(until_done)
            status = LiveStatus(report.status, sys.stdout)
            nursery.start_soon(status.run)
            signum = await anext(signals)
            nursery.cancel_scope.cancel()
    status.finish()
    return report, signum
