"""Neutron v2.0 through the API: networks, subnets, and the operator's networks that
every project shares."""

from __future__ import annotations

from tests.api.conftest import Api


def test_create_network_and_subnet(api: Api) -> None:
    net = api.create("/v2.0/networks", "network", {"name": "my net", "tags": ["a"]}, "alpha")
    assert net["name"] == "my net"
    assert net["project_id"] == net["tenant_id"] == "alpha"
    assert net["shared"] is False
    assert net["router:external"] is False
    assert net["provider:network_type"] == "vlan"
    assert net["provider:segmentation_id"] == 2  # VLAN 1 is the operator's tenant1
    assert net["subnets"] == []
    assert net["tags"] == ["a"]

    subnet = api.create(
        "/v2.0/subnets",
        "subnet",
        {"network_id": net["id"], "cidr": "192.168.7.0/24", "name": "s"},
        "alpha",
    )
    assert subnet["network_id"] == net["id"]
    assert subnet["cidr"] == "192.168.7.0/24"
    assert subnet["gateway_ip"] == "192.168.7.1"  # Neutron's default: the first host
    assert subnet["ip_version"] == 4

    shown = api.get(f"/v2.0/networks/{net['id']}", "alpha").json()["network"]
    assert shown["subnets"] == [subnet["id"]]
    listed = api.get("/v2.0/subnets", "alpha", params={"network_id": net["id"]}).json()
    assert [s["id"] for s in listed["subnets"]] == [subnet["id"]]


def test_allocation_pool_leaves_the_gateway_out(api: Api) -> None:
    net = api.create("/v2.0/networks", "network", {"name": "n"})
    subnet = api.create(
        "/v2.0/subnets", "subnet", {"network_id": net["id"], "cidr": "192.168.7.0/24"}
    )
    assert subnet["allocation_pools"] == [{"start": "192.168.7.2", "end": "192.168.7.254"}]


def test_subnet_without_gateway(api: Api) -> None:
    net = api.create("/v2.0/networks", "network", {"name": "n"})
    subnet = api.create(
        "/v2.0/subnets",
        "subnet",
        {"network_id": net["id"], "cidr": "192.168.8.0/24", "gateway_ip": None},
    )
    assert subnet["gateway_ip"] is None


def test_network_update_and_delete(api: Api) -> None:
    net = api.create("/v2.0/networks", "network", {"name": "before"}, "alpha")
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "after"}}, "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["network"]["name"] == "after"
    assert r.json()["network"]["updated_at"] is not None
    assert api.delete(f"/v2.0/networks/{net['id']}", "alpha").status_code == 204
    assert api.get(f"/v2.0/networks/{net['id']}", "alpha").status_code == 404


def test_operator_networks_are_shared_with_every_project(api: Api) -> None:
    for who in ("alpha", "beta", "alpha-reader", "admin"):
        networks = {n["name"]: n for n in api.get("/v2.0/networks", who).json()["networks"]}
        assert {"tenant1", "public"} <= set(networks), who
        assert networks["tenant1"]["shared"] is True
        assert networks["tenant1"]["project_id"] == "admin"
        assert networks["public"]["router:external"] is True
        subnets = {s["name"] for s in api.get("/v2.0/subnets", who).json()["subnets"]}
        assert {"tenant1-subnet", "public-subnet"} <= subnets, who
    tenant1 = api.network_id("tenant1")
    assert api.get(f"/v2.0/networks/{tenant1}", "beta").json()["network"]["id"] == tenant1


def test_operator_network_cannot_be_changed_through_the_api(api: Api) -> None:
    before = api.generation()
    r = api.put(f"/v2.0/networks/{api.network_id('tenant1')}", {"network": {"name": "x"}})
    assert r.status_code == 409
    assert "topology file 'ops'" in r.json()["NeutronError"]["message"]
    r = api.delete(f"/v2.0/networks/{api.network_id('tenant1')}")
    assert r.status_code == 409
    assert api.generation() == before


def test_router_created_with_an_empty_gateway_has_none(api: Api) -> None:
    """Neutron (and Tempest's router tests) take external_gateway_info {} as no gateway."""
    router = api.create(
        "/v2.0/routers", "router", {"name": "r0", "external_gateway_info": {}}, "alpha"
    )
    assert router["external_gateway_info"] is None
    shown = api.get(f"/v2.0/routers/{router['id']}", "alpha").json()["router"]
    assert shown["external_gateway_info"] is None
    refused = api.post("/v2.0/routers", {"router": {"external_gateway_info": {"x": 1}}}, "alpha")
    assert refused.status_code == 400, refused.text


def test_router_with_gateway_and_interface(api: Api) -> None:
    net = api.create("/v2.0/networks", "network", {"name": "n"}, "alpha")
    subnet = api.create(
        "/v2.0/subnets", "subnet", {"network_id": net["id"], "cidr": "192.168.9.0/24"}, "alpha"
    )
    router = api.create(
        "/v2.0/routers",
        "router",
        {"name": "r", "external_gateway_info": {"network_id": api.network_id("public")}},
        "alpha",
    )
    info = router["external_gateway_info"]
    assert info["network_id"] == api.network_id("public")
    assert info["external_fixed_ips"][0]["subnet_id"] == api.subnet_id("public-subnet")
    r = api.put(
        f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]}, "alpha"
    )
    assert r.status_code == 200, r.text
    assert r.json()["subnet_id"] == subnet["id"]
    ports = api.get("/v2.0/ports", "alpha", params={"device_id": router["id"]}).json()["ports"]
    owners = sorted(p["device_owner"] for p in ports)
    assert owners == ["network:router_gateway", "network:router_interface"]
