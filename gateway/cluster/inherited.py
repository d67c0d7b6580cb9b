"""What a worker of `fleetgate serve --workers N` is handed by its supervisor
(gateway/cluster/supervisor.py): listening sockets and a lifeline.

The supervisor binds every listening socket once. A worker inherits their file
descriptors and learns which is which from one argument, ``admin=5 teltonika=6,7 ...``
(a listener has one socket per address it listens on). Beside them it inherits its
lifeline, one end of a socket pair whose other end the supervisor keeps. On it the
supervisor sends the config it bound the sockets by, so that a worker started again
after the config file changed still matches its sockets (and the file's secrets travel
nowhere else); the worker answers once it serves; and the worker takes the end of the
pair for its supervisor's death.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import trio
from pydantic import ValidationError

from gateway.config import Config, ConfigError

ADMIN, DOOR, HEALTH, LIFELINE = "admin", "door", "health", "lifeline"  # beside the unit listeners' driver names
SERVING = b"serving\n"  # a worker's one message to its supervisor
MAX_CONFIG = 1 << 20  # bytes


@dataclass(frozen=True)
class Inherited:
    """File descriptors by name: the unit listeners by driver name, then ADMIN, DOOR,
    HEALTH and LIFELINE."""

    fds: dict[str, list[int]]

    def describe(self) -> str:
        return " ".join(f"{name}={','.join(map(str, fds))}" for name, fds in self.fds.items())

    @classmethod
    def parse(cls, text: str) -> Inherited:
        fds = {}
        for item in text.split():
            name, _, numbers = item.partition("=")
            fds[name] = [int(number) for number in numbers.split(",")]
        return cls(fds)

    def all(self) -> list[int]:
        return [fd for fds in self.fds.values() for fd in fds]

    def socket(self, name: str) -> socket.socket | None:
        """The one socket named ``name`` (each is taken once: the object owns its descriptor)."""
        fds = self.fds.get(name)
        return socket.socket(fileno=fds[0]) if fds else None

    def listeners(self, name: str) -> list[trio.SocketListener]:
        return [trio.SocketListener(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))
                for fd in self.fds.get(name, [])]


async def send_config(lifeline: trio.SocketStream, config: Config) -> None:
    await lifeline.send_all(config.model_dump_json().encode() + b"\n")


def receive_config(lifeline: socket.socket) -> Config:
    """The supervisor's config, read (blocking) before the worker starts."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = lifeline.recv(65536)
        if not chunk or len(data) > MAX_CONFIG:
            raise ConfigError("the supervisor sent no config: it stopped before this worker started")
        data += chunk
    try:
        return Config.model_validate_json(data)
    except ValidationError as exc:  # a worker of a newer fleetgate, installed since the supervisor started
        raise ConfigError(f"the supervisor's config does not fit this worker ({exc.errors()[0]['msg']}): "
                          "restart fleetgate serve") from None
