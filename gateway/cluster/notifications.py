"""A PostgreSQL connection of its own that LISTENs, for the nodes of a cluster: what other
nodes NOTIFY arrives here (gateway/cluster/node.py, event_pump.py).

Waiting blocks, so it runs on a worker thread that trio abandons when the task is
cancelled; ``close`` then makes that thread's wait fail, and it returns quietly instead of
making the connection anew. A connection lost otherwise is made anew and LISTENs again;
what was notified meanwhile is lost, which every user of this tolerates (NOTIFY wakes,
the store holds the truth).
"""

from __future__ import annotations

import logging
import time

import trio

from gateway.store.postgres import Error, PgConnection

log = logging.getLogger(__name__)


class Notifications:
    def __init__(self, connection: PgConnection, channels: tuple[str, ...], name: str) -> None:
        self._connection, self._channels, self._name = connection, channels, name
        self._closed = False
        self._listen()

    @classmethod
    async def open(cls, url: str, channels: tuple[str, ...], name: str) -> Notifications:
        def connect() -> Notifications:
            return cls(PgConnection(url, application_name=name), channels, name)

        return await trio.to_thread.run_sync(connect)

    def _listen(self) -> None:
        for channel in self._channels:
            self._connection.execute(f"LISTEN {channel}")

    async def next(self, timeout: float) -> list[tuple[str, str]]:
        """(channel, payload) of the notifications that arrive within ``timeout`` seconds:
        the first one, and whatever else is queued behind it."""
        return await trio.to_thread.run_sync(self._wait, timeout, abandon_on_cancel=True)

    def _wait(self, timeout: float) -> list[tuple[str, str]]:
        raw = self._connection.raw
        try:
            notes = [(n.channel, n.payload) for n in raw.notifies(timeout=timeout, stop_after=1)]
            if notes:
                notes += [(n.channel, n.payload) for n in raw.notifies(timeout=0)]
            return notes
        except Exception as exc:  # psycopg's errors, or whatever a closed connection raises
            if self._closed:
                return []
            log.warning("%s lost its LISTEN connection: %s", self._name, exc)
        try:
            self._connection.reconnect()
            self._listen()
        except Error as exc:  # the server is still away: try again after a pause
            log.debug("%s cannot listen again yet: %s", self._name, exc)
            time.sleep(timeout)  # this runs on the worker thread (next()), not in trio's loop
        return []

    def close(self) -> None:
        self._closed = True
        self._connection.close()
