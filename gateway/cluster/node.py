"""This gateway as a node: its lease, the claims on its units' sessions, and what the other
nodes tell it (DESIGN.md "One node or a cluster").

Every node registers itself with a lease it renews; a node whose lease ran out is dead,
and any node releases its claims (their vehicles go OFFLINE unless a live node claimed
them since). The node that accepts a unit's login claims the unit's session; the newest
claim wins, and on PostgreSQL the claim is announced (NOTIFY fleetgate_claims) so that
the node holding an older session of the unit closes it at once. Each node listens on a
channel of its own for commands handed to it and for the answers to commands it handed
on (gateway/commands.py).

On SQLite the gateway is a cluster of one: the same lease and claims, no notifications.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from gateway import ids
from gateway.clock import now_text
from gateway.cluster.notifications import Notifications
from gateway.store import Store, StoreError
from gateway.store import cluster as q
from gateway.store.cluster import CLAIMS

if TYPE_CHECKING:
    from gateway.session_table import SessionTable

log = logging.getLogger(__name__)


def node_channel(node_id: str) -> str:
    return f"fleetgate_node_{node_id.lower()}"


class ClusterNode:
    """``url``: the PostgreSQL database of the cluster, or None for SQLite (a cluster of one)."""

    def __init__(self, store: Store, url: str | None, lease: float, *,
                 sessions: SessionTable | None):
        self.store, self.url, self.lease = store, url, lease
        self.node_id = ids.ulid()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.live: list[str] = [self.node_id]  # the live nodes, by id: who polls which scooter
        self._sessions = itertools.count(1)
        self.sessions = sessions  # this node's live unit sessions
        self.handlers: dict[str, Callable[[str], Awaitable[None]]] = {}  # notification kind -> handler
        self.on_live_changed: list[Callable[[], None]] = []  # a node joined or left: who owns what changed
        self._nursery: trio.Nursery | None = None

    @property
    def clustered(self) -> bool:
        return self.url is not None

    def status(self) -> dict:
        return {"id": self.node_id, "name": self.name, "live_nodes": len(self.live)}

    def next_session(self) -> int:
        return next(self._sessions)

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await self.store.write(q.register_node, self.node_id, self.name, self.lease)
        # Who is alive before anything asks who owns what (the NIU poller's first cycle).
        self.live = [node["id"] for node in await self.store.read(q.live_nodes)] or [self.node_id]
        log.info("node %s (%s) joined%s", self.node_id, self.name, " the cluster" if self.clustered else "")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.clustered:
                    notifications = await Notifications.open(self.url, self._channels, f"fleetgate node {self.node_id}")
                    nursery.start_soon(self._dispatch, notifications)
                nursery.start_soon(self._renew)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                try:
                    await self.store.write(q.leave, self.node_id, now_text())
                except StoreError:
                    pass  # the lease runs out instead

    # --- lease ---------------------------------------------------------------------

    async def _renew(self) -> None:
        while True:
            await trio.sleep(self.lease / 5)  # between renewals, and looks for dead nodes
            try:
                if not await self.store.write(q.renew_lease, self.node_id, self.lease):
                    # Taken for dead (a stall longer than the lease): the others released
                    # our claims and took our vehicles OFFLINE. Join again and claim our live
                    # sessions again, but none whose unit logged in elsewhere since.
                    await self.store.write(q.register_node, self.node_id, self.name, self.lease)
                    back = await self.store.write(q.reclaim_sessions, self.node_id, self.sessions.live_claims(),
                                                  now_text())
                    log.warning("node %s outlived its lease (a stall?); joined again with %d sessions",
                                self.node_id, back)
                dead = await self.store.write(q.reap_dead_nodes, now_text())
                if dead:
                    log.warning("nodes %s stopped renewing their lease; their units' sessions are released",
                                ", ".join(dead))
                live = [node["id"] for node in await self.store.read(q.live_nodes)] or [self.node_id]
                if live != self.live:
                    self.live = live
                    for callback in self.on_live_changed:
                        callback()
            except StoreError as exc:  # the store's fault handling reports it; the lease may lapse
                log.debug("lease renewal failed: %s", exc)

    def owns(self, key: str) -> bool:
        """Whether this node, among the live ones, is the one for ``key`` (rendezvous
        hashing): each key has one owner, and a dead node's keys spread over the others."""
        def weight(node_id: str) -> bytes:
            return hashlib.blake2b(f"{node_id}|{key}".encode(), digest_size=8).digest()

        return max(self.live, key=weight) == self.node_id

    # --- notifications ---------------------------------------------------------------

    @property
    def _channels(self) -> tuple[str, ...]:
        return CLAIMS, node_channel(self.node_id)

    async def _dispatch(self, notifications: Notifications) -> None:
        try:
            while True:
                for channel, payload in await notifications.next(1.0):
                    if channel == CLAIMS:
                        vehicle_id, node_id, _ = payload.split()
                        # Every login on every node is announced: only one of a unit whose
                        # session is here asks the store anything.
                        if node_id != self.node_id and self.sessions.get(vehicle_id) is not None:
                            self._nursery.start_soon(self._claimed_elsewhere, vehicle_id, node_id)
                        continue
                    kind, _, rest = payload.partition(" ")
                    handler = self.handlers.get(kind)
                    if handler is not None:
                        self._nursery.start_soon(handler, rest)
        finally:
            notifications.close()

    async def _claimed_elsewhere(self, vehicle_id: str, node_id: str) -> None:
        """Another node claimed the vehicle's session. Notifications may arrive after a newer
        claim of ours (the unit came back here meanwhile): the claim in the store decides."""
        try:
            holder = await self.store.read(q.session_holder, vehicle_id)
        except StoreError:
            return  # a stale session here ends with its unit's next login, or its idle timeout
        if holder != self.node_id:
            self.sessions.claimed_elsewhere(vehicle_id, node_id)

    async def notify(self, node_id: str, kind: str, payload: str) -> None:
        """Tell node ``node_id`` something, in a write of its own: delivered when it commits."""
        await self.store.write(_notify, node_channel(node_id), f"{kind} {payload}")


def _notify(conn, channel: str, payload: str) -> None:
    conn.notify(channel, payload)

