"""The drivers fleetgate runs, by name. Adding a protocol adds one line here; a test
checks that each one has its protocol_specs folder, simulator and test module."""

from __future__ import annotations

from drivers.base import Driver
from drivers.gt06 import DRIVER as GT06
from drivers.jt808 import DRIVER as JT808
from drivers.niu import DRIVER as NIU
from drivers.teltonika import DRIVER as TELTONIKA

DRIVERS: dict[str, Driver] = {driver.name: driver for driver in (TELTONIKA, GT06, JT808, NIU)}


def simulator_module(driver: Driver) -> str:
    return driver.simulator or driver.name
