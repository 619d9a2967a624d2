"""netnode.cluster.local: a node's cut of a cluster's topology."""

from __future__ import annotations

from netnode.cluster.local import bridge_map, for_node
from netnode.cluster.scheduling import Placement
from netnode.model.loading import load_data

DATA = {
    "name": "svc",
    "networks": [
        {
            "name": "tenant1",
            "segmentation_id": 1,
            "subnets": [{"name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
        },
        {
            "name": "public",
            "external": True,
            "subnets": [{"name": "p", "cidr": "10.255.253.0/24", "gateway_ip": "10.255.253.1"}],
        },
    ],
    "load_balancers": [
        {"name": "one", "vip": {"network": "tenant1", "address": "10.0.0.100"}},
        {
            "name": "pair",
            "vip": {"network": "tenant1", "address": "10.0.0.110"},
            "topology": "ACTIVE_STANDBY",
            "vrrp_addresses": ["10.0.0.111", "10.0.0.112"],
        },
    ],
}


def test_a_node_keeps_what_is_placed_on_it_named_by_its_instance() -> None:
    topo = load_data(DATA, "c")
    one, pair = topo.load_balancers
    placements = [
        Placement("i-one", "svc", one.uid, "load_balancers", "a"),
        Placement("i-pair-a", "svc", pair.uid, "load_balancers", "a", "BACKUP", 1),
        Placement("i-pair-b", "svc", pair.uid, "load_balancers", "b", "MASTER", 0),
        Placement("i-other", "other", one.uid, "load_balancers", "a"),
    ]
    on_a = for_node(topo, placements, "a", {"br-int": "nnai", "br-ex": "nnae"})
    assert [(lb.name, lb.instance, lb.slot, lb.role) for lb in on_a.load_balancers] == [
        ("one", "i-one", None, None),
        ("pair", "i-pair-a", 1, "BACKUP"),
    ]
    assert on_a.load_balancers[1].host_id == "i-pair-a"
    assert on_a.integration_bridge == "nnai"
    assert on_a.bridge_of(on_a.network("public")) == "nnae"
    on_b = for_node(topo, placements, "b")
    assert [(lb.name, lb.slot, lb.role) for lb in on_b.load_balancers] == [("pair", 0, "MASTER")]
    assert for_node(topo, placements, "c").load_balancers == []
    # The cluster's own copy is untouched.
    assert topo.load_balancers[0].instance is None


def test_bridge_map_entries() -> None:
    assert bridge_map(["br-int=nnai", "br-ex=nnae"]) == {"br-int": "nnai", "br-ex": "nnae"}
    for bad in ("br-int", "=x", "x="):
        try:
            bridge_map([bad])
        except ValueError as exc:
            assert "FROM=TO" in str(exc)
        else:
            raise AssertionError(bad)


def test_a_cluster_node_serves_no_dhcp_yet() -> None:
    data = {**DATA, "networks": [dict(n) for n in DATA["networks"]]}
    data["networks"][0]["subnets"] = [
        {"name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "enable_dhcp": True}
    ]
    topo = load_data(data, "c")
    mine = for_node(topo, [], "a")
    assert not any(s.enable_dhcp for n in mine.networks for s in n.subnets)
    assert topo.networks[0].subnets[0].enable_dhcp  # the cluster's own topology keeps it
