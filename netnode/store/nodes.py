"""The ``nodes`` table: who shares this store, and when each last said it was alive.

A node's row is written by the node itself (``join``, ``beat``, ``leave``: see
``netnode.cluster.membership``) and read by everyone (``read``). Times are the
database's own clock on PostgreSQL, so nodes on hosts whose clocks disagree are judged
alike; SQLite is one host, whose clock it uses.

On PostgreSQL a node also holds a session-level advisory lock keyed by its row's id
(``LOCK_CLASS``, id) on the connection its heartbeats go through. The lock is released
by the server when that session ends, however it ends (the process killed, the host
gone once TCP keepalive notices), so a reader sees a dead node before its heartbeat is
stale; and a second process cannot take a name a live one holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from netnode.store import schema

# The first key of every node lock (pg_try_advisory_lock(int4, int4)): "nn". The second
# is the node's id, so locks of other applications on the same database cannot clash.
LOCK_CLASS = 0x6E6E


@dataclass(frozen=True)
class NodeRow:
    id: int
    name: str
    hostname: str
    pid: int
    version: str
    availability_zone: str
    admin_state_up: bool
    timeout: float
    report: dict[str, Any]
    created_at: datetime
    started_at: datetime
    heartbeat_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class Reading:
    """The nodes as one reader saw them at one instant of the database's clock."""

    now: datetime
    nodes: list[NodeRow]
    # The ids whose advisory lock is held (None: the store has no such locks: SQLite).
    locked: frozenset[int] | None
    # Load balancers and routers desired per node (objects rows by their store node).
    load: dict[str, dict[str, int]] = field(default_factory=dict)


def postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def now(conn: Connection) -> datetime:
    """The database's clock (PostgreSQL), else this host's; always aware, in UTC."""
    if postgres(conn):
        value = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        return aware(value)
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def find(conn: Connection, name: str) -> NodeRow | None:
    n = schema.nodes
    row = conn.execute(sa.select(n).where(n.c.name == name)).mappings().first()
    return None if row is None else _row(row)


def insert(conn: Connection, values: dict[str, Any]) -> int:
    """A new node's row; its id (the key of its lock)."""
    when = now(conn)
    result = conn.execute(
        schema.nodes.insert().values(
            **values, report={}, created_at=when, started_at=when, heartbeat_at=when
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def restart(conn: Connection, name: str, values: dict[str, Any]) -> None:
    """A node starting again under a name it had: a fresh start, the operator's
    settings (admin state) and its creation time kept."""
    when = now(conn)
    conn.execute(
        schema.nodes.update()
        .where(schema.nodes.c.name == name)
        .values(**values, report={}, started_at=when, heartbeat_at=when, left_at=None)
    )


def beat(conn: Connection, name: str, report: dict[str, Any]) -> bool:
    """The node is alive and says ``report`` of itself; False: its row is gone (an
    operator deleted it while the node was away)."""
    n = schema.nodes
    result = conn.execute(
        n.update().where(n.c.name == name).values(heartbeat_at=now(conn), report=report)
    )
    return result.rowcount == 1


def leave(conn: Connection, name: str) -> None:
    """The node stopped cleanly: it is not dead, it left."""
    n = schema.nodes
    conn.execute(n.update().where(n.c.name == name).values(left_at=now(conn)))


def set_admin_state(conn: Connection, name: str, up: bool) -> bool:
    n = schema.nodes
    result = conn.execute(n.update().where(n.c.name == name).values(admin_state_up=up))
    return result.rowcount == 1


def delete(conn: Connection, name: str) -> bool:
    n = schema.nodes
    return conn.execute(n.delete().where(n.c.name == name)).rowcount == 1


def try_lock(conn: Connection, node_id: int) -> bool:
    """Take the node's advisory lock for this session (PostgreSQL); True when taken or
    already held by this session."""
    return bool(
        conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_CLASS, node_id))).scalar_one()
    )


def unlock(conn: Connection, node_id: int) -> None:
    conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_CLASS, node_id)))


def read(db: Engine | Connection, *, load: bool = True) -> Reading:
    """Every node, the locks held, and (``load``) what is desired on each, in one
    transaction (``db``'s, when it is a connection)."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return _read(conn, load)
    return _read(db, load)


def _read(conn: Connection, with_load: bool) -> Reading:
    n = schema.nodes
    o = schema.objects
    when = now(conn)
    rows = [_row(r) for r in conn.execute(sa.select(n).order_by(n.c.name)).mappings()]
    locked: frozenset[int] | None = None
    if postgres(conn):
        # pg_try_advisory_lock(int4, int4) shows as classid, objid and objsubid 2.
        held = conn.execute(
            sa.text(
                "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND objsubid = 2 AND classid = CAST(:lock_class AS oid)"
            ),
            {"lock_class": LOCK_CLASS},
        )
        locked = frozenset(int(r[0]) for r in held)
    load: dict[str, dict[str, int]] = {}
    if with_load:
        counted = conn.execute(
            sa.select(o.c.node, o.c.kind, sa.func.count())
            .where(o.c.kind.in_(("load_balancers", "routers")))
            .group_by(o.c.node, o.c.kind)
        )
        for node, kind, count in counted:
            load.setdefault(node, {})[kind] = int(count)
    return Reading(when, rows, locked, load)


def _row(r: Any) -> NodeRow:
    return NodeRow(
        id=int(r["id"]),
        name=r["name"],
        hostname=r["hostname"],
        pid=int(r["pid"]),
        version=r["version"],
        availability_zone=r["availability_zone"],
        admin_state_up=bool(r["admin_state_up"]),
        timeout=float(r["timeout"]),
        report=dict(r["report"] or {}),
        created_at=aware(r["created_at"]),
        started_at=aware(r["started_at"]),
        heartbeat_at=aware(r["heartbeat_at"]),
        left_at=None if r["left_at"] is None else aware(r["left_at"]),
    )
