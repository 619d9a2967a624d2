"""One pass: observe -> plan -> apply, under the node's lock, with the record kept.

A pass either covers the whole desired host (``changed_only=False``: what ``netnode
apply`` and the agent's periodic pass do, repairing any drift) or only the units whose
desired state changed since they last converged (``changed_only=True``: the agent's
answer to a change, which touches nothing else). Failures are contained to their unit
(see ``Host.execute``) and come back in the outcome; the record keeps, per unit, the
last failure and how many passes in a row failed, for the agent's back-off.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from netnode.errors import NetnodeError, Problem, TopologyError
from netnode.model.topology import Topology
from netnode.plan import desired as desired_state
from netnode.plan import units, uplinks
from netnode.plan.diff import Plan, plan
from netnode.plan.observed import HostState, LinkState
from netnode.plan.spec import HostSpec
from netnode.plan.units import Unit
from netnode.reconcile import certificates, provisioning
from netnode.reconcile.host import Failure, Host, Progress
from netnode.reconcile.ledger import Record, UnitFailure, ledger_of, union

# The unit of a failure that belongs to no namespace (a bridge): it stops every unit.
WHOLE_HOST = ""


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    seconds: float
    started_ovs: bool = False
    failures: tuple[Failure, ...] = ()
    # The units the pass covered; None: all of them.
    scope: frozenset[str] | None = None
    status: dict[str, str] = field(default_factory=dict)
    # Per failed unit, its failure and how many passes in a row failed (for back-off).
    unit_failures: dict[str, UnitFailure] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


@contextmanager
def node_lock(host: Host) -> Iterator[None]:
    """One pass at a time per node (two terminals, the agent and the CLI...)."""
    host.node_dir.mkdir(parents=True, exist_ok=True)
    with open(host.node_dir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def desired_for(host: Host, topo: Topology, *, check_files: bool = True) -> HostSpec:
    """The desired host. The certificate files the topology names are read and checked
    first (a TopologyError if one is wrong); ``check_files=False`` takes those that can
    be read as they are (a destroy, which must work when they are gone)."""
    parts = desired_units(host, topo, check_files=check_files)
    attached = desired_state.attachments(topo, host.node)
    return units.assemble(host.node, desired_state.name_of(topo), parts, *attached)


def desired_units(host: Host, topo: Topology, *, check_files: bool = True) -> tuple[Unit, ...]:
    """The desired host's units (see ``desired_for``). Certificate files and units that
    did not change since the host last looked are not checked or rendered again (the
    host's ``certificates`` and ``units`` memos)."""
    digests = (
        certificates.check(topo, host.certificates) if check_files else certificates.readable(topo)
    )
    return desired_state.build_units(topo, host.node, host.run_dir, digests, host.units)


def preview(host: Host, topo: Topology, *, read_host: bool = True) -> Plan:
    """What apply would do; changes nothing. ``read_host=False`` plans against an empty
    host (for a user who cannot read it: not root, or Open vSwitch not running)."""
    spec = desired_for(host, topo)
    if not read_host:
        # Nothing read: the interfaces to plug are taken to be there (and down).
        links = {p.interface: LinkState(0, "", False, frozenset()) for p in spec.plugs}
        return plan(spec, replace(HostState.empty(), host_links=links))
    preflight(host, topo)  # what apply would refuse, refused here too
    ledger = host.store.load(spec.topology)
    return plan(spec, host.observe(spec, ledger))


def apply(
    host: Host,
    topo: Topology,
    progress: Progress | None = None,
    *,
    changed_only: bool = False,
    record_desired: bool = True,
) -> Outcome:
    """Converge the host to ``topo``, recording it first as this topology's desired
    state unless ``record_desired`` is False (the agent converging a topology it read
    from the store: writing it back could undo a newer write, the API's)."""
    started = time.perf_counter()
    # First: a certificate file that is wrong stops the pass before anything changes.
    parts = desired_units(host, topo)
    attached = desired_state.attachments(topo, host.node)
    spec = units.assemble(host.node, desired_state.name_of(topo), parts, *attached)
    started_ovs = host.ovs.ensure_running()
    # Then the uplink's pre-flight: a bridge named like a NIC, an interface that carries
    # the host's default route... refused before anything changes.
    preflight(host, topo)
    if record_desired:
        # A file's apply: an interface to plug that is not there is refused now.
        refuse_missing_interfaces(host, topo)
    store = host.store
    objects = provisioning.objects(topo, spec.floating, host.objects)
    prints = {part.name: part.fingerprint for part in parts}
    with node_lock(host):
        # The recorded document only where it is compared (a file's apply): the agent
        # converging what it read from the store needs the record alone, and reading
        # every row of a topology of 1,000 load balancers costs about 0.7 s.
        record = store.read(spec.topology) if record_desired else store.read_record(spec.topology)
        if record_desired:
            source = topo.model_dump(mode="json", exclude_none=True)
            if record.topology != source:
                store.set_desired(spec.topology, source)
                record = record.but(topology=source)
        status = provisioning.pending(record.objects, record.status, objects)
        scope: frozenset[str] | None = None
        part = spec
        if changed_only:
            # What changed, and what has not settled since (pending, or in ERROR).
            unsettled = {objects[uid].unit for uid, s in status.items() if s != provisioning.ACTIVE}
            scope = units.changed(record.units, prints) | {u for u in unsettled if u is not None}
            part = units.restrict(spec, scope)
        covered = prints.keys() if scope is None else scope
        elsewhere = frozenset(p.name for p in spec.processes) - {p.name for p in part.processes}
        # The record says which units' chains netnode left bare when they last
        # converged: where they still want none, iptables is not read (Host.observe).
        observed = host.observe(part, record.ledger, elsewhere, record.bare)
        the_plan = plan(part, observed, keep=spec)
        fingerprints = {uid: o.fingerprint for uid, o in objects.items()}
        failures: list[Failure] = []
        grown = union(record.ledger, ledger_of(spec))
        if not the_plan.empty and grown != record.ledger:
            # Record the intent first: a pass killed half-way leaves nothing it created
            # unrecorded. A pass that creates nothing the record does not already hold
            # (a member change) skips this write: the units it covers keep their old
            # fingerprints, so the next pass covers them again, and readers (the API)
            # see the objects pending from the fingerprints alone.
            store.write(
                spec.topology,
                record.but(
                    ledger=grown,
                    objects=fingerprints,
                    status=status,
                    units={
                        u: d for u, d in record.units.items() if u in prints and u not in covered
                    },
                    bare=record.bare - covered,
                ),
            )
        if not the_plan.empty:
            _prepare_metadata(host, topo)
            failures = host.execute(the_plan, progress)
        failures += _publish_metadata(host, topo)
        unit_failures = _unit_failures(record.failures, failures, scope, prints)
        # Units outside the scope are unchanged since they converged: they stay so.
        converged = (
            {}
            if WHOLE_HOST in unit_failures
            else {u: d for u, d in prints.items() if u not in unit_failures}
        )
        status = provisioning.settle(
            status, objects, scope, {u: (f.permanent, f.count) for u, f in unit_failures.items()}
        )
        final = Record(
            ledger=grown if failures else ledger_of(spec),
            topology=record.topology,
            units=converged,
            objects=fingerprints,
            status=status,
            failures=unit_failures,
            # Outside the pass's scope a unit stays as bare as it was, inside it is
            # bare when it wants no rules; either way only if it converged.
            bare=frozenset(
                (
                    (record.bare - covered)
                    | {f.namespace for f in part.firewalls if not f.wants_rules}
                )
                & converged.keys()
            ),
        )
        if final != record:
            store.write(spec.topology, final)
    return Outcome(
        the_plan,
        time.perf_counter() - started,
        started_ovs,
        tuple(failures),
        scope,
        status,
        unit_failures,
    )


def preflight(host: Host, topo: Topology) -> None:
    """TopologyError (each problem under its field) if the host would take the topology's
    bridges or physical interfaces to its harm (``plan.uplinks``)."""
    facts = host.uplink_facts(topo)
    if facts is None:
        return
    problems = uplinks.problems(topo, facts, (host.node, desired_state.name_of(topo)))
    if problems:
        raise TopologyError(problems, f"topology {topo.name!r} on this host")


def _prepare_metadata(host: Host, topo: Topology) -> None:
    """The metadata service launched before the pass executes, when it is wanted and
    not running: its start-up overlaps the pass (``_publish_metadata`` waits for it
    and reports a failure)."""
    with contextlib.suppress(NetnodeError, OSError):
        host.metadata.prepare(topo)


def _publish_metadata(host: Host, topo: Topology) -> list[Failure]:
    """The topology's metadata document, and the metadata service running (every
    pass: a killed service comes back with the next)."""
    try:
        host.metadata.publish(topo)
    except (NetnodeError, OSError) as exc:
        return [Failure("metadata service", None, str(exc))]
    return []


def refuse_missing_interfaces(host: Host, topo: Topology) -> None:
    """A TopologyError naming each ``ports[].plug.interface`` of this node that is no
    interface of the host's namespace (nor already on a bridge). The agent, which
    converges what the store holds, waits for such an interface instead (a guest's tap
    comes and goes with the guest)."""
    wanted = {
        port.plug.interface
        for port in topo.ports
        if port.plug is not None and port.binding_host_id in ("", host.node)
    }
    if not wanted:
        return
    on_bridges = host.ovs.observe().ports
    present = host.netlink.host_link_states(wanted)  # one dump for every interface
    problems = [
        Problem(
            f"ports[{i}].plug.interface",
            f"{port.plug.interface!r} is no interface of this host: create it first (the "
            "guest's tap, a veth), or leave plug out and let the guest's own plugging "
            "(libvirt, iface-id = the port's id) attach it",
        )
        for i, port in enumerate(topo.ports)
        if port.plug is not None
        and port.binding_host_id in ("", host.node)
        and port.plug.interface not in on_bridges
        and port.plug.interface not in present
    ]
    if problems:
        raise TopologyError(problems)


def _unit_failures(
    previous: dict[str, UnitFailure],
    failures: list[Failure],
    scope: frozenset[str] | None,
    prints: dict[str, str],
) -> dict[str, UnitFailure]:
    """Per unit, the failure of this pass (counting passes in a row), and the earlier
    failures of units this pass did not cover."""
    result = {
        u: f
        for u, f in previous.items()
        if scope is not None and u not in scope and (u in prints or u == WHOLE_HOST)
    }
    this_pass: set[str] = set()
    for failure in failures:
        unit = failure.unit if failure.unit is not None else WHOLE_HOST
        if unit in this_pass:
            continue  # the first failure of a unit in a pass is its reason
        this_pass.add(unit)
        count = previous[unit].count + 1 if unit in previous else 1
        result[unit] = UnitFailure(failure.reason, failure.permanent, count)
    return result


def destroy(host: Host, topo: Topology, progress: Progress | None = None) -> Outcome:
    """Remove what netnode owns for this topology: its record and what the file names.
    The record is forgotten only when everything went (and, on a node on its own, the
    desired state with it; a cluster's stays for its other nodes)."""
    started = time.perf_counter()
    if host.cluster is not None:
        # What a node of a cluster built is what its record says: the cluster's
        # topology names instances placed on other nodes too, or on none.
        topo = topo.model_copy(update={"load_balancers": [], "routers": []})
    spec = desired_for(host, topo, check_files=False)
    store = host.store
    with node_lock(host):
        record = store.read(spec.topology)
        owned = union(record.ledger, ledger_of(spec))
        nothing = HostSpec(node=spec.node, topology=spec.topology)
        the_plan = plan(nothing, host.observe(spec, owned))
        failures = host.execute(the_plan, progress)
        try:
            host.metadata.withdraw(spec.topology)
        except (NetnodeError, OSError) as exc:
            failures.append(Failure("metadata service", None, str(exc)))
        if failures:
            store.write(spec.topology, record.but(ledger=owned))
        elif host.cluster is not None:
            # The cluster's desired state stays: this node leaves it, not the others.
            store.drop_record(spec.topology)
        else:
            store.forget(spec.topology)
    return Outcome(the_plan, time.perf_counter() - started, failures=tuple(failures))


def desired(host: Host) -> dict[str, Record]:
    """The topologies desired on this node (each with its record), by name."""
    store = host.store
    result = {}
    for name in store.topologies():
        record = store.read(name)
        if record.topology is not None:
            result[name] = record
    return result
