"""The plan layer: desired host from a topology, and the diff against an observed host."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path, PurePath

import pytest
import yaml

from netnode.model.loading import load_data
from netnode.plan import operations as op
from netnode.plan.desired import build
from netnode.plan.diff import plan
from netnode.plan.observed import (
    HostState,
    Ledger,
    LinkState,
    NamespaceState,
    OvsBridge,
    OvsPort,
    OvsState,
    ProcessState,
)
from netnode.plan.spec import HostSpec

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"
RUN = PurePath("/var/lib/netnode/netnode/haproxy")


@pytest.fixture
def seed_data() -> dict:
    return yaml.safe_load(SEED.read_text())


def spec_of(data: dict, node: str = "netnode") -> HostSpec:
    return build(load_data(data, node=node), node, RUN)


def as_observed(spec: HostSpec, ledger: Ledger | None = None) -> HostState:
    """The host exactly as ``spec`` wants it, as the drivers would report it."""
    ports = {}
    for p in spec.ports:
        ids = p.external_ids(spec.node, spec.topology)
        ports[p.name] = OvsPort(p.name, p.bridge, p.tag, ids, 5)
    bridges = {
        b.name: OvsBridge(
            b.name, "netdev", {}, tuple(p.name for p in spec.ports if p.bridge == b.name)
        )
        for b in spec.bridges
    }
    inside = {}
    for ns in spec.namespaces:
        links = {
            p.name: LinkState(1, p.mac or "02:00:00:00:00:01", True, frozenset(p.addresses))
            for p in spec.ports
            if p.namespace == ns.name
        }
        inside[ns.name] = NamespaceState(
            links, ns.default_gateway, dict(ns.sysctls), frozenset(ns.routes)
        )
    procs = {p.name: ProcessState(True, p.config) for p in spec.processes}
    return HostState(
        OvsState(bridges, ports),
        frozenset(n.name for n in spec.namespaces),
        inside,
        procs,
        {f.namespace: True for f in spec.firewalls},
        ledger or Ledger(tuple(n.name for n in spec.namespaces), tuple(procs), dict(spec.floating)),
    )


def kinds(the_plan) -> list[str]:
    return [type(o).__name__ for o in the_plan.operations]


def test_seed_from_an_empty_host_builds_everything(seed_data: dict) -> None:
    spec = spec_of(seed_data)
    the_plan = plan(spec, HostState.empty())
    counts = the_plan.summary()
    # br-int, br-ex; 5 namespaces (lb, router, vm1, vm2, outside); 6 ports; 5 haproxy (the
    # router's metadata proxy is the fifth); 1 iptables
    assert counts == {"create": 18, "change": 1, "delete": 0, "unchanged": 0}
    assert kinds(the_plan).count("CreateNamespace") == 5
    assert kinds(the_plan).count("EnsureProcess") == 5
    phases = [o.phase for o in the_plan.operations]
    assert phases == sorted(phases)


def test_seed_plan_prints_the_seeds_commands(seed_data: dict) -> None:
    spec = spec_of(seed_data)
    lb_port = next(p for p in spec.ports if p.namespace.startswith("qlbaas-"))
    text = "\n".join(
        shlex.join(a) for o in plan(spec, HostState.empty()).operations for a in o.shell()
    )
    assert f"add-port br-int {lb_port.name} -- set interface {lb_port.name} type=internal" in text
    assert f"set port {lb_port.name} tag=1" in text
    assert f"ip link set {lb_port.name} address fa:16:3e:f4:8f:ae" in text
    assert f"ip -4 addr add 10.0.0.100/24 dev {lb_port.name}" in text
    assert "sysctl -w net.ipv4.conf.all.promote_secondaries=1" in text
    assert "ip route replace default via 10.0.0.1" in text
    assert "ip route replace default via 10.255.253.1" in text
    assert "sysctl -w net.ipv4.ip_forward=1" in text
    assert "10.255.253.100/32" in text


def test_a_converged_host_needs_nothing(seed_data: dict) -> None:
    spec = spec_of(seed_data)
    the_plan = plan(spec, as_observed(spec))
    assert the_plan.empty, the_plan.operations
    assert the_plan.summary()["unchanged"] == 19


def test_a_weight_change_touches_only_that_haproxy_without_a_reload(seed_data: dict) -> None:
    before = spec_of(seed_data)
    changed = copy.deepcopy(seed_data)
    changed["load_balancers"][0]["pools"][0]["members"][0]["weight"] = 5
    after = spec_of(changed)
    the_plan = plan(after, as_observed(before))
    assert kinds(the_plan) == ["ChangeServers"]
    only = the_plan.operations[0]
    assert isinstance(only, op.ChangeServers)
    assert only.process.name.startswith("lb-") and only.action == "change"
    assert [type(c).__name__ for c in only.changes] == ["SetWeight"]
    sock = f"{only.process.name}/stats.sock"
    assert only.shell()[0] == [
        "sh",
        "-c",
        f'echo "{only.changes[0].commands()[0]}" | socat stdio {sock}',
    ]
    assert "weight 5" in only.shell()[0][2]


def test_a_listener_change_reloads(seed_data: dict) -> None:
    before = spec_of(seed_data)
    changed = copy.deepcopy(seed_data)
    changed["load_balancers"][0]["listeners"][0]["connection_limit"] = 5
    the_plan = plan(spec_of(changed), as_observed(before))
    assert kinds(the_plan) == ["EnsureProcess"]
    only = the_plan.operations[0]
    assert isinstance(only, op.EnsureProcess) and not only.start


def test_a_port_whose_device_left_its_namespace_is_plugged_again(seed_data: dict) -> None:
    """The namespace lost its device (deleted with the device inside, or ovs-vswitchd
    restarted): unplug in a transaction of its own, plug, move in, configure."""
    spec = spec_of(seed_data)
    observed = as_observed(spec)
    lb_ns = next(n.name for n in spec.namespaces if n.kind == "loadbalancer")
    inside = dict(observed.inside)
    inside[lb_ns] = NamespaceState({}, inside[lb_ns].default_gateway, inside[lb_ns].sysctls)
    the_plan = plan(
        spec,
        HostState(
            observed.ovs,
            observed.namespaces,
            inside,
            observed.processes,
            observed.firewalls_in_sync,
            observed.ledger,
        ),
    )
    assert kinds(the_plan) == [
        "DeletePort",
        "AddPort",
        "MoveLink",
        "ConfigureLink",
        "SetDefaultRoute",
        "Announce",
    ]
    assert the_plan.operations[0].barrier  # type: ignore[attr-defined]


def test_removed_objects_are_deleted_but_foreign_ones_are_not(seed_data: dict) -> None:
    spec = spec_of(seed_data)
    observed = as_observed(spec)
    smaller = copy.deepcopy(seed_data)
    smaller["lab"]["instances"] = smaller["lab"]["instances"][:1]
    smaller["load_balancers"][0]["pools"][0]["members"] = smaller["load_balancers"][0]["pools"][0][
        "members"
    ][:1]
    foreign = dict(observed.ovs.ports)
    foreign["tapforeign"] = OvsPort("tapforeign", "br-int", 1, {}, 9)
    foreign["tapothernode"] = OvsPort(
        "tapothernode", "br-int", 1, {"netnode-node": "other", "netnode-topology": "seed"}, 9
    )
    observed = HostState(
        OvsState(observed.ovs.bridges, foreign),
        observed.namespaces,
        observed.inside,
        observed.processes,
        observed.firewalls_in_sync,
        observed.ledger,
    )
    the_plan = plan(spec_of(smaller), observed)
    deleted = {o.subject for o in the_plan.operations if o.action == "delete"}
    vm2 = next(i for i in load_data(seed_data).lab.instances if i.name == "vm2")
    assert deleted == {
        f"haproxy lab-{vm2.id}",
        f"port tap{vm2.id[:11]}",
        f"namespace qlab-{vm2.id}",
    }
    assert "ChangeServers" in kinds(the_plan)  # the load balancer loses a member


def test_unbinding_a_floating_ip_flushes_its_conntrack(seed_data: dict) -> None:
    spec = spec_of(seed_data)
    unbound = copy.deepcopy(seed_data)
    unbound["floating_ips"][0].pop("fixed_ip_address")
    after = spec_of(unbound)
    observed = as_observed(spec)
    observed = HostState(
        observed.ovs, observed.namespaces, observed.inside, observed.processes, {}, observed.ledger
    )
    the_plan = plan(after, observed)
    flushes = [o for o in the_plan.operations if isinstance(o, op.FlushConntrack)]
    assert [f.address for f in flushes] == ["10.255.253.100"]
    assert "ApplyFirewall" in kinds(the_plan)
    assert any(
        isinstance(o, op.ConfigureLink) and o.remove == ("10.255.253.100/32",)
        for o in the_plan.operations
    )


def test_destroy_deletes_only_what_the_topology_owns(seed_data: dict) -> None:
    spec = spec_of(seed_data)
    nothing = HostSpec(node=spec.node, topology=spec.topology)
    the_plan = plan(nothing, as_observed(spec))
    counts = the_plan.summary()
    assert counts["create"] == 0 and counts["change"] == 0
    assert kinds(the_plan).count("DeleteNamespace") == 5
    assert kinds(the_plan).count("DeletePort") == 6
    assert kinds(the_plan).count("StopProcess") == 5


def test_two_nodes_get_different_host_names(seed_data: dict) -> None:
    a, b = spec_of(seed_data, "a"), spec_of(seed_data, "b")
    assert not {n.name for n in a.namespaces} & {n.name for n in b.namespaces}
    assert not {p.name for p in a.ports} & {p.name for p in b.ports}
    assert all(len(p.name) <= 15 for p in a.ports)
