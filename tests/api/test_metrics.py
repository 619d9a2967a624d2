"""``GET /metrics`` of ``netnode serve``: an admin's token (Prometheus sends it as a
Bearer token), the API's requests by route template, objects per status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from netnode.api import metrics as api_metrics
from netnode.api.app import create_app
from netnode.api.auth import Tokens
from netnode.api.service import Service
from netnode.model.loading import load_data
from netnode.reconcile.ledger import LedgerStore
from netnode.reconcile.metrics import Metrics
from netnode.store.quotas import QuotaStore
from tests.api.conftest import (
    CERTIFICATES,
    NODE,
    OPERATOR,
    OPERATOR_TOPOLOGY,
    TOKENS,
    Api,
    operator_document,
    write_tokens,
)


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[Api]:
    """conftest's app, with the metrics ``netnode serve`` installs."""
    store = LedgerStore(engine, NODE)
    store.set_desired(OPERATOR, operator_document(OPERATOR_TOPOLOGY))
    svc = Service(
        store, NODE, quotas=QuotaStore(engine), haproxy=None, certificates_dir=CERTIFICATES
    )
    app = create_app(svc, Tokens.load(write_tokens(tmp_path / "tokens.yaml")))
    api_metrics.install(app, svc, Metrics())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, store, svc, load_data(OPERATOR_TOPOLOGY, NODE))


def scrape(api: Api, token: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def test_metrics_want_an_admin(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 401
    member = TOKENS["alpha"][0]
    answer = api.client.get("/metrics", headers={"Authorization": f"Bearer {member}"})
    assert answer.status_code == 403
    assert "admin" in answer.json()["faultstring"]
    wrong = api.client.get("/metrics", headers={"Authorization": "Bearer not-a-known-token-000"})
    assert wrong.status_code == 401
    assert (
        api.client.get("/metrics", headers={"X-Auth-Token": TOKENS["admin"][0]}).status_code == 200
    )


def test_requests_are_counted_by_route_template_and_status(api: Api) -> None:
    lb = api.loadbalancer()
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 200
    missing = "00000000-0000-4000-8000-000000000000"
    assert api.get(f"/v2/lbaas/loadbalancers/{missing}").status_code == 404
    samples = scrape(api, TOKENS["admin"][0])
    route = "/v2/lbaas/loadbalancers/{lb_id}"

    def count(status: str) -> float:
        labels = frozenset({"method": "GET", "route": route, "status": status}.items())
        return samples.get(("netnode_api_request_duration_seconds_count", labels), 0.0)

    assert count("200") == 1
    assert count("404") == 1
    assert not any(lb["id"] in dict(labels).get("route", "") for _, labels in samples)
    # The load balancer, as the API shows it: converged, no HAProxy observed (no watcher).
    objects = frozenset(
        {
            "kind": "loadbalancer",
            "provisioning_status": "ACTIVE",
            "operating_status": "OFFLINE",
        }.items()
    )
    assert samples[("netnode_objects", objects)] == 1


def test_a_prometheus_listener_through_the_api(api: Api) -> None:
    lb = api.loadbalancer()
    listener = api.listener(lb["id"], protocol="PROMETHEUS", protocol_port=9100)
    assert listener["protocol"] == "PROMETHEUS"
    assert api.document()["load_balancers"][0]["listeners"][0]["protocol"] == "PROMETHEUS"
    pool = api.pool(loadbalancer_id=lb["id"], protocol="HTTP")
    answer = api.post(
        "/v2/lbaas/listeners",
        {
            "listener": {
                "loadbalancer_id": lb["id"],
                "protocol": "PROMETHEUS",
                "protocol_port": 9101,
                "default_pool_id": pool["id"],
            }
        },
    )
    assert answer.status_code == 409, answer.text
    assert "listener protocol PROMETHEUS (it takes no pools)" in answer.json()["faultstring"]
