"""The per-topology record netnode keeps on this node: what it owns, what is desired,
what has converged, and each object's provisioning status.

The record is written before a pass executes anything (the union of what existed and
what is about to be made, and the topology now desired) and again when it ends (what
now exists, the units that converged, the statuses). A pass killed half-way therefore
still leaves a record that covers everything it may have created, and the desired
topology for the next pass (the agent's) to converge to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netnode.plan.observed import Ledger
from netnode.plan.spec import HostSpec


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

    def but(self, **changes: Any) -> Record:
        return replace(self, **changes)


class LedgerStore:
    def __init__(self, node_dir: Path) -> None:
        self.dir = node_dir / "topologies"

    def path(self, topology: str) -> Path:
        return self.dir / f"{topology}.json"

    def topologies(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def read(self, topology: str) -> Record:
        try:
            data = json.loads(self.path(topology).read_text())
        except FileNotFoundError:
            return Record()
        return Record(
            ledger=Ledger(
                namespaces=tuple(data.get("namespaces", ())),
                processes=tuple(data.get("processes", ())),
                floating={k: tuple(v) for k, v in data.get("floating", {}).items()},
            ),
            topology=data.get("topology"),
            units=dict(data.get("units", {})),
            objects=dict(data.get("objects", {})),
            status=dict(data.get("status", {})),
            failures={k: UnitFailure(**v) for k, v in data.get("failures", {}).items()},
        )

    def load(self, topology: str) -> Ledger:
        return self.read(topology).ledger

    def write(self, topology: str, record: Record) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
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
        }
        if record.topology is not None:
            data["topology"] = record.topology
        tmp = self.path(topology).with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")))
        os.replace(tmp, self.path(topology))

    def forget(self, topology: str) -> None:
        self.path(topology).unlink(missing_ok=True)


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
