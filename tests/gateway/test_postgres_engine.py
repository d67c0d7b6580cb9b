"""The PostgreSQL engine on a real server: a lost connection made anew, migrations run once by
nodes starting together, and no password in what it says about where the store is."""

from __future__ import annotations

import threading

import psycopg
import pytest

from gateway.store.postgres import PostgresEngine, _without_password
from gateway.store.schema import MIGRATIONS
from tests.servers import missing


@pytest.fixture
def database_url(postgres_server) -> str:
    if postgres_server is None:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    return postgres_server.new_database()


def test_a_writer_that_lost_its_connection_commits_again_once_a_probe_reconnects(postgres_server, database_url):
    engine = PostgresEngine(database_url)
    try:
        writer = engine.open_writer()
        pid = writer.execute("SELECT pg_backend_pid()").fetchone()[0]
        postgres_server.sql(f"SELECT pg_terminate_backend({pid})")  # a failover, a network cut
        with pytest.raises(psycopg.Error):  # the first probe finds the connection gone
            engine.probe(writer)
        engine.probe(writer)  # the next one connects anew and commits
        assert writer.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
    finally:
        engine.close()


def test_nodes_starting_together_run_the_migrations_once(database_url):
    """Every node of a cluster may start at once: the advisory lock lets one migrate and the
    others find the schema done."""
    engines = [PostgresEngine(database_url) for _ in range(4)]
    errors = []

    def start(engine: PostgresEngine) -> None:
        try:
            engine.open_writer()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert {engine.schema_version for engine in engines} == {len(MIGRATIONS)}
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
    finally:
        for engine in engines:
            engine.close()


@pytest.mark.parametrize("url", [
    "postgresql://fleetgate:s3cret@db.example.com:5433/fleet",
    "postgresql://fleetgate@db.example.com:5433/fleet?password=s3cret",
    "postgres://fleetgate:s3cret@db.example.com:5433/fleet?sslmode=require",
])
def test_where_the_store_is_never_shows_its_password(url):
    assert _without_password(url) == "postgresql://fleetgate@db.example.com:5433/fleet"


def test_an_unreadable_url_is_not_repeated():
    assert "s3cret" not in _without_password("postgresql://u:s3cret@h:notaport/db")
