"""Fixtures that run the real gateway: real SQLite file, real admin Unix socket."""

from __future__ import annotations

import inspect
import math
import shutil
import tempfile
import threading
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import settings
from trio.testing import MockClock

from gateway.app import run_gateway
from gateway.config import load_config
from tests.servers import missing, start_postgres

TEST_TIMEOUT = 30  # seconds any single I/O test may take

# No per-example deadline: hypothesis's 200 ms default measures the machine's load, not
# the code (a busy CI host made fast examples fail it). Speed is the benchmarks' business.
settings.register_profile("fleetgate", deadline=None)
settings.load_profile("fleetgate")


def gateway_config_toml(data_dir: Path, socket: Path, extra: str = "", admin: str = "", store_url: str = "") -> str:
    """Listeners on 127.0.0.1 with ephemeral ports: tests never collide on a port. The NIU
    cloud driver is off unless a test brings its cloud simulator (then NIU vehicles need
    only existing credentials, as API.md says for a gateway without the cloud driver).
    ``store_url``: a PostgreSQL database instead of the SQLite file."""
    if "[drivers.niu]" not in extra:
        extra = "[drivers.niu]\nenabled = false\n" + extra
    if store_url:
        url = f'url = "{store_url}"\n'
        extra = extra.replace("[store]\n", "[store]\n" + url, 1) if "[store]\n" in extra else f"[store]\n{url}{extra}"
    listeners = ""
    for name in ("teltonika", "gt06", "jt808"):
        table, local = f"[drivers.{name}]\n", 'host = "127.0.0.1"\nport = 0\n'
        if table in extra:  # a table may be declared once: the test's own gets the defaults
            extra = extra.replace(table, table + local)
        else:
            listeners += table + local
    return f'data_dir = "{data_dir}"\n[admin]\nsocket = "{socket}"\n{admin}' + listeners + extra


@pytest.fixture
def short_dir():
    # Unix socket paths must stay under ~100 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="fg", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def certificates(tmp_path):
    """A CA and a certificate for 127.0.0.1 signed by it (tests/tls.py)."""
    from tests.tls import make_certificates

    return make_certificates(tmp_path)


@pytest.fixture
def extra_config() -> str:
    """TOML appended to the test gateway's config; a test module overrides this fixture."""
    return ""


@pytest.fixture
def admin_config() -> str:
    """TOML lines added to the test gateway's [admin] table; a test module overrides this fixture."""
    return ""


# Every test that runs a gateway runs once on each store engine (issue 18: the suite passes
# on SQLite and on PostgreSQL). A test about SQLite's own files is marked sqlite_only.
STORE_BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite's own files; no PostgreSQL run")
    config.addinivalue_line("markers", "postgresql_only: the test is about the PostgreSQL server; no SQLite run")


def pytest_generate_tests(metafunc):
    if "store_backend" in metafunc.fixturenames:
        marked = metafunc.definition.get_closest_marker
        backends = ["sqlite"] if marked("sqlite_only") else ["postgresql"] if marked("postgresql_only") else None
        metafunc.parametrize("store_backend", backends or list(STORE_BACKENDS))


@pytest.fixture(scope="session")
def postgres_server():
    """One private PostgreSQL server for the whole session, started on first use."""
    server = start_postgres()
    yield server
    if server is not None:
        server.stop()


@pytest.fixture
def store_url(request, store_backend) -> str:
    """"" for SQLite in the data dir, else the URL of a fresh PostgreSQL database."""
    if store_backend == "sqlite":
        return ""
    server = request.getfixturevalue("postgres_server")
    if server is None:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    return server.new_database()


@pytest.fixture
def store_files(request, store_backend):
    """An async function giving the files the test gateway's store keeps its data in, for
    tests that look for plaintext: SQLite's database and WAL, or this test's PostgreSQL
    database and the server's WAL after a checkpoint."""

    async def files(runtime) -> list[Path]:
        if store_backend == "sqlite":
            return sorted(runtime.config.data_dir.glob("fleetgate.db*"))
        server = request.getfixturevalue("postgres_server")
        oid = await runtime.store.read(lambda conn: conn.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0])
        await trio.to_thread.run_sync(server.sql, "CHECKPOINT")
        folders = [server.data / "base" / str(oid), server.data / "pg_wal"]
        return sorted(path for folder in folders for path in folder.rglob("*") if path.is_file())

    return files


@pytest.fixture
async def config_file(tmp_path, short_dir, extra_config, admin_config, store_url) -> Path:
    # async, so that a module's extra_config may itself be async (e.g. start a simulator first)
    path = tmp_path / "fleetgate.toml"
    path.write_text(gateway_config_toml(tmp_path / "data", short_dir / "admin.sock", extra_config, admin_config,
                                        store_url))
    return path


@pytest.fixture
async def gateway(config_file, nursery):
    """A gateway running in this test's trio run; yields its Runtime."""
    config = load_config(config_file)
    with trio.fail_after(TEST_TIMEOUT):
        ctx = await nursery.start(run_gateway, config)
    yield ctx
    nursery.cancel_scope.cancel()


@pytest.fixture
async def api(gateway):
    """An HTTP client on the gateway's admin socket."""
    transport = httpx.AsyncHTTPTransport(uds=str(gateway.config.admin_socket))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=TEST_TIMEOUT) as client:
        yield client


def listener_port(runtime, driver: str) -> int:
    return next(b["port"] for b in runtime.listeners if b["driver"] == driver)


async def eventually(check, timeout: float = 10, interval: float = 0.05):
    """Poll ``check`` (a function, or an async one) until it returns something truthy; return that."""
    with trio.fail_after(timeout):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            await trio.sleep(interval)


@pytest.fixture
def clock() -> MockClock:
    """Trio's mock clock, running at the real clock's pace until a test calls ``autojump``."""
    return MockClock(rate=1)


@contextmanager
def autojump(clock: MockClock):
    """For a test whose subject is time (a session's deadlines): inside the block the clock
    stands still and jumps to the next deadline whenever every task waits, so seconds of
    deadlines pass at once and trio.current_time() says exactly when something happened.
    Nothing in the block may wait for a thread (the store, the API): the clock would jump
    past that wait's deadlines too."""
    clock.rate, clock.autojump_threshold = 0, 0
    try:
        yield
    finally:
        clock.rate, clock.autojump_threshold = 1, math.inf


@asynccontextmanager
async def writer_held(store):
    """Hold the store's writer thread for the block: what is written meanwhile waits in the
    queue, and commits in one batch once the block ends."""
    release, holding = threading.Event(), threading.Event()

    def hold(conn):
        holding.set()
        release.wait(TEST_TIMEOUT)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.write, hold)
        await trio.to_thread.run_sync(holding.wait)
        try:
            yield
        finally:
            release.set()
