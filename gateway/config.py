"""Configuration: a TOML file validated into pydantic models. Every key is optional."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.brands import BRANDS


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", validate_default=True)


class AdminConfig(_Section):
    socket: Path | None = None  # default: <data_dir>/admin.sock
    group: str = ""  # group owning the socket (mode 0660); "" keeps the gateway's group


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class StoreConfig(_Section):
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    busy_timeout: float = Field(5.0, gt=0)  # seconds a reader waits for a lock
    record_retention_days: float = Field(90, ge=0)  # records and raw frames; 0 keeps them forever
    event_retention_days: float = Field(90, ge=0)  # the event log; 0 keeps it forever


class SessionsConfig(_Section):
    login_timeout: float = Field(10, gt=0)  # seconds from accept to a valid login
    frame_timeout: float = Field(30, gt=0)  # seconds to complete a frame once it started
    idle_timeout: float = Field(600, gt=0)  # seconds without any byte from the unit
    # A record whose device time is further ahead than this is stored but does not
    # update state: a unit with a broken clock must not pin a property for days.
    max_clock_skew: float = Field(600, ge=0)
    # Units in no vehicle: at most this many are listed (the one seen longest ago makes
    # room), and at most this many UnitSeen events are logged per minute, fleet-wide, so
    # random ids cannot grow the database or the event log without bound.
    max_seen_units: int = Field(10_000, ge=1)
    unit_seen_events_per_minute: int = Field(60, ge=0)
    # Failed authentications from one source address within ten minutes before the
    # answers to that address are slowed too. Keep it high: a fleet behind a carrier NAT
    # shares one address, and the per-unit brake already slows each unit's guesses.
    address_auth_failures: int = Field(100, ge=0)
    # File descriptors unit connections never take, all listeners together: the admin
    # socket's clients, the cloud client and the store keep working when units (or a
    # flood of strangers) reach the open-file limit.
    fd_reserve: int = Field(256, ge=0)


class CommandsConfig(_Section):
    timeout: float = Field(20, gt=0)


class EventsConfig(_Section):
    heartbeat: float = Field(15, gt=0)  # seconds between keepalive comments on an idle event stream


class ListenerConfig(_Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(ge=0, le=65535)  # 0 = ephemeral; GET /health reports the bound port
    max_frame: int = Field(2048, ge=64, le=1 << 20)
    # Strangers' brakes (gateway/listeners.py): connections at once; of those, not yet
    # logged in (over it, the oldest of them is closed to make room); accepts per second,
    # in bursts of a tenth of a second's worth.
    max_connections: int = Field(50_000, ge=1)
    max_unauthenticated: int = Field(1_000, ge=1)
    accepts_per_second: float = Field(500, gt=0)

    def codec_options(self) -> dict:
        """Driver-specific codec arguments (besides max_frame)."""
        return {}


class Gt06ListenerConfig(ListenerConfig):
    # Offset of device times from UTC for units whose login carries no time zone (the
    # older GT06 firmware): minutes east of UTC.
    time_zone_minutes: int = Field(0, ge=-12 * 60, le=14 * 60)

    def codec_options(self) -> dict:
        return {"default_tz_minutes": self.time_zone_minutes}


class Jt808ListenerConfig(ListenerConfig):
    # JT/T 808 location times are local time; the standard means Beijing time (GMT+8).
    time_zone_hours: float = Field(8.0, ge=-12, le=14)

    def codec_options(self) -> dict:
        return {"device_tz_hours": self.time_zone_hours}


class NiuConfig(_Section):
    enabled: bool = True
    base_url: str = "http://127.0.0.1:8808"  # fleet API (client credentials); the bundled simulator's default
    # NIU account credentials sign in at the account host and read from the app-API host;
    # unset, each is base_url (the simulator serves both on one port).
    account_url: str | None = None
    app_url: str | None = None
    poll_interval: float = Field(30, gt=0)  # seconds between two polls of one scooter
    max_requests_per_second: float = Field(20, gt=0)  # polls started per second, fleet-wide
    max_concurrent_requests: int = Field(16, ge=1)
    request_timeout: float = Field(10, gt=0)

    @property
    def account_host(self) -> str:
        return self.account_url or self.base_url

    @property
    def app_host(self) -> str:
        return self.app_url or self.base_url


class DriversConfig(_Section):
    # Default ports are the brands' (drivers/brands.py), written down once.
    teltonika: ListenerConfig = ListenerConfig(port=BRANDS["TELTONIKA"].default_port)
    gt06: Gt06ListenerConfig = Gt06ListenerConfig(port=BRANDS["CONCOX"].default_port, max_frame=1024)
    jt808: Jt808ListenerConfig = Jt808ListenerConfig(port=BRANDS["JT808"].default_port)
    niu: NiuConfig = NiuConfig()


class Config(_Section):
    data_dir: Path = Path("fleetgate-data")
    admin: AdminConfig = AdminConfig()
    log: LogConfig = LogConfig()
    store: StoreConfig = StoreConfig()
    sessions: SessionsConfig = SessionsConfig()
    commands: CommandsConfig = CommandsConfig()
    events: EventsConfig = EventsConfig()
    drivers: DriversConfig = DriversConfig()

    @property
    def admin_socket(self) -> Path:
        return self.admin.socket if self.admin.socket is not None else self.data_dir / "admin.sock"

    def listener(self, driver: str) -> ListenerConfig | None:
        listener = getattr(self.drivers, driver, None)
        return listener if isinstance(listener, ListenerConfig) else None


class ConfigError(Exception):
    """One line an operator can act on: the file, the key and what is wrong with it."""


def load_config(path: Path | None = None, data_dir: Path | None = None) -> Config:
    raw: dict = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if data_dir is not None:
        raw["data_dir"] = str(data_dir)
    # Defaults are nested models; build the nested tables so a partial [drivers.gt06]
    # table keeps that driver's own default port.
    drivers = raw.get("drivers")
    if isinstance(drivers, dict):
        for name, default in DriversConfig().model_dump().items():
            table = drivers.get(name)
            if isinstance(table, dict):
                drivers[name] = {**default, **table}
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        where = f"{path}: " if path is not None else ""
        problem = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{where}{key}: {problem}") from None
