"""Schema migrations, applied in order, one list for both engines.

SQLite keeps how many ran in `PRAGMA user_version`; PostgreSQL in the table
`schema_version`, and there the nodes of a cluster that start together run them once,
one after another, under an advisory lock. An entry is SQLite's DDL, which postgres.ddl
translates; an entry that differs by more than spelling is a dict by dialect name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from gateway.store.postgres import ddl

# Each entry upgrades the schema by one version. Never edit a released entry: append.
MIGRATIONS: list[str | dict[str, str]] = [
    # 1: the foundation: fleet identity, shared credentials, vehicles, units seen on listeners.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE credentials (
        id            TEXT PRIMARY KEY,
        brand         TEXT NOT NULL,
        name          TEXT NOT NULL,
        client_id     TEXT NOT NULL,
        client_secret BLOB NOT NULL,          -- AES-GCM, bound to the row id
        created_at    TEXT NOT NULL,
        modified_at   TEXT NOT NULL
    ) STRICT;

    CREATE TABLE vehicles (
        id                           TEXT PRIMARY KEY,
        created_at                   TEXT NOT NULL,
        master_data                  TEXT NOT NULL,   -- JSON object
        master_data_modified_at      TEXT NOT NULL,
        custom_fields                TEXT NOT NULL,   -- JSON object
        custom_fields_modified_at    TEXT NOT NULL,
        tags                         TEXT NOT NULL,   -- JSON array
        operation_status             TEXT NOT NULL,
        operation_status_modified_at TEXT NOT NULL,
        life_status                  TEXT NOT NULL,
        life_status_modified_at      TEXT NOT NULL,
        model_id                     TEXT NOT NULL,
        unit_brand                   TEXT NOT NULL,
        unit_id                      TEXT NOT NULL,
        attached_at                  TEXT NOT NULL,
        credentials_id               TEXT REFERENCES credentials(id),
        password                     BLOB,            -- AES-GCM, bound to the unit
        UNIQUE (unit_brand, unit_id)
    ) STRICT;
    CREATE INDEX vehicles_by_creation ON vehicles (created_at, id);
    CREATE INDEX vehicles_by_credentials ON vehicles (credentials_id);

    -- Units that reached a listener; nothing secret is kept about them.
    CREATE TABLE seen_units (
        brand          TEXT NOT NULL,
        unit_id        TEXT NOT NULL,
        first_seen_at  TEXT NOT NULL,
        last_seen_at   TEXT NOT NULL,
        remote_address TEXT NOT NULL,
        PRIMARY KEY (brand, unit_id)
    ) STRICT;
    """,
    # 2: telemetry: records with their raw frame and duplicate key, per-property state, command audit.
    """
    CREATE TABLE records (
        id           INTEGER PRIMARY KEY,
        vehicle_id   TEXT NOT NULL,
        brand        TEXT NOT NULL,
        unit_id      TEXT NOT NULL,
        recorded_at  TEXT NOT NULL,          -- device time
        received_at  TEXT NOT NULL,
        -- Hash of (brand, unit id, device time, content): resends of a record collapse,
        -- distinct records at one instant do not. One short key indexes faster than four.
        duplicate_key BLOB NOT NULL UNIQUE,
        state        TEXT NOT NULL,          -- JSON: the state properties this record gives
        raw          TEXT NOT NULL,          -- JSON: protocol fields and position
        -- The whole frame as received, kept on the first record taken from it (a frame
        -- of many records is stored once; a resend whose first record is already
        -- stored adds no second copy); NULL on the others.
        frame        BLOB
    ) STRICT;
    CREATE INDEX records_by_vehicle ON records (vehicle_id, recorded_at, id);
    -- No index on received_at: ids grow with it, so retention finds its cut by rowid.

    CREATE TABLE vehicle_state (
        vehicle_id  TEXT NOT NULL,
        property    TEXT NOT NULL,
        value       TEXT NOT NULL,           -- JSON
        recorded_at TEXT NOT NULL,           -- device time of the value
        PRIMARY KEY (vehicle_id, property)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE command_audit (
        id           INTEGER PRIMARY KEY,
        vehicle_id   TEXT NOT NULL,
        brand        TEXT NOT NULL,
        unit_id      TEXT NOT NULL,
        command      TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        requested_by INTEGER,                -- peer uid on the admin socket (SO_PEERCRED)
        finished_at  TEXT,
        result       TEXT,                   -- SUCCEEDED | REFUSED | TIMEOUT | FAILED
        detail       TEXT
    ) STRICT;
    CREATE INDEX command_audit_by_vehicle ON command_audit (vehicle_id, id);
    """,
    # 3: JT/T 808 enrolment: a unit may learn its password by registering, once per
    # password the operator sets.
    """
    ALTER TABLE vehicles ADD COLUMN enrolment_open INTEGER NOT NULL DEFAULT 1;
    """,
    # 4: the event log, written in the transaction of the change it describes.
    """
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, even after pruning
        type        TEXT NOT NULL,
        vehicle_id  TEXT,
        brand       TEXT,
        unit_id     TEXT,
        occurred_at TEXT NOT NULL,                       -- when the gateway logged it: grows with id
        data        TEXT NOT NULL                        -- JSON object
    ) STRICT;
    CREATE INDEX events_by_vehicle ON events (vehicle_id, id);
    """,
    # 5: NIU account credentials beside fleet client credentials. For kind 'account',
    # client_id holds the account (e-mail or phone) and client_secret its password, encrypted
    # as before; the columns keep their names so that no existing row changes.
    """
    ALTER TABLE credentials ADD COLUMN kind TEXT NOT NULL DEFAULT 'client' CHECK (kind IN ('client', 'account'));
    """,
    # 6: the HTTPS door: API clients (OAuth2 client credentials), their bearer tokens, and
    # which API client sent a command.
    """
    CREATE TABLE api_clients (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        client_id   TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL,            -- scrypt with a salt of its own; never the secret
        scopes      TEXT NOT NULL,            -- JSON array
        created_at  TEXT NOT NULL,
        rotated_at  TEXT
    ) STRICT;

    -- Opaque tokens by their SHA-256: every node of a cluster checks them here, and
    -- removing or rotating a client deletes its tokens at once.
    CREATE TABLE api_tokens (
        token_hash  BLOB PRIMARY KEY,
        client      TEXT NOT NULL REFERENCES api_clients(id) ON DELETE CASCADE,
        scopes      TEXT NOT NULL,            -- JSON array
        expires_at  TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX api_tokens_by_client ON api_tokens (client);
    CREATE INDEX api_tokens_by_expiry ON api_tokens (expires_at);

    ALTER TABLE command_audit ADD COLUMN requested_by_client TEXT;   -- API client id, on the HTTPS door
    """,
    # 7: strangers cost bounded space: one row per unit id, counted, and the table capped
    # by evicting the unit seen longest ago. announced_at: when its last UnitSeen event
    # was logged; NULL while the fleet-wide limit held it back.
    """
    ALTER TABLE seen_units ADD COLUMN seen_count INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE seen_units ADD COLUMN announced_at TEXT;
    UPDATE seen_units SET announced_at = last_seen_at;
    CREATE INDEX seen_units_by_last_seen ON seen_units (last_seen_at);
    """,
    # 8: JT/T 808 enrolment is a window the operator opens for one unit, not a standing
    # offer: NULL is closed; else it is open until its first use or this time.
    """
    ALTER TABLE vehicles DROP COLUMN enrolment_open;
    ALTER TABLE vehicles ADD COLUMN enrolment_expires_at TEXT;
    """,
    # 9: the cluster. PostgreSQL keeps the transaction that wrote each event: readers follow
    # the log by (xid, id) below the oldest transaction in flight (events.py).
    {
        "sqlite": "",
        "postgresql": """
        ALTER TABLE events ADD COLUMN xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
        CREATE INDEX events_by_position ON events (xid, id);
        """,
    },
    # 10: nodes of a cluster hold leases; each unit's live session is claimed by one node;
    # commands reach the node holding the session through their audit row (gateway/cluster/).
    # One node on SQLite is a cluster of one.
    """
    -- Every node, with the lease it renews; a node whose lease ran out is dead.
    CREATE TABLE nodes (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,            -- host and pid, for people
        started_at  TEXT NOT NULL,
        lease_until TEXT NOT NULL             -- the database's clock
    ) STRICT;

    -- The live session of each vehicle's unit, claimed by the node that accepted its
    -- login; the newest claim wins and the node holding the old one closes it.
    CREATE TABLE unit_sessions (
        vehicle_id TEXT PRIMARY KEY,
        node_id    TEXT NOT NULL,
        session    INTEGER NOT NULL,          -- the node's own number for the connection
        claimed_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX unit_sessions_by_node ON unit_sessions (node_id);

    -- A command is the hand-off between the node asked and the node holding the session:
    -- it must be sent before its deadline, by that node, once.
    ALTER TABLE command_audit ADD COLUMN deadline TEXT;
    ALTER TABLE command_audit ADD COLUMN node_id TEXT;
    ALTER TABLE command_audit ADD COLUMN sent_at TEXT;
    UPDATE command_audit SET finished_at = requested_at, result = 'FAILED', detail = 'the gateway stopped'
        WHERE finished_at IS NULL;
    -- One command in flight per vehicle, on every node.
    CREATE UNIQUE INDEX command_in_flight ON command_audit (vehicle_id) WHERE finished_at IS NULL;
    """,
]

