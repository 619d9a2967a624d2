"""The ``placements`` table: which node runs each instance of a cluster's load balancers
and routers (an amphora, in Octavia's words). Written by the scheduling pass
(``netnode.cluster.scheduler``), read by every node's agent and by the API.

A placement's ``id`` is the instance's own: host names on its node derive from it, so
an object placed again after its node died never meets the dead node's leftovers. One
object has at most one instance per node (a unique key).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from netnode.store import notify, schema

# A placement as a row: id, topology, holder, kind, node, role.
Row = Mapping[str, Any]
COLUMNS = ("id", "topology", "holder", "kind", "node", "role", "slot")

# The transaction-level advisory lock one scheduling pass holds (PostgreSQL): "ns".
SCHEDULING_LOCK = 0x6E73


def read(db: Engine | Connection, scope: str) -> list[dict[str, Any]]:
    p = schema.placements
    query = (
        sa.select(*(p.c[c] for c in COLUMNS), p.c.created_at, p.c.updated_at)
        .where(p.c.scope == scope)
        .order_by(p.c.topology, p.c.holder, p.c.node)
    )
    if isinstance(db, Engine):
        with db.connect() as conn:
            rows = conn.execute(query).mappings().all()
    else:
        rows = db.execute(query).mappings().all()
    return [dict(r) for r in rows]


def stamp(conn: Connection, scope: str) -> tuple[int, str]:
    """What changes whenever a placement of ``scope`` does: their count and newest time."""
    p = schema.placements
    count, newest = conn.execute(
        sa.select(sa.func.count(), sa.func.max(p.c.updated_at)).where(p.c.scope == scope)
    ).one()
    return int(count), str(newest)


def write(conn: Connection, scope: str, add: Iterable[Row], drop: Iterable[str]) -> None:
    """Insert the placements ``add`` (rows of ``COLUMNS``), delete those of ids ``drop``."""
    p = schema.placements
    gone = list(drop)
    if gone:
        conn.execute(p.delete().where((p.c.scope == scope) & p.c.id.in_(gone)))
    now = datetime.now(UTC)
    rows = [
        {**{c: a[c] for c in COLUMNS}, "scope": scope, "created_at": now, "updated_at": now}
        for a in add
    ]
    if rows:
        conn.execute(p.insert(), rows)


def set_roles(conn: Connection, scope: str, roles: Mapping[str, str]) -> None:
    """Give placements (by id) new roles."""
    p = schema.placements
    now = datetime.now(UTC)
    for placement_id, role in roles.items():
        conn.execute(
            p.update()
            .where((p.c.scope == scope) & (p.c.id == placement_id))
            .values(role=role, updated_at=now)
        )


def take_turn(conn: Connection) -> bool:
    """This transaction's turn to schedule: False when another node's pass holds it
    (PostgreSQL); SQLite's write lock takes turns by itself."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(
        conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(SCHEDULING_LOCK, 0))).scalar_one()
    )


def wait_turn(conn: Connection) -> None:
    """This transaction's turn, waiting while a scheduling pass holds it (PostgreSQL):
    for a short write that must not interleave with one (an HA pair's roles swapped)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEDULING_LOCK, 0)))


def placeable(
    conn: Connection, scope: str
) -> dict[tuple[str, str], tuple[str, int, tuple[str, ...]]]:
    """What is desired in ``scope`` that runs on a node: (topology, id) -> its kind, how
    many instances it wants (2: an ACTIVE_STANDBY load balancer, an HA router), and the
    availability zones they may go to (a load balancer's ``availability_zone``, a
    router's ``availability_zone_hints``; empty: any)."""
    o = schema.objects
    topology = o.c.body["topology"].as_string()
    ha = o.c.body["ha"].as_boolean()
    zone = o.c.body["availability_zone"].as_string()
    # A JSON list, read whole (the dialect gives it back decoded).
    hints = o.c.body["availability_zone_hints"].as_json()
    rows = conn.execute(
        sa.select(
            o.c.topology,
            o.c.key,
            o.c.kind,
            topology.label("lb_topology"),
            ha.label("ha"),
            zone.label("zone"),
            hints.label("hints"),
        ).where((o.c.node == scope) & o.c.kind.in_(PLACED_KINDS))
    )
    return {
        (r.topology, r.key): (
            r.kind,
            2 if r.lb_topology == "ACTIVE_STANDBY" or r.ha else 1,
            (r.zone,) if r.zone else tuple(r.hints or ()),
        )
        for r in rows
    }


# The objects (rows of ``objects``) that run on a node of their own.
PLACED_KINDS = ("load_balancers", "routers")


def touch(conn: Connection, scope: str, topologies: Iterable[str]) -> None:
    """Mark ``topologies`` changed for their readers (their ``updated_at``), and wake
    the scope's agents at commit."""
    t = schema.topologies
    names = sorted(topologies)
    if names:
        notify.changed(conn, scope)
        conn.execute(
            t.update()
            .where((t.c.node == scope) & t.c.name.in_(names))
            .values(updated_at=datetime.now(UTC))
        )
