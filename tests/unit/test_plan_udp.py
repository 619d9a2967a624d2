"""The plan layer with UDP listeners: the nftables table, the forwarding sysctl and the
helper processes (UDP checker, lab responders) in the desired host and in the diff."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import yaml

from netnode.model.loading import load_data
from netnode.plan import operations as op
from netnode.plan.diff import plan
from netnode.plan.spec import HostSpec
from tests.unit.test_plan import RUN, as_observed, kinds, spec_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "udp.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def converged(spec: HostSpec):
    state = as_observed(spec)
    return dataclasses.replace(
        state,
        udp_in_sync={u.namespace: True for u in spec.udp},
        udp_records=frozenset(u.namespace for u in spec.udp),
    )


def test_a_udp_load_balancer_forwards_and_runs_a_checker() -> None:
    spec = spec_of(example())
    lb = load_data(example(), node="netnode").load_balancers[0]
    (udp,) = spec.udp
    assert udp.namespace == f"qlbaas-{lb.uid}" and udp.balancer.vip == "10.0.0.100"
    ns = next(n for n in spec.namespaces if n.name == udp.namespace)
    assert ("net.ipv4.ip_forward", "1") in ns.sysctls
    programs = sorted((p.program, p.kind) for p in spec.processes if not p.haproxy)
    assert programs == [
        *[("netnode.lab.udp_server", "instance")] * 3,
        ("netnode.udpcheck", "loadbalancer"),
    ]
    checker = next(p for p in spec.processes if p.program == "netnode.udpcheck")
    assert f'"state_root": "{RUN.parent / "udp"}"' in checker.config


def test_without_udp_there_is_no_table_checker_or_forwarding() -> None:
    data = example()
    data["load_balancers"][0]["listeners"][0]["protocol"] = "TCP"
    data["load_balancers"][0]["pools"][0].update(protocol="TCP", session_persistence=None)
    data["load_balancers"][0]["pools"][0]["healthmonitor"]["type"] = "TCP"
    spec = spec_of(data)
    assert spec.udp == ()
    assert not [p for p in spec.processes if p.program == "netnode.udpcheck"]
    lb_ns = next(n for n in spec.namespaces if n.kind == "loadbalancer")
    assert ("net.ipv4.ip_forward", "1") not in lb_ns.sysctls


def test_a_converged_udp_host_needs_nothing_and_drift_reapplies_the_table() -> None:
    spec = spec_of(example())
    state = converged(spec)
    assert plan(spec, state).empty
    ns = spec.udp[0].namespace
    drifted = dataclasses.replace(state, udp_in_sync={ns: False})
    the_plan = plan(spec, drifted)
    assert kinds(the_plan) == ["ApplyUdp"]
    assert the_plan.changes() == {f"nftables {ns}": "change"}


def test_a_member_change_restarts_the_checker_and_reapplies_the_table() -> None:
    spec = spec_of(example())
    data = example()
    data["load_balancers"][0]["pools"][0]["members"].pop()
    changed = spec_of(data)
    state = dataclasses.replace(
        converged(spec),
        # the table of the old topology no longer matches the new one
        udp_in_sync={u.namespace: False for u in spec.udp},
    )
    the_plan = plan(changed, state)
    restarts = [o for o in the_plan.operations if isinstance(o, op.EnsureProcess)]
    assert [(o.process.program, o.start) for o in restarts] == [("netnode.udpcheck", False)]
    assert "ApplyUdp" in kinds(the_plan) and "ChangeServers" not in kinds(the_plan)


def test_removing_the_udp_listeners_removes_the_table_and_the_checker() -> None:
    spec = spec_of(example())
    data = copy.deepcopy(example())
    lb = data["load_balancers"][0]
    lb["listeners"], lb["pools"] = [], []
    the_plan = plan(spec_of(data), converged(spec))
    ns = spec.udp[0].namespace
    removals = [o for o in the_plan.operations if isinstance(o, op.RemoveUdp)]
    assert removals == [op.RemoveUdp(ns, exists=True)]
    stops = [o.name for o in the_plan.operations if isinstance(o, op.StopProcess)]
    assert stops == [next(p.name for p in spec.processes if p.program == "netnode.udpcheck")]
    # the checker stops before the table goes, so it cannot write it back
    assert kinds(the_plan).index("StopProcess") < kinds(the_plan).index("RemoveUdp")
