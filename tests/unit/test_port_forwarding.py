"""Floating IP port forwardings: what the model refuses, what the desired host holds, and
which conntrack entries a plan forgets when one goes away or changes."""

from __future__ import annotations

import copy
from pathlib import Path, PurePath

import pytest
import yaml

from netnode.errors import TopologyError
from netnode.model.loading import load_data
from netnode.plan import operations as op
from netnode.plan.desired import build
from netnode.plan.diff import plan
from netnode.plan.observed import HostState, Ledger
from netnode.plan.spec import Forwarded, HostSpec
from netnode.render.iptables import PortForwardingNat, RouterNat
from tests.unit.test_plan import as_observed

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"
RUN = PurePath("/var/lib/netnode/netnode/haproxy")
PFIP = "10.255.253.101"


@pytest.fixture
def data() -> dict:
    """The seed plus a floating IP forwarding 8080/tcp to vm1:80 and 5353/udp to vm2:53."""
    seed = yaml.safe_load(SEED.read_text())
    seed["floating_ips"].append(
        {
            "name": "pf-fip",
            "floating_ip_address": PFIP,
            "port_forwardings": [
                {
                    "protocol": "tcp",
                    "external_port": 8080,
                    "internal_ip_address": "10.0.0.81",
                    "internal_port": 80,
                },
                {
                    "protocol": "udp",
                    "external_port": 5353,
                    "internal_ip_address": "10.0.0.82",
                    "internal_port": 53,
                },
            ],
        }
    )
    return seed


def forwardings(data: dict) -> list[dict]:
    return data["floating_ips"][1]["port_forwardings"]


def problems(data: dict) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_data(data)
    return [str(p) for p in info.value.problems]


def spec_of(data: dict) -> HostSpec:
    return build(load_data(data), "netnode", RUN)


def router_nat(spec: HostSpec) -> RouterNat:
    (nat,) = [f.rules for f in spec.firewalls if isinstance(f.rules, RouterNat)]
    return nat


# -- the model -----------------------------------------------------------------------------


def test_port_forwardings_load_with_ids_and_networks(data: dict) -> None:
    fip = load_data(data).floating_ips[1]
    assert [pf.internal_network for pf in fip.port_forwardings] == ["tenant1", "tenant1"]
    ids = {pf.id for pf in fip.port_forwardings}
    assert len(ids) == 2 and None not in ids
    assert fip.port_forwardings[0].id == load_data(data).floating_ips[1].port_forwardings[0].id


def test_a_floating_ip_cannot_have_both_a_fixed_address_and_port_forwardings(data: dict) -> None:
    data["floating_ips"][1]["fixed_ip_address"] = "10.0.0.81"
    assert problems(data) == [
        "floating_ips[1].port_forwardings: a floating IP with port forwardings cannot also "
        "have a fixed_ip_address (Neutron refuses it): remove fixed_ip_address or the port "
        "forwardings"
    ]


def test_an_external_port_is_forwarded_once_per_protocol(data: dict) -> None:
    forwardings(data).append({**forwardings(data)[0], "internal_port": 81})
    forwardings(data).append({**forwardings(data)[0], "protocol": "udp", "internal_port": 82})
    assert problems(data) == [
        "floating_ips[1].port_forwardings[2].external_port: duplicate external port "
        "'8080/tcp' (also at floating_ips[1].port_forwardings[0].external_port)"
    ]


def test_an_internal_port_is_the_target_of_one_forwarding(data: dict) -> None:
    forwardings(data).append({**forwardings(data)[0], "external_port": 8081})
    assert problems(data) == [
        "floating_ips[1].port_forwardings[2].internal_port: 10.0.0.81:80/tcp is already the "
        "target of floating_ips[1].port_forwardings[0]"
    ]


def test_the_internal_address_must_be_an_instance_or_a_vip(data: dict) -> None:
    forwardings(data)[0]["internal_ip_address"] = "10.0.0.99"
    assert problems(data) == [
        "floating_ips[1].port_forwardings[0].internal_ip_address: nothing holds 10.0.0.99 "
        "(it must be an instance's or a port's address or a load balancer's VIP)"
    ]


def test_the_internal_address_must_not_have_a_floating_ip_of_its_own(data: dict) -> None:
    forwardings(data)[0]["internal_ip_address"] = "10.0.0.100"  # the seed's FIP holds the VIP
    assert problems(data) == [
        "floating_ips[1].port_forwardings[0].internal_ip_address: 10.0.0.100 on 'tenant1' has "
        "a floating IP of its own (floating_ips[0]); Neutron forwards no port to an address "
        "bound to a floating IP"
    ]


def test_the_internal_network_needs_a_router_with_a_gateway_there(data: dict) -> None:
    data["routers"][0]["interfaces"] = []
    data["floating_ips"].pop(0)
    found = problems(data)
    assert found == [
        f"floating_ips[0].port_forwardings[{j}].internal_ip_address: network 'tenant1' has no "
        "router; the floating IP cannot reach it"
        for j in (0, 1)
    ]


