"""Units, provisioning status and failure containment: the pure parts of the reconcile
loop, and Host.execute with drivers that fail on purpose (no host is touched)."""

from __future__ import annotations

import copy
from pathlib import Path, PurePath

import pytest
import yaml

from netnode.errors import HostError, Refused
from netnode.model import ids
from netnode.model.loading import load_data
from netnode.plan import operations as op
from netnode.plan import units
from netnode.plan.desired import build
from netnode.plan.diff import plan
from netnode.plan.observed import HostState, LinkState, NamespaceState, OvsPort, OvsState
from netnode.plan.spec import HostSpec
from netnode.reconcile import provisioning
from netnode.reconcile.agent import BACKOFF_MAX, backoff
from netnode.reconcile.host import Host

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"
RUN = PurePath("/var/lib/netnode/netnode/haproxy")


@pytest.fixture
def data() -> dict:
    return yaml.safe_load(SEED.read_text())


def spec_of(data: dict) -> HostSpec:
    return build(load_data(data), "netnode", RUN)


def add_member(data: dict, name: str = "vm3", address: str = "10.0.0.83") -> dict:
    data = copy.deepcopy(data)
    data["load_balancers"][0]["pools"][0]["members"].append(
        {"name": name, "address": address, "protocol_port": 80}
    )
    return data


def lb_unit(data: dict) -> str:
    return ids.lb_namespace(load_data(data).load_balancers[0].uid)


# --- units ---------------------------------------------------------------------------


def test_a_member_change_dirties_only_its_load_balancers_unit(data: dict) -> None:
    before = units.fingerprints(spec_of(data))
    after = units.fingerprints(spec_of(add_member(data)))
    assert units.changed(before, after) == {lb_unit(data)}
    assert units.changed(after, after) == frozenset()
    assert units.changed({}, after) == frozenset(after)


def test_restrict_keeps_bridges_and_the_units_parts_only(data: dict) -> None:
    spec = spec_of(data)
    part = units.restrict(spec, frozenset({lb_unit(data)}))
    assert part.bridges == spec.bridges
    assert [n.name for n in part.namespaces] == [lb_unit(data)]
    parts = [*part.ports, *part.processes, *part.firewalls]
    assert {p.namespace for p in parts} == {lb_unit(data)}
    assert part.floating == {}


def test_a_scoped_plan_never_deletes_what_the_whole_desired_host_keeps(data: dict) -> None:
    spec = spec_of(data)
    ports = {
        p.name: OvsPort(p.name, p.bridge, p.tag, p.external_ids("netnode", spec.topology), 1)
        for p in spec.ports
    }
    observed = HostState(OvsState(ports=ports), frozenset(), {}, {}, {})
    part = units.restrict(spec, frozenset({lb_unit(data)}))

    def orphans(p: object) -> list[str]:
        return [o.name for o in p.operations if isinstance(o, op.DeletePort) and not o.barrier]  # type: ignore[attr-defined]

    assert orphans(plan(part, observed, keep=spec)) == []
    assert orphans(plan(part, observed))  # without keep, the other units' ports would go


def test_a_detached_device_is_deleted_and_its_port_plugged_again(data: dict) -> None:
    spec = spec_of(data)
    vip = next(p for p in spec.ports if p.namespace == lb_unit(data))
    ports = {
        p.name: OvsPort(p.name, p.bridge, p.tag, p.external_ids("netnode", spec.topology), 1)
        for p in spec.ports
    }
    link = LinkState(7, vip.mac or "", True, frozenset(vip.addresses), detached=True)
    inside = {vip.namespace: NamespaceState({vip.name: link}, None, {})}
    observed = HostState(OvsState(ports=ports), frozenset({vip.namespace}), inside, {}, {})
    ops = [o for o in plan(units.restrict(spec, frozenset({vip.namespace})), observed).operations]
    kinds = [type(o).__name__ for o in ops if getattr(o, "subject", "") == f"port {vip.name}"]
    assert kinds[:4] == ["DeleteLink", "DeletePort", "AddPort", "MoveLink"]
    delete = next(o for o in ops if isinstance(o, op.DeletePort))
    assert delete.barrier


# --- provisioning --------------------------------------------------------------------


def test_new_objects_are_pending_create_and_a_changed_member_locks_its_parents(
    data: dict,
) -> None:
    topo = load_data(data)
    first = provisioning.objects(topo, {})
    status = provisioning.pending({}, {}, first)
    assert set(status.values()) == {provisioning.PENDING_CREATE}
    status = provisioning.settle(status, first, None, {})
    assert set(status.values()) == {provisioning.ACTIVE}

    changed = load_data(add_member(data))
    now = provisioning.objects(changed, {})
    prints = {uid: o.fingerprint for uid, o in first.items()}
    status = provisioning.pending(prints, status, now)
    lb, pool = changed.load_balancers[0], changed.load_balancers[0].pools[0]
    new_member = pool.members[-1]
    assert status[new_member.uid] == provisioning.PENDING_CREATE
    assert status[pool.uid] == status[lb.uid] == provisioning.PENDING_UPDATE
    assert status[pool.members[0].uid] == provisioning.ACTIVE
    assert status[changed.routers[0].uid] == provisioning.ACTIVE


