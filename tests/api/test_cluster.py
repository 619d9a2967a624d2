"""The API of a cluster (``netnode serve --cluster``), on SQLite and PostgreSQL: load
balancers are scheduled to the nodes that are alive, shown as amphorae on them, moved
to a new instance when their node dies, failed over on request; their statuses are what
the node holding each recorded. No agent runs: the tests write the nodes' records as
their passes would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from netnode.api.app import create_app
from netnode.api.auth import Tokens
from netnode.api.service import Service
from netnode.api.world import API_TOPOLOGY
from netnode.cluster import scheduler
from netnode.cluster.membership import Membership
from netnode.model.loading import load_data
from netnode.reconcile import provisioning
from netnode.reconcile.ledger import LedgerStore, Record
from netnode.store.quotas import QuotaStore
from tests.api.conftest import (
    CERTIFICATES,
    NODE,
    OPERATOR,
    OPERATOR_TOPOLOGY,
    Api,
    operator_document,
    write_tokens,
)

CLUSTER = "cl"


@pytest.fixture
def cluster_api(engine: Engine, tmp_path: Path) -> Iterator[Api]:
    store = LedgerStore(engine, "api-node", CLUSTER)
    store.set_desired(OPERATOR, operator_document(OPERATOR_TOPOLOGY))
    svc = Service(store, CLUSTER, quotas=QuotaStore(engine), certificates_dir=CERTIFICATES)
    app = create_app(svc, Tokens.load(write_tokens(tmp_path / "tokens.yaml")))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, store, svc, load_data(OPERATOR_TOPOLOGY, NODE))


@pytest.fixture
def members(engine: Engine) -> Iterator[dict[str, Membership]]:
    joined: dict[str, Membership] = {}
    yield joined
    for m in joined.values():
        m.stop()


def join(engine: Engine, joined: dict[str, Membership], name: str, timeout: float = 60) -> None:
    m = Membership(engine, name, timeout=timeout, log=lambda _s: None)
    m.join()
    joined[name] = m


def converge_on(api: Api, node: str) -> None:
    """Record, as ``node``'s pass would, every object placed on it as converged."""
    placed = {
        p.holder: p.id for p in scheduler.placements(api.store.engine, CLUSTER) if p.node == node
    }
    document, _ = api.store.document(API_TOPOLOGY)
    assert document is not None
    topo = load_data(document, CLUSTER)
    mine = topo.model_copy(
        update={"load_balancers": [lb for lb in topo.load_balancers if lb.uid in placed]}
    )
    objects = provisioning.objects(mine, {})
    LedgerStore(api.store.engine, node, CLUSTER).write(
        API_TOPOLOGY,
        Record(
            objects={uid: o.fingerprint for uid, o in objects.items()},
            status=dict.fromkeys(objects, provisioning.ACTIVE),
        ),
    )


def lb_status(api: Api, lb_id: str) -> str:
    return api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["provisioning_status"]


def amphorae(api: Api, who: str = "admin") -> list[dict]:
    r = api.get("/v2/octavia/amphorae", who)
    assert r.status_code == 200, r.text
    return r.json()["amphorae"]


def create_lb(api: Api, name: str) -> str:
    body = {"name": name, "vip_subnet_id": api.subnet_id("tenant1-subnet")}
    return api.create("/v2/lbaas/loadbalancers", "loadbalancer", body)["id"]


def test_load_balancers_spread_over_the_nodes_and_show_as_amphorae(
    cluster_api: Api, members: dict, engine: Engine
) -> None:
    join(engine, members, "n1")
    join(engine, members, "n2")
    ids = [create_lb(cluster_api, f"lb{i}") for i in range(4)]
    scheduler.run_pass(engine, CLUSTER)
    found = amphorae(cluster_api)
    assert sorted(a["loadbalancer_id"] for a in found) == sorted(ids)
    by_node = sorted(a["compute_id"] for a in found)
    assert by_node == ["n1", "n1", "n2", "n2"]
    assert {a["role"] for a in found} == {"STANDALONE"}
    assert {a["status"] for a in found} == {"ALLOCATED"}
    # Pending until the node holding each records it converged; then ACTIVE.
    assert {lb_status(cluster_api, i) for i in ids} == {"PENDING_CREATE"}
    converge_on(cluster_api, "n1")
    on_n1 = {a["loadbalancer_id"] for a in found if a["compute_id"] == "n1"}
    assert {i: lb_status(cluster_api, i) for i in ids} == {
        i: "ACTIVE" if i in on_n1 else "PENDING_CREATE" for i in ids
    }
    converge_on(cluster_api, "n2")
    assert {lb_status(cluster_api, i) for i in ids} == {"ACTIVE"}
    # Filters, and a project's caller sees no amphora.
    one = found[0]
    assert [a["id"] for a in amphorae_query(cluster_api, f"?compute_id={one['compute_id']}")] == [
        a["id"] for a in found if a["compute_id"] == one["compute_id"]
    ]
    assert cluster_api.get("/v2/octavia/amphorae", "alpha").status_code == 403


