"""The per-topology record netnode keeps on this node: what it owns, what is desired,
what has converged, and each object's provisioning status.

The desired topology is recorded by whoever sets it (``netnode apply``, the agent for a
watched file, the API) before anything is executed. The record is written before a pass
executes anything (the union of what existed and what is about to be made) and again
when it ends (what now exists, the units that converged, the statuses). A pass killed
half-way therefore still leaves a record that covers everything it may have created,
and the desired topology for the next pass (the agent's) to converge to.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from netnode.plan.observed import Ledger
from netnode.plan.spec import HostSpec
from netnode.store import schema
from netnode.store.desired import DesiredStore


@dataclass(frozen=True)
class UnitFailure:
    """The last failure of one unit (a namespace), and how many passes in a row failed."""

    reason: str
    permanent: bool
    count: int = 1

    def __str__(self) -> str:
        kind = "refused" if self.permanent else f"failed {self.count} pass(es) in a row"
        return f"{kind}: {self.reason}"


@dataclass(frozen=True)
class Record:
    ledger: Ledger = field(default_factory=Ledger)
    # The desired topology, as given (model_dump); None before the first apply.
    topology: dict[str, Any] | None = None
    # unit (namespace) -> fingerprint of its desired spec, for the units that converged.
    units: dict[str, str] = field(default_factory=dict)
    # object id -> fingerprint of its desired definition (provisioning.objects).
    objects: dict[str, str] = field(default_factory=dict)
    # object id -> provisioning status (ACTIVE, PENDING_*, ERROR).
    status: dict[str, str] = field(default_factory=dict)
    failures: dict[str, UnitFailure] = field(default_factory=dict)
    # Units (namespaces) whose last converge left none of netnode's iptables rules, and
    # wanted none: a pass that still wants none need not read iptables there.
    bare: frozenset[str] = frozenset()

    def but(self, **changes: Any) -> Record:
        return replace(self, **changes)


class LedgerStore:
    """Each topology's document and record on one node, in the store's ``topologies``
    table (see ``netnode.store.schema``)."""

    def __init__(self, engine: Engine, node: str, scope: str | None = None) -> None:
        self.engine = engine
        self.node = node
        # Whose desired state: this node's own, or (several nodes) the cluster's that
        # every node shares; the records are always this node's.
        self.scope = scope or node
        # The desired topologies, one row per object (netnode.store.desired).
        self.desired = DesiredStore(engine, self.scope)

    def _row(self, topology: str) -> Any:
        t = schema.topologies
        return (t.c.node == self.scope) & (t.c.name == topology)

    def topologies(self) -> list[str]:
        t = schema.topologies
        with self.engine.connect() as db:
            rows = db.execute(sa.select(t.c.name).where(t.c.node == self.scope))
            return sorted(r.name for r in rows)

    def generations(self) -> dict[str, int]:
        """Each topology's count of document writes: what the agent watches."""
        t = schema.topologies
        with self.engine.connect() as db:
            rows = db.execute(sa.select(t.c.name, t.c.generation).where(t.c.node == self.scope))
            return {r.name: r.generation for r in rows}

    def read(self, topology: str) -> Record:
        document, _ = self.document(topology)
        return self.read_record(topology).but(topology=document)

    def read_record(self, topology: str) -> Record:
        """The record alone (``topology`` left None): what the API reads per request."""
        record, _ = self.read_record_at(topology)
        assert record is not None  # nothing known: always read
        return record

    def read_record_at(self, topology: str, known: int | None = None) -> tuple[Record | None, int]:
        """The record and its revision (0: none written); with ``known``, the revision
        the caller holds, the record is not read again while it is still that one
        (None: keep yours)."""
        r = schema.records
        mine = (r.c.node == self.node) & (r.c.name == topology)
        with self.engine.connect() as db:
            if known is not None:
                revision = db.execute(sa.select(r.c.revision).where(mine)).scalar()
                if (revision or 0) == known:
                    return None, known
            row = db.execute(sa.select(r.c.record, r.c.revision).where(mine)).first()
        if row is None:
            return _record(None, None), 0
        return _record(row.record, None), row.revision

    def read_merged_at(self, topology: str, known: int | None = None) -> tuple[Record | None, int]:
        """What the API shows of a topology: this node's record (``read_record_at``);
        in a cluster, the records of the nodes that hold its placements, merged (each
        holds only the objects placed on it; a dead node holds none, so what it
        recorded before its objects moved is not shown). The revision stands for them
        all and for the placements."""
        if self.scope == self.node:
            return self.read_record_at(topology, known)
        r = schema.records
        p = schema.placements
        holding = sa.select(p.c.node).where((p.c.scope == self.scope) & (p.c.topology == topology))
        mine = (r.c.name == topology) & r.c.node.in_(holding)
        with self.engine.connect() as db:
            revisions = tuple(db.execute(sa.select(r.c.node, r.c.revision).where(mine)))
            placed = tuple(
                db.execute(
                    sa.select(p.c.id).where((p.c.scope == self.scope) & (p.c.topology == topology))
                ).scalars()
            )
            revision = hash((tuple(sorted(revisions)), tuple(sorted(placed)))) & (2**62 - 1)
            if known is not None and revision == known:
                return None, known
            found = [row.record for row in db.execute(sa.select(r.c.record).where(mine))]
        merged: dict[str, Any] = {"units": {}, "objects": {}, "status": {}, "failures": {}}
        for data in found:
            for key in merged:
                merged[key].update(data.get(key, {}))
        return _record(merged, None), revision

    def load(self, topology: str) -> Ledger:
        return self.read(topology).ledger

    def document(self, topology: str) -> tuple[dict[str, Any] | None, int]:
        """The desired topology as last written, and its generation (0: never written)."""
        return self.desired.document(topology)

    def write(self, topology: str, record: Record) -> None:
        """Keep a pass's record (never the document: that is the writer's)."""
        ledger = record.ledger
        data: dict[str, Any] = {
            "namespaces": sorted(ledger.namespaces),
            "processes": sorted(ledger.processes),
            "floating": {k: sorted(v) for k, v in ledger.floating.items()},
            "units": record.units,
            "objects": record.objects,
            "status": record.status,
            "failures": {
                k: {"reason": v.reason, "permanent": v.permanent, "count": v.count}
                for k, v in record.failures.items()
            },
            "bare": sorted(record.bare),
        }
        r = schema.records
        mine = (r.c.node == self.node) & (r.c.name == topology)
        for _ in range(3):
            with self.engine.begin() as db:
                # The topology's row first: it orders this write with the desired
                # state's (netnode.store.desired), and tells readers something changed.
                self._touch(db, topology)
                updated = db.execute(
                    r.update().where(mine).values(record=data, revision=r.c.revision + 1)
                )
                if updated.rowcount:
                    return
                try:
                    with db.begin_nested():
                        db.execute(
                            r.insert().values(
                                node=self.node, name=topology, record=data, revision=1
                            )
                        )
                    return
                except sa.exc.IntegrityError:
                    continue  # written meanwhile by another process: update it
        raise RuntimeError(f"store: could not write the record of topology {topology!r}")

    def set_desired(self, topology: str, document: dict[str, Any]) -> None:
        """Record the desired topology (``netnode apply``, a watched file)."""
        self.desired.replace(topology, document)

    def replace_desired(self, topology: str, document: dict[str, Any], generation: int) -> bool:
        """Write ``document`` whole only if nobody wrote since ``generation`` was read
        (0: nobody ever did); False when someone did."""
        return self.desired.replace(topology, document, generation)

    def drop_record(self, topology: str) -> None:
        """Forget this node's record of a topology, not the topology."""
        r = schema.records
        with self.engine.begin() as db:
            db.execute(r.delete().where((r.c.node == self.node) & (r.c.name == topology)))

    def forget(self, topology: str) -> None:
        self.desired.forget(topology)

    def _touch(self, db: Any, topology: str) -> None:
        """Set the topology's ``updated_at`` (its row made, without a header, if none)."""
        t = schema.topologies
        now = _now()
        if db.execute(t.update().where(self._row(topology)).values(updated_at=now)).rowcount:
            return
        try:
            with db.begin_nested():
                db.execute(t.insert().values(node=self.scope, name=topology, updated_at=now))
        except sa.exc.IntegrityError:
            db.execute(t.update().where(self._row(topology)).values(updated_at=now))


