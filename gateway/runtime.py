"""The running gateway's shared parts, handed to listeners, sessions and admin routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.config import Config
from gateway.events import EventBus
from gateway.metrics import Metrics
from gateway.registry import Registry
from gateway.store import Store

if TYPE_CHECKING:
    from gateway.amqp import EventPublisher
    from gateway.api_clients import ApiClients
    from gateway.cloud import CloudFleet
    from gateway.cluster.node import ClusterNode
    from gateway.commands import Commands
    from gateway.session_table import SessionTable


@dataclass
class Runtime:
    config: Config
    store: Store
    registry: Registry
    metrics: Metrics
    version: str
    sessions: SessionTable = None  # type: ignore[assignment]  # set by the composition root
    node: ClusterNode = None  # type: ignore[assignment]  # this gateway as a node of its cluster (of one on SQLite)
    commands: Commands = None  # type: ignore[assignment]
    cloud: CloudFleet | None = None  # None when the NIU driver is disabled
    api_clients: ApiClients = None  # type: ignore[assignment]
    amqp: EventPublisher | None = None  # None unless [events.amqp] url is set
    door: dict[str, Any] | None = None  # the HTTPS door's bound address, when it is open
    health_port: int | None = None  # [cluster] health_listen's bound port, when it is set
    listeners: list[dict[str, Any]] = field(default_factory=list)  # filled as listeners bind
    events: EventBus = field(default_factory=EventBus)
