"""Seed §8.2 on a real host: router namespace, SNAT and floating IPs, seen from outside."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys

import pytest

from tests.functional.conftest import Lab, seed_data

FIP = "10.255.253.100"


def conntrack_entries(namespace: str, address: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, "conntrack", "-L"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in out.splitlines() if address in line]


def saved_rules(namespace: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-save"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def without_counters(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_the_vip_answers_on_its_floating_ip_from_outside(lab: Lab) -> None:
    """The seed's final claim: from the external network, 10.255.253.100 round-robins."""
    lab.apply(seed_data())
    answers = lab.bodies(lab.ns_of("client", "outside"), FIP, 6)
    assert sorted(set(answers)) == ["server_81", "server_82"]
    assert all(a != b for a, b in itertools.pairwise(answers)), answers


def test_router_rules_are_neutrons_and_a_second_apply_keeps_them(lab: Lab) -> None:
    lab.apply(seed_data())
    router_ns = lab.ns_of("router", "01")
    before = saved_rules(router_ns)
    for chain in (
        "neutron-filter-top",
        "neutron-l3-agent-local",
        "neutron-l3-agent-FORWARD",
        "neutron-l3-agent-PREROUTING",
        "neutron-l3-agent-float-snat",
        "neutron-postrouting-bottom",
    ):
        assert f":{chain} " in before
    assert (
        f"-A neutron-l3-agent-PREROUTING -d {FIP}/32 -j DNAT --to-destination 10.0.0.100" in before
    )
    assert f"-A neutron-l3-agent-float-snat -s 10.0.0.100/32 -j SNAT --to-source {FIP}" in before
    assert lab.apply(seed_data()).plan.empty
    assert without_counters(saved_rules(router_ns)) == without_counters(before)


def test_an_instance_without_floating_ip_is_snatted_to_the_router_gateway(lab: Lab) -> None:
    lab.apply(seed_data())
    # The external client answers with the source address it sees.
    seen = lab.get(lab.ns_of("instance", "vm1"), "10.255.253.1").body.strip()
    assert seen == "10.255.253.10"


def test_an_instance_reaches_a_floating_ip_of_its_own_network(lab: Lab) -> None:
    """Hairpin: vm1 -> FIP -> VIP -> vm1 or vm2, on one subnet."""
    lab.apply(seed_data())
    answers = lab.bodies(lab.ns_of("instance", "vm1"), FIP, 4)
    assert set(answers) == {"server_81", "server_82"}


def test_a_floating_ip_bound_directly_to_an_instance(lab: Lab) -> None:
    data = seed_data()
    data["floating_ips"].append(
        {
            "name": "vm1-fip",
            "floating_ip_address": "10.255.253.101",
            "fixed_ip_address": "10.0.0.81",
        }
    )
    lab.apply(data)
    outside = lab.ns_of("client", "outside")
    assert set(lab.bodies(outside, "10.255.253.101", 4)) == {"server_81"}
    # vm1's own traffic leaves with its floating address, not the router's
    assert lab.get(lab.ns_of("instance", "vm1"), "10.255.253.1").body.strip() == "10.255.253.101"


def test_removing_a_floating_ip_cuts_it_at_once_and_rebinding_moves_it(lab: Lab) -> None:
    data = seed_data()
    lab.apply(data)
    outside = lab.ns_of("client", "outside")
    router_ns = lab.ns_of("router", "01")
    assert lab.get(outside, FIP).status == 200
    # An established flow through the floating IP, kept open.
    from netnode.lab.client import connect

    held = connect(outside, FIP, 80)
    try:
        assert conntrack_entries(router_ns, FIP)
        unbound = copy.deepcopy(data)
        unbound["floating_ips"][0].pop("fixed_ip_address")
        lab.apply(unbound)
        assert conntrack_entries(router_ns, FIP) == []
        with pytest.raises(OSError):
            lab.get(outside, FIP, timeout=1.0)
    finally:
        held.close()
    # Re-bound to vm2: all traffic goes to vm2, none through the old target.
    rebound = copy.deepcopy(data)
    rebound["floating_ips"][0]["fixed_ip_address"] = "10.0.0.82"
    lab.apply(rebound)
    assert set(lab.bodies(outside, FIP, 6)) == {"server_82"}


def two_tenants() -> dict:
    data = seed_data()
    data["networks"].append(
        {
            "name": "tenant2",
            "segmentation_id": 2,
            "subnets": [
                {"name": "tenant2-subnet", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}
            ],
        }
    )
    data["routers"].append(
        {
            "name": "02",
            "external_gateway": {"network": "public", "ip_address": "10.255.253.20"},
            "interfaces": ["tenant2-subnet"],
        }
    )
    data["lab"]["instances"] += [
        {"name": "t2-vm1", "network": "tenant2", "address": "10.0.0.81", "body": "tenant2_81"},
        {"name": "t2-vm9", "network": "tenant2", "address": "10.0.0.99", "body": "tenant2_99"},
    ]
    data["floating_ips"].append(
        {
            "name": "t2-fip",
            "floating_ip_address": "10.255.253.200",
            "fixed_ip_address": "10.0.0.81",
            "fixed_network": "tenant2",
        }
    )
    return data


def test_two_tenants_with_the_same_cidr_stay_apart(lab: Lab) -> None:
    lab.apply(two_tenants())
    outside = lab.ns_of("client", "outside")
    assert set(lab.bodies(outside, FIP, 4)) == {"server_81", "server_82"}
    assert set(lab.bodies(outside, "10.255.253.200", 4)) == {"tenant2_81"}
    # Same address, different VLAN: each tenant's vm1 sees its own 10.0.0.82 or nothing.
    assert lab.get(lab.ns_of("instance", "vm1"), "10.0.0.82").body.strip() == "server_82"
    with pytest.raises(OSError):
        lab.get(lab.ns_of("instance", "vm1"), "10.0.0.99", timeout=1.0)
    with pytest.raises(OSError):
        lab.get(lab.ns_of("instance", "t2-vm1"), "10.0.0.82", timeout=1.0)
    # Each tenant leaves through its own router.
    assert lab.get(lab.ns_of("instance", "t2-vm9"), "10.255.253.1").body.strip() == "10.255.253.20"


def test_demo_shows_the_seed_from_outside(lab: Lab) -> None:
    path = lab.write(seed_data())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "netnode.cli.main",
            *lab.cli_args(),
            "demo",
            "-f",
            str(path),
            "-n",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    external = out.stdout.split("§8.2")[1]
    assert external.count("server_81") == 2 and external.count("server_82") == 2
    assert "Cleaned up" in out.stdout
