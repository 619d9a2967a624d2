"""One scheduling pass: read what is desired in a cluster, where it is placed and which
nodes are alive, decide (``scheduling``, pure), and write the decisions, all in one
transaction that one node at a time may hold (an advisory lock of the transaction on
PostgreSQL; SQLite's write lock). Every node's agent runs it each round; whoever holds
the turn decides for all, the others find nothing left to do."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from netnode.cluster import nodes
from netnode.cluster.liveness import LEFT
from netnode.cluster.local import for_node
from netnode.cluster.scheduling import (
    STANDALONE,
    Candidate,
    Decisions,
    Placement,
    Wanted,
    schedule,
)
from netnode.cluster.takeover import Takeover, VrrpState, takeovers
from netnode.model.topology import Topology
from netnode.store import nodes as node_rows
from netnode.store import placements as rows


def placements(engine: Engine, scope: str) -> list[Placement]:
    return [_placement(r) for r in rows.read(engine, scope)]


def run_pass(
    engine: Engine, scope: str, new_id: Callable[[], str] = lambda: str(uuid.uuid4())
) -> Decisions | None:
    """The pass's decisions, written; None when another node held the turn."""
    with engine.begin() as conn:
        if not rows.take_turn(conn):
            return None
        candidates = [_candidate(n) for n in nodes.judged(node_rows.read(conn, load=False))]
        current = [_placement(r) for r in rows.read(conn, scope)]
        wanted = {key: Wanted(*found) for key, found in rows.placeable(conn, scope).items()}
        decisions = schedule(wanted, current, candidates, new_id)
        if not decisions.empty:
            rows.write(
                conn,
                scope,
                ({c: getattr(p, c) for c in rows.COLUMNS} for p in decisions.add),
                (p.id for p in decisions.drop),
            )
            # Readers of those topologies (the API's snapshots) see them change.
            changed = (*decisions.add, *decisions.drop)
            rows.touch(conn, scope, {p.topology for p in changed})
        return decisions


def record_takeovers(
    engine: Engine, scope: str, node: str, vrrp: Mapping[str, VrrpState]
) -> list[Takeover]:
    """Swap the roles of each HA pair one of whose instances on ``node`` took the VIP
    over (``takeover``), in one transaction that no scheduling pass interleaves with,
    deciding again from the rows it reads: a swap already made is not made twice."""
    with engine.begin() as conn:
        rows.wait_turn(conn)
        current = [_placement(r) for r in rows.read(conn, scope)]
        found = takeovers(current, node, vrrp)
        for t in found:
            rows.set_roles(conn, scope, t.roles)
        if found:
            # Readers of those topologies (the API's snapshots) see them change.
            rows.touch(conn, scope, {t.winner.topology for t in found})
        return found


def _candidate(node: nodes.Node) -> Candidate:
    """A node as the scheduler sees it. One that stopped cleanly within its timeout is
    being restarted, most likely (an upgrade): it keeps what it runs, takes nothing new,
    and only loses it once that time has passed."""
    if node.verdict.state == LEFT and node.verdict.left_age < node.row.timeout:
        return Candidate(
            node.name, alive=True, admin_state_up=False, zone=node.row.availability_zone
        )
    return Candidate(node.name, node.alive, node.row.admin_state_up, node.row.availability_zone)


def _placement(r: rows.Row) -> Placement:
    return Placement(
        r["id"],
        r["topology"],
        r["holder"],
        r["kind"],
        r["node"],
        r["role"],
        r["slot"],
        changed=_seconds(r.get("updated_at")),
    )


def _seconds(at: datetime | None) -> float | None:
    """A stored time as seconds since the epoch (SQLite gives it back without its zone,
    which is UTC)."""
    if at is None:
        return None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


class Cluster:
    """A node's part in its cluster, as its agent sees it: schedule, read where things
    are placed, notice when that or the living nodes change, and cut each topology to
    what is placed on this node."""

    def __init__(
        self, engine: Engine, scope: str, node: str, bridges: Mapping[str, str] | None = None
    ) -> None:
        self.engine = engine
        self.scope = scope
        self.node = node
        self.bridges = dict(bridges or {})
        self._placements: list[Placement] = []

    def schedule(self) -> Decisions | None:
        return run_pass(self.engine, self.scope)

    def follow_vrrp(self, vrrp: Mapping[str, VrrpState]) -> list[Takeover]:
        """Record the takeovers of this node's instances that ``vrrp`` (placement id ->
        its keepalived's last state) shows; the store is asked only when the placements
        last read show one (``takeover``)."""
        if not takeovers(self._placements, self.node, vrrp):
            return []
        return record_takeovers(self.engine, self.scope, self.node, vrrp)

    def refresh(self) -> list[Placement]:
        self._placements = placements(self.engine, self.scope)
        return self._placements

    def pairs_here(self) -> list[Placement]:
        """This node's instances of HA pairs, as last read."""
        return [p for p in self._placements if p.node == self.node and p.role != STANDALONE]

    def local(self, topo: Topology) -> Topology:
        return for_node(topo, self._placements, self.node, self.bridges)

    def stamp(self) -> tuple[object, ...]:
        """Changes when a node lives or dies, or a placement is made or dropped."""
        with self.engine.connect() as conn:
            living = tuple(
                n.name for n in nodes.judged(node_rows.read(conn, load=False)) if n.alive
            )
            return living, rows.stamp(conn, self.scope)


def describe(decisions: Decisions) -> list[str]:
    """The decisions in words, for the agent's log."""
    lines = [f"placed {p.kind[:-1].replace('_', ' ')} {p.holder} on node {p.node} "
             f"(instance {p.id}, {p.role})" for p in decisions.add]  # fmt: skip
    lines += [f"dropped instance {p.id} of {p.holder} on node {p.node}" for p in decisions.drop]
    lines += [
        f"no node can take {holder} of {topology} now"
        + (f": {why}" if (why := decisions.why.get((topology, holder))) else "")
        for topology, holder in decisions.unplaced
    ]
    return lines
