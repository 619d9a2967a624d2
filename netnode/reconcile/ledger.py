"""The per-topology record of what netnode created on this node.

Written before an apply starts (the union of what existed and what is about to be
made) and again when it ends (what now exists), so an apply killed half-way still
leaves a record that covers everything it may have created: the next pass finds its
orphans. The applied topology is kept beside it for ``netnode status``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from netnode.plan.observed import Ledger
from netnode.plan.spec import HostSpec


class LedgerStore:
    def __init__(self, node_dir: Path) -> None:
        self.dir = node_dir / "topologies"

    def path(self, topology: str) -> Path:
        return self.dir / f"{topology}.json"

    def topologies(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def load(self, topology: str) -> Ledger:
        try:
            data = json.loads(self.path(topology).read_text())
        except FileNotFoundError:
            return Ledger()
        return Ledger(
            namespaces=tuple(data.get("namespaces", ())),
            processes=tuple(data.get("processes", ())),
            floating={k: tuple(v) for k, v in data.get("floating", {}).items()},
        )

    def save(self, topology: str, ledger: Ledger, source: dict | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data: dict = {
            "namespaces": sorted(ledger.namespaces),
            "processes": sorted(ledger.processes),
            "floating": {k: sorted(v) for k, v in ledger.floating.items()},
        }
        if source is not None:
            data["topology"] = source
        elif self.path(topology).exists():
            previous = json.loads(self.path(topology).read_text())
            if "topology" in previous:
                data["topology"] = previous["topology"]
        tmp = self.path(topology).with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path(topology))

    def applied_topology(self, topology: str) -> dict | None:
        try:
            return json.loads(self.path(topology).read_text()).get("topology")
        except FileNotFoundError:
            return None

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
