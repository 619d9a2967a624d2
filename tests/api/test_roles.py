"""The global reader (Octavia's load-balancer_global_observer, here from the tokens
file): reads every project's objects and quotas and changes nothing. Keystone's role names are mapped in tests/unit/test_keystone_auth.py
and against a real Keystone in tests/functional/test_keystone.py."""

from __future__ import annotations

from tests.api.conftest import Api


def test_a_global_reader_reads_every_project(api: Api) -> None:
    alpha = api.loadbalancer("alpha", name="a")
    beta = api.loadbalancer("beta", name="b")
    r = api.get("/v2/lbaas/loadbalancers", "global-reader")
    assert {x["name"] for x in r.json()["loadbalancers"]} == {"a", "b"}
    r = api.get("/v2/lbaas/loadbalancers", "global-reader", params={"project_id": "beta"})
    assert {x["name"] for x in r.json()["loadbalancers"]} == {"b"}
    for lb in (alpha, beta):
        assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}", "global-reader").status_code == 200
    api.put("/v2/lbaas/quotas/alpha", {"quota": {"load_balancer": 3}})
    assert api.get("/v2/lbaas/quotas/alpha", "global-reader").json()["quota"]["loadbalancer"] == 3
    quotas = api.get("/v2/lbaas/quotas", "global-reader").json()["quotas"]
    assert "alpha" in {q["project_id"] for q in quotas}


def test_a_global_reader_changes_nothing(api: Api) -> None:
    lb = api.loadbalancer("alpha", name="a")
    api.converge()
    before = api.generation()
    for method, path, body in (
        (
            "POST",
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"vip_subnet_id": lb["vip_subnet_id"]}},
        ),
        ("PUT", f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}}),
        ("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", None),
        ("POST", "/v2.0/networks", {"network": {"name": "n"}}),
        ("PUT", "/v2/lbaas/quotas/alpha", {"quota": {"load_balancer": 5}}),
        ("DELETE", "/v2/lbaas/quotas/alpha", None),
    ):
        r = api.request(method, path, "global-reader", json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert api.generation() == before
