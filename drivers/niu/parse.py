"""NIU cloud answers -> typed values (mapping.py turns them into vehicle-state properties).

Pure functions, no I/O. Every field NIU sends comes in several shapes (numbers as ints,
floats or numeric strings, flags as 0/1, "0"/"1", booleans or "", the position under the
misspelt key ``postion`` or under ``position``); protocol_specs/niu/spec.md lists them and
protocol_specs/niu/vectors.json pins each one. An odd *field* becomes None (unknown); an
answer that is not an answer at all raises ``NiuProtocolError`` and nothing else.

What is assumed rather than observed lives in ``ASSUMED`` at the top of this module: the
one place to change when NIU's fleet API turns out to differ. The account flavour (NIU's
own app login, login.py) is observed throughout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from drivers.base import ProtocolError
from drivers.jt808.mapping import signal_quality  # NIU's gsm is the modem's CSQ too (spec.md §6)


class NiuProtocolError(ProtocolError):
    """The NIU cloud (or something pretending to be it) answered with an unusable body."""

    reason = "niu"


# --- the assumed part of the protocol (spec.md "Assumed") -------------------------------


@dataclass(frozen=True)
class NiuAssumptions:
    """Names we could not observe in any public client: the fleet token endpoint (the
    account flavour's is observed, login.py) and the command types and state fields for
    the top case, find-my-scooter and the battery compartment. Replace this one object
    (``NiuClient(..., assumptions=...)``) to adapt."""

    token_path: str = "/v5/oauth/token"
    # POST form: grant_type=client_credentials, client_id, client_secret
    # (or grant_type=refresh_token, refresh_token) -> data {token, token_expires_in, ...}
    client_credentials_grant: str = "client_credentials"
    refresh_grant: str = "refresh_token"
    find_command: str = "find_scooter"
    top_case_unlock_command: str = "top_case_unlock"
    top_case_lock_command: str = "top_case_lock"
    # The N1's battery sits under the seat, and the observed ``cushion_lock_on`` releases
    # the seat; that the compartment *is* the seat is the assumption.
    battery_compartment_command: str = "cushion_lock_on"
    top_case_lock_field: str = "topCaseLockStatus"  # 1 locked, 0 unlocked
    top_case_lid_field: str = "topCaseLidStatus"  # 1 open, 0 closed


ASSUMED = NiuAssumptions()

# --- observed status codes (spec.md "Envelope") ----------------------------------------

STATUS_OK = 0
STATUS_TOKEN_ERROR = 1131  # "Fail!TOKEN ERROR": log in again, retry once
STATUS_RATE_LIMITED = 20021  # seen on login


# --- scalar coercion -----------------------------------------------------------------


def number(value: Any) -> float | None:
    """A finite number from an int, float or numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # OverflowError: an int beyond a float's range
        return None
    return result if math.isfinite(result) else None


def flag(value: Any) -> bool | None:
    """NIU flags: True/False, 0/1, "0"/"1", "true"/"false"; "" means the model does not say."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def epoch_ms(value: Any) -> datetime | None:
    """UTC datetime from epoch milliseconds; None for 0, negatives and absurd values."""
    ms = number(value)
    if ms is None or ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


# --- the envelope ----------------------------------------------------------------------


def envelope(payload: Any) -> tuple[int, str, Any]:
    """(status, desc, data) of ``{"status", "desc", "trace", "data"}``. The status may come
    as a numeric string; a body without one is not a NIU answer."""
    if not isinstance(payload, Mapping):
        raise NiuProtocolError(f"expected a JSON object, got {type(payload).__name__}")
    status = number(payload.get("status"))
    if status is None or status != int(status):
        raise NiuProtocolError("the answer has no numeric status")
    desc = payload.get("desc")
    return int(status), desc if isinstance(desc, str) else "", payload.get("data")


def _ok_data(payload: Any) -> Any:
    status, desc, data = envelope(payload)
    if status != STATUS_OK:
        raise NiuProtocolError(f"status {status}: {desc}")
    return data


# --- the scooter list ----------------------------------------------------------------


@dataclass(frozen=True)
class ScooterListing:
    sn: str
    name: str | None = None
    sku: str | None = None
    product_type: str | None = None
    vin: str | None = None


def parse_scooter_list(payload: Any) -> list[ScooterListing]:
    """GET /v5/scooter/list: ``data.items``; POST /motoinfo/list: ``data`` a bare array
    (both observed); also ``data.list`` or a bare array as the whole body.

    Entries without a serial are skipped rather than failing the whole list: one odd
    entry must not hide a fleet's other scooters. Serials are upper-cased, the way the
    gateway writes unit ids everywhere.
    """
    data = payload if isinstance(payload, list) else _ok_data(payload)
    if isinstance(data, Mapping):
        for key in ("items", "list"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise NiuProtocolError("the scooter list holds no items")
    scooters: list[ScooterListing] = []
    seen: set[str] = set()
    for item in data:
        if not isinstance(item, Mapping):
            continue
        sn = _text(item.get("sn_id")) or _text(item.get("sn"))
        if sn is None or sn.upper() in seen:
            continue
        seen.add(sn.upper())
        scooters.append(
            ScooterListing(
                sn=sn.upper(),
                name=_text(item.get("scooter_name")) or _text(item.get("name")),
                sku=_text(item.get("sku_name")),
                product_type=_text(item.get("product_type")),
                vin=_text(item.get("carframe_id")) or _text(item.get("frameNo")),
            )
        )
    return scooters


# --- the scooter's state -------------------------------------------------------------


@dataclass(frozen=True)
class NiuState:
    """One index_info answer. None means the answer did not say."""

    connected: bool
    acc_on: bool | None = None
    fortified: bool | None = None
    locked: bool | None = None  # lockStatus != 0; its meaning is not settled (spec.md)
    cushion_lock_on: bool | None = None  # is_cushion_lock_on: the seat latch was released
    top_case_locked: bool | None = None  # assumed field
    top_case_open: bool | None = None  # assumed field
    charge_percent: float | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    estimated_range_km: float | None = None
    mileage_km: float | None = None
    charging: bool | None = None
    time: datetime | None = None  # newest of time / gpsTimestamp / infoTimestamp
    gps_time: datetime | None = None
    signal_quality: int | None = None  # 0-5 from gsm
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


_STATE_KEYS = frozenset(
    {"isConnected", "ss_online_sta", "isAccOn", "isFortificationOn", "lockStatus", "batteries",
     "postion", "position", "nowSpeed", "estimatedMileage", "isCharging", "time", "gpsTimestamp",
     "infoTimestamp", "is_cushion_lock_on", "gsm"}
)


def _charge(batteries: Any) -> float | None:
    """Mean state of charge of the compartments that report one and are not unplugged."""
    if not isinstance(batteries, Mapping):
        return None
    levels = []
    for name in sorted(batteries, key=str):
        pack = batteries[name]
        if not (isinstance(name, str) and name.startswith("compartment") and isinstance(pack, Mapping)):
            continue
        if flag(pack.get("isConnected")) is False:
            continue
        level = number(pack.get("batteryCharging"))
        if level is not None and 0 <= level <= 100:
            levels.append(level)
    return sum(levels) / len(levels) if levels else None


def _coordinates(data: Mapping[str, Any]) -> tuple[float | None, float | None]:
    spot = data.get("postion")  # sic: the spelling the cloud uses
    if not isinstance(spot, Mapping):
        spot = data.get("position")
    if not isinstance(spot, Mapping):
        return None, None
    lat = number(spot.get("lat"))
    lon = number(spot.get("lng"))
    if lon is None:
        lon = number(spot.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def _non_negative(value: Any) -> float | None:
    result = number(value)
    return result if result is not None and result >= 0 else None


def parse_state(payload: Any, assumptions: NiuAssumptions = ASSUMED, mileage: float | None = None) -> NiuState:
    """GET /v5/scooter/motor_data/index_info?sn=... (or /v3/motor_data/index_info) ->
    NiuState. ``mileage`` (from overallTally) joins the answer as ``totalMileage``, so the
    raw data kept with the record says everything the state was made of."""
    data = _ok_data(payload)
    if not isinstance(data, Mapping) or not _STATE_KEYS.intersection(data):
        raise NiuProtocolError("the answer holds no scooter state")
    if mileage is not None:
        data = {**data, "totalMileage": mileage}
    connected = flag(data.get("isConnected"))
    if connected is None:
        connected = flag(data.get("ss_online_sta"))
    lock_status = number(data.get("lockStatus"))
    lat, lon = _coordinates(data)
    times = [t for t in (epoch_ms(data.get(k)) for k in ("time", "gpsTimestamp", "infoTimestamp")) if t]
    top_lock = flag(data.get(assumptions.top_case_lock_field))
    top_lid = flag(data.get(assumptions.top_case_lid_field))
    gsm = number(data.get("gsm"))
    return NiuState(
        connected=bool(connected),
        acc_on=flag(data.get("isAccOn")),
        fortified=flag(data.get("isFortificationOn")),
        locked=None if lock_status is None else lock_status != 0,
        cushion_lock_on=flag(data.get("is_cushion_lock_on")),
        top_case_locked=top_lock,
        top_case_open=top_lid,
        charge_percent=_charge(data.get("batteries")),
        lat=lat,
        lon=lon,
        speed_kmh=_non_negative(data.get("nowSpeed")),
        estimated_range_km=_non_negative(data.get("estimatedMileage")),
        mileage_km=_non_negative(data.get("totalMileage")),
        charging=flag(data.get("isCharging")),
        time=max(times) if times else None,
        gps_time=epoch_ms(data.get("gpsTimestamp")),
        signal_quality=signal_quality(int(gsm)) if gsm is not None and gsm == int(gsm) else None,
        raw=dict(data),
    )


def parse_mileage(payload: Any) -> float | None:
    """POST /motoinfo/overallTally -> ``data.totalMileage``, the odometer in km (None when
    the answer has none)."""
    data = _ok_data(payload)
    if not isinstance(data, Mapping):
        raise NiuProtocolError("the overall tally holds no data")
    return _non_negative(data.get("totalMileage"))


# --- tokens (the endpoint is assumed; the field names and epoch semantics are observed) ---


@dataclass(frozen=True)
class TokenGrant:
    token: str = field(repr=False)
    expires: float | None = None  # as sent: epoch seconds (observed) or a duration
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires: float | None = None


def parse_token(payload: Any) -> TokenGrant:
    """``data {token, token_expires_in, refresh_token, refresh_token_expires_in}``; also the
    app login's shape, where ``data.token`` is an object holding ``access_token``."""
    data = _ok_data(payload)
    if not isinstance(data, Mapping):
        raise NiuProtocolError("the token answer holds no data")
    inner = data.get("token")
    holder: Mapping[str, Any] = data
    if isinstance(inner, Mapping):
        holder, inner = inner, inner.get("access_token")
    token = _text(inner)
    if token is None:
        raise NiuProtocolError("the token answer holds no token")
    return TokenGrant(
        token=token,
        expires=number(holder.get("token_expires_in")),
        refresh_token=_text(holder.get("refresh_token")),
        refresh_expires=number(holder.get("refresh_token_expires_in")),
    )


STATE_FIELDS = tuple(f.name for f in fields(NiuState) if f.name != "raw")

__all__ = [
    "ASSUMED",
    "STATE_FIELDS",
    "STATUS_OK",
    "STATUS_RATE_LIMITED",
    "STATUS_TOKEN_ERROR",
    "NiuAssumptions",
    "NiuProtocolError",
    "NiuState",
    "ScooterListing",
    "TokenGrant",
    "envelope",
    "epoch_ms",
    "flag",
    "number",
    "parse_mileage",
    "parse_scooter_list",
    "parse_state",
    "parse_token",
]
