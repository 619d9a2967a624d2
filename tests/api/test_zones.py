"""Availability zones through the API (on SQLite and PostgreSQL): the zones are the
nodes' (``--zone``), listed by Octavia's ``/availabilityzones`` and Neutron's
``/availability_zones``; a load balancer's ``availability_zone`` and a router's
``availability_zone_hints`` must name one (a 400 naming the field otherwise), and the
scheduler places each only on nodes of its zones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from netnode.cluster import scheduler
from netnode.cluster.membership import Membership
from tests.api.conftest import Api
from tests.api.test_cluster import CLUSTER, amphorae, cluster_api  # noqa: F401 - a fixture


@pytest.fixture
def zoned_nodes(engine: Engine) -> Iterator[dict[str, Membership]]:
    """n1 in az1, n2 and n3 in az2; n3 set down by its operator."""
    joined = {
        name: Membership(engine, name, zone=zone, log=lambda _s: None)
        for name, zone in (("n1", "az1"), ("n2", "az2"), ("n3", "az2"))
    }
    for m in joined.values():
        m.join()
    yield joined
    for m in joined.values():
        m.stop()


def test_the_zones_are_the_nodes_and_listed_by_both_apis(
    cluster_api: Api,  # noqa: F811 - the fixture
    zoned_nodes: dict,
) -> None:
    api = cluster_api
    r = api.get("/v2/lbaas/availabilityzones", "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["availability_zones"] == [
        {
            "name": "az1",
            "description": "nodes n1",
            "enabled": True,
            "availability_zone_profile_id": None,
        },
        {
            "name": "az2",
            "description": "nodes n2, n3",
            "enabled": True,
            "availability_zone_profile_id": None,
        },
    ]
    shown = api.get("/v2/lbaas/availabilityzones/az2").json()["availability_zone"]
    assert shown["name"] == "az2"
    assert api.get("/v2/lbaas/availabilityzones/az9").status_code == 404
    only = api.get("/v2/lbaas/availabilityzones?name=az1").json()["availability_zones"]
    assert [z["name"] for z in only] == ["az1"]
    r = api.get("/v2/lbaas/availabilityzones?colour=red")
    assert r.status_code == 400 and "colour" in r.json()["faultstring"]

    r = api.get("/v2.0/availability_zones", "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["availability_zones"] == [
        {"name": z, "resource": res, "state": "available"}
        for z in ("az1", "az2")
        for res in ("network", "router")
    ]
    routers = api.get("/v2.0/availability_zones?resource=router").json()["availability_zones"]
    assert [z["name"] for z in routers] == ["az1", "az2"]
    ext = api.get("/v2.0/extensions/router_availability_zone")
    assert ext.status_code == 200


def test_a_load_balancer_in_a_zone_is_placed_only_on_its_nodes(
    cluster_api: Api,  # noqa: F811 - the fixture
    zoned_nodes: dict,
    engine: Engine,
) -> None:
    api = cluster_api
    subnet = api.subnet_id("tenant1-subnet")
    # n1 (az1) carries two load balancers already: az2's still go to az2.
    for i in range(2):
        api.create(
            "/v2/lbaas/loadbalancers",
            "loadbalancer",
            {"name": f"a{i}", "vip_subnet_id": subnet, "availability_zone": "az1"},
        )
    body = {"name": "z", "vip_subnet_id": subnet, "availability_zone": "az2"}
    lb = api.create("/v2/lbaas/loadbalancers", "loadbalancer", body)
    assert lb["availability_zone"] == "az2"
    shown = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert shown["availability_zone"] == "az2"
    (row,) = [x for x in api.document()["load_balancers"] if x["id"] == lb["id"]]
    assert row["availability_zone"] == "az2"
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE nodes SET admin_state_up = false WHERE name = 'n3'")
    scheduler.run_pass(engine, CLUSTER)
    by_lb = {a["loadbalancer_id"]: a for a in amphorae(api)}
    assert by_lb[lb["id"]]["compute_id"] == "n2"
    assert by_lb[lb["id"]]["cached_zone"] == "az2"
    assert {a["compute_id"] for i, a in by_lb.items() if i != lb["id"]} == {"n1"}


def test_an_unknown_zone_is_a_400_naming_the_field(
    cluster_api: Api,  # noqa: F811 - the fixture
    zoned_nodes: dict,
) -> None:
    api = cluster_api
    body = {"vip_subnet_id": api.subnet_id("tenant1-subnet"), "availability_zone": "az9"}
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})
    assert r.status_code == 400, r.text
    fault = r.json()["faultstring"]
    assert "availability_zone" in fault and "az9" in fault and "az1, az2" in fault
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []

    r = api.post("/v2.0/routers", {"router": {"name": "r", "availability_zone_hints": ["az9"]}})
    assert r.status_code == 400, r.text
    assert "availability_zone_hints" in r.json()["NeutronError"]["message"]


def test_a_routers_hints_are_kept_shown_and_scheduled_by(
    cluster_api: Api,  # noqa: F811 - the fixture
    zoned_nodes: dict,
    engine: Engine,
) -> None:
    api = cluster_api
    body = {"name": "r", "availability_zone_hints": ["az2", "az2"]}
    r = api.create("/v2.0/routers", "router", body)
    assert r["availability_zone_hints"] == ["az2"]
    shown = api.get(f"/v2.0/routers/{r['id']}").json()["router"]
    assert shown["availability_zone_hints"] == ["az2"]
    plain = api.create("/v2.0/routers", "router", {"name": "plain"})
    assert plain["availability_zone_hints"] == []
    decisions = scheduler.run_pass(engine, CLUSTER)
    assert decisions is not None
    placed = {p.holder: p.node for p in decisions.add}
    assert placed[r["id"]] in ("n2", "n3")


def test_a_node_on_its_own_knows_only_its_own_zone(api: Api) -> None:
    # No node has joined this store: there is no zone to name.
    body = {"vip_subnet_id": api.subnet_id("tenant1-subnet"), "availability_zone": "nova"}
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})
    assert r.status_code == 400 and "no node has joined" in r.json()["faultstring"]
    assert api.get("/v2/lbaas/availabilityzones").json()["availability_zones"] == []
