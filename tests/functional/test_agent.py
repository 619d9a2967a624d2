"""The reconcile loop on a real host: changes picked up on its own, failures contained
to their unit and retried, provisioning status as Octavia reports it."""

from __future__ import annotations

import contextlib
import copy
import io
import socket
import threading
from collections.abc import Iterator

import pytest
import yaml
from pyroute2 import netns

from netnode.cli.main import main as cli
from netnode.reconcile import converge
from netnode.reconcile.agent import Agent
from tests.functional.conftest import Lab, eventually, seed_data

VIP2 = "10.0.0.101"


def two_load_balancers() -> dict:
    data = seed_data()
    second = copy.deepcopy(data["load_balancers"][0])
    second["name"] = "02"
    second["vip"] = {"network": "tenant1", "address": VIP2}
    data["load_balancers"].append(second)
    return data


@contextlib.contextmanager
def listening(namespace: str, address: str, port: int) -> Iterator[None]:
    """Hold ``address:port`` inside ``namespace`` (as a foreign process would)."""
    netns.pushns(namespace)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    finally:
        netns.popns()
    try:
        sock.bind((address, port))
        sock.listen(1)
        yield
    finally:
        sock.close()


def test_the_agent_converges_a_changed_file_on_its_own(lab: Lab) -> None:
    data = seed_data()
    path = lab.write(data)
    # Built here: the agent's thread then only reads the host (rtnetlink, ovs-vsctl)
    # and talks to HAProxy; pyroute2 leaves an event loop behind in a thread that used it.
    lab.apply(data)
    agent = Agent(lab.host, files=[path], period=600, log=lambda _s: None)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        outside = lab.ns_of("client", "outside")
        eventually(
            lambda: set(lab.bodies(outside, "10.255.253.100", 4)) == {"server_81", "server_82"}
        )
        # Take vm2 out by weight: the file changes, nobody calls apply.
        data["load_balancers"][0]["pools"][0]["members"][1]["weight"] = 0
        lab.write(data)
        eventually(lambda: set(lab.bodies(outside, "10.255.253.100", 6)) == {"server_81"})
    finally:
        stop.set()
        agent.trigger()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_failing_unit_does_not_stop_the_others_and_is_retried(lab: Lab) -> None:
    data = two_load_balancers()
    lab.apply(data)
    topo = lab.topology(data)
    lb1, lb2 = topo.load_balancers
    lb2_ns = lab.ns_of("lb", "02")

    changed = copy.deepcopy(data)
    changed["load_balancers"][1]["listeners"][0]["protocol_port"] = 8080
    changed["load_balancers"][0]["pools"][0]["members"][1]["weight"] = 0
    with listening(lb2_ns, VIP2, 8080):
        for _ in range(3):
            outcome = lab.apply(changed)
            assert {f.unit for f in outcome.failures} == {lb2_ns}, outcome.failures
        # The other load balancer took its change; this one keeps serving the old port.
        assert set(lab.bodies(lab.ns_of("lb", "01"), "10.0.0.100", 6)) == {"server_81"}
        assert lab.get(lb2_ns, VIP2, 80).status == 200
        new_topo = lab.topology(changed)
        listener2 = new_topo.load_balancers[1].listeners[0].uid
        assert outcome.status[listener2] == "ERROR"
        assert outcome.status[new_topo.load_balancers[1].uid] == "ERROR"
        assert outcome.status[lb1.uid] == "ACTIVE"
        (record,) = converge.desired(lab.host).values()
        assert lb2_ns in record.failures and record.failures[lb2_ns].count == 3
    # The port is free again: the next pass (the agent's retry) converges it.
    reports = Agent(lab.host, log=lambda _s: None).run_once(changed_only=True)
    assert all(r.ok for r in reports), [str(r) for r in reports]
    assert reports[0].outcome is not None and reports[0].outcome.scope == {lb2_ns}
    assert lab.get(lb2_ns, VIP2, 8080).status == 200
    (record,) = converge.desired(lab.host).values()
    assert record.failures == {}
    assert set(record.status.values()) == {"ACTIVE"}
    assert lb2.uid in record.status


def test_netnode_agent_once_repairs_and_reports(lab: Lab) -> None:
    data = seed_data()
    path = lab.write(data)
    lab.apply(data)
    name = f"lb-{lab.topology(data).load_balancers[0].uid}"
    lab.host.haproxy.stop(name)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli([*lab.cli_args(), "agent", "--once", "-f", str(path)])
    assert code == 0, out.getvalue()
    assert "full pass" in out.getvalue() and "1 created" in out.getvalue()
    assert lab.host.haproxy.running_pid(name) is not None


def test_status_shows_provisioning_and_stats(lab: Lab) -> None:
    data = seed_data()
    lab.apply(data)
    outside = lab.ns_of("client", "outside")
    lab.bodies(outside, "10.255.253.100", 5)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli([*lab.cli_args(), "status", "-o", "json"]) == 0
    (doc,) = yaml.safe_load(out.getvalue())
    lb = doc["statuses"]["loadbalancer"]
    assert lb["provisioning_status"] == "ACTIVE" and lb["operating_status"] == "ONLINE"
    assert doc["stats"]["total_connections"] >= 5
    assert doc["stats"]["bytes_in"] > 0 and doc["stats"]["bytes_out"] > 0


def test_passes_redo_only_what_changed_and_a_full_pass_still_repairs(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = two_load_balancers()
    lab.apply(data)
    lb1_ns, lb2_ns = lab.ns_of("lb", "01"), lab.ns_of("lb", "02")
    router_ns = lab.ns_of("router", "01")
    read: list[str] = []  # the namespaces whose iptables rules a pass read
    differences = lab.host.iptables.differences

    def reading(namespace: str, rules: object) -> dict[str, list[str]]:
        read.append(namespace)
        return differences(namespace, rules)  # type: ignore[arg-type]

    monkeypatch.setattr(lab.host.iptables, "differences", reading)
    topology = lab.topology(data).name or ""
    agent = Agent(lab.host, log=lambda _s: None)
    (report,) = agent.run_once()
    assert report.ok and report.outcome is not None and report.outcome.plan.empty
    # The router's rules are read; load balancers that want none and converged are not.
    assert read == [router_ns]

    def units() -> dict[str, object]:
        return {u.name: u for u in lab.host.units.last(topology).values()}

    before = units()
    changed = lab.prepare(data)
    changed["load_balancers"][0]["pools"][0]["members"][1]["weight"] = 0
    document = lab.topology(changed).model_dump(mode="json", exclude_none=True)
    lab.host.store.set_desired(topology, document)
    read.clear()
    (report,) = agent.run_once(changed_only=True)
    assert report.ok and report.outcome is not None and report.outcome.scope == {lb1_ns}
    assert {type(o).__name__ for o in report.outcome.plan.operations} == {"ChangeServers"}
    # A member change: the load balancer wanted no rules before and wants none now
    # (recorded bare), so its iptables are not read either.
    assert read == []
    after = units()
    assert {u for u in after if after[u] is not before[u]} == {lb1_ns}
    lab.applied = changed

    # Drift is still repaired by the next full pass.
    name = f"lb-{lab.topology(changed).load_balancers[1].uid}"
    lab.host.haproxy.stop(name)
    read.clear()
    (report,) = agent.run_once()
    assert report.ok and report.outcome is not None and not report.outcome.plan.empty
    assert lab.host.haproxy.running_pid(name) is not None
    assert lab.get(lb2_ns, VIP2, 80).status == 200
    assert read == [router_ns]
    (report,) = agent.run_once()
    assert report.ok and report.outcome is not None and report.outcome.plan.empty
