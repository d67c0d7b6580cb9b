"""`fleetgate health` (a container's health check) and `fleetgate metrics`."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.admin import add_common
from gateway.cli.output import show
from gateway.client import AdminClient


def health_line(health: dict[str, Any]) -> str:
    listeners = ", ".join(f"{b['driver']} {b['host']}:{b['port']}" for b in health.get("listeners", []))
    return (f"{health['status']}: fleet {health['fleet_id']}, fleetgate {health['version']}, "
            f"listening for {listeners or 'no units'}")


def health(client: AdminClient, args: argparse.Namespace) -> None:
    # Anything but 200 (503 while the store cannot commit, no gateway on the socket) is a
    # ClientError: one line on stderr and exit status 1.
    show(args, client.get("/health"), health_line)


def metrics(client: AdminClient, args: argparse.Namespace) -> None:
    print(client.get("/metrics"), end="")


def add_health(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.set_defaults(run=health)


def add_metrics(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    add_common(parser, json=False)
    parser.set_defaults(run=metrics)