MINIMUM_SQLITE = (3, 37, 0)  # STRICT tables


def script(migration: str | dict[str, str], dialect: str) -> str:
    if isinstance(migration, dict):
        return migration[dialect]
    return ddl(migration) if dialect == "postgresql" else migration


def migrate(conn: sqlite3.Connection) -> int:
    """Bring a SQLite database to the newest schema; each step commits with its version."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    return _apply(conn, "sqlite", version, "BEGIN IMMEDIATE",
                  lambda number: conn.execute(f"PRAGMA user_version = {number}"))


def _apply(conn, dialect: str, version: int, begin: str, record: Callable[[int], object]) -> int:
    """Run the migrations after ``version``, each in its own transaction with ``record``
    of its number, so that a failed step leaves the one before it in place."""
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database has schema version {version}, newer than this fleetgate knows "
            f"({len(MIGRATIONS)}): upgrade fleetgate instead of downgrading it"
        )
    for number in range(version, len(MIGRATIONS)):
        conn.execute(begin)
        try:
            for statement in _statements(script(MIGRATIONS[number], dialect)):
                conn.execute(statement)
            record(number + 1)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a migration into statements; executescript() would commit on its own."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete statement in migration: {current.strip()[:60]}")
    return statements


# Any constant: every fleetgate node of a database takes this one lock to migrate.
_MIGRATION_LOCK = 0x666C6774  # "flgt"


def migrate_postgresql(conn) -> int:
    """Bring a PostgreSQL database to the newest schema. Nodes starting together wait
    for each other on the advisory lock; each step commits with its version."""
    conn.execute("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0

        def record(number: int) -> None:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

        return _apply(conn, "postgresql", version, "BEGIN", record)
    finally:
        conn.execute("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))
