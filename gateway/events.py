"""The live event stream: committed events fanned out to subscribers in memory.

Publishing never waits for a subscriber. Each subscription has a bounded buffer; one
that falls too far behind is dropped (its stream ends with an event saying where to
resume) instead of slowing ingestion or growing without bound. Subscriptions filtered
to a vehicle are found by that vehicle's id, so idle subscribers cost nothing per event.
"""

from __future__ import annotations

from collections import deque

import trio

from gateway.store.events import Event

MAX_BUFFERED = 10_000  # events a subscriber may fall behind before it is dropped


class Subscription:
    def __init__(self, vehicle_id: str | None, types: frozenset[str] | None, max_buffered: int = MAX_BUFFERED):
        self.vehicle_id, self.types = vehicle_id, types
        self.dropped = False
        self._buffer: deque[Event] = deque()
        self._max = max_buffered
        self._arrived = trio.Event()

    def offer(self, event: Event) -> None:
        if self.dropped or (self.types is not None and event.type not in self.types):
            return
        if len(self._buffer) >= self._max:
            self.dropped = True  # the stream resumes from the log, not from memory
            self._buffer.clear()
        else:
            self._buffer.append(event)
        self._arrived.set()

    async def next_events(self) -> list[Event]:
        """Wait for events (or for being dropped); return what arrived, oldest first."""
        while not self._buffer and not self.dropped:
            self._arrived = trio.Event()
            await self._arrived.wait()
        events = list(self._buffer)
        self._buffer.clear()
        return events


class EventBus:
    def __init__(self, max_buffered: int = MAX_BUFFERED) -> None:
        self._max = max_buffered
        self._everything: set[Subscription] = set()
        self._by_vehicle: dict[str, set[Subscription]] = {}

    def subscribe(self, vehicle_id: str | None = None, types: frozenset[str] | None = None) -> Subscription:
        subscription = Subscription(vehicle_id, types, self._max)
        if vehicle_id is None:
            self._everything.add(subscription)
        else:
            self._by_vehicle.setdefault(vehicle_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.vehicle_id is None:
            self._everything.discard(subscription)
        else:
            group = self._by_vehicle.get(subscription.vehicle_id, set())
            group.discard(subscription)
            if not group:
                self._by_vehicle.pop(subscription.vehicle_id, None)

    def publish(self, events: list[Event]) -> None:
        """Called by the store after each commit, with that commit's events in order."""
        everything, by_vehicle = self._everything, self._by_vehicle
        if not everything and not by_vehicle:
            return
        for event in events:
            for subscription in everything:
                subscription.offer(event)
            for subscription in by_vehicle.get(event.vehicle_id, ()):
                subscription.offer(event)

    @property
    def subscribers(self) -> int:
        return len(self._everything) + sum(len(group) for group in self._by_vehicle.values())
