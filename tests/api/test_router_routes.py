"""A router's extra routes and admin state through Neutron's API: shown as given,
written into the topology (where the plan turns them into routes in the router's
namespace), and checked against the router's subnets."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api


def _router_on_subnet(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    net = api.create("/v2.0/networks", "network", {"name": "n"}, "alpha")
    subnet = api.create(
        "/v2.0/subnets", "subnet", {"network_id": net["id"], "cidr": "192.168.9.0/24"}, "alpha"
    )
    router = api.create("/v2.0/routers", "router", {"name": "r"}, "alpha")
    r = api.put(
        f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]}, "alpha"
    )
    assert r.status_code == 200, r.text
    return router, subnet


def test_routes_are_kept_shown_and_written(api: Api) -> None:
    router, _ = _router_on_subnet(api)
    routes = [{"destination": "172.16.0.0/16", "nexthop": "192.168.9.20"}]
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"routes": routes}}, "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["router"]["routes"] == routes
    shown = api.get(f"/v2.0/routers/{router['id']}", "alpha").json()["router"]
    assert shown["routes"] == routes
    (item,) = [x for x in api.document()["routers"] if x["id"] == router["id"]]
    assert item["routes"] == routes


def test_a_next_hop_off_the_routers_subnets_is_refused(api: Api) -> None:
    router, _ = _router_on_subnet(api)
    before = api.generation()
    routes = [{"destination": "172.16.0.0/16", "nexthop": "10.99.0.1"}]
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"routes": routes}}, "alpha")
    assert r.status_code == 400, r.text
    assert "10.99.0.1 is not on a subnet the router is connected to" in r.text
    assert api.generation() == before


def test_add_and_remove_extraroutes(api: Api) -> None:
    router, _ = _router_on_subnet(api)
    one = {"destination": "172.16.0.0/16", "nexthop": "192.168.9.20"}
    two = {"destination": "172.17.0.0/16", "nexthop": "192.168.9.21"}
    url = f"/v2.0/routers/{router['id']}"
    r = api.put(f"{url}/add_extraroutes", {"router": {"routes": [one, two]}}, "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["router"]["routes"] == [one, two]
    r = api.put(f"{url}/add_extraroutes", {"router": {"routes": [one]}}, "alpha")
    assert r.json()["router"]["routes"] == [one, two]  # given twice: one route
    r = api.put(f"{url}/remove_extraroutes", {"router": {"routes": [one]}}, "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["router"]["routes"] == [two]
    extensions = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert {"extraroute", "extraroute-atomic"} <= extensions


def test_admin_state_up_is_kept_and_shown(api: Api) -> None:
    router = api.create("/v2.0/routers", "router", {"name": "r", "admin_state_up": False}, "alpha")
    assert router["admin_state_up"] is False
    (item,) = [x for x in api.document()["routers"] if x["id"] == router["id"]]
    assert item["admin_state_up"] is False
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"admin_state_up": True}}, "alpha")
    assert r.json()["router"]["admin_state_up"] is True
