"""The PostgreSQL engine on a real server: one gateway per database, even across lost
connections, and no password in what it says about where the store is."""

from __future__ import annotations

import psycopg
import pytest

from gateway.store.postgres import AnotherNode, PostgresEngine, _without_password
from tests.servers import missing


@pytest.fixture
def database_url(postgres_server) -> str:
    if postgres_server is None:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    return postgres_server.new_database()


def test_a_node_that_lost_its_connection_gets_the_store_back_only_with_the_lock(postgres_server, database_url):
    first, second = PostgresEngine(database_url), PostgresEngine(database_url)
    try:
        writer = first.open_writer()
        pid = writer.execute("SELECT pg_backend_pid()").fetchone()[0]
        postgres_server.sql(f"SELECT pg_terminate_backend({pid})")  # a failover, a network cut
        second.open_writer()  # meanwhile another gateway starts on the database
        with pytest.raises(psycopg.Error):  # the first probe finds the connection gone
            first.probe(writer)
        for _ in range(2):  # then every probe is refused, not only the one that reconnects
            with pytest.raises(AnotherNode):
                first.probe(writer)
        second.close()
        first.probe(writer)  # the lock is free again: the first gateway commits again
        with pytest.raises(AnotherNode):
            PostgresEngine(database_url).open_writer()
    finally:
        first.close()
        second.close()


def test_a_refused_gateway_leaves_the_schema_alone(postgres_server, database_url):
    serving = PostgresEngine(database_url)
    try:
        serving.open_writer()
        postgres_server.sql("UPDATE schema_version SET version = version - 1", database_url.rsplit("/", 1)[1])
        with pytest.raises(AnotherNode):
            PostgresEngine(database_url).open_writer()  # would migrate, if it took the lock first
        version = serving.open_reader().execute("SELECT max(version) FROM schema_version").fetchone()[0]
        assert version == serving.schema_version - 1
    finally:
        serving.close()


@pytest.mark.parametrize("url", [
    "postgresql://fleetgate:s3cret@db.example.com:5433/fleet",
    "postgresql://fleetgate@db.example.com:5433/fleet?password=s3cret",
    "postgres://fleetgate:s3cret@db.example.com:5433/fleet?sslmode=require",
])
def test_where_the_store_is_never_shows_its_password(url):
    assert _without_password(url) == "postgresql://fleetgate@db.example.com:5433/fleet"


def test_an_unreadable_url_is_not_repeated():
    assert "s3cret" not in _without_password("postgresql://u:s3cret@h:notaport/db")
