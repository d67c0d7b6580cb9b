"""What a unit in no vehicle may cost: one row per unit id in a capped table, and UnitSeen
events limited per unit id and fleet-wide, so that random ids grow neither the database
nor the event log without bound, nor take the writer from the units it serves.

Sightings wait in memory (one entry per unit id, at most the table's cap) and are stored
together, one writer job per commit: a flood of logins costs the writer a few statements
per batch, not a job per login.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import trio

from gateway.clock import rfc3339, utc_now
from gateway.store import Store, StoreError, seen_units
from gateway.store.events import EventWriter, insert_events, new_event

log = logging.getLogger(__name__)

# A unit retrying every few seconds is one UnitSeen event, not hundreds: it is announced
# again only after this long without a sighting.
QUIET = timedelta(minutes=10)
WINDOW = 60.0  # seconds over which the fleet-wide event limit counts

Key = tuple[str, str]  # (brand, unit id)


@dataclass
class Sighting:
    brand: str
    unit_id: str
    remote_address: str
    at: datetime  # the latest
    times: int = 1


class Strangers:
    def __init__(self, store: Store, max_seen_units: int = 10_000, events_per_minute: int = 60):
        self.store = store
        self.max_seen_units = max_seen_units
        self.events_per_minute = events_per_minute
        self._pending: OrderedDict[Key, Sighting] = OrderedDict()
        self._stored = trio.Event()  # set once the pending sightings are committed (or failed)
        self._wake = trio.Event()
        # Touched only by ``flush`` on the writer thread:
        self._announced: deque[float] = deque()  # times of the latest UnitSeen events
        # Evicted rows of announced units, so that one returning within QUIET comes back
        # with its history and without a second event. Only announced units are kept:
        # the fleet-wide limit bounds how many join per minute.
        self._evicted: OrderedDict[Key, dict[str, Any]] = OrderedDict()

    async def seen(self, brand: str, unit_id: str, remote_address: str) -> None:
        """Note a sighting; return once it is stored (or its batch failed)."""
        key = (brand, unit_id)
        earlier = self._pending.pop(key, None)
        self._pending[key] = Sighting(brand, unit_id, remote_address, utc_now(), earlier.times + 1 if earlier else 1)
        if len(self._pending) > self.max_seen_units:
            self._pending.popitem(last=False)  # the table would evict it at once
        stored = self._stored
        self._wake.set()
        await stored.wait()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Store what was seen, one writer job at a time; sightings meanwhile wait for the next."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            sightings, self._pending = list(self._pending.values()), OrderedDict()
            stored, self._stored = self._stored, trio.Event()
            try:
                await self.store.write(self.flush, sightings)
            except StoreError as exc:  # a store fault: these strangers go unlisted
                log.debug("%d sightings of units in no vehicle not stored: %s", len(sightings), exc)
            except Exception:  # a bug here must not stop the listing, nor the gateway
                log.exception("%d sightings of units in no vehicle not stored", len(sightings))
            finally:
                stored.set()

    def flush(self, conn: EventWriter, sightings: list[Sighting]) -> None:
        """Runs on the writer thread: upsert the sightings, log the UnitSeen events they are
        due, and evict beyond the cap."""
        stored = seen_units.get_many(conn, [(s.brand, s.unit_id) for s in sightings])
        rows, events = [], []
        for s in sightings:
            key, at, quiet_since = (s.brand, s.unit_id), rfc3339(s.at), rfc3339(s.at - QUIET)
            self._forget_evicted_before(quiet_since)
            previous = stored.get(key) or self._evicted.pop(key, None)
            announced_at = previous["announced_at"] if previous else None
            if (announced_at is None or previous["last_seen_at"] < quiet_since) and self._may_announce(s.at):
                events.append(new_event(conn, "UnitSeen", None, s.brand, s.unit_id, at,
                                        {"remote_address": s.remote_address}))
                announced_at = at
            rows.append({
                "brand": s.brand, "unit_id": s.unit_id, "first_seen_at": previous["first_seen_at"] if previous else at,
                "last_seen_at": at, "remote_address": s.remote_address,
                "seen_count": (previous["seen_count"] if previous else 0) + s.times, "announced_at": announced_at,
            })
        seen_units.put_many(conn, rows)
        insert_events(conn, events)
        if len(stored) < len(sightings):  # new rows: the table may have outgrown its cap
            for row in seen_units.evict_beyond(conn, self.max_seen_units):
                if row["announced_at"] is not None and row["last_seen_at"] >= quiet_since:
                    self._evicted[(row["brand"], row["unit_id"])] = row
            while len(self._evicted) > self.max_seen_units:
                self._evicted.popitem(last=False)

    def _may_announce(self, at: datetime) -> bool:
        """At most ``events_per_minute`` UnitSeen events in any minute, fleet-wide."""
        moment = at.timestamp()
        while self._announced and self._announced[0] <= moment - WINDOW:
            self._announced.popleft()
        if len(self._announced) >= self.events_per_minute:
            return False
        self._announced.append(moment)
        return True

    def _forget_evicted_before(self, quiet_since: str) -> None:
        # Evicted seen-longest-ago first, so the front is the first to leave the window.
        while self._evicted and next(iter(self._evicted.values()))["last_seen_at"] < quiet_since:
            self._evicted.popitem(last=False)
