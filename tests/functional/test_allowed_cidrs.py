"""A listener's allowed_cidrs on a real host: who reaches the VIP and who does not.

The seed's load balancer gets a second listener (8080, same pool). Two sources reach
the VIP: the external client through the floating IP (10.255.253.1: the router DNATs
without SNAT, so the load balancer sees the client's own address) and vm1 (10.0.0.81)
directly on the tenant network. All traffic starts in the lab's namespaces.
"""

from __future__ import annotations

import copy
import subprocess

import pytest

from netnode.lab.client import connect
from tests.functional.conftest import Lab, seed_data

FIP = "10.255.253.100"
VIP = "10.0.0.100"
CHAIN = "netnode-lb-PREROUTING"


def restricted(*cidrs: str) -> dict:
    """Listener 80 open to ``cidrs`` only; listener 8080 (no allowed_cidrs) open to all."""
    data = seed_data()
    listeners = data["load_balancers"][0]["listeners"]
    listeners[0]["allowed_cidrs"] = list(cidrs)
    listeners.append(
        {"name": "other", "protocol": "HTTP", "protocol_port": 8080, "default_pool": "vms"}
    )
    return data


def mangle(namespace: str, *args: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables", "-t", "mangle", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def saved_mangle(namespace: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-save", "-t", "mangle"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


def answers(lab: Lab, namespace: str, address: str, port: int) -> bool:
    try:
        return lab.get(namespace, address, port, timeout=1.0).status == 200
    except OSError:
        return False


def test_only_allowed_sources_reach_the_listener_and_other_listeners_are_open(lab: Lab) -> None:
    lab.apply(restricted("10.255.253.0/24"))
    outside, vm1 = lab.ns_of("client", "outside"), lab.ns_of("instance", "vm1")

    assert answers(lab, outside, FIP, 80)  # allowed: 10.255.253.1
    assert not answers(lab, vm1, VIP, 80)  # not: 10.0.0.81
    # The listener without allowed_cidrs answers both.
    assert answers(lab, outside, FIP, 8080)
    assert answers(lab, vm1, VIP, 8080)

    rules = saved_mangle(lab.ns_of("lb", "01"))
    assert f"-A PREROUTING -j {CHAIN}" in rules
    assert f"-A {CHAIN} -s 10.255.253.0/24 -d {VIP}/32 -p tcp -m tcp --dport 80 -j RETURN" in rules
    assert lab.apply(restricted("10.255.253.0/24")).plan.empty


def test_changing_the_list_lets_new_sources_in_and_cuts_removed_ones(lab: Lab) -> None:
    lab.apply(restricted("10.255.253.0/24", "10.0.0.81/32"))
    outside, vm1 = lab.ns_of("client", "outside"), lab.ns_of("instance", "vm1")
    assert answers(lab, vm1, VIP, 80) and answers(lab, outside, FIP, 80)

    held = connect(vm1, VIP, 80)
    try:
        lab.apply(restricted("10.255.253.0/24"))
        # An established connection from a source no longer allowed stops at its next packet.
        held.settimeout(2.0)
        with pytest.raises(OSError):
            held.sendall(b"GET / HTTP/1.0\r\n\r\n")
            if not held.recv(65536):
                raise ConnectionResetError("closed without an answer")
    finally:
        held.close()
    assert not answers(lab, vm1, VIP, 80)
    assert answers(lab, outside, FIP, 80)

    # No allowed_cidrs any more: everyone is let in and netnode's chain is gone.
    lab.apply(restricted())
    assert answers(lab, vm1, VIP, 80)
    assert not any(CHAIN in line for line in saved_mangle(lab.ns_of("lb", "01")))


def test_a_flushed_chain_is_restored_by_the_next_apply(lab: Lab) -> None:
    data = restricted("10.255.253.0/24")
    lab.apply(data)
    lb, vm1 = lab.ns_of("lb", "01"), lab.ns_of("instance", "vm1")
    before = saved_mangle(lb)
    assert not answers(lab, vm1, VIP, 80)

    mangle(lb, "-F", CHAIN)  # someone flushes netnode's chain
    assert answers(lab, vm1, VIP, 80)
    outcome = lab.apply(data)
    assert [o.subject for o in outcome.plan.operations] == [f"iptables {lb}"]
    assert saved_mangle(lb) == before
    assert not answers(lab, vm1, VIP, 80)

    mangle(lb, "-D", "PREROUTING", "-j", CHAIN)  # ...or deletes the jump into it
    mangle(lb, "-I", "PREROUTING", "-s", "192.0.2.0/24", "-j", "ACCEPT")  # a rule not ours
    assert answers(lab, vm1, VIP, 80)
    lab.apply(data)
    assert not answers(lab, vm1, VIP, 80)
    rules = saved_mangle(lb)
    assert rules.index(f"-A PREROUTING -j {CHAIN}") < rules.index(
        "-A PREROUTING -s 192.0.2.0/24 -j ACCEPT"
    )


def test_a_listener_open_to_everyone_by_cidr_gets_no_rules(lab: Lab) -> None:
    data = restricted("0.0.0.0/0")
    lab.apply(data)
    assert answers(lab, lab.ns_of("instance", "vm1"), VIP, 80)
    assert not any(CHAIN in line for line in saved_mangle(lab.ns_of("lb", "01")))
    other = copy.deepcopy(data)
    other["load_balancers"][0]["listeners"][0]["allowed_cidrs"] = ["10.0.0.81/32"]
    lab.apply(other)
    assert answers(lab, lab.ns_of("instance", "vm1"), VIP, 80)
    assert not answers(lab, lab.ns_of("client", "outside"), FIP, 80)