def _record(data: dict[str, Any] | None, document: dict[str, Any] | None) -> Record:
    data = data or {}
    return Record(
        ledger=Ledger(
            namespaces=tuple(data.get("namespaces", ())),
            processes=tuple(data.get("processes", ())),
            floating={k: tuple(v) for k, v in data.get("floating", {}).items()},
        ),
        topology=document,
        units=dict(data.get("units", {})),
        objects=dict(data.get("objects", {})),
        status=dict(data.get("status", {})),
        failures={k: UnitFailure(**v) for k, v in data.get("failures", {}).items()},
        bare=frozenset(data.get("bare", ())),
    )


def _now() -> datetime:
    return datetime.now(UTC)


def ledger_of(spec: HostSpec) -> Ledger:
    return Ledger(
        namespaces=tuple(n.name for n in spec.namespaces),
        processes=tuple(p.name for p in spec.processes),
        floating=dict(spec.floating),
    )


def union(a: Ledger, b: Ledger) -> Ledger:
    floating = {
        k: tuple(sorted(set(a.floating.get(k, ())) | set(b.floating.get(k, ()))))
        for k in {*a.floating, *b.floating}
    }
    return Ledger(
        namespaces=tuple(sorted({*a.namespaces, *b.namespaces})),
        processes=tuple(sorted({*a.processes, *b.processes})),
        floating=floating,
    )
