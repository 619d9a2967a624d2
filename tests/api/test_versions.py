"""Version discovery: what an OpenStack client reads before anything else, with no
token."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


def test_root_lists_both_versions_without_a_token(api: Api) -> None:
    r = api.get("/", who=None)
    assert r.status_code == 200
    versions = {v["id"]: v for v in r.json()["versions"]}
    assert versions["v2.0"]["status"] == "CURRENT"
    assert versions["v2"]["status"] == "SUPPORTED"
    assert versions["v2"]["links"] == [{"href": "http://testserver/v2/", "rel": "self"}]
    assert versions["v2.0"]["links"] == [{"href": "http://testserver/v2.0/", "rel": "self"}]


@pytest.mark.parametrize("path", ["/v2", "/v2/"])
def test_octavia_version_document(api: Api, path: str) -> None:
    r = api.get(path, who=None)
    assert r.status_code == 200
    version = r.json()["version"]
    assert version["id"] == "v2"
    assert version["status"] == "CURRENT"
    assert version["min_version"] == "2.0"
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
