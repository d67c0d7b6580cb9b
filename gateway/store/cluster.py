"""SQL for nodes, their leases, the units' session claims and commands handed between
nodes (gateway/cluster/). Times that leases and deadlines are read against come from the
database's clock (``conn.dialect.clock``), so the nodes agree on them."""

from __future__ import annotations

from typing import Any

from gateway.store.dialect import placeholders
from gateway.store.events import EventWriter
from gateway.store.telemetry import set_life_status

CLAIMS = "fleetgate_claims"  # PostgreSQL channel: "<vehicle id> <node id> <session>" of each new claim

# --- nodes --------------------------------------------------------------------------------


def register_node(conn, node_id: str, name: str, lease: float) -> None:
    clock = conn.dialect.clock
    conn.execute(f"INSERT INTO nodes (id, name, started_at, lease_until) VALUES (?, ?, {clock()}, {clock(lease)})"
                 " ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until", (node_id, name))


def renew_lease(conn, node_id: str, lease: float) -> bool:
    """False when the node's row is gone: the others took it for dead and released its claims."""
    return conn.execute(f"UPDATE nodes SET lease_until = {conn.dialect.clock(lease)} WHERE id = ?",
                        (node_id,)).rowcount == 1


def leave(conn, node_id: str, at: str) -> int:
    """A node that stops: its claims released (vehicles OFFLINE), its row gone."""
    released = _release_claims_of(conn, [node_id], at)
    conn.execute("DELETE FROM nodes WHERE id = ?", (node_id,))
    return released


def live_nodes(conn) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT id, name, started_at, lease_until FROM nodes WHERE lease_until > {conn.dialect.clock()}"
                        " ORDER BY id")
    return [dict(row) for row in rows]


def reap_dead_nodes(conn: EventWriter, at: str) -> list[str]:
    """Remove the nodes whose lease ran out and release their claims: their vehicles go
    OFFLINE unless a live node claimed them since. Any node may run this; each dead row
    is deleted by one of them."""
    dead = [row[0] for row in conn.execute(f"DELETE FROM nodes WHERE lease_until <= {conn.dialect.clock()} RETURNING id")]
    if dead:
        _release_claims_of(conn, dead, at)
    return dead


def _release_claims_of(conn: EventWriter, nodes: list[str], at: str) -> int:
    vehicles = [row[0] for row in conn.execute(
        f"DELETE FROM unit_sessions WHERE node_id IN {placeholders(len(nodes))} RETURNING vehicle_id", nodes)]
    return sum(set_life_status(conn, vehicle_id, "OFFLINE", at) for vehicle_id in vehicles)


# --- session claims ---------------------------------------------------------------------------


def claim_session(conn: EventWriter, vehicle_id: str, node_id: str, session: int, at: str) -> None:
    """This node holds the vehicle's live session now (the newest login wins)."""
    conn.execute(
        "INSERT INTO unit_sessions (vehicle_id, node_id, session, claimed_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (vehicle_id) DO UPDATE SET node_id = excluded.node_id, session = excluded.session,"
        " claimed_at = excluded.claimed_at",
        (vehicle_id, node_id, session, at),
    )
    set_life_status(conn, vehicle_id, "ONLINE", at)
    if conn.dialect.postgresql:  # delivered at commit: the node holding an older session closes it
        conn.notify(CLAIMS, f"{vehicle_id} {node_id} {session}")


def reclaim_sessions(conn: EventWriter, node_id: str, live: list[tuple[str, int]], at: str) -> int:
    """A node that was taken for dead while it lived claims its live sessions again, each
    unless another node claimed the vehicle since (that node's session is the newer one);
    returns how many it claimed."""
    claimed = 0
    for vehicle_id, session in live:
        if conn.execute("INSERT INTO unit_sessions (vehicle_id, node_id, session, claimed_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (vehicle_id) DO NOTHING", (vehicle_id, node_id, session, at)).rowcount:
            set_life_status(conn, vehicle_id, "ONLINE", at)
            claimed += 1
    return claimed


def release_session(conn: EventWriter, vehicle_id: str, node_id: str, session: int, at: str) -> bool:
    """The session ended. The vehicle goes OFFLINE only if this session still held the
    claim: a newer login (here or on another node) keeps it ONLINE."""
    released = conn.execute("DELETE FROM unit_sessions WHERE vehicle_id = ? AND node_id = ? AND session = ?",
                            (vehicle_id, node_id, session)).rowcount
    return bool(released) and set_life_status(conn, vehicle_id, "OFFLINE", at)


def release_all(conn: EventWriter, brands: list[str], at: str) -> int:
    """One node alone (SQLite) starts with no session: every claim and ONLINE status of
    ``brands`` a crash left behind goes."""
    conn.execute("DELETE FROM unit_sessions")
    rows = conn.execute(
        f"SELECT id FROM vehicles WHERE life_status = 'ONLINE' AND unit_brand IN {placeholders(len(brands))}",
        brands).fetchall()
    return sum(set_life_status(conn, row[0], "OFFLINE", at) for row in rows)


def settle_claims(conn: EventWriter, node_id: str, live: list[tuple[str, int]], at: str) -> int:
    """Release this node's claims whose session is no longer live (it ended while the
    store could not commit); returns how many vehicles went OFFLINE."""
    alive = set(live)
    stale = [pair for pair in claims_of(conn, node_id) if pair not in alive]
    return sum(release_session(conn, vehicle_id, node_id, session, at) for vehicle_id, session in stale)


def session_holder(conn, vehicle_id: str) -> str | None:
    """The live node holding the vehicle's session, or None."""
    row = conn.execute(
        "SELECT s.node_id FROM unit_sessions s JOIN nodes n ON n.id = s.node_id"
        f" WHERE s.vehicle_id = ? AND n.lease_until > {conn.dialect.clock()}", (vehicle_id,)).fetchone()
    return None if row is None else row[0]


def claims_of(conn, node_id: str) -> list[tuple[str, int]]:
    return [(row[0], row[1]) for row in conn.execute(
        "SELECT vehicle_id, session FROM unit_sessions WHERE node_id = ?", (node_id,))]


# --- commands handed between nodes -----------------------------------------------------------


def take_command(conn, audit_id: int, node_id: str, at: str) -> dict[str, Any] | None:
    """The command ``audit_id`` for this node to send now, if it still may be sent: not
    sent yet, not finished, and before its deadline. Never delivered after its timeout.
    ``seconds_left``: what it has until that deadline."""
    row = conn.execute(
        f"UPDATE command_audit SET sent_at = ? WHERE id = ? AND node_id = ? AND sent_at IS NULL"
        f" AND finished_at IS NULL AND deadline > {conn.dialect.clock()}"
        f" RETURNING id, vehicle_id, command, {conn.dialect.seconds_until('deadline')} AS seconds_left",
        (at, audit_id, node_id),
    ).fetchone()
    return None if row is None else dict(row)


def command_result(conn, audit_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT result, detail, finished_at FROM command_audit WHERE id = ?", (audit_id,)).fetchone()
    return None if row is None else dict(row)


def expire_commands(conn, vehicle_id: str, at: str) -> int:
    """Commands of a vehicle left unfinished past their deadline (their node died) are
    closed, so that they hold the vehicle's one place in flight no longer."""
    return conn.execute(
        f"UPDATE command_audit SET finished_at = ?, result = 'FAILED', detail = 'the node sending it stopped'"
        f" WHERE vehicle_id = ? AND finished_at IS NULL AND deadline <= {conn.dialect.clock()}",
        (at, vehicle_id),
    ).rowcount