def test_port_forwardings_of_one_floating_ip_share_a_router(data: dict) -> None:
    data["networks"].append(
        {
            "name": "tenant2",
            "segmentation_id": 2,
            "subnets": [{"name": "t2", "cidr": "10.0.2.0/24", "gateway_ip": "10.0.2.1"}],
        }
    )
    data["routers"].append(
        {
            "name": "r2",
            "external_gateway": {"network": "public", "ip_address": "10.255.253.11"},
            "interfaces": ["t2"],
        }
    )
    data["lab"]["instances"].append(
        {"name": "vm3", "network": "tenant2", "address": "10.0.2.5", "body": "vm3"}
    )
    forwardings(data)[1]["internal_ip_address"] = "10.0.2.5"
    assert problems(data) == [
        "floating_ips[1].port_forwardings[1].internal_ip_address: 10.0.2.5 is reached through "
        "router 'r2', floating_ips[1].port_forwardings[0] through router '01': the port "
        "forwardings of one floating IP must all go through one router"
    ]


def test_protocol_and_ports_are_checked_by_the_schema(data: dict) -> None:
    forwardings(data)[0]["protocol"] = "icmp"
    forwardings(data)[1]["external_port"] = 0
    found = problems(data)
    assert any(p.startswith("floating_ips[1].port_forwardings[0].protocol:") for p in found)
    assert any(p.startswith("floating_ips[1].port_forwardings[1].external_port:") for p in found)


# -- the desired host ----------------------------------------------------------------------


def test_the_floating_address_sits_on_the_gateway_port_with_its_forwardings(data: dict) -> None:
    spec = spec_of(data)
    (qg,) = [p for p in spec.ports if p.name.startswith("qg-")]
    assert f"{PFIP}/32" in qg.addresses
    nat = router_nat(spec)
    assert nat.port_forwardings == (
        PortForwardingNat(PFIP, "tcp", 8080, "10.0.0.81", 80),
        PortForwardingNat(PFIP, "udp", 5353, "10.0.0.82", 53),
    )
    assert [f.floating_ip for f in nat.floating_ips] == ["10.255.253.100"]
    (floating,) = spec.floating.values()
    assert floating == (
        "10.255.253.100",
        PFIP,
        f"{PFIP}:8080/tcp->10.0.0.81:80",
        f"{PFIP}:5353/udp->10.0.0.82:53",
    )
    assert Forwarded.parse(floating[2]) == Forwarded(PFIP, "tcp", 8080, "10.0.0.81:80")
    assert Forwarded.parse(PFIP) is None


# -- conntrack on removal ------------------------------------------------------------------


def flushes(before: dict, after: dict) -> list[op.FlushConntrack]:
    old = spec_of(before)
    observed = as_observed(old)
    observed = HostState(
        observed.ovs, observed.namespaces, observed.inside, observed.processes, {}, observed.ledger
    )
    return [
        o for o in plan(spec_of(after), observed).operations if isinstance(o, op.FlushConntrack)
    ]


def test_removing_a_forwarding_forgets_only_its_port(data: dict) -> None:
    after = copy.deepcopy(data)
    forwardings(after).pop(0)
    (flush,) = flushes(data, after)
    assert (flush.address, flush.protocol, flush.port) == (PFIP, "tcp", 8080)
    assert flush.subject == f"port forwarding {PFIP}:8080/tcp"
    assert flush.shell()[0][-7:] == [
        "-D",
        "-p",
        "tcp",
        "--orig-dst",
        PFIP,
        "--orig-port-dst",
        "8080",
    ]


def test_retargeting_a_forwarding_forgets_its_old_connections(data: dict) -> None:
    after = copy.deepcopy(data)
    forwardings(after)[1]["internal_port"] = 5353
    (flush,) = flushes(data, after)
    assert (flush.address, flush.protocol, flush.port) == (PFIP, "udp", 5353)


def test_removing_the_floating_ip_forgets_the_whole_address_once(data: dict) -> None:
    after = copy.deepcopy(data)
    after["floating_ips"].pop(1)
    (flush,) = flushes(data, after)
    assert (flush.address, flush.protocol) == (PFIP, None)


def test_an_unchanged_topology_flushes_nothing(data: dict) -> None:
    spec = spec_of(data)
    assert plan(spec, as_observed(spec)).empty


def test_an_old_ledger_without_forwardings_is_read_as_before(data: dict) -> None:
    spec = spec_of(data)
    ns = next(iter(spec.floating))
    ledger = Ledger(
        tuple(n.name for n in spec.namespaces),
        tuple(p.name for p in spec.processes),
        {ns: ("10.255.253.100", "10.255.253.102")},
    )
    found = [o for o in plan(spec, as_observed(spec, ledger)).operations]
    assert [(o.address, o.protocol) for o in found if isinstance(o, op.FlushConntrack)] == [
        ("10.255.253.102", None)
    ]
