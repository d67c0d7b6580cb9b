"""Real servers the tests start for themselves, privately on 127.0.0.1: a PostgreSQL server
and a RabbitMQ broker.

Each runs from a temporary directory on free ports and is stopped when the test session
ends. A server that is not installed skips its tests with the reason, except under CI
(FLEETGATE_CI set), where a missing server is a failure: .ci/run installs them all.

RabbitMQ: Debian's rabbitmq-server, started from its own scripts as the current user (the
/usr/sbin wrapper would switch to the rabbitmq user and its home) with everything in a
temporary directory: node name, ports, database, logs, Erlang cookie and its own epmd on
a private port, so it meets neither a system broker nor another test run.
"""

from __future__ import annotations

import itertools
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pika
import pika.exceptions
import pytest

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT = 60  # seconds; a cold start takes a few on two cores


def missing(why: str) -> None:
    """Skip the test, or fail it under CI, when a server it needs is not installed."""
    if os.environ.get("FLEETGATE_CI"):
        pytest.fail(f"{why}; FLEETGATE_CI is set, so this is a failure (.ci/run installs it)")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_to_come_back_to() -> int:
    """A free port below the kernel's ephemeral range (32768 and up), for a server that is
    killed and started again on it. A port from free_port() is itself ephemeral: while the
    server was down, any connection the suite opened could take it as its local port (seen:
    a restarted RabbitMQ could not listen again)."""
    while True:
        port = random.randrange(20000, 32768)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


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
        """Stop the server and remove its files: each run's cluster is ~2 GB once the suite has filled it."""
        try:
            self._as_server_user(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

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


def rabbitmq_missing() -> str | None:
    """Why no broker can be started here, or None."""
    if not (RABBITMQ_SCRIPTS / "rabbitmq-server").exists() or shutil.which("epmd") is None:
        return "Debian's rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    return None


class RabbitMQ:
    """One broker node in ``base``; start() again after kill() finds its queues and messages."""

    def __init__(self, base: Path):
        self.base = base
        self.port = port_to_come_back_to()  # kill() and start() again in the tests
        self.node = f"fg-test-{os.getpid()}@localhost"
        epmd_port = free_port()
        home = base / "home"  # the Erlang cookie lives here
        home.mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(
            "listeners.tcp.default = 127.0.0.1:%d\ndisk_free_limit.absolute = 10MB\n" % self.port)
        (base / "enabled_plugins").write_text("[].\n")  # no management plugin: nothing else listens
        (base / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
        self.env = {
            **os.environ,
            "HOME": str(home),
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(base / "broker.pid"),
        }
        # Our own epmd, in the foreground: one the node started itself would outlive the tests.
        self._epmd = subprocess.Popen(["epmd", "-port", str(epmd_port)], env=self.env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._server: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        """Start the node, unless it runs, and return once it accepts AMQP connections."""
        if self._server is not None and self._server.poll() is None:
            return
        (self.base / "broker.pid").unlink(missing_ok=True)
        with open(self.base / "server.out", "ab") as out:
            self._server = subprocess.Popen([str(RABBITMQ_SCRIPTS / "rabbitmq-server")], env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._server.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self._server.returncode}; see {self.base}/server.out")
            try:
                self.connect().close()
                return
            except pika.exceptions.AMQPConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rabbitmq-server did not accept AMQP within {START_TIMEOUT} s") from None
                time.sleep(0.2)

    def connect(self) -> pika.BlockingConnection:
        return pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1&socket_timeout=5"))

    def kill(self) -> None:
        """SIGKILL the Erlang VM: a crash, with no chance to flush or say goodbye."""
        pid = int((self.base / "broker.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        self._server.wait(timeout=30)  # the script exits with its VM
        # epmd notices the dead node by itself; a new node under its name must wait for that.
        deadline = time.monotonic() + START_TIMEOUT
        while f"name {self.node.partition('@')[0]} at port" in self._registered() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _registered(self) -> str:
        return subprocess.run(["epmd", "-port", self.env["ERL_EPMD_PORT"], "-names"], env=self.env,
                              capture_output=True, text=True, check=False).stdout

    def stop(self) -> None:
        if self._server is not None and self._server.poll() is None:
            self._server.terminate()  # the script stops the node gracefully
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._epmd.kill()
        self._epmd.wait()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory):
    """A private RabbitMQ broker for the test session; skipped where Debian's rabbitmq-server
    is not installed, a failure instead when FLEETGATE_CI is set."""
    why = rabbitmq_missing()
    if why:
        missing(why)
    broker = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


HAPROXY = Path("/usr/sbin/haproxy")


class HAProxy:
    """A private HAProxy (Debian's package) in the foreground, with an admin socket to ask
    what its health checks found."""

    def __init__(self, root: Path, config: str):
        self.root = root
        self.stats = root / "haproxy.sock"
        (root / "haproxy.cfg").write_text(
            f"global\n    stats socket {self.stats} mode 600 level admin\n{config}")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([str(HAPROXY), "-db", "-f", str(self.root / "haproxy.cfg")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def servers(self) -> dict[tuple[str, str], dict[str, str]]:
        """`show stat` by (proxy, server): status, check_status and the rest; nothing yet
        while HAProxy starts."""
        if self.process.poll() is not None:
            raise AssertionError(f"haproxy exited with {self.process.returncode}: {self.process.stderr.read()}")
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            try:
                sock.connect(str(self.stats))
            except (FileNotFoundError, ConnectionRefusedError):
                return {}
            sock.sendall(b"show stat\n")
            text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
        header, *rows = [line for line in text.splitlines() if line]
        names = header.lstrip("# ").split(",")
        found = [dict(zip(names, row.split(","))) for row in rows]
        return {(row["pxname"], row["svname"]): row for row in found}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
