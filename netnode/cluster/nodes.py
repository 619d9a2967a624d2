"""The nodes as an operator sees them: each node's row, whether it is alive and why,
and how much is desired on it (``netnode nodes``, the API's ``/v2.0/agents``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from netnode.cluster.liveness import Verdict, judge
from netnode.store import nodes as rows


@dataclass(frozen=True)
class Node:
    row: rows.NodeRow
    verdict: Verdict
    load_balancers: int
    routers: int

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def alive(self) -> bool:
        return self.verdict.alive


def read(engine: Engine) -> list[Node]:
    """Every node that ever joined this store, by name."""
    return judged(rows.read(engine))


def judged(reading: rows.Reading) -> list[Node]:
    found = []
    for row in reading.nodes:
        verdict = judge(
            heartbeat_at=row.heartbeat_at,
            left_at=row.left_at,
            timeout=row.timeout,
            now=reading.now,
            lock_held=None if reading.locked is None else row.id in reading.locked,
        )
        load = reading.load.get(row.name, {})
        found.append(Node(row, verdict, load.get("load_balancers", 0), load.get("routers", 0)))
    return found
