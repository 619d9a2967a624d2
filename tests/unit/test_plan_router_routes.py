"""A router's extra routes and admin state in the plan: routes in the router's
namespace (keepalived's virtual_routes for an HA router, since their next hops are
reachable only where the addresses are), drift seen and mended, a router that is down
not built at all."""

from __future__ import annotations

import copy

import pytest
import yaml

from netnode.model.loading import load_data
from netnode.plan import operations as op
from netnode.plan.diff import plan
from tests.unit.test_plan import SEED, as_observed, spec_of
from tests.unit.test_plan_ha_router import DATA, unit_of


@pytest.fixture
def seed_data() -> dict:
    return yaml.safe_load(SEED.read_text())


ROUTE = {"destination": "172.16.0.0/16", "nexthop": "10.0.0.20"}


def with_route(seed_data: dict) -> dict:
    data = copy.deepcopy(seed_data)
    data["routers"][0]["routes"] = [ROUTE, {"destination": "0.0.0.0/1", "nexthop": "10.255.253.1"}]
    return data


def test_routes_are_in_the_routers_namespace(seed_data: dict) -> None:
    spec = spec_of(with_route(seed_data))
    (ns,) = [n for n in spec.namespaces if n.kind == "router"]
    assert ns.routes == (("0.0.0.0/1", "10.255.253.1"), ("172.16.0.0/16", "10.0.0.20"))
    commands = [
        " ".join(c)
        for o in plan(spec, as_observed(spec_of(seed_data))).operations
        for c in o.shell()
    ]
    assert f"ip netns exec {ns.name} ip route replace 172.16.0.0/16 via 10.0.0.20" in commands


def test_a_converged_router_needs_nothing_and_drift_is_mended(seed_data: dict) -> None:
    spec = spec_of(with_route(seed_data))
    assert plan(spec, as_observed(spec)).operations == ()
    # Someone deleted one route and added one of their own: both are mended.
    observed = as_observed(spec)
    (ns,) = [n for n in spec.namespaces if n.kind == "router"]
    inside = observed.inside[ns.name]
    drifted = frozenset({("0.0.0.0/1", "10.255.253.1"), ("192.168.0.0/24", "10.0.0.9")})
    observed.inside[ns.name] = type(inside)(
        inside.links, inside.default_gateway, inside.sysctls, drifted
    )
    (change,) = [o for o in plan(spec, observed).operations if isinstance(o, op.SetRoutes)]
    assert change.add == (("172.16.0.0/16", "10.0.0.20"),)
    assert change.remove == (("192.168.0.0/24", "10.0.0.9"),)


def test_an_ha_routers_routes_are_keepaliveds() -> None:
    data = copy.deepcopy(DATA)
    data["routers"][0]["routes"] = [{"destination": "172.16.0.0/16", "nexthop": "10.0.0.20"}]
    unit = unit_of(0, "MASTER", data)
    qr = next(p.name for p in unit.ports if p.name.startswith("qr-"))
    assert f"172.16.0.0/16 via 10.0.0.20 dev {qr}" in unit.processes[1].config
    assert unit.namespace.route_elsewhere


def test_a_router_that_is_down_is_not_built(seed_data: dict) -> None:
    data = copy.deepcopy(seed_data)
    data["routers"][0]["admin_state_up"] = False
    spec = spec_of(data)
    assert not [n for n in spec.namespaces if n.kind == "router"]
    # The rest stands: the load balancer and the lab.
    assert [n for n in spec.namespaces if n.kind == "loadbalancer"]
    assert load_data(data).routers[0].admin_state_up is False
