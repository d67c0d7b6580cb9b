"""Domain rules for vehicles, their units and shared credentials (API.md "Vehicles",
"Credentials", "Telematics brands"). SQL stays in gateway.store.queries."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from drivers.base import CredentialKind
from drivers.brands import BRANDS, Brand, password_problem
from drivers.registry import DRIVERS
from gateway import ids
from gateway.catalog import VehicleModel, load_catalog
from gateway.clock import now_text, rfc3339, utc_now
from gateway.secrets import SecretBox, SecretsError, wrong_key
from gateway.store import Store
from gateway.store import queries as q
from gateway.store import seen_units, telemetry
from gateway.store.events import log_event
from gateway.strangers import Strangers

SECRETS_CHECK = "secrets_check"  # meta key: a known text encrypted with the store's key

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A request the rules refuse; ``problem`` names the API problem type."""

    problem = "validation-error"
    status = 400

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class Invalid(DomainError):
    pass


class ReferencedNotFound(DomainError):
    problem = "referenced-resource-not-found"


class NotFound(DomainError):
    problem = "resource-not-found"
    status = 404


class Conflict(DomainError):
    problem = "conflicting-resource"
    status = 409


@dataclass(frozen=True)
class Authentication:
    password: str | None = None
    credentials_id: str | None = None


