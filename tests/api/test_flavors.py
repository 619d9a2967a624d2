"""Octavia's flavor profiles and flavors, and ACTIVE_STANDBY load balancers made with
one (on SQLite and PostgreSQL): a node on its own refuses them with a 400 naming what
it needs; a cluster gives each two VRRP addresses and two amphorae on two nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from netnode.cluster import scheduler
from netnode.cluster.membership import Membership
from tests.api.conftest import Api
from tests.api.test_cluster import CLUSTER, amphorae, cluster_api  # noqa: F401 - a fixture

HA_DATA = {"loadbalancer_topology": "ACTIVE_STANDBY", "failover_profile": "fast"}


def profile(api: Api, data: dict, who: str = "admin") -> dict:
    body = {"name": "ha", "provider_name": "amphora", "flavor_data": json.dumps(data)}
    return api.create("/v2/lbaas/flavorprofiles", "flavorprofile", body, who)


def flavor(api: Api, profile_id: str, **fields: object) -> dict:
    body = {"name": "ha", "flavor_profile_id": profile_id, **fields}
    return api.create("/v2/lbaas/flavors", "flavor", body)


def test_an_admin_writes_profiles_and_flavors_and_everyone_reads_flavors(api: Api) -> None:
    p = profile(api, HA_DATA)
    assert json.loads(p["flavor_data"]) == HA_DATA
    f = flavor(api, p["id"], description="two nodes")
    assert f == {
        "id": f["id"],
        "name": "ha",
        "description": "two nodes",
        "enabled": True,
        "flavor_profile_id": p["id"],
    }
    assert [x["id"] for x in api.get("/v2/lbaas/flavors", "alpha").json()["flavors"]] == [f["id"]]
    assert api.get("/v2/lbaas/flavorprofiles", "alpha").status_code == 403
    body = {"flavor": {"name": "x", "flavor_profile_id": p["id"]}}
    assert api.post("/v2/lbaas/flavors", body, "alpha").status_code == 403
    r = api.put(f"/v2/lbaas/flavors/{f['id']}", {"flavor": {"enabled": False}})
    assert r.status_code == 200 and r.json()["flavor"]["enabled"] is False
    # A profile in use stays; once its flavor is gone it may go.
    assert api.delete(f"/v2/lbaas/flavorprofiles/{p['id']}").status_code == 409
    assert api.delete(f"/v2/lbaas/flavors/{f['id']}").status_code == 204
    assert api.delete(f"/v2/lbaas/flavorprofiles/{p['id']}").status_code == 204
    assert api.get(f"/v2/lbaas/flavorprofiles/{p['id']}").status_code == 404


@pytest.mark.parametrize(
    ("flavor_data", "named"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"compute_flavor": "m1"}', "unknown key 'compute_flavor'"),
        ('{"loadbalancer_topology": "ACTIVE_ACTIVE"}', "loadbalancer_topology must be one of"),
    ],
)
def test_flavor_data_netnode_cannot_honour_is_refused(
    api: Api, flavor_data: str, named: str
) -> None:
    body = {"flavorprofile": {"name": "x", "provider_name": "amphora", "flavor_data": flavor_data}}
    r = api.post("/v2/lbaas/flavorprofiles", body)
    assert r.status_code == 400, r.text
    assert named in r.json()["faultstring"] and "flavor_data" in r.json()["faultstring"]
    assert api.get("/v2/lbaas/flavorprofiles").json()["flavorprofiles"] == []


def test_a_node_on_its_own_refuses_active_standby(api: Api) -> None:
    f = flavor(api, profile(api, HA_DATA)["id"])
    body = {"vip_subnet_id": api.subnet_id("tenant1-subnet"), "flavor_id": f["id"]}
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body})
    assert r.status_code == 400, r.text
    assert "ACTIVE_STANDBY" in r.json()["faultstring"]
    assert "--cluster" in r.json()["faultstring"]
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
    disabled = flavor(api, profile(api, {})["id"], enabled=False)
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {**body, "flavor_id": disabled["id"]}},
    )
    assert r.status_code == 400 and "disabled" in r.json()["faultstring"]


@pytest.fixture
def two_nodes(engine: Engine) -> Iterator[None]:
    joined = [Membership(engine, name, log=lambda _s: None) for name in ("n1", "n2")]
    for m in joined:
        m.join()
    yield
    for m in joined:
        m.stop()


def test_a_cluster_gives_an_active_standby_pair_two_addresses_and_two_amphorae(
    cluster_api: Api,  # noqa: F811 - the fixture
    two_nodes: None,
    engine: Engine,
) -> None:
    api = cluster_api
    f = flavor(api, profile(api, HA_DATA)["id"])
    body = {"vip_subnet_id": api.subnet_id("tenant1-subnet"), "flavor_id": f["id"]}
    lb = api.create("/v2/lbaas/loadbalancers", "loadbalancer", body)
    assert lb["flavor_id"] == f["id"]
    (row,) = [x for x in api.document()["load_balancers"] if x["id"] == lb["id"]]
    assert row["topology"] == "ACTIVE_STANDBY" and row["failover_profile"] == "fast"
    vrrp = row["vrrp_addresses"]
    assert len(set(vrrp)) == 2 and lb["vip_address"] not in vrrp
    # The pair's addresses are ports of the network, never given out again.
    ports = {p["fixed_ips"][0]["ip_address"] for p in api.get("/v2.0/ports").json()["ports"]}
    assert set(vrrp) <= ports
    other = api.create("/v2/lbaas/loadbalancers", "loadbalancer", {**body, "flavor_id": None})
    assert other["vip_address"] not in vrrp

    scheduler.run_pass(engine, CLUSTER)
    pair = [a for a in amphorae(api) if a["loadbalancer_id"] == lb["id"]]
    assert sorted((a["role"], a["vrrp_ip"], a["vrrp_priority"]) for a in pair) == [
        ("BACKUP", vrrp[1], 90),
        ("MASTER", vrrp[0], 100),
    ]
    assert sorted(a["compute_id"] for a in pair) == ["n1", "n2"]
