"""Self-repair: break what netnode built, by hand, and let one agent pass repair it.

Each test builds the seed scenario, breaks one thing the way an operator's slip or a
crash would, runs one full reconcile pass (``Agent.run_once``, what ``netnode agent``
does every period), and checks the repair with real traffic from the external client
namespace to the floating IP (br-ex -> router -> br-int -> HAProxy -> members).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netnode.plan.desired import process_name
from netnode.plan.spec import OWNER_NODE
from netnode.reconcile.agent import Agent
from tests.functional.conftest import OVS_CTL, Lab, eventually, seed_data

FIP = "10.255.253.100"


def serving(lab: Lab) -> set[str]:
    outside = lab.ns_of("client", "outside")
    return set(lab.bodies(outside, FIP, 4))


def repair(lab: Lab, files: list[Path] | None = None) -> None:
    reports = Agent(lab.host, files=files or [], log=lambda _s: None).run_once()
    assert reports and all(r.ok for r in reports), [str(r) for r in reports]


def lb_process(lab: Lab) -> str:
    return process_name("lb", lab.topology(seed_data()).load_balancers[0].uid)


def test_a_killed_haproxy_is_restarted(lab: Lab) -> None:
    lab.apply(seed_data())
    name = lb_process(lab)
    pid = lab.host.haproxy.running_pid(name)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: lab.host.haproxy.running_pid(name) is None, timeout=5)
    repair(lab)
    assert lab.host.haproxy.running_pid(name) not in (None, pid)
    assert serving(lab) == {"server_81", "server_82"}


def test_a_deleted_namespace_is_rebuilt(lab: Lab) -> None:
    lab.apply(seed_data())
    lb_ns = lab.ns_of("lb", "01")
    subprocess.run(["ip", "netns", "delete", lb_ns], check=True)
    repair(lab)
    assert lb_ns in lab.host.netlink.namespaces()
    # HAProxy was left running in the deleted namespace; it now runs in the new one.
    assert lab.host.haproxy.runs_in(lb_process(lab), lb_ns)
    assert serving(lab) == {"server_81", "server_82"}


def test_a_deleted_router_namespace_is_rebuilt_with_its_rules(lab: Lab) -> None:
    lab.apply(seed_data())
    router_ns = lab.ns_of("router", "01")
    subprocess.run(["ip", "netns", "delete", router_ns], check=True)
    repair(lab)
    assert serving(lab) == {"server_81", "server_82"}


def test_a_deleted_ovs_port_is_plugged_again(lab: Lab) -> None:
    lab.apply(seed_data())
    lb = lab.topology(seed_data()).load_balancers[0]
    port = f"tap{lb.uid[:11]}"
    subprocess.run(["ovs-vsctl", "del-port", port], check=True)
    repair(lab)
    state = lab.host.ovs.observe()
    assert state.ports[port].tag == 1
    assert state.ports[port].external_ids[OWNER_NODE] == lab.host.node
    assert serving(lab) == {"server_81", "server_82"}


def test_flushed_iptables_rules_are_restored(lab: Lab) -> None:
    lab.apply(seed_data())
    router_ns = lab.ns_of("router", "01")
    for table in ("nat", "filter"):
        subprocess.run(
            ["ip", "netns", "exec", router_ns, "iptables", "-t", table, "-F"], check=True
        )
    with pytest.raises(OSError):
        lab.get(lab.ns_of("client", "outside"), FIP, timeout=0.5)
    repair(lab)
    assert serving(lab) == {"server_81", "server_82"}


def iptables_rules(namespace: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-save"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = ""
    rules = []
    for line in out.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            rules.append(f"{table} {line}")
    return rules


def owned_leftovers(lab: Lab) -> list[str]:
    """Everything on the host that carries this lab's node: namespaces, ports, processes."""
    node = lab.host.node
    topo = lab.topology(seed_data())
    left = [
        ns
        for ns in lab.host.netlink.namespaces()
        if ns.endswith(
            tuple(
                x.uid
                for x in [
                    *topo.load_balancers,
                    *topo.routers,
                    *topo.lab.instances,
                    *topo.lab.clients,
                ]
            )
        )
    ]
    state = lab.host.ovs.observe()
    left += [p for p, port in state.ports.items() if port.external_ids.get(OWNER_NODE) == node]
    left += [n for n in lab.host.haproxy.names() if lab.host.haproxy.running_pid(n)]
    return left


# Python starts and imports netnode in about 0.45 s here, and the apply itself takes
# about 0.7 s: these delays kill it before, in and after its OVS, netlink, iptables and
# HAProxy phases.
@pytest.mark.parametrize("delay", [0.2, 0.5, 0.7, 0.9, 1.1, 1.4])
def test_an_apply_killed_at_any_point_leaves_nothing_the_next_pass_cannot_fix(
    lab: Lab, delay: float
) -> None:
    path = lab.write(seed_data())
    proc = subprocess.Popen(
        [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), "apply", "-f", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    lab.applied = lab.prepare(seed_data())  # so the fixture destroys it whatever happens
    # The agent is given the file (had the killed apply recorded the topology already,
    # the record alone would do).
    repair(lab, [path])
    assert serving(lab) == {"server_81", "server_82"}
    rules = iptables_rules(lab.ns_of("router", "01"))
    duplicated = [rule for rule, n in collections.Counter(rules).items() if n > 1]
    assert not duplicated
    # A second pass has nothing left to do, and a destroy leaves nothing behind.
    again = Agent(lab.host, files=[path], log=lambda _s: None).run_once()
    assert all(r.outcome is not None and r.outcome.plan.empty for r in again), [
        str(r) for r in again
    ]
    lab.destroy()
    assert owned_leftovers(lab) == []


def vswitchd_answers() -> bool:
    probe = ["ovs-appctl", "--timeout=2", "-t", "ovs-vswitchd", "version"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def test_ports_are_plugged_again_after_ovs_vswitchd_restarts(private_ovs: Path, lab: Lab) -> None:
    """ovs-vswitchd going away takes every tap device with it (the userspace datapath
    holds them open); when it comes back it creates them again in the host's namespace.
    Asked to exit and started again with ovs-ctl, as the host set-up starts it, on an
    Open vSwitch of this test's own (a SIGKILL is in test_faults.py)."""
    try:
        lab.apply(seed_data())
        subprocess.run(["ovs-appctl", "-t", "ovs-vswitchd", "exit"], check=True, timeout=30)
        eventually(lambda: not vswitchd_answers(), timeout=10)
        subprocess.run([OVS_CTL, "start"], check=True, timeout=120, capture_output=True)
        assert vswitchd_answers()
        repair(lab)
        assert serving(lab) == {"server_81", "server_82"}
    finally:
        lab.destroy()  # while this test's Open vSwitch still runs
