"""Version discovery: what an OpenStack client reads before anything else, with no
token."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


@pytest.mark.parametrize("root", ["/load-balancer", "/load-balancer/"])
def test_the_load_balancer_endpoint_is_octavias_list(api: Api, root: str) -> None:
    """As Octavia serves it: every minor version from v2.0, each linking to /v2, the
    newest CURRENT, so a client taking the highest (or the CURRENT) entry sees 2.27."""
    r = api.get(root, who=None)
    assert r.status_code == 200
    listed = r.json()["versions"]
    ids = [v["id"] for v in listed]
    assert ids[0] == "v2.0" and ids[-1] == "v2.27" and len(ids) == 28
    assert [v["id"] for v in listed if v["status"] == "CURRENT"] == ["v2.27"]
    assert {v["links"][0]["href"] for v in listed} == {"http://testserver/load-balancer/v2"}
    newest = max(listed, key=lambda v: tuple(int(x) for x in v["id"][1:].split(".")))
    assert newest["status"] == "CURRENT"


def test_the_networking_endpoint_is_neutrons(api: Api) -> None:
    (version,) = api.get("/networking/", who=None).json()["versions"]
    assert version["id"] == "v2.0" and version["status"] == "CURRENT"
    assert version["links"] == [{"href": "http://testserver/networking/v2.0/", "rel": "self"}]


def test_the_bare_root_serves_a_client_given_one_endpoint(api: Api) -> None:
    """Neutron's v2.0 CURRENT (a Neutron client that discovers takes it: Octavia's list
    here would send it to /v2/networks), Octavia's v2 with its newest minor version."""
    versions = {v["id"]: v for v in api.get("/", who=None).json()["versions"]}
    assert versions["v2.0"]["status"] == "CURRENT"
    assert versions["v2.0"]["links"] == [{"href": "http://testserver/v2.0/", "rel": "self"}]
    assert versions["v2"]["version"] == "2.27" and versions["v2"]["min_version"] == "2.0"


def test_the_api_answers_under_each_prefix(api: Api) -> None:
    """The same API behind each service's endpoint: listings, errors in each service's
    own shape, and pagination links that keep the prefix."""
    for n in range(2):
        api.loadbalancer(name=f"lb{n}")
    r = api.get("/load-balancer/v2/lbaas/loadbalancers", params={"limit": 1})
    assert r.status_code == 200, r.text
    (link,) = r.json()["loadbalancers_links"]
    assert link["href"].startswith("http://testserver/load-balancer/v2/lbaas/loadbalancers?")
    nets = api.get("/networking/v2.0/networks").json()["networks"]
    assert {n["name"] for n in nets} >= {"tenant1", "public"}
    missing = api.get("/networking/v2.0/networks/nope")
    assert missing.status_code == 404 and "NeutronError" in missing.json()
    assert api.get("/load-balancer/v2/lbaas/loadbalancers", who=None).status_code == 401


@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_octavia_version_document(api: Api, path: str) -> None:
    r = api.get(path, who=None)
    assert r.status_code == 200
    version = r.json()["version"]
    assert version["id"] == "v2"
    assert version["status"] == "CURRENT"
    assert version["min_version"] == "2.0"
    assert version["version"] == "2.27"
    assert version["links"][0]["href"] == "http://testserver/v2/"


@pytest.mark.parametrize("path", ["/v2.0", "/v2.0/"])
def test_neutron_version_document_lists_its_resources(api: Api, path: str) -> None:
    r = api.get(path, who=None)
    assert r.status_code == 200
    body = r.json()
    assert body["version"]["id"] == "v2.0"
    resources = {x["name"]: x["links"][0]["href"] for x in body["resources"]}
    assert set(resources) == {"networks", "subnets", "routers", "floatingips", "ports"}
    assert resources["networks"] == "http://testserver/v2.0/networks"


def test_openapi_document_is_served_without_a_token(api: Api) -> None:
    r = api.get("/openapi.json", who=None)
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/v2/lbaas/loadbalancers" in paths
    assert "/v2.0/lbaas/loadbalancers" in paths
    assert "/v2.0/networks" in paths
