"""Configuration: a TOML file validated into pydantic models. Every key is optional."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from drivers.brands import BRANDS
from gateway.secrets import KEY_FILE


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", validate_default=True)


class AdminConfig(_Section):
    socket: Path | None = Field(
        None, examples=["/run/fleetgate/admin.sock"],
        description="The admin API's Unix socket (mode 0660); unset, <data_dir>/admin.sock. Keep the path under "
                    "100 bytes (the kernel's limit is 108).")
    group: str = Field("", description='Group owning the socket: its members may use the API. "" keeps the '
                                       "gateway's own group.")
    max_body: int = Field(1 << 20, ge=1024, description="Largest request body, bytes; a larger one is refused "
                                                        "at once (413).")
    body_timeout: float = Field(10, gt=0, description="Seconds to receive a request's whole body, else 408.")


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Least severe level logged.")
    format: Literal["text", "json"] = Field("text", description="json: one object per line on stderr.")


class StoreConfig(_Section):
    url: str = Field("", pattern=r"^(|postgres(ql)?://.*)$",
                     description='"postgresql://user:password@host/db" keeps the store in that PostgreSQL database: '
                                 'every gateway on it is a node of one cluster; "" keeps the embedded SQLite file in data_dir.')
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="FULL: an acknowledged record survives a power loss. NORMAL: fewer flushes; a power "
                            "loss may undo the last commits.")
    busy_timeout: float = Field(5.0, gt=0, description="Seconds a reader waits for a lock.")
    commit_interval: float = Field(
        0.02, ge=0, le=1,
        description="Seconds between the starts of two commits of unit records, unless the second has a full batch. "
                    "Each commit then serves many packets: less CPU and fewer flushes per packet, for an "
                    "acknowledgement up to this much later. 0 commits as soon as a packet waits. Commands and API "
                    "writes never wait for it.")
    record_retention_days: float = Field(90, ge=0, description="Days records and their raw frames are kept; 0 "
                                                               "keeps them forever.")
    event_retention_days: float = Field(90, ge=0, description="Days the event log is kept; 0 keeps it forever.")


class SecretsConfig(_Section):
    key_file: Path | None = Field(
        None, examples=["/etc/fleetgate/secrets.key"],
        description="The key that encrypts unit passwords and client secrets (32 bytes, mode 0600), created on "
                    "first start; unset, <data_dir>/secrets.key. Every node of a cluster needs the same key: a "
                    "gateway whose key did not write the store's secrets refuses to start.")


class ClusterConfig(_Section):
    health_listen: str = Field(
        "", pattern=r"^(|.+:\d{1,5})$", examples=["0.0.0.0:8081"],
        description='"host:port" answers GET /health there without authentication, for a load balancer\'s health '
                    'checks: 200, or 503 while the store cannot commit, and nothing else. "" serves none.')
    lease: float = Field(
        10, ge=1, le=300,
        description="Seconds a node counts as alive after it last renewed its lease (it renews every fifth of "
                    "that). A node silent for longer is taken for dead: the others release its units' sessions "
                    "and poll its NIU scooters.")
    workers: int = Field(
        1, ge=1, le=256,
        description="Processes `fleetgate serve` runs (`serve --workers N` overrides it): more than 1 takes more "
                    "than one core and needs the PostgreSQL store ([store] url). A supervisor then holds the data "
                    "dir, binds the listeners and the admin socket once and starts that many workers, each a node "
                    "of the cluster, which accept on them; it starts a worker that dies again.")

    @property
    def health_address(self) -> tuple[str, int] | None:
        if not self.health_listen:
            return None
        host, _, port = self.health_listen.rpartition(":")
        return host.strip("[]"), int(port)


class SessionsConfig(_Section):
    login_timeout: float = Field(10, gt=0, description="Seconds from a unit's connection to a valid login.")
    frame_timeout: float = Field(30, gt=0, description="Seconds to complete a frame once it started.")
    idle_timeout: float = Field(600, gt=0, description="Seconds without a byte from a unit before its "
                                                       "connection is closed.")
    max_clock_skew: float = Field(
        600, ge=0, description="Seconds a device time may be ahead: a record further ahead is stored but does not "
                               "update state, so that a unit with a broken clock cannot pin a property for days.")
    max_seen_units: int = Field(
        10_000, ge=1, description="Units in no vehicle kept listed; the one seen longest ago makes room for a new "
                                  "one, so random ids cannot grow the database without bound.")
    unit_seen_events_per_minute: int = Field(
        60, ge=0, description="UnitSeen events logged in any minute, fleet-wide, so random ids cannot flood the "
                              "event log.")
    address_auth_failures: int = Field(
        100, ge=0, description="Failed logins from one source address within ten minutes before that address is "
                               "slowed too. Keep it high: a fleet behind a carrier NAT shares one address, and the "
                               "per-unit brake already slows each unit's guesses.")
    fd_reserve: int = Field(
        256, ge=0, description="File descriptors unit connections never take, all listeners together: the admin "
                               "API, the cloud client and the store keep working when strangers hold every "
                               "connection they may.")


class CommandsConfig(_Section):
    timeout: float = Field(20, gt=0, description="Seconds to wait for a unit's answer to a command, else 504.")


class AmqpConfig(_Section):
    url: str = Field("", description='"amqp://user:password@host:5672/vhost" publishes the event log to RabbitMQ; '
                                     '"" keeps it off.')
    exchange: str = Field("fleetgate.events", min_length=1, max_length=255,
                          description="The durable topic exchange events are published to; the routing key is the "
                                      "event type.")
    queue: str = Field("", max_length=255,
                       description="A durable queue the gateway declares (unless it exists) and binds to every event "
                                   "type (#) each time it connects, and publishes to as mandatory: an event that "
                                   "reaches no queue is kept and sent again. \"\" leaves queues and bindings to the "
                                   "consumers, and RabbitMQ drops what no queue takes.")

    @field_validator("url")
    @classmethod
    def _amqp_url(cls, value: str) -> str:
        # The message never repeats the URL: it may hold a password.
        if value and not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must be an amqp:// or amqps:// URL")
        if value:
            from pika import URLParameters  # only a gateway that publishes needs pika loaded

            try:
                URLParameters(value)
            except ValueError as exc:  # a port or a query parameter pika cannot read
                raise ValueError(f"is not a URL pika can use: {str(exc).split(':')[0]}") from None
        return value


class EventsConfig(_Section):
    heartbeat: float = Field(15, gt=0, description="Seconds between keepalive comments on an idle event stream.")
    amqp: AmqpConfig = Field(AmqpConfig(), description="Every event of the event log published to RabbitMQ.")


class ApiConfig(_Section):
    """The HTTPS door: the admin API for booking software on other machines."""

    listen: str = Field("", description='"host:port" opens the HTTPS door for booking software on other '
                                        'machines; "" keeps it closed.')
    tls_cert: Path | None = Field(None, examples=["/etc/fleetgate/door.crt"],
                                  description="PEM certificate chain of the door.")
    tls_key: Path | None = Field(None, examples=["/etc/fleetgate/door.key"], description="PEM private key of the door.")
    token_lifetime: int = Field(900, ge=1, le=86_400, description="Seconds a bearer token is valid.")
    allow_plain_http: bool = Field(False, description="Without tls_cert and tls_key, plain HTTP on a loopback "
                                                      "address only (for a TLS-terminating proxy on the host).")

    @field_validator("tls_cert", "tls_key", mode="before")
    @classmethod
    def _unset_when_empty(cls, value):
        return None if value == "" else value  # `tls_cert = ""` as API.md writes the default, not Path(".")

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        if value:
            host_and_port(value)
        return value

    @property
    def address(self) -> tuple[str, int]:
        return host_and_port(self.listen)


def host_and_port(value: str) -> tuple[str, int]:
    """``host:port`` (an IPv6 host in brackets) as (host, port); ValueError otherwise."""
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"'{value}' is not host:port")
    return host, int(port)


class ListenerConfig(_Section):
    enabled: bool = Field(True, description="Listen for this protocol's units.")
    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(ge=0, le=65535, description="TCP port; 0 takes a free one (GET /health reports the bound "
                                                  "port).")
    max_frame: int = Field(2048, ge=64, le=1 << 20, description="Largest frame, bytes: a unit announcing a "
                                                                "longer one is disconnected.")
    max_connections: int = Field(50_000, ge=1, description="Connections at once on this listener.")
    max_unauthenticated: int = Field(
        1_000, ge=1, description="Connections that have not sent their login yet; over it, the oldest of them is closed "
                                 "to make room.")
    accepts_per_second: float = Field(
        500, gt=0, description="New connections accepted per second, in bursts of a tenth of a second's worth; size "
                               "it to let the whole fleet back in after a restart.")
    proxy_protocol: bool = Field(
        False, description="Every connection starts with a PROXY protocol header (version 1 or 2), as a TCP load "
                           "balancer sends it: the unit's address is read from it; a connection without one is "
                           "closed. Off, such a header is a bad frame.")
    proxy_protocol_from: list[str] = Field(
        default_factory=list, examples=[["10.0.0.5", "10.0.1.0/24"]],
        description="The balancers' addresses or networks: a PROXY header from any other peer is not believed and "
                    "its connection is closed. Empty, any peer's header is believed: only where nothing but the "
                    "balancer can reach this port.")

    @field_validator("proxy_protocol_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or network") from None
        return value

    def trusts_proxy(self, peer: str) -> bool:
        """Whether a PROXY header from ``peer`` (an IP address) is believed."""
        if not self.proxy_protocol_from:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(n, strict=False) for n in self.proxy_protocol_from)

    def codec_options(self) -> dict:
        """Driver-specific codec arguments (besides max_frame)."""
        return {}


class Gt06ListenerConfig(ListenerConfig):
    time_zone_minutes: int = Field(
        0, ge=-12 * 60, le=14 * 60,
        description="Minutes east of UTC of the device times of units whose login carries no time zone (older "
                    "GT06 firmware).")

    def codec_options(self) -> dict:
        return {"default_tz_minutes": self.time_zone_minutes}


class Jt808ListenerConfig(ListenerConfig):
    time_zone_hours: float = Field(
        8.0, ge=-12, le=14,
        description="Hours east of UTC of device times: JT/T 808 location times are local, and the standard "
                    "means Beijing time (8).")

    def codec_options(self) -> dict:
        return {"device_tz_hours": self.time_zone_hours}


class NiuConfig(_Section):
    enabled: bool = Field(True, description="Talk to NIU's cloud. false: NIU vehicles are accepted when their "
                                            "credentials exist, and nothing talks to the cloud.")
    base_url: str = Field("http://127.0.0.1:8808", description="The fleet API (client credentials). The default "
                                                               "is the bundled simulator's address.")
    # NIU account credentials sign in at the account host and read from the app-API host;
    # unset, each is base_url (the simulator serves both on one port).
    account_url: str | None = Field(
        None, examples=["https://account-fk.niu.com"],
        description="NIU's account host, where NIU accounts sign in (account.niu.com in China); unset, base_url.")
    app_url: str | None = Field(
        None, examples=["https://app-api-fk.niu.com"],
        description="NIU's app-API host, where account scooters are read and commanded (app-api.niu.com in "
                    "China); unset, base_url.")
    poll_interval: float = Field(30, gt=0, description="Seconds between two polls of one scooter.")
    max_requests_per_second: float = Field(20, gt=0, description="Polls started per second, fleet-wide.")
    max_concurrent_requests: int = Field(16, ge=1, description="Requests to the cloud at once, fleet-wide.")
    request_timeout: float = Field(10, gt=0, description="Seconds to wait for the cloud's answer.")

    @property
    def account_host(self) -> str:
        return self.account_url or self.base_url

    @property
    def app_host(self) -> str:
        return self.app_url or self.base_url


class DriversConfig(_Section):
    # Default ports are the brands' (drivers/brands.py), written down once.
    teltonika: ListenerConfig = Field(ListenerConfig(port=BRANDS["TELTONIKA"].default_port),
                                      description="Teltonika units (brand TELTONIKA).")
    gt06: Gt06ListenerConfig = Field(Gt06ListenerConfig(port=BRANDS["CONCOX"].default_port, max_frame=1024),
                                     description="Concox GT06 units (brand CONCOX).")
    jt808: Jt808ListenerConfig = Field(Jt808ListenerConfig(port=BRANDS["JT808"].default_port),
                                       description="JT/T 808 terminals (brand JT808).")
    niu: NiuConfig = Field(NiuConfig(), description="NIU scooters, through NIU's cloud (brand NIU).")


class Config(_Section):
    data_dir: Path = Field(Path("fleetgate-data"), description="The database and, by default, the key that "
                                                               "encrypts secrets and the admin socket.")
    admin: AdminConfig = Field(AdminConfig(), description="The admin API, on a Unix socket.")
    log: LogConfig = Field(LogConfig(), description="Logs go to stderr.")
    store: StoreConfig = Field(StoreConfig(), description="The SQLite database in data_dir.")
    secrets: SecretsConfig = Field(SecretsConfig(), description="Encryption at rest of passwords and secrets.")
    cluster: ClusterConfig = Field(ClusterConfig(), description="Nodes of a cluster: behind a load balancer, or "
                                                                "workers on one machine.")
    sessions: SessionsConfig = Field(SessionsConfig(), description="Units' TCP connections.")
    commands: CommandsConfig = Field(CommandsConfig(), description="Commands to units.")
    events: EventsConfig = Field(EventsConfig(), description="The live event stream (GET /events).")
    api: ApiConfig = Field(ApiConfig(), description="The HTTPS door with OAuth2 client credentials (off by default).")
    drivers: DriversConfig = Field(DriversConfig(), description="One table per driver, named by protocol.")

    @property
    def admin_socket(self) -> Path:
        return self.admin.socket if self.admin.socket is not None else self.data_dir / "admin.sock"

    @property
    def secrets_key(self) -> Path:
        return self.secrets.key_file if self.secrets.key_file is not None else self.data_dir / KEY_FILE

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