def test_a_failing_unit_stays_pending_then_goes_error_and_recovers(data: dict) -> None:
    topo = load_data(data)
    objs = provisioning.objects(topo, {})
    unit = lb_unit(data)
    status = provisioning.pending({}, {}, objs)
    lb = topo.load_balancers[0].uid
    router = topo.routers[0].uid
    for count in range(1, provisioning.MAX_PENDING_PASSES):
        status = provisioning.settle(status, objs, None, {unit: (False, count)})
        assert status[lb] == provisioning.PENDING_CREATE
        assert status[router] == provisioning.ACTIVE
    status = provisioning.settle(
        status, objs, None, {unit: (False, provisioning.MAX_PENDING_PASSES)}
    )
    assert status[lb] == provisioning.ERROR
    status = provisioning.settle(status, objs, None, {})
    assert status[lb] == provisioning.ACTIVE


def test_a_refused_unit_is_error_at_once(data: dict) -> None:
    topo = load_data(data)
    objs = provisioning.objects(topo, {})
    status = provisioning.pending({}, {}, objs)
    status = provisioning.settle(status, objs, None, {lb_unit(data): (True, 1)})
    assert status[topo.load_balancers[0].uid] == provisioning.ERROR


def test_backoff_doubles_up_to_its_bound() -> None:
    waits = [backoff(n) for n in range(1, 12)]
    assert waits[0] < waits[1] < waits[2]
    assert max(waits) == BACKOFF_MAX


# --- failure containment -------------------------------------------------------------


class FakeOVS:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.transactions: list[list[list[str]]] = []

    def transact(self, commands: list[list[str]]) -> None:
        if any(word in self.refuse for c in commands for word in c):
            raise HostError("ovs-vsctl failed: refused by the fake")
        self.transactions.append(commands)


class FakeNetlink:
    def __init__(self, broken: set[str]) -> None:
        self.broken = broken
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str):
        def call(*args, **_kwargs):
            namespace = next((a for a in args if isinstance(a, str) and "-" in a), "")
            if namespace in self.broken:
                raise HostError(f"netlink {name} failed in {namespace}")
            self.calls.append((name, namespace))

        return call


class FakeIptables:
    def apply(self, _namespace: str, _nat: object) -> None:
        pass

    def flush_conntrack(self, _namespace: str, _address: str) -> None:
        pass


class FakeHAProxy:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.started: list[str] = []

    def running_pid(self, _name: str) -> None:
        return None

    def ensure(
        self, name: str, _namespace: str, _config: str, _files: tuple = (), _exe: object = None
    ) -> str:
        if name in self.refuse:
            raise Refused(f"HAProxy refused the configuration for {name}")
        self.started.append(name)
        return "created"


def fake_host(
    ovs: set[str] = frozenset(), netlink: set[str] = frozenset(), haproxy: set[str] = frozenset()
) -> Host:  # type: ignore[assignment]
    host = Host(
        Path("/nonexistent"), "netnode", ovs=FakeOVS(set(ovs)), netlink=FakeNetlink(set(netlink))
    )  # type: ignore[arg-type]
    host.haproxy = FakeHAProxy(set(haproxy))  # type: ignore[assignment]
    host.iptables = FakeIptables()  # type: ignore[assignment]
    return host


def test_one_broken_namespace_does_not_stop_the_others(data: dict) -> None:
    spec = spec_of(data)
    the_plan = plan(spec, HostState.empty())
    broken = lb_unit(data)
    host = fake_host(netlink={broken})
    failures = host.execute(the_plan)
    assert {f.unit for f in failures} == {broken}
    assert len(failures) == 1 and not failures[0].permanent
    # Nothing else was tried in the broken unit; every other unit was carried out.
    assert not [c for c in host.netlink.calls if c[1] == broken]  # type: ignore[attr-defined]
    started = host.haproxy.started  # type: ignore[attr-defined]
    assert len(started) == len(spec.processes) - 1


def test_a_failed_ovs_transaction_is_retried_port_by_port(data: dict) -> None:
    spec = spec_of(data)
    vip = next(p for p in spec.ports if p.namespace == lb_unit(data))
    host = fake_host(ovs={vip.name})
    failures = host.execute(plan(spec, HostState.empty()))
    assert [f.subject for f in failures] == [f"port {vip.name}"]
    plugged = {w for t in host.ovs.transactions for c in t for w in c}  # type: ignore[attr-defined]
    assert {p.name for p in spec.ports} - plugged == {vip.name}


def test_a_refused_haproxy_config_is_a_permanent_failure(data: dict) -> None:
    spec = spec_of(data)
    lb = next(p for p in spec.processes if p.kind == "loadbalancer")
    failures = fake_host(haproxy={lb.name}).execute(plan(spec, HostState.empty()))
    assert [(f.unit, f.permanent) for f in failures] == [(lb.namespace, True)]
