"""The installed fleetgate's version, as GET /health and `fleetgate --version` report it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def gateway_version() -> str:
    try:
        return version("fleetgate")
    except PackageNotFoundError:
        return "0+unknown"
