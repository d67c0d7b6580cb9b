"""The live event stream of a node on PostgreSQL, fed from the event log itself.

On SQLite the store's one writer hands each commit's events to the live bus in commit
order. On PostgreSQL the nodes commit events out of id order, and a node sees only its
own commits: here the bus is fed from the log, in the log's order (events.py
"position"), so every node's subscribers see every node's events, each once, in one
order. A commit that logged events NOTIFYs fleetgate_events; the pump wakes on it, reads
what lies behind the horizon and publishes it. NOTIFY only wakes it: a round also runs
every ``POLL_EVERY`` seconds, and while the horizon holds events back (a transaction on
another node still in flight) it runs again shortly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from gateway.store import Store, StoreError
from gateway.store.events import Event, Position, last_position, query_events
from gateway.cluster.notifications import Notifications

log = logging.getLogger(__name__)

CHANNEL = "fleetgate_events"
POLL_EVERY = 0.25  # seconds between rounds without a notification
PAGE = 1000  # events read per round


class EventPump:
    def __init__(self, store: Store, url: str, publish: Callable[[list[Event]], None]) -> None:
        self.store, self.url, self.publish = store, url, publish
        self.position: Position | None = None

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        notifications = await Notifications.open(self.url, (CHANNEL,), "fleetgate events")
        try:
            # Subscribers see what commits from now on; the log before is theirs to replay.
            self.position = await self.store.read(last_position)
            task_status.started()
            while True:
                try:
                    caught_up = await self._round()
                except StoreError as exc:  # the store's own fault handling reports it
                    log.debug("event pump: %s", exc)
                    caught_up = True
                if caught_up:
                    await notifications.next(POLL_EVERY)
        finally:
            notifications.close()

    async def _round(self) -> bool:
        """Publish what the log holds after our position; True when it held less than a page."""
        events = await self.store.read(query_events, after=self.position, vehicle_id=None, types=None,
                                       occurred_after=None, occurred_before=None, limit=PAGE)
        if events:
            self.position = events[-1].position
            self.publish(events)
        return len(events) < PAGE
