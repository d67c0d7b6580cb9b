"""Every open unit session, the live one of each vehicle, and the per-unit brake on
repeated authentication failures."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from gateway.sessions import UnitSession

log = logging.getLogger("gateway.sessions")

DEADLINE_RESOLUTION = 0.25  # seconds between sweeps of the session deadlines
NOTED_KEYS = 10_000  # (unit, kind) pairs remembered for once-only log lines


class AuthThrottle:
    """Slows repeated authentication failures of one unit id.

    Keyed by unit id, not source address: whole fleets share carrier-NAT addresses,
    and one misconfigured unit must not lock out its neighbours.
    """

    def __init__(self, base: float = 0.5, cap: float = 30.0, max_keys: int = 100_000):
        self.base, self.cap, self.max_keys = base, cap, max_keys
        self._failures: dict[tuple[str, str], int] = {}

    def failed(self, key: tuple[str, str]) -> float:
        """Count a failure; return how long to wait before answering it."""
        count = self._failures.pop(key, 0) + 1
        self._failures[key] = count  # now the newest: ids that stop failing are forgotten first
        if len(self._failures) > self.max_keys:  # made-up ids must not grow it without bound
            del self._failures[next(iter(self._failures))]
        return min(self.cap, self.base * 2 ** (count - 1))

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)


class SessionTable:
    """Every open session, and the live, authenticated session of each vehicle."""

    def __init__(self) -> None:
        self._open: set[UnitSession] = set()
        self._by_vehicle: dict[str, UnitSession] = {}
        self.throttle = AuthThrottle()
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

    def live_vehicles(self) -> list[str]:
        return list(self._by_vehicle)

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
