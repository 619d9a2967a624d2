"""One pass: observe -> plan -> apply, under the node's lock, with the ledger kept."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from netnode.model.topology import Topology
from netnode.plan import desired as desired_state
from netnode.plan.diff import Plan, plan
from netnode.plan.observed import HostState
from netnode.plan.spec import HostSpec
from netnode.reconcile.host import Host, Progress
from netnode.reconcile.ledger import LedgerStore, ledger_of, union


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    seconds: float
    started_ovs: bool = False


@contextmanager
def node_lock(host: Host) -> Iterator[None]:
    """One apply at a time per node (two terminals, the agent and the CLI...)."""
    host.node_dir.mkdir(parents=True, exist_ok=True)
    with open(host.node_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def desired_for(host: Host, topo: Topology) -> HostSpec:
    return desired_state.build(topo, host.node, host.run_dir)


def preview(host: Host, topo: Topology, *, read_host: bool = True) -> Plan:
    """What apply would do; changes nothing. ``read_host=False`` plans against an empty
    host (for a user who cannot read it: not root, or Open vSwitch not running)."""
    spec = desired_for(host, topo)
    if not read_host:
        return plan(spec, HostState.empty())
    ledger = LedgerStore(host.node_dir).load(spec.topology)
    return plan(spec, host.observe(spec, ledger))


def apply(host: Host, topo: Topology, progress: Progress | None = None) -> Outcome:
    started = time.perf_counter()
    started_ovs = host.ovs.ensure_running()
    spec = desired_for(host, topo)
    store = LedgerStore(host.node_dir)
    with node_lock(host):
        ledger = store.load(spec.topology)
        the_plan = plan(spec, host.observe(spec, ledger))
        if not the_plan.empty:
            # Record the intent first: a pass killed half-way leaves nothing unrecorded.
            store.save(spec.topology, union(ledger, ledger_of(spec)))
            host.execute(the_plan, progress)
        store.save(spec.topology, ledger_of(spec), source=topo.model_dump(mode="json"))
    return Outcome(the_plan, time.perf_counter() - started, started_ovs)


def destroy(host: Host, topo: Topology, progress: Progress | None = None) -> Outcome:
    """Remove what netnode owns for this topology: its ledger and what the file names."""
    started = time.perf_counter()
    spec = desired_for(host, topo)
    store = LedgerStore(host.node_dir)
    with node_lock(host):
        owned = union(store.load(spec.topology), ledger_of(spec))
        nothing = HostSpec(node=spec.node, topology=spec.topology)
        the_plan = plan(nothing, host.observe(spec, owned))
        host.execute(the_plan, progress)
        store.forget(spec.topology)
    return Outcome(the_plan, time.perf_counter() - started)


def applied(host: Host) -> dict[str, dict]:
    """The topologies applied on this node, as they were applied."""
    store = LedgerStore(host.node_dir)
    result = {}
    for name in store.topologies():
        source = store.applied_topology(name)
        if source is not None:
            result[name] = source
    return result

