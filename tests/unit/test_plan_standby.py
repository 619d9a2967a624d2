"""An ACTIVE_STANDBY load balancer's instance on a node (plan.desired): its port holds
its own VRRP address, the VIP is keepalived's (never added or removed by netnode), its
keepalived runs VRRPv3 to the other instance with the priority of its role, tracking
HAProxy, and HAProxy may bind the VIP it does not hold."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from netnode.errors import TopologyError
from netnode.model.loading import load_data
from netnode.plan.desired import build_units

DATA = {
    "name": "svc",
    "networks": [
        {
            "name": "tenant1",
            "segmentation_id": 1,
            "subnets": [{"name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
        }
    ],
    "load_balancers": [
        {
            "name": "pair",
            "vip": {"network": "tenant1", "address": "10.0.0.110"},
            "topology": "ACTIVE_STANDBY",
            "vrrp_addresses": ["10.0.0.111", "10.0.0.112"],
            "failover_profile": "fast",
        }
    ],
}
RUN = PurePath("/var/lib/netnode/n1/haproxy")


def unit_of(slot: int, role: str):  # type: ignore[no-untyped-def]
    topo = load_data(DATA, "c")
    lb = topo.load_balancers[0].model_copy(
        update={"instance": "11111111-2222-3333-4444-555555555555", "slot": slot, "role": role}
    )
    (unit,) = build_units(topo.model_copy(update={"load_balancers": [lb]}), "n1", RUN)
    return unit


def test_the_port_holds_its_own_address_and_leaves_the_vip_to_keepalived() -> None:
    unit = unit_of(1, "BACKUP")
    (port,) = unit.ports
    assert port.addresses == ("10.0.0.112/24",)
    assert port.managed_elsewhere == ("10.0.0.110/24",)
    assert ("net.ipv4.ip_nonlocal_bind", "1") in unit.namespace.sysctls
    assert unit.namespace.name == "qlbaas-11111111-2222-3333-4444-555555555555"


def test_keepalived_runs_to_the_other_instance_with_the_priority_of_its_role() -> None:
    backup = unit_of(1, "BACKUP")
    (keepalived,) = [p for p in backup.processes if p.keepalived]
    assert keepalived.rt_priority is not None  # the fast profile
    text = keepalived.config
    assert "unicast_src_ip 10.0.0.112" in text and "        10.0.0.111" in text
    assert "priority 90" in text and "nopreempt" in text and "    state BACKUP" in text
    assert "10.0.0.110/24 dev " in text
    assert "advert_int 0.1" in text and "vrrp_startup_delay 1" in text
    # HAProxy is tracked by the name it runs under (a reload moves its arguments).
    (haproxy,) = [p for p in backup.processes if p.haproxy]
    assert haproxy.executable == "haproxy11111111"
    assert 'process "haproxy11111111"' in text and "param_match" not in text
    master = unit_of(0, "MASTER")
    (keepalived,) = [p for p in master.processes if p.keepalived]
    assert "priority 100" in keepalived.config
    assert "unicast_src_ip 10.0.0.111" in keepalived.config


def test_a_node_on_its_own_refuses_an_active_standby_load_balancer() -> None:
    with pytest.raises(TopologyError, match="ACTIVE_STANDBY needs two nodes of a cluster"):
        build_units(load_data(DATA, "c"), "n1", RUN)
