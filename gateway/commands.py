"""Commands to units: capability check, one at a time per vehicle, audit, timeout.

Commands are synchronous and never queued: a unit that is offline gets nothing, later
or otherwise, so an operator never unlocks a vehicle hours after asking.

Any node commands any vehicle. The command's audit row is the hand-off: written with its
deadline (the database's clock) and the node holding the unit's session, it is taken by
that node, which sends it only before the deadline, writes the unit's answer into the
row and tells the asking node (gateway/cluster/node.py carries the notifications). The
row is finished once, by whoever finishes it first; one command per vehicle is in flight
on all nodes together (a unique index over the unfinished rows).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from drivers.base import CredentialKind, Transport
from drivers.brands import BRANDS
from drivers.registry import DRIVERS
from gateway.clock import now_text
from gateway.cluster.node import node_channel
from gateway.registry import DomainError, vehicle_and_state
from gateway.runtime import Runtime
from gateway.sessions import CommandTimeout, SessionLost
from gateway.store import IntegrityError, telemetry
from gateway.store import cluster as cluster_q

log = logging.getLogger(__name__)


class NotSupported(DomainError):
    problem, status = "vehicle/command-not-supported", 409


class Offline(DomainError):
    problem, status = "vehicle/conflicting-state", 409


class Busy(DomainError):
    problem, status = "vehicle/conflicting-command", 409


class UnitRefused(DomainError):
    problem, status = "telematics-unit/error", 502


class UnitTimeout(DomainError):
    problem, status = "telematics-unit/timeout", 504


HANDOFF_MARGIN = 2.0  # seconds the asking node waits past the deadline for the holder's word


def capability_of(command: str) -> str:
    """`disable-driving` -> DISABLE_DRIVING."""
    return command.strip().upper().replace("-", "_")


class Commands:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.node = runtime.node
        self._busy: set[str] = set()
        self._answers: dict[int, trio.Event] = {}  # commands handed on, waiting for the holder's word
        self._answered: set[int] = set()  # words that came before anyone waited for them
        runtime.metrics.counter("fleetgate_commands_total", "Commands by command and result.")
        self.node.handlers["command"] = self._handed_to_us
        self.node.handlers["answered"] = self._holder_answered

    async def execute(self, vehicle_id: str, command: str, requested_by: int | None,
                      api_client: str | None = None) -> dict[str, Any]:
        """Run ``command`` on the vehicle's unit; return the vehicle's state afterwards.
        ``requested_by`` is the caller's uid on the admin socket, ``api_client`` the client id
        of an API client on the HTTPS door."""
        runtime = self.runtime
        vehicle = await runtime.registry.get_vehicle(vehicle_id)
        capability = capability_of(command)
        model = runtime.registry.catalog.get(vehicle["model_id"])
        if model is None or capability not in model.commands:
            raise NotSupported(f"The vehicle '{vehicle_id}' does not support the command '{command}'.")
        brand = BRANDS[vehicle["unit_brand"]]
        driver = DRIVERS.get(brand.driver)
        if driver is None or driver.encode_command is None:
            raise NotSupported(f"{brand.name} commands are not available in this gateway yet.")
        holder = await self._holder(vehicle, brand, driver)
        if holder is None:
            raise Offline(f"The vehicle '{vehicle_id}' is offline; commands are never queued for later.")
        if vehicle_id in self._busy:
            raise Busy(f"Another command is running on vehicle '{vehicle_id}'.")
        self._busy.add(vehicle_id)
        try:
            timeout = runtime.config.commands.timeout
            row = {"vehicle_id": vehicle_id, "brand": brand.name, "unit_id": vehicle["unit_id"],
                   "command": capability, "requested_at": now_text(), "requested_by": requested_by,
                   "requested_by_client": api_client, "node_id": holder}
            try:
                # The audit row exists before any byte goes to the unit; handed on, it is the hand-off.
                audit_id = await runtime.store.write(_audit, row, timeout, self.node.node_id)
            except IntegrityError:
                raise Busy(f"Another command is running on vehicle '{vehicle_id}'.") from None
            if holder != self.node.node_id:
                return await self._handed_on(audit_id, vehicle_id, capability, timeout)
            return await self._deliver(audit_id, vehicle, capability, model.options, brand, driver, timeout)
        finally:
            self._busy.discard(vehicle_id)

    async def _holder(self, vehicle, brand, driver) -> str | None:
        """The node that can send the command now, or None when the vehicle is offline."""
        if driver.transport is Transport.CLOUD:
            # A cloud vehicle has no session: the cloud's own word (polled) says whether it is
            # online, and any node may send it the command.
            if self.runtime.cloud is None:
                raise NotSupported(f"The {brand.name} cloud driver is disabled in this gateway's config.")
            return self.node.node_id if vehicle["life_status"] == "ONLINE" else None
        if self.runtime.sessions.get(vehicle["id"]) is not None:
            return self.node.node_id
        if not self.node.clustered:
            return None
        holder = await self.runtime.store.read(cluster_q.session_holder, vehicle["id"])
        # Our own claim without a live session here is one whose release is still on its way.
        return None if holder == self.node.node_id else holder

    async def _deliver(self, audit_id, vehicle, capability, options, brand, driver, timeout) -> dict[str, Any]:
        """Send the command from this node (the unit's session is here, or its cloud) and
        finish its audit row with the answer."""
        vehicle_id = vehicle["id"]
        password = None
        if brand.credential_kind is CredentialKind.INDIVIDUAL:
            password = await self.runtime.registry.unit_password(vehicle_id)
        request = driver.encode_command(capability, options, password)
        started = trio.current_time()
        session = self.runtime.sessions.get(vehicle_id)
        if driver.transport is Transport.CLOUD:
            return await self._run_in_cloud(vehicle, capability, audit_id, started, timeout)
        if session is None:
            await self._finish(vehicle_id, audit_id, capability, "FAILED", "connection lost")
            raise UnitRefused("The unit's connection closed before the command was sent.")
        try:
            response = await session.command(request, timeout)
        except CommandTimeout:
            await self._finish(vehicle_id, audit_id, capability, "TIMEOUT", "no answer in time")
            raise UnitTimeout(f"The unit did not answer '{capability}' within "
                              f"{self.runtime.config.commands.timeout:g} s.") from None
        except (SessionLost, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
            await self._finish(vehicle_id, audit_id, capability, "FAILED", "connection lost")
            raise UnitRefused("The unit's connection closed before it answered.") from None
        outcome = driver.judge_response(capability, request, response)
        result = "SUCCEEDED" if outcome.succeeded else "REFUSED"
        read = await self._finish(vehicle_id, audit_id, capability, result, outcome.detail,
                                  dict(outcome.state) if outcome.succeeded else None,
                                  round((trio.current_time() - started) * 1000), then_read=outcome.succeeded)
        log.info("%s on vehicle %s: %s in %.0f ms", capability, vehicle_id, result, (trio.current_time() - started) * 1000)
        if not outcome.succeeded:
            raise UnitRefused(f"The unit refused '{capability}': {outcome.detail}")
        return self.runtime.registry.shown_state(vehicle_id, *read)

    async def _run_in_cloud(self, vehicle, capability: str, audit_id: int, started: float,
                            timeout: float) -> dict[str, Any]:
        vehicle_id = vehicle["id"]
        try:
            succeeded, detail = await self.runtime.cloud.command(vehicle, capability, timeout)
        except trio.TooSlowError:
            await self._finish(vehicle_id, audit_id, capability, "TIMEOUT", "no confirmation in time")
            raise UnitTimeout(f"The cloud did not confirm '{capability}' within {timeout:g} s.") from None
        result = "SUCCEEDED" if succeeded else "REFUSED"
        await self._finish(vehicle_id, audit_id, capability, result, detail, None,
                           round((trio.current_time() - started) * 1000))
        if not succeeded:
            raise UnitRefused(detail)
        return await self.runtime.registry.vehicle_state(vehicle_id)

    async def _finish(self, vehicle_id: str, audit_id: int, capability: str, result: str, detail: str,
                      state: dict[str, Any] | None = None, duration_ms: int | None = None, *,
                      then_read: bool = False) -> tuple | None:
        """Close the audit row (once: a row someone else closed first stays as they left it).
        With ``then_read``, return vehicle_and_state as read in the same transaction: the
        answer costs no read of its own, which under load is two trips through the event loop."""
        finished, read = await self.runtime.store.write(_finish_command, audit_id, result, detail, now_text(),
                                                        vehicle_id, state, duration_ms, then_read)
        if finished:
            self.runtime.metrics.inc("fleetgate_commands_total", command=capability, result=result)
        return read

    # --- handed between nodes -------------------------------------------------------------

    async def _handed_on(self, audit_id: int, vehicle_id: str, capability: str, timeout: float) -> dict[str, Any]:
        """The session is on another node: it was told with the audit row's commit; wait for
        its word, then read the answer from the row."""
        answered = self._answers[audit_id] = trio.Event()
        if audit_id in self._answered:
            self._answered.discard(audit_id)
            answered.set()
        try:
            with trio.move_on_after(timeout + HANDOFF_MARGIN):
                await answered.wait()
        finally:
            del self._answers[audit_id]
        outcome = await self.runtime.store.read(cluster_q.command_result, audit_id)
        if outcome["result"] is None:  # the holder never took it in time, or died with it
            await self._finish(vehicle_id, audit_id, capability, "TIMEOUT", "no answer from the node holding the session")
            outcome = await self.runtime.store.read(cluster_q.command_result, audit_id)
        result, detail = outcome["result"], outcome["detail"]
        if result == "SUCCEEDED":
            return await self.runtime.registry.vehicle_state(vehicle_id)
        if result == "TIMEOUT":
            raise UnitTimeout(f"The unit did not answer '{capability}' within {timeout:g} s.")
        if result == "REFUSED":
            raise UnitRefused(f"The unit refused '{capability}': {detail}")
        raise UnitRefused("The unit's connection closed before it answered.")

    async def _handed_to_us(self, payload: str) -> None:
        """Another node asks us to send a command to a unit whose session we hold."""
        number, asking = payload.split()
        audit_id = int(number)
        try:
            taken = await self.runtime.store.write(cluster_q.take_command, audit_id, self.node.node_id, now_text())
            if taken is not None:  # None: too late, or taken already; the asking node times it out
                vehicle = await self.runtime.registry.get_vehicle(taken["vehicle_id"])
                model = self.runtime.registry.catalog.get(vehicle["model_id"])
                brand = BRANDS[vehicle["unit_brand"]]
                await self._deliver(audit_id, vehicle, taken["command"], model.options, brand, DRIVERS[brand.driver],
                                    max(float(taken["seconds_left"]), 0.0))
        except DomainError:
            pass  # the answer is in the audit row, for the asking node to read
        except Exception:  # noqa: BLE001 - one command's failure must not end the node's listener
            log.exception("command %s handed to this node failed", audit_id)
        await self.node.notify(asking, "answered", str(audit_id))

    async def _holder_answered(self, payload: str) -> None:
        audit_id = int(payload)
        answered = self._answers.get(audit_id)
        if answered is None:
            self._answered.add(audit_id)
        else:
            answered.set()


def _audit(conn, row: dict[str, Any], timeout: float, this_node: str) -> int:
    """The command's audit row, with its deadline; handed on, the holder is told when it commits."""
    cluster_q.expire_commands(conn, row["vehicle_id"], row["requested_at"])
    audit_id = telemetry.audit_command(conn, row, timeout)
    if row["node_id"] != this_node:
        conn.notify(node_channel(row["node_id"]), f"command {audit_id} {this_node}")
    return audit_id


def _finish_command(conn, audit_id: int, result: str, detail: str, at: str, vehicle_id: str,
                    state: dict[str, Any] | None, duration_ms: int | None, then_read: bool) -> tuple[bool, tuple | None]:
    finished = telemetry.finish_command(conn, audit_id, result, detail, at, vehicle_id, state, duration_ms)
    return finished, vehicle_and_state(conn, vehicle_id) if then_read else None