def amphorae_query(api: Api, query: str) -> list[dict]:
    r = api.get(f"/v2/octavia/amphorae{query}")
    assert r.status_code == 200, r.text
    return r.json()["amphorae"]


def test_a_dead_nodes_load_balancer_gets_a_new_amphora_elsewhere(
    cluster_api: Api, members: dict, engine: Engine
) -> None:
    join(engine, members, "n1", timeout=2.0)  # never beats: dead after 2 s
    lb = create_lb(cluster_api, "moving")
    scheduler.run_pass(engine, CLUSTER)
    (before,) = amphorae(cluster_api)
    assert before["compute_id"] == "n1"
    converge_on(cluster_api, "n1")
    assert lb_status(cluster_api, lb) == "ACTIVE"

    join(engine, members, "n2")
    time.sleep(2.1)
    (dead,) = amphorae(cluster_api)
    assert dead["status"] == "ERROR"  # its node is dead; not yet placed again
    decisions = scheduler.run_pass(engine, CLUSTER)
    assert decisions is not None
    assert [(p.holder, p.node) for p in decisions.add] == [(lb, "n2")]
    (after,) = amphorae(cluster_api)
    assert (after["compute_id"], after["status"]) == ("n2", "ALLOCATED")
    assert after["id"] != before["id"]
    # What the dead node recorded is not shown: the new amphora is not built yet.
    assert lb_status(cluster_api, lb) == "PENDING_CREATE"
    converge_on(cluster_api, "n2")
    assert lb_status(cluster_api, lb) == "ACTIVE"


def test_failover_places_a_new_amphora(cluster_api: Api, members: dict, engine: Engine) -> None:
    join(engine, members, "n1")
    lb = create_lb(cluster_api, "failing")
    scheduler.run_pass(engine, CLUSTER)
    (first,) = amphorae(cluster_api)
    r = cluster_api.put(f"/v2/octavia/amphorae/{first['id']}/failover", None)
    assert r.status_code == 202, r.text
    (second,) = amphorae(cluster_api)
    assert second["id"] != first["id"] and second["loadbalancer_id"] == lb
    r = cluster_api.put(f"/v2/lbaas/loadbalancers/{lb}/failover", None)
    assert r.status_code == 202, r.text
    (third,) = amphorae(cluster_api)
    assert third["id"] not in (first["id"], second["id"])
    assert (
        cluster_api.put(f"/v2/lbaas/loadbalancers/{lb}/failover", None, "alpha").status_code == 403
    )
    assert cluster_api.put("/v2/octavia/amphorae/nope/failover", None).status_code == 404


def test_a_node_on_its_own_has_one_standalone_amphora_per_lb_and_no_failover(api: Api) -> None:
    lb = api.loadbalancer(name="alone")
    (amphora,) = amphorae(api)
    assert (amphora["loadbalancer_id"], amphora["role"], amphora["compute_id"]) == (
        lb["id"],
        "STANDALONE",
        api.svc.store.node,
    )
    assert api.get(f"/v2/octavia/amphorae/{amphora['id']}").json()["amphora"] == amphora
    refused = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover", None)
    assert refused.status_code == 409
    assert "--cluster" in refused.json()["faultstring"]


def test_a_node_that_stopped_cleanly_keeps_its_objects_for_its_timeout(
    cluster_api: Api, members: dict, engine: Engine
) -> None:
    join(engine, members, "n1", timeout=0.5)
    lb = create_lb(cluster_api, "kept")
    scheduler.run_pass(engine, CLUSTER)
    (first,) = amphorae(cluster_api)
    members.pop("n1").stop()  # left: restarting, most likely
    join(engine, members, "n2")
    decisions = scheduler.run_pass(engine, CLUSTER)
    assert decisions is not None and decisions.empty
    assert [a["id"] for a in amphorae(cluster_api)] == [first["id"]]
    # Back within its timeout: nothing moved.
    join(engine, members, "n1", timeout=0.5)
    assert scheduler.run_pass(engine, CLUSTER).empty  # type: ignore[union-attr]
    # Gone for longer than its timeout: its load balancer moves.
    members.pop("n1").stop()
    time.sleep(0.6)
    scheduler.run_pass(engine, CLUSTER)
    (moved,) = amphorae(cluster_api)
    assert (moved["loadbalancer_id"], moved["compute_id"]) == (lb, "n2")
