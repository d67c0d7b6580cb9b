"""Commands to units: capability check, one at a time per vehicle, audit, timeout.

Commands are synchronous and never queued: a unit that is offline gets nothing, later
or otherwise, so an operator never unlocks a vehicle hours after asking.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from drivers.base import CredentialKind, Transport
from drivers.brands import BRANDS
from drivers.registry import DRIVERS
from gateway.clock import now_text
from gateway.registry import DomainError
from gateway.runtime import Runtime
from gateway.sessions import CommandTimeout, SessionLost
from gateway.store import telemetry

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


def capability_of(command: str) -> str:
    """`disable-driving` -> DISABLE_DRIVING."""
    return command.strip().upper().replace("-", "_")


class Commands:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._busy: set[str] = set()
        runtime.metrics.counter("fleetgate_commands_total", "Commands by command and result.")

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
        if driver.transport is Transport.CLOUD:
            # A cloud vehicle has no session here: the cloud's own word (polled) says whether it is online.
            session = None
            if runtime.cloud is None:
                raise NotSupported(f"The {brand.name} cloud driver is disabled in this gateway's config.")
            online = vehicle["life_status"] == "ONLINE"
        else:
            session = runtime.sessions.get(vehicle_id)
            online = session is not None
        if not online:
            raise Offline(f"The vehicle '{vehicle_id}' is offline; commands are never queued for later.")
        if vehicle_id in self._busy:
            raise Busy(f"Another command is running on vehicle '{vehicle_id}'.")
        self._busy.add(vehicle_id)
        try:
            return await self._run(vehicle, capability, model.options, brand, driver, session,
                                   {"requested_by": requested_by, "requested_by_client": api_client})
        finally:
            self._busy.discard(vehicle_id)

    async def _run(self, vehicle, capability, options, brand, driver, session, requester) -> dict[str, Any]:
        store, vehicle_id = self.runtime.store, vehicle["id"]
        # The audit row exists before any byte goes to the unit.
        audit_id = await store.write(telemetry.audit_command, {
            "vehicle_id": vehicle_id, "brand": brand.name, "unit_id": vehicle["unit_id"], "command": capability,
            "requested_at": now_text(), **requester,
        })
        password = None
        if brand.credential_kind is CredentialKind.INDIVIDUAL:
            password = await self.runtime.registry.unit_password(vehicle_id)
        request = driver.encode_command(capability, options, password)
        started = trio.current_time()
        timeout = self.runtime.config.commands.timeout
        if session is None:
            return await self._run_in_cloud(vehicle, capability, audit_id, started, timeout)
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
        await self._finish(vehicle_id, audit_id, capability, result, outcome.detail,
                           dict(outcome.state) if outcome.succeeded else None,
                           round((trio.current_time() - started) * 1000))
        log.info("%s on vehicle %s: %s in %.0f ms", capability, vehicle_id, result, (trio.current_time() - started) * 1000)
        if not outcome.succeeded:
            raise UnitRefused(f"The unit refused '{capability}': {outcome.detail}")
        return await self.runtime.registry.vehicle_state(vehicle_id)

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
                      state: dict[str, Any] | None = None, duration_ms: int | None = None) -> None:
        await self.runtime.store.write(telemetry.finish_command, audit_id, result, detail, now_text(), vehicle_id,
                                       state, duration_ms)
        self.runtime.metrics.inc("fleetgate_commands_total", command=capability, result=result)
