"""Every open unit session, the live one of each vehicle, and the brakes on guessing a
unit's password."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable
from contextlib import ExitStack
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from gateway.sessions import UnitSession

log = logging.getLogger("gateway.sessions")

DEADLINE_RESOLUTION = 0.25  # seconds between sweeps of the session deadlines
NOTED_KEYS = 10_000  # (unit, kind) pairs remembered for once-only log lines; source addresses
ADDRESS_WINDOW = 600.0  # seconds over which one source address's failed authentications count


class AuthThrottle:
    """The brakes on guessing a unit's password.

    Per unit id: one attempt in flight at a time, and each failure doubles the time the
    next answer waits (a right code too, once there were failures, so the time to the
    answer says nothing). Per source address only above a threshold of failures: whole
    fleets share carrier-NAT addresses, and one misconfigured unit must not lock out its
    neighbours.
    """

    def __init__(self, base: float = 0.5, cap: float = 30.0, address_threshold: int = 100,
                 max_keys: int = 100_000):
        self.base, self.cap, self.address_threshold, self.max_keys = base, cap, address_threshold, max_keys
        self._failures: dict[tuple[str, str], int] = {}
        self._in_flight: set[tuple[str, str]] = set()
        # address -> (start of its counting window, failures in it), newest last
        self._by_address: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def attempt(self, key: tuple[str, str]) -> ExitStack:
        """Take the unit's one attempt in flight, released when the returned context exits;
        AttemptInFlight at once when another attempt holds it."""
        if key in self._in_flight:
            raise AttemptInFlight(key)
        self._in_flight.add(key)
        release = ExitStack()
        release.callback(self._in_flight.discard, key)
        return release

    def _over_threshold(self, address: str | None) -> int:
        if address is None:
            return 0
        start, failures = self._by_address.get(address, (0.0, 0))
        if trio.current_time() - start > ADDRESS_WINDOW:
            return 0
        return max(0, failures - self.address_threshold)

    def delay(self, key: tuple[str, str], address: str | None = None) -> float:
        """How long the answer to this attempt waits if the code is wrong, and also if it
        is right while ``engaged``. Without an address (API clients, whose door sits
        behind proxies) only the key counts."""
        failures = max(self._failures.get(key, 0), self._over_threshold(address))
        return min(self.cap, self.base * 2 ** min(failures, 32))  # the cap long before float overflow

    def engaged(self, key: tuple[str, str], address: str | None = None) -> bool:
        return key in self._failures or self._over_threshold(address) > 0

    def failed(self, key: tuple[str, str], address: str | None = None) -> None:
        self._failures[key] = self._failures.pop(key, 0) + 1  # now the newest: forgotten last
        if len(self._failures) > self.max_keys:  # API client ids are anyone's to make up
            del self._failures[next(iter(self._failures))]
        if address is None:
            return
        now = trio.current_time()
        start, failures = self._by_address.pop(address, (now, 0))
        if now - start > ADDRESS_WINDOW:
            start, failures = now, 0
        self._by_address[address] = (start, failures + 1)
        if len(self._by_address) > NOTED_KEYS:
            self._by_address.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        # The address keeps its count: one right code must not lift the brake on the
        # guesses of everyone else behind it.
        self._failures.pop(key, None)


class AttemptInFlight(Exception):
    """Another authentication of the same unit id has not been answered yet."""


class SessionTable:
    """Every open session, and the live, authenticated session of each vehicle."""

    def __init__(self, throttle: AuthThrottle | None = None) -> None:
        self._open: set[UnitSession] = set()
        self._by_vehicle: dict[str, UnitSession] = {}
        self.throttle = throttle or AuthThrottle()
        self._noted: OrderedDict[Hashable, None] = OrderedDict()

    def first_time(self, key: Hashable) -> bool:
        """True the first time ``key`` is asked about: for log lines once per unit and kind.
        Remembers the newest NOTED_KEYS keys, so no sender can grow it without bound."""
        if key in self._noted:
            self._noted.move_to_end(key)
            return False
        self._noted[key] = None
        if len(self._noted) > NOTED_KEYS:
            self._noted.popitem(last=False)
        return True

    def track(self, session: UnitSession) -> None:
        self._open.add(session)

    def untrack(self, session: UnitSession) -> None:
        self._open.discard(session)

    async def enforce_deadlines(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Expire sessions whose deadline passed.

        Sessions only write their next deadline into a float; one sweep a quarter second
        replaces the two cancel scopes per packet a deadline-per-await would cost, which
        showed in profiles at thousands of packets per second.
        """
        task_status.started()
        while True:
            await trio.sleep(DEADLINE_RESOLUTION)
            now = trio.current_time()
            for session in [s for s in self._open if s.deadline <= now]:
                session.expire()

    def attach(self, vehicle_id: str, session: UnitSession) -> None:
        old = self._by_vehicle.get(vehicle_id)
        self._by_vehicle[vehicle_id] = session
        if old is not None:
            # The old socket is often half-open after a NAT timeout; the unit has moved on.
            log.info(
                "%s unit %s logged in again from %s; closing its session from %s",
                session.driver.brand, session.unit_id, session.remote, old.remote,
            )
            old.close()

    def detach(self, vehicle_id: str, session: UnitSession) -> bool:
        """Forget ``session``; True when it was still the vehicle's current one."""
        if self._by_vehicle.get(vehicle_id) is session:
            del self._by_vehicle[vehicle_id]
            return True
        return False

    def get(self, vehicle_id: str) -> UnitSession | None:
        return self._by_vehicle.get(vehicle_id)

    def live_claims(self) -> list[tuple[str, int]]:
        """(vehicle id, session number) of every live session: what this node's claims should be."""
        return [(vehicle_id, session.number) for vehicle_id, session in self._by_vehicle.items()]

    def claimed_elsewhere(self, vehicle_id: str, node_id: str) -> None:
        """Another node accepted a newer login of the vehicle's unit: our session is stale."""
        ours = self._by_vehicle.get(vehicle_id)
        if ours is not None:
            log.info("%s unit %s logged in on node %s; closing its session here from %s",
                     ours.driver.brand, ours.unit_id, node_id, ours.remote)
            ours.close()

    def close_vehicle(self, vehicle_id: str) -> None:
        session = self._by_vehicle.get(vehicle_id)
        if session is not None:
            session.close()

    def model_changed(self, vehicle_id: str, model_id: str) -> None:
        session = self._by_vehicle.get(vehicle_id)
        if session is not None:
            session.model_id = model_id

    def count(self, driver: str) -> int:
        return sum(1 for s in self._by_vehicle.values() if s.driver.name == driver)
