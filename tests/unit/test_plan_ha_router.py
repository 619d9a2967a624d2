"""An HA router's instance on a node (plan.desired): its qr- and qg- ports keep no
address of their own (the gateway addresses and floating IPs are keepalived's, moved
with the master, as is the default route), an ha- port on the HA network's VLAN carries
VRRP to the other instance, and conntrack picks up connections mid-stream after a
takeover. The model refuses what cannot work: a wrong number of HA addresses, one
outside the HA network, the HA network's VLAN or range used by a tenant network."""

from __future__ import annotations

import copy
from pathlib import PurePath

import pytest

from netnode.errors import TopologyError
from netnode.model.loading import load_data
from netnode.plan.desired import build_units

DATA = {
    "name": "edge",
    "networks": [
        {
            "name": "tenant1",
            "segmentation_id": 1,
            "subnets": [{"name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
        },
        {
            "name": "public",
            "external": True,
            "subnets": [{"name": "p", "cidr": "172.24.4.0/24", "gateway_ip": "172.24.4.1"}],
        },
    ],
    "routers": [
        {
            "name": "r",
            "external_gateway": {"network": "public", "ip_address": "172.24.4.10"},
            "interfaces": ["s"],
            "ha": True,
            "vrrp_addresses": ["169.254.192.1", "169.254.192.2"],
            "failover_profile": "fast",
        }
    ],
    "floating_ips": [
        {"name": "fip", "floating_ip_address": "172.24.4.20", "fixed_ip_address": "10.0.0.5"}
    ],
    "lab": {
        "instances": [{"name": "vm", "network": "tenant1", "address": "10.0.0.5", "body": "vm"}]
    },
}
RUN = PurePath("/var/lib/netnode/n1/haproxy")
INSTANCE = "11111111-2222-3333-4444-555555555555"


def unit_of(slot: int, role: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    topo = load_data(data or DATA, "c")
    router = topo.routers[0].model_copy(update={"instance": INSTANCE, "slot": slot, "role": role})
    return router_unit(topo.model_copy(update={"routers": [router]}))


def router_unit(topo):  # type: ignore[no-untyped-def]
    (unit,) = [u for u in build_units(topo, "n1", RUN) if u.namespace.kind == "router"]
    return unit


def test_the_routers_addresses_and_default_route_are_keepaliveds() -> None:
    unit = unit_of(1, "BACKUP")
    assert unit.namespace.name == f"qrouter-{INSTANCE}"
    assert unit.namespace.default_gateway is None and unit.namespace.route_elsewhere
    assert ("net.netfilter.nf_conntrack_tcp_be_liberal", "1") in unit.namespace.sysctls
    ports = {p.name[:3]: p for p in unit.ports}
    assert ports["qr-"].addresses == () and ports["qr-"].managed_elsewhere == ("10.0.0.1/24",)
    assert ports["qg-"].addresses == ()
    assert ports["qg-"].managed_elsewhere == ("172.24.4.10/24", "172.24.4.20/32")
    ha = ports["ha-"]
    assert ha.addresses == ("169.254.192.2/18",) and ha.tag == 4094
    assert ha.bridge == "br-int" and ha.name == "ha-11111111-22"
    # The NAT rules are the same on both instances (they match the addresses only where
    # keepalived put them).
    assert unit.firewalls and unit.firewalls[0].rules.gateway_ip == "172.24.4.10"


def test_keepalived_moves_every_address_and_the_default_route() -> None:
    unit = unit_of(1, "BACKUP")
    sync, keepalived, proxy = unit.processes
    assert proxy.name.startswith("md-")  # the metadata proxy runs on both instances
    assert keepalived.keepalived and keepalived.rt_priority is not None
    text = keepalived.config
    qr = next(p.name for p in unit.ports if p.name.startswith("qr-"))
    qg = next(p.name for p in unit.ports if p.name.startswith("qg-"))
    assert "interface ha-11111111-22" in text and "priority 90" in text
    assert "unicast_src_ip 169.254.192.2" in text and "        169.254.192.1" in text
    # One primary VIP on the ha- port; everything the router answers on is excluded
    # from the adverts but moves with the master.
    excluded = text.split("virtual_ipaddress_excluded {")[1].split("}")[0]
    assert f"10.0.0.1/24 dev {qr}" in excluded
    assert f"172.24.4.10/24 dev {qg}" in excluded and f"172.24.4.20/32 dev {qg}" in excluded
    assert "/24 dev ha-11111111-22" in text.split("virtual_ipaddress {")[1].split("}")[0]
    assert f"0.0.0.0/0 via 172.24.4.1 dev {qg}" in text.split("virtual_routes {")[1]
    # keepalived has conntrackd commit what it replicated on taking over.
    assert sync.conntrackd and sync.name == f"ctd-{INSTANCE}"
    ctd_dir = RUN.parent / "conntrackd" / sync.name
    assert f'notify "{ctd_dir}/transition.sh"' in text
    master = unit_of(0, "MASTER")
    assert "priority 100" in master.processes[1].config
    assert "unicast_src_ip 169.254.192.1" in master.processes[1].config


def test_conntrackd_replicates_to_the_other_instance_over_the_ha_port() -> None:
    sync, _, _ = unit_of(1, "BACKUP").processes
    text = sync.config
    assert "Mode FTFW" in text and "Interface ha-11111111-22" in text
    assert "IPv4_address 169.254.192.2" in text
    assert "IPv4_Destination_Address 169.254.192.1" in text
    # VRRP's and conntrackd's own traffic is not replicated.
    ignored = text.split("Address Ignore {")[1].split("}")[0].split()
    assert {"127.0.0.1", "169.254.192.1", "169.254.192.2"} <= set(ignored)
    assert f"Path {RUN.parent}/conntrackd/{sync.name}/ctl" in text


def test_a_router_without_ha_is_as_before() -> None:
    data = copy.deepcopy(DATA)
    data["routers"][0].pop("ha")
    data["routers"][0].pop("vrrp_addresses")
    unit = router_unit(load_data(data, "c"))
    assert unit.namespace.default_gateway == "172.24.4.1"
    assert [p.name.split("-")[0] for p in unit.processes] == ["md"]
    assert not any(p.name.startswith("ha-") for p in unit.ports)


def test_a_node_on_its_own_refuses_an_ha_router() -> None:
    with pytest.raises(TopologyError, match="an HA router needs two nodes of a cluster"):
        build_units(load_data(DATA, "c"), "n1", RUN)


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (
            lambda d: d["routers"][0].update(vrrp_addresses=["169.254.192.1"]),
            "routers[0].vrrp_addresses",
            "needs two",
        ),
        (
            lambda d: d["routers"][0].update(vrrp_addresses=["169.254.192.1", "10.0.0.9"]),
            "routers[0].vrrp_addresses[1]",
            "not a host address of the HA network",
        ),
        (
            lambda d: d["routers"][0].update(ha=False),
            "routers[0].vrrp_addresses",
            "only an HA router",
        ),
        (
            lambda d: d["networks"][0].update(segmentation_id=4094),
            "networks[0].segmentation_id",
            "HA network",
        ),
        (
            lambda d: d.update(ha_network={"segmentation_id": 7, "cidr": "10.0.0.0/16"}),
            "networks[0].subnets[0].cidr",
            "overlaps the HA network",
        ),
    ],
)
def test_the_model_refuses_an_ha_router_that_cannot_work(change, field, says) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(DATA)
    change(data)
    with pytest.raises(TopologyError) as raised:
        load_data(data, "c")
    assert any(p.path == field and says in p.message for p in raised.value.problems), raised.value