class Registry:
    def __init__(self, store: Store, box: SecretBox, fleet_id: str, strangers: Strangers):
        self.store = store
        self.box = box
        self.fleet_id = fleet_id
        self.strangers = strangers
        self.catalog = load_catalog()
        # Hooks for the live sessions: called with the deleted vehicle's row (the
        # session hangs up) and with (vehicle_id, model_id) after a model change.
        self.on_vehicle_added: list = []  # called with the new vehicle's row
        self.on_vehicle_removed: list = []
        self.on_model_changed: list = []
        # Cloud brands check a unit against the vendor cloud: brand -> async (credentials_id,
        # unit_id) raising a DomainError. Without one, existing credentials are enough.
        self.unit_checks: dict = {}
        self.on_credentials_changed: list = []  # called with the id after PATCH or DELETE

    @classmethod
    async def open(cls, store: Store, box: SecretBox, strangers: Strangers) -> Registry:
        fleet_id = await store.write(q.put_meta_once, "fleet_id", ids.short_id())
        return cls(store, box, fleet_id, strangers)

    # --- vehicles --------------------------------------------------------------------

    def model_for(self, model_id: str, brand: Brand) -> VehicleModel:
        model = self.catalog.get(model_id)
        if model is None:
            raise ReferencedNotFound(f"The vehicle model '{model_id}' does not exist.", "vehicle_model_id")
        if model.brand != brand.name:
            raise ReferencedNotFound(
                f"The vehicle model '{model_id}' is a {model.brand} model, not {brand.name}.", "vehicle_model_id"
            )
        return model

    async def _check_authentication(self, brand: Brand, auth: Authentication) -> None:
        kind = brand.credential_kind
        if kind is CredentialKind.NONE and (auth.password is not None or auth.credentials_id is not None):
            raise Invalid(f"{brand.name} units are identified by their IMEI and take no authentication.", "authentication")
        if kind is CredentialKind.INDIVIDUAL:
            if auth.credentials_id is not None or auth.password is None:
                raise Invalid(f"{brand.name} units need their individual 'password'.", "authentication.password")
            problem = password_problem(brand, auth.password)
            if problem:
                raise Invalid(problem, "authentication.password")
        if kind is CredentialKind.SHARED:
            if auth.password is not None or auth.credentials_id is None:
                raise Invalid(f"{brand.name} units need shared 'credentials_id'.", "authentication.credentials_id")
            credentials = await self.store.read(q.get_credentials, auth.credentials_id)
            if credentials is None or credentials["brand"] != brand.name:
                raise ReferencedNotFound(
                    f"There are no {brand.name} credentials with id '{auth.credentials_id}'.",
                    "authentication.credentials_id",
                )

    async def _check_unit(self, brand: Brand, auth: Authentication, unit_id: str) -> None:
        check = self.unit_checks.get(brand.name)
        if check is not None and auth.credentials_id is not None:
            await check(auth.credentials_id, unit_id)

    async def add_vehicle(
        self,
        *,
        unit_id: str,
        brand: Brand,
        model_id: str,
        auth: Authentication,
        master_data: dict[str, Any],
        custom_fields: dict[str, Any],
        tags: list[str],
        operation_status: str,
    ) -> dict[str, Any]:
        model = self.model_for(model_id, brand)
        await self._check_authentication(brand, auth)
        await self._check_unit(brand, auth, unit_id)
        now = now_text()
        row = {
            "created_at": now,
            "master_data": json.dumps(master_data),
            "master_data_modified_at": now,
            "custom_fields": json.dumps(custom_fields),
            "custom_fields_modified_at": now,
            "tags": json.dumps(tags),
            "operation_status": operation_status,
            "operation_status_modified_at": now,
            "life_status": "OFFLINE",
            "life_status_modified_at": now,
            "model_id": model.id,
            "unit_brand": brand.name,
            "unit_id": unit_id,
            "attached_at": now,
            "credentials_id": auth.credentials_id,
        }

        def insert(conn: sqlite3.Connection) -> dict[str, Any]:
            existing = q.vehicle_of_unit(conn, brand.name, unit_id)
            if existing is not None:
                raise Conflict(f"The {brand.name} unit '{unit_id}' is already attached to vehicle '{existing['id']}'.")
            vehicle_id = ids.short_id()
            while q.vehicle_id_taken(conn, vehicle_id):
                vehicle_id = ids.short_id()
            full = {**row, "id": vehicle_id}
            if auth.password is not None:
                full["password"] = self.box.encrypt(auth.password, _password_binding(brand.name, unit_id))
            try:
                q.insert_vehicle(conn, full)
            except self.store.engine.IntegrityError:  # credentials deleted since we checked
                raise ReferencedNotFound(f"There are no credentials with id '{auth.credentials_id}'.") from None
            log_event(conn, "VehicleChanged", vehicle_id, brand.name, unit_id, now, {"reasons": ["CREATED"]})
            return q.get_vehicle(conn, vehicle_id)

        row = await self.store.write(insert)
        for callback in self.on_vehicle_added:
            callback(row)
        return row

    async def get_vehicle(self, vehicle_id: str) -> dict[str, Any]:
        row = await self.store.lookup(q.get_vehicle, vehicle_id)
        if row is None:
            raise NotFound(f"There is no vehicle with id '{vehicle_id}'.")
        return row

    async def vehicle_state(self, vehicle_id: str) -> dict[str, Any]:
        """The vehicle's latest state, limited to the properties its current model lists.
        What another model gave stays stored (and in the history), and shows again when the
        vehicle is switched back to a model that lists it."""
        return self.shown_state(vehicle_id, *await self.store.lookup(vehicle_and_state, vehicle_id))

    def shown_state(self, vehicle_id: str, row: dict[str, Any] | None, state: dict[str, Any]) -> dict[str, Any]:
        """What vehicle_state answers, from what vehicle_and_state read."""
        if row is None:
            raise NotFound(f"There is no vehicle with id '{vehicle_id}'.")
        model = self.catalog.get(row["model_id"])
        listed = {name.lower() for name in model.vehicle_state} if model is not None else set()
        return {name: value for name, value in state.items() if name in listed}

    async def list_vehicles(self, after: tuple[str, str], limit: int, query: str | None) -> list[dict[str, Any]]:
        return await self.store.read(q.list_vehicles, after, limit, query)

    async def update_vehicle(self, vehicle_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """``patch`` holds the parts the request sent: master_data (merged, None removes a
        field), custom_fields and tags (replaced), operation_status."""
        now = now_text()

        def update(conn: sqlite3.Connection) -> dict[str, Any]:
            row = q.get_vehicle(conn, vehicle_id)
            if row is None:
                raise NotFound(f"There is no vehicle with id '{vehicle_id}'.")
            changes: dict[str, Any] = {}
            reasons = []
            if "master_data" in patch:
                merged = json.loads(row["master_data"])
                for key, value in patch["master_data"].items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                changes.update(master_data=json.dumps(merged), master_data_modified_at=now)
                reasons.append("MASTER_DATA_CHANGED")
            if "custom_fields" in patch:
                changes.update(custom_fields=json.dumps(patch["custom_fields"]), custom_fields_modified_at=now)
                reasons.append("CUSTOM_FIELDS_CHANGED")
            if "tags" in patch:
                changes["tags"] = json.dumps(patch["tags"])
                reasons.append("TAGS_CHANGED")
            if "operation_status" in patch and patch["operation_status"] != row["operation_status"]:
                changes.update(operation_status=patch["operation_status"], operation_status_modified_at=now)
                reasons.append("OPERATION_STATUS_CHANGED")
            if changes:
                q.update_vehicle(conn, vehicle_id, changes)
                log_event(conn, "VehicleChanged", vehicle_id, row["unit_brand"], row["unit_id"], now,
                          {"reasons": reasons})
            return q.get_vehicle(conn, vehicle_id)

        return await self.store.write(update)

    async def remove_vehicle(self, vehicle_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> dict[str, Any]:
            row = q.delete_vehicle(conn, vehicle_id)
            if row is None:
                raise NotFound(f"There is no vehicle with id '{vehicle_id}'.")
            log_event(conn, "VehicleChanged", vehicle_id, row["unit_brand"], row["unit_id"], now_text(),
                      {"reasons": ["DELETED"]})
            return row

        row = await self.store.write(delete)
        for callback in self.on_vehicle_removed:
            callback(row)

    async def change_model(self, vehicle_id: str, model_id: str) -> dict[str, Any]:
        row = await self.get_vehicle(vehicle_id)
        model = self.model_for(model_id, BRANDS[row["unit_brand"]])

        def update(conn: sqlite3.Connection) -> None:
            if not q.update_vehicle(conn, vehicle_id, {"model_id": model.id}):
                raise NotFound(f"There is no vehicle with id '{vehicle_id}'.")
            log_event(conn, "VehicleChanged", vehicle_id, row["unit_brand"], row["unit_id"], now_text(),
                      {"reasons": ["MODEL_CHANGED"], "vehicle_model_id": model.id})

        await self.store.write(update)
        for callback in self.on_model_changed:
            callback(vehicle_id, model.id)
        return await self.get_vehicle(vehicle_id)

    async def change_authentication(self, vehicle_id: str, auth: Authentication) -> None:
        row = await self.get_vehicle(vehicle_id)
        brand = BRANDS[row["unit_brand"]]
        if brand.credential_kind is CredentialKind.NONE:
            raise Invalid(f"{brand.name} units take no authentication.", "authentication")
        await self._check_authentication(brand, auth)
        await self._check_unit(brand, auth, row["unit_id"])
        if auth.password is not None:
            changes = {"password": self.box.encrypt(auth.password, _password_binding(brand.name, row["unit_id"]))}
        else:
            changes = {"credentials_id": auth.credentials_id}

        def update(conn: sqlite3.Connection) -> None:
            try:
                found = q.update_vehicle(conn, vehicle_id, changes)
            except self.store.engine.IntegrityError:
                raise ReferencedNotFound(f"There are no credentials with id '{auth.credentials_id}'.") from None
            if not found:
                raise NotFound(f"There is no vehicle with id '{vehicle_id}'.")
            log_event(conn, "VehicleChanged", vehicle_id, brand.name, row["unit_id"], now_text(),
                      {"reasons": ["AUTHENTICATION_CHANGED"]})

        await self.store.write(update)

    async def unit_password(self, vehicle_id: str) -> str | None:
        """The unit's individual password, decrypted, for a driver that must send or check it."""
        row = await self.get_vehicle(vehicle_id)
        blob = await self.store.read(q.get_vehicle_password, vehicle_id)
        return None if blob is None else self.box.decrypt(blob, _password_binding(row["unit_brand"], row["unit_id"]))

    async def open_enrolment(self, vehicle_id: str, expires_in: float) -> str:
        """Open the one-unit window in which the vehicle's unit may register and receive its
        password (JT/T 808); return the time it closes unless used first."""
        row = await self.get_vehicle(vehicle_id)
        brand = BRANDS[row["unit_brand"]]
        # Only a unit that presents its password at login has one to learn by enrolling.
        if not DRIVERS[brand.driver].password_at_login:
            raise Conflict(f"{brand.name} units do not enrol: only JT808 units learn their password by registering.")
        now = utc_now()
        expires_at = rfc3339(now + timedelta(seconds=expires_in))

        def open_window(conn: sqlite3.Connection) -> None:
            if not q.open_enrolment(conn, vehicle_id, expires_at):
                raise NotFound(f"There is no vehicle with id '{vehicle_id}'.")
            log_event(conn, "VehicleChanged", vehicle_id, brand.name, row["unit_id"], rfc3339(now),
                      {"reasons": ["ENROLMENT_OPENED"], "enrolment_expires_at": expires_at})

        await self.store.write(open_window)
        log.info("vehicle %s: enrolment of %s unit %s open until %s", vehicle_id, brand.name, row["unit_id"],
                 expires_at)
        return expires_at

    async def enrol(self, brand: str, unit_id: str) -> tuple[str, str | None]:
        """A unit asks to enrol (JT/T 808 registration): ("unknown", None) when it is in no
        vehicle, ("accepted", password) while its vehicle's enrolment window is open (which
        closes it), else ("closed", None). See protocol_specs/jt808/spec.md."""

        def enrol(conn: sqlite3.Connection) -> tuple[str, str | None]:
            vehicle = q.vehicle_of_unit(conn, brand, unit_id)
            if vehicle is None:
                return "unknown", None
            now = now_text()
            if not q.take_enrolment(conn, vehicle["id"], now):
                return "closed", None
            log_event(conn, "VehicleChanged", vehicle["id"], brand, unit_id, now, {"reasons": ["ENROLLED"]})
            blob = q.get_vehicle_password(conn, vehicle["id"])
            return "accepted", self.box.decrypt(blob, _password_binding(brand, unit_id))

        return await self.store.write(enrol)

    async def count_vehicles(self) -> int:
        return await self.store.read(q.count_vehicles)

    # --- credentials -----------------------------------------------------------------

    async def add_credentials(self, brand: Brand, name: str, fields: dict[str, str]) -> dict[str, Any]:
        """``fields`` holds one kind's pair (CREDENTIAL_FIELDS), e.g. account and password."""
        if brand.credential_kind is not CredentialKind.SHARED:
            raise Invalid(f"{brand.name} does not use shared credentials.", "brand")
        kind = credentials_kind(fields)
        identity, secret = CREDENTIAL_FIELDS[kind]
        now = now_text()
        credentials_id = ids.ulid()
        row = {
            "id": credentials_id,
            "brand": brand.name,
            "name": name,
            "kind": kind,
            "client_id": fields[identity],
            "client_secret": self.box.encrypt(fields[secret], _secret_binding(credentials_id, kind)),
            "created_at": now,
            "modified_at": now,
        }
        await self.store.write(q.insert_credentials, row)
        return await self.get_credentials(credentials_id)

    async def get_credentials(self, credentials_id: str) -> dict[str, Any]:
        row = await self.store.read(q.get_credentials, credentials_id)
        if row is None:
            raise NotFound(f"There are no credentials with id '{credentials_id}'.")
        return row

    async def list_credentials(self, brand: str | None, after: str, limit: int) -> list[dict[str, Any]]:
        return await self.store.read(q.list_credentials, brand, after, limit)

    async def update_credentials(self, credentials_id: str, changes: dict[str, str]) -> dict[str, Any]:
        """``changes``: the name and either field of the credentials' own kind (a rotated
        secret, a renamed client id or account); the kind itself never changes."""
        kind = (await self.get_credentials(credentials_id))["kind"]
        identity, secret = CREDENTIAL_FIELDS[kind]
        foreign = sorted(set(changes) - {"name", identity, secret})
        if foreign:
            raise Invalid(f"'{foreign[0]}' does not belong to {kind} credentials, which take "
                          f"'{identity}' and '{secret}'.", foreign[0])
        columns: dict[str, Any] = {"name": changes["name"]} if "name" in changes else {}
        if identity in changes:
            columns["client_id"] = changes[identity]
        if secret in changes:
            columns["client_secret"] = self.box.encrypt(changes[secret], _secret_binding(credentials_id, kind))
        if columns:
            columns["modified_at"] = now_text()

            def update(conn: sqlite3.Connection) -> None:
                if not q.update_credentials(conn, credentials_id, columns):
                    raise NotFound(f"There are no credentials with id '{credentials_id}'.")

            await self.store.write(update)
            for callback in self.on_credentials_changed:
                callback(credentials_id)
        return await self.get_credentials(credentials_id)

    async def credentials_secret(self, credentials_id: str) -> str:
        """The client secret or the account password, decrypted, for the cloud client."""
        found = await self.store.read(q.get_credentials_secret, credentials_id)
        if found is None:
            raise NotFound(f"There are no credentials with id '{credentials_id}'.")
        kind, blob = found
        return self.box.decrypt(blob, _secret_binding(credentials_id, kind))

    async def remove_credentials(self, credentials_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            row = q.get_credentials(conn, credentials_id)
            if row is None:
                raise NotFound(f"There are no credentials with id '{credentials_id}'.")
            if q.credentials_user(conn, credentials_id) is not None:
                raise Conflict(
                    f"Cannot delete the credentials with name '{row['name']}', since they are already being used."
                )
            q.delete_credentials(conn, credentials_id)

        await self.store.write(delete)
        for callback in self.on_credentials_changed:
            callback(credentials_id)

    # --- units -----------------------------------------------------------------------

    async def record_seen(self, brand: str, unit_id: str, remote_address: str) -> None:
        """A unit in no vehicle reached a listener: listed as available, at bounded cost."""
        await self.strangers.seen(brand, unit_id, remote_address)

    async def available_units(self, brand: Brand, after: str, limit: int) -> list[dict[str, Any]]:
        return await self.store.read(seen_units.available, brand.name, after, limit)


def adopt_key(conn: sqlite3.Connection, box: SecretBox, path: Path) -> None:
    """Make sure ``box`` holds the key this store's secrets are encrypted with (SecretsError
    if not): by the check value the store keeps, or, in a store from before there was one,
    by one of its secrets. Then the store keeps this key's check value. A gateway given
    another key must not write secrets that the stored ones' key cannot read."""
    check = q.get_meta(conn, SECRETS_CHECK)
    if check is not None:
        box.verify(check, path)
        return
    password = conn.execute("SELECT unit_brand, unit_id, password FROM vehicles WHERE password IS NOT NULL"
                            " LIMIT 1").fetchone()
    secret = conn.execute("SELECT id, kind, client_secret FROM credentials LIMIT 1").fetchone()
    try:
        if password is not None:
            box.decrypt(bytes(password[2]), _password_binding(password[0], password[1]))
        if secret is not None:
            box.decrypt(bytes(secret[2]), _secret_binding(secret[0], secret[1]))
    except SecretsError:
        raise wrong_key(path) from None
    q.set_meta(conn, SECRETS_CHECK, box.check_value())


def _password_binding(brand: str, unit_id: str) -> str:
    return f"unit-password:{brand}:{unit_id}"


def _secret_binding(credentials_id: str, kind: str) -> str:
    # Bound to the kind too: a client secret cannot be decrypted as an account password.
    return f"client-secret:{credentials_id}" if kind == "client" else f"{kind}-password:{credentials_id}"


# The API's field names of each kind of shared credentials: (identity, secret).
CREDENTIAL_FIELDS = {"client": ("client_id", "client_secret"), "account": ("account", "password")}


def credentials_kind(fields: dict[str, str]) -> str:
    """The kind whose pair ``fields`` holds; a half pair, both pairs or none is refused."""
    kinds = [kind for kind, pair in CREDENTIAL_FIELDS.items() if set(pair) & set(fields)]
    if len(kinds) != 1:
        choice = ("'client_id' and 'client_secret' (fleet client credentials) or 'account' and 'password' "
                  "(a NIU account)")
        raise Invalid(f"Give either {choice}, not both." if kinds else f"Credentials need {choice}.",
                      "client_id")
    for name in CREDENTIAL_FIELDS[kinds[0]]:
        if name not in fields:
            raise Invalid(f"The property '{name}' is required.", name)
    return kinds[0]


def vehicle_and_state(conn: sqlite3.Connection, vehicle_id: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The vehicle's row (None if there is none) and its state, in one query job: one thread hop."""
    row = q.get_vehicle(conn, vehicle_id)
    return row, telemetry.get_state(conn, vehicle_id) if row is not None else {}
