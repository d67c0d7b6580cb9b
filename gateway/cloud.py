"""Cloud-connected vehicles (NIU): one client per shared-credentials record (a NIU account
or fleet client credentials), a poller that keeps every attached scooter's state, unit
checks for POST /vehicles and commands confirmed by the state they change.

A poll is stored like a TCP unit's sample (same writer, same state rules, same
events); the cloud's `isConnected` and the freshness of its answers set life status.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import trio

from drivers import niu
from drivers.niu import CloudUnavailable, CredentialsRejected, NiuClient, NiuError, NiuProtocolError
from gateway.clock import now_text, utc_now
from gateway.config import NiuConfig
from gateway.ingest import prepare_batch
from gateway.registry import DomainError, ReferencedNotFound
from gateway.runtime import Runtime
from gateway.store import StoreError, telemetry
from gateway.store import queries as q

log = logging.getLogger(__name__)

COMMAND_POLL = 1.0  # seconds between state checks while a command waits for its effect
REQUESTS_PER_POLL = 2  # the scooter's status and its overall tally (the odometer)


class CredentialsRefused(DomainError):
    problem, status = "credentials-rejected", 400


class CloudDown(DomainError):
    problem, status = "service-unavailable", 503


class CloudFleet:
    def __init__(self, runtime: Runtime, config: NiuConfig, http: httpx.AsyncClient):
        self.runtime, self.config = runtime, config
        self._http = http  # one connection pool for every credentials record
        self._clients: dict[str, NiuClient] = {}
        # A fleet of thousands must not exceed the configured request rate: polls are
        # started no faster than this, and only so many run at once.
        self._spacing = REQUESTS_PER_POLL / config.max_requests_per_second
        self._concurrent = trio.CapacityLimiter(config.max_concurrent_requests)
        metrics = runtime.metrics
        metrics.counter("fleetgate_cloud_polls_total", "NIU state polls by result.")
        registry = runtime.registry
        registry.unit_checks["NIU"] = self.check_unit
        registry.on_credentials_changed.append(self.forget)
        # A scooter just added is polled at once, not up to a poll interval later.
        self._added_send, self._added = trio.open_memory_channel[dict](1000)
        registry.on_vehicle_added.append(self._vehicle_added)
        # This node's share of the scooters, by vehicle id: those it polled in its last cycle
        # and those it took over since. What it owns once a node has left or died is polled
        # at once, not up to a poll interval later.
        self.share: set[str] = set()
        self._rebalance = trio.Event()
        runtime.node.on_live_changed.append(lambda: self._rebalance.set())

    def _vehicle_added(self, row: dict[str, Any]) -> None:
        if row["unit_brand"] == "NIU":
            self._poll_soon(row)

    def _poll_soon(self, vehicle: dict[str, Any]) -> None:
        try:
            self._added_send.send_nowait(vehicle)
        except trio.WouldBlock:
            pass  # a burst: the regular cycle polls the rest

    def forget(self, credentials_id: str) -> None:
        """Credentials rotated or deleted: the next call logs in with what is stored now."""
        self._clients.pop(credentials_id, None)

    async def client(self, credentials_id: str) -> NiuClient:
        client = self._clients.get(credentials_id)
        if client is None:
            row = await self.runtime.registry.get_credentials(credentials_id)
            secret = await self.runtime.registry.credentials_secret(credentials_id)
            options = {"http": self._http, "timeout": self.config.request_timeout}
            if row["kind"] == "account":
                client = NiuClient.account(self.config.account_host, self.config.app_host, row["client_id"], secret,
                                           **options)
            else:
                client = NiuClient.fleet(self.config.base_url, row["client_id"], secret, **options)
            self._clients[credentials_id] = client
        return client

    # --- the admin API's questions ---------------------------------------------------

    async def _scooters(self, credentials_id: str) -> list[str]:
        client = await self.client(credentials_id)
        try:
            with trio.fail_after(self.config.request_timeout * 2):
                return [listing.sn for listing in await client.list_scooters()]
        except CredentialsRejected:
            what = "account or password" if client.login.kind == "account" else "client id or secret"
            raise CredentialsRefused(f"NIU's cloud rejected these credentials' {what}.") from None
        except (CloudUnavailable, NiuError, NiuProtocolError, trio.TooSlowError):
            raise CloudDown("NIU's cloud could not be reached; try again later.") from None

    async def check_unit(self, credentials_id: str, unit_id: str) -> None:
        """POST /vehicles for NIU: the scooter must be listed under these credentials."""
        if unit_id not in await self._scooters(credentials_id):
            raise ReferencedNotFound(f"NIU's cloud lists no scooter '{unit_id}' under credentials '{credentials_id}'.",
                                     "telematics_unit.id")

    async def available_units(self) -> list[dict[str, Any]]:
        """Scooters the cloud lists under any stored NIU credentials, minus attached ones."""
        attached = {v["unit_id"] for v in await self.runtime.store.read(q.units_of_brand, "NIU")}
        now = now_text()
        items = []
        for credentials in await self.runtime.registry.list_credentials("NIU", "", 500):
            try:
                serials = await self._scooters(credentials["id"])
            except DomainError as exc:
                log.warning("NIU credentials %r: cannot list scooters: %s", credentials["name"], exc.detail)
                continue
            items += [{"id": sn, "brand": "NIU", "first_seen_at": now, "last_seen_at": now,
                       "remote_address": credentials["id"]} for sn in serials if sn not in attached]
        return items

    # --- polling ---------------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._poll_added)
            nursery.start_soon(self._take_over)
            task_status.started()
            await self._poll_cycles()

    async def _poll_added(self) -> None:
        async for row in self._added:
            await self._poll_guarded(dict(row))

    async def _take_over(self) -> None:
        """The live nodes changed: poll at once the scooters this node owns now and did not
        poll in its last cycle (a dead node's share)."""
        while True:
            await self._rebalance.wait()
            self._rebalance = trio.Event()
            try:
                vehicles = await self.runtime.store.read(q.units_of_brand, "NIU")
            except StoreError:
                continue  # the next cycle polls them
            for vehicle in vehicles:
                if vehicle["id"] not in self.share and self.runtime.node.owns(vehicle["id"]):
                    self.share.add(vehicle["id"])
                    self._poll_soon(vehicle)

    async def _poll_cycles(self) -> None:
        while True:
            cycle_started = trio.current_time()
            try:
                vehicles = await self.runtime.store.read(q.units_of_brand, "NIU")
                # In a cluster each scooter is this node's to poll or another live node's.
                vehicles = [vehicle for vehicle in vehicles if self.runtime.node.owns(vehicle["id"])]
                self.share = {vehicle["id"] for vehicle in vehicles}
            except StoreError as exc:
                log.warning("NIU poll cycle skipped: %s", exc)
                vehicles = []
            async with trio.open_nursery() as nursery:
                for vehicle in vehicles:
                    nursery.start_soon(self._poll_guarded, vehicle)
                    await trio.sleep(self._spacing)
            await trio.sleep_until(cycle_started + self.config.poll_interval)

    async def _poll_guarded(self, vehicle: dict[str, Any]) -> None:
        """One vehicle's poll; its failure is logged and counted, never another's problem."""
        try:
            await self.poll(vehicle)
            result = "ok"
        except CredentialsRejected:
            result = "credentials_rejected"
            log.warning("NIU vehicle %s: the cloud rejects its credentials %s", vehicle["id"], vehicle["credentials_id"])
        except (CloudUnavailable, NiuError, NiuProtocolError, trio.TooSlowError, StoreError) as exc:
            result = "error"
            log.warning("NIU vehicle %s: poll failed: %s", vehicle["id"], type(exc).__name__)
        except Exception:
            # A bug in one poll must not end the poller, which every other scooter needs.
            result = "internal_error"
            log.exception("NIU vehicle %s: poll failed", vehicle["id"])
        self.runtime.metrics.inc("fleetgate_cloud_polls_total", result=result)

    async def poll(self, vehicle: dict[str, Any]) -> dict[str, Any]:
        """Fetch, store and return one scooter's state properties."""
        client = await self.client(vehicle["credentials_id"])
        async with self._concurrent:
            with trio.fail_after(self.config.request_timeout * 2):
                state = await client.scooter_state(vehicle["unit_id"])
        received = utc_now()
        model = self.runtime.registry.catalog.get(vehicle["model_id"])
        rows = prepare_batch(niu.DRIVER, model.options if model else {}, vehicle["id"], vehicle["unit_id"],
                             (niu.record_from_state(state),), b"", received,
                             self.runtime.config.sessions.max_clock_skew)
        await self.runtime.store.ingest(rows)
        fresh = state.time is None or (received - state.time).total_seconds() < 3 * self.config.poll_interval
        life = "ONLINE" if state.connected and fresh else "OFFLINE"
        if life != vehicle.get("life_status"):
            await self.runtime.store.write(telemetry.set_life_status, vehicle["id"], life, now_text())
            vehicle["life_status"] = life
        return niu.state_properties(state, model.options if model else {})

    # --- commands --------------------------------------------------------------------

    async def command(self, vehicle: dict[str, Any], capability: str, timeout: float) -> tuple[bool, str]:
        """Send ``capability`` through the cloud and wait until the state shows it (or,
        for a command with nothing to observe, until the cloud accepts it). Returns
        (True, detail) on success, (False, detail) on refusal; raises trio.TooSlowError."""
        cloud_type = niu.encode_command(capability).text
        client = await self.client(vehicle["credentials_id"])
        with trio.fail_after(timeout):
            try:
                await client.send_command(vehicle["unit_id"], cloud_type)
            except CredentialsRejected:
                return False, "NIU's cloud rejected the vehicle's credentials"
            except NiuError as exc:
                return False, f"NIU's cloud refused '{cloud_type}': {exc.desc} (status {exc.status})"
            except CloudUnavailable:
                return False, "NIU's cloud could not be reached"
            while True:
                try:
                    properties = await self.poll(dict(vehicle))
                except (CloudUnavailable, NiuError, NiuProtocolError):
                    properties = {}  # a failed check is not a refusal: try again until the deadline
                if niu.confirmed(capability, properties):
                    return True, f"{cloud_type} accepted and confirmed"
                await trio.sleep(COMMAND_POLL)

