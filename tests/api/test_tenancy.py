"""Who may see and change what, from the tokens file: two member projects (alpha,
beta), a reader of alpha, and an admin. Quotas per project."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

NEEDS_TOKEN = "The request you have made requires authentication."


@pytest.mark.parametrize(
    "headers", [{}, {"X-Auth-Token": ""}, {"X-Auth-Token": "wrong-token-0000000000000"}]
)
@pytest.mark.parametrize(
    "path", ["/v2/lbaas/loadbalancers", "/v2.0/lbaas/pools", "/v2.0/networks", "/v2/lbaas/quotas"]
)
def test_missing_or_wrong_token_is_401(api: Api, path: str, headers: dict[str, str]) -> None:
    r = api.get(path, who=None, headers=headers)
    assert r.status_code == 401
    if path.startswith("/v2.0/networks"):
        assert r.json()["NeutronError"]["message"] == NEEDS_TOKEN
        assert r.json()["NeutronError"]["type"] == "NotAuthorized"
    else:
        assert r.json()["faultstring"] == NEEDS_TOKEN


def test_unauthenticated_write_changes_nothing(api: Api) -> None:
    before = api.generation()
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id("tenant1-subnet")}},
        who=None,
    )
    assert r.status_code == 401
    assert api.generation() == before


def test_a_project_sees_only_its_own_load_balancers(api: Api) -> None:
    mine = api.loadbalancer("alpha", name="mine")
    theirs = api.loadbalancer("beta", name="theirs")
    assert mine["project_id"] == "alpha"
    assert theirs["project_id"] == "beta"

    def names(who: str, **params: str) -> set[str]:
        r = api.get("/v2/lbaas/loadbalancers", who, params=params)
        return {x["name"] for x in r.json()["loadbalancers"]}

    assert names("alpha") == {"mine"}
    assert names("alpha-reader") == {"mine"}
    assert names("beta") == {"theirs"}
    assert names("admin") == {"mine", "theirs"}
    assert names("admin", project_id="beta") == {"theirs"}
    assert names("alpha", project_id="beta") == {"mine"}  # a member cannot widen its view

    # Another project's load balancer is forbidden, as Octavia's policy check on the
    # object's project answers (Neutron hides another project's objects: 404).
    for who in ("alpha", "alpha-reader"):
        r = api.get(f"/v2/lbaas/loadbalancers/{theirs['id']}", who)
        assert r.status_code == 403, who
        assert r.json()["faultstring"] == "Policy does not allow this request to be performed."
    assert api.get(f"/v2/lbaas/loadbalancers/{theirs['id']}", "beta").status_code == 200
    assert api.get(f"/v2/lbaas/loadbalancers/{theirs['id']}", "admin").status_code == 200


def test_another_projects_children_are_forbidden(api: Api) -> None:
    lb = api.loadbalancer("beta")
    listener = api.listener(lb["id"], "beta")
    pool = api.pool("beta", listener_id=listener["id"])
    member = api.member(pool["id"], "beta")
    hm = api.healthmonitor(pool["id"], "beta")
    before = api.generation()
    for path in (
        f"/v2/lbaas/listeners/{listener['id']}",
        f"/v2/lbaas/pools/{pool['id']}",
        f"/v2/lbaas/pools/{pool['id']}/members",
        f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}",
        f"/v2/lbaas/healthmonitors/{hm['id']}",
        f"/v2/lbaas/loadbalancers/{lb['id']}/status",
        f"/v2/lbaas/loadbalancers/{lb['id']}/stats",
    ):
        assert api.get(path, "alpha").status_code == 403, path
        assert api.get(path, "beta").status_code == 200, path
    for kind in ("listeners", "pools", "healthmonitors"):
        assert api.get(f"/v2/lbaas/{kind}", "alpha").json()[kind] == [], kind
        assert len(api.get(f"/v2/lbaas/{kind}", "beta").json()[kind]) == 1, kind
    assert api.delete(f"/v2/lbaas/healthmonitors/{hm['id']}", "alpha").status_code == 403
    r = api.put(f"/v2/lbaas/pools/{pool['id']}", {"pool": {"name": "x"}}, "alpha")
    assert r.status_code == 403
    r = api.post(
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 81}},
        "alpha",
    )
    assert r.status_code == 403
    assert api.generation() == before


def test_a_project_cannot_create_for_another(api: Api) -> None:
    before = api.generation()
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id("tenant1-subnet"), "project_id": "beta"}},
        "alpha",
    )
    assert r.status_code == 403
    assert api.generation() == before
    lb = api.loadbalancer("admin", project_id="beta")  # an admin may
    assert lb["project_id"] == "beta"
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}", "beta").status_code == 200


def test_reader_may_read_but_not_write(api: Api) -> None:
    lb = api.loadbalancer("alpha")
    listener = api.listener(lb["id"], "alpha")
    before = api.generation()
    subnet = api.subnet_id("tenant1-subnet")
    writes = [
        ("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id": subnet}}),
        ("PUT", f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}}),
        ("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", None),
        (
            "POST",
            "/v2/lbaas/listeners",
            {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 81}},
        ),
        ("PUT", f"/v2/lbaas/listeners/{listener['id']}", {"listener": {"name": "x"}}),
        ("DELETE", f"/v2/lbaas/listeners/{listener['id']}", None),
        (
            "POST",
            "/v2/lbaas/pools",
            {
                "pool": {
                    "loadbalancer_id": lb["id"],
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                }
            },
        ),
        ("POST", "/v2.0/networks", {"network": {"name": "n"}}),
        ("POST", "/v2.0/routers", {"router": {"name": "r"}}),
        ("PUT", "/v2/lbaas/quotas/alpha", {"quota": {"load_balancer": 5}}),
    ]
    for method, path, body in writes:
        r = api.request(method, path, "alpha-reader", json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert api.generation() == before
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}", "alpha-reader").status_code == 200
    r = api.get(f"/v2/lbaas/listeners/{listener['id']}", "alpha-reader")
    assert r.status_code == 200


def test_networks_are_private_unless_shared(api: Api) -> None:
    private = api.create("/v2.0/networks", "network", {"name": "private"}, "alpha")
    shared = api.create("/v2.0/networks", "network", {"name": "shared", "shared": True}, "admin")
    beta = {n["name"] for n in api.get("/v2.0/networks", "beta").json()["networks"]}
    assert "private" not in beta
    assert {"shared", "tenant1", "public"} <= beta
    assert api.get(f"/v2.0/networks/{private['id']}", "beta").status_code == 404
    assert api.get(f"/v2.0/networks/{shared['id']}", "beta").status_code == 200
    # A member can put its load balancer on the operator's shared network.
    lb = api.loadbalancer("beta", vip_network_id=api.network_id("tenant1"))
    assert lb["vip_network_id"] == api.network_id("tenant1")


def test_only_an_admin_makes_an_external_network(api: Api) -> None:
    before = api.generation()
    r = api.post("/v2.0/networks", {"network": {"router:external": True}}, "alpha")
    assert r.json()["NeutronError"]["message"]
    assert api.generation() == before
    assert r.status_code == 403
    assert r.json()["NeutronError"]["type"] == "PolicyNotAuthorized"


def test_quota_of_one_load_balancer(api: Api) -> None:
    r = api.put("/v2/lbaas/quotas/alpha", {"quota": {"load_balancer": 1}})
    assert r.status_code == 202, r.text
    assert r.json()["quota"]["load_balancer"] == 1
    assert api.get("/v2/lbaas/quotas/alpha", "alpha").json()["quota"]["loadbalancer"] == 1
    assert api.get("/v2/lbaas/quotas/alpha", "beta").status_code == 403
    api.loadbalancer("alpha")
    before = api.generation()
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id("tenant1-subnet")}},
        "alpha",
    )
    assert r.status_code == 403
    assert r.json()["faultstring"] == "Quota has been met for resources: Load Balancer"
    assert api.generation() == before
    api.loadbalancer("beta")  # another project's quota is its own
    quotas = api.get("/v2/lbaas/quotas", "alpha").json()["quotas"]
    assert [q["project_id"] for q in quotas] == ["alpha"]

    assert api.delete("/v2/lbaas/quotas/alpha").status_code == 204
    api.loadbalancer("alpha")


def test_member_quota_counts_the_batch(api: Api) -> None:
    lb = api.loadbalancer("alpha")
    pool = api.pool("alpha", loadbalancer_id=lb["id"])
    api.put("/v2/lbaas/quotas/alpha", {"quota": {"member": 2}})
    before = api.generation()
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}/members",
        {"members": [{"address": f"10.0.0.{i}", "protocol_port": 80} for i in (81, 82, 83)]},
        "alpha",
    )
    assert r.status_code == 403
    assert api.generation() == before
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}/members",
        {"members": [{"address": f"10.0.0.{i}", "protocol_port": 80} for i in (81, 82)]},
        "alpha",
    )
    assert r.status_code == 202
