"""Real servers for the tests that need them, started privately on 127.0.0.1.

Each runs from a temporary directory on a free port and is stopped when the test session
ends. A server that is not installed skips its tests with the reason, except under CI
(FLEETGATE_CI set), where a missing server is a failure: .ci/run installs them all.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def missing(what: str) -> None:
    """Skip the test, or fail it under CI, when a server it needs is not installed."""
    if os.environ.get("FLEETGATE_CI"):
        pytest.fail(f"{what} is not installed; .ci/run installs it")
    pytest.skip(f"{what} is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster: data dir, port, and databases made from a template."""

    bin: Path
    root: Path
    port: int
    user: str  # the OS user the server runs as (postgres refuses to run as root)
    _names = itertools.count(1)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://fleetgate@127.0.0.1:{self.port}/{database}"

    def _as_server_user(self, *command: str) -> None:
        runner = [] if os.geteuid() != 0 else ["runuser", "-u", self.user, "--"]
        subprocess.run([*runner, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._as_server_user(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "fleetgate",
                             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c max_connections=400"
                   " -c fsync=on -c shared_buffers=64MB")
        self._as_server_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                             "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        try:
            self._as_server_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def new_database(self) -> str:
        """A fresh, empty database for one test; returns its URL."""
        name = f"fg{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)


def start_postgres() -> PostgresServer | None:
    if not POSTGRES_BIN or not (POSTGRES_BIN[0] / "initdb").exists():
        return None
    root = Path(tempfile.mkdtemp(prefix="fgpg", dir="/tmp"))
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        user = "postgres"
        shutil.chown(root, user)
    server = PostgresServer(POSTGRES_BIN[0], root, free_port(), user)
    server.start()
    return server
