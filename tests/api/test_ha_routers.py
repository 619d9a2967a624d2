"""Neutron's HA routers (``l3-ha``, ``"ha": true``) through the API, on SQLite and
PostgreSQL: an admin's to ask for; a cluster gives each two addresses of the HA network
(never another router's, even when two API processes create at once) and two instances
on two nodes; a node on its own refuses one with a 400 naming ``ha``; ``ha`` is shown,
filtered on, and never changed on an existing router; its L3 agents are the nodes
holding its instances, with their ``ha_state``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from netnode.api.app import create_app
from netnode.api.auth import Tokens
from netnode.api.service import Service
from netnode.cluster import scheduler
from netnode.cluster.membership import Membership
from netnode.model.loading import load_data
from netnode.reconcile.ledger import LedgerStore
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
from tests.api.test_cluster import CLUSTER, cluster_api  # noqa: F401 - a fixture
from tests.api.test_concurrency import Retries, send, together

ROUTERS = "/v2.0/routers"
HA_CIDR = IPv4Network("169.254.192.0/18")


@pytest.fixture
def two_nodes(engine: Engine) -> Iterator[None]:
    joined = [Membership(engine, name, log=lambda _s: None) for name in ("n1", "n2")]
    for m in joined:
        m.join()
    yield
    for m in joined:
        m.stop()


def vrrp_of(api: Api, router_id: str) -> list[str]:
    """The router's two addresses on the HA network, as the stored topology holds them."""
    (row,) = [x for x in api.document()["routers"] if x["id"] == router_id]
    assert row["ha"] is True
    return list(row["vrrp_addresses"])


def test_a_cluster_gives_an_ha_router_two_addresses_and_two_instances(
    cluster_api: Api,  # noqa: F811 - the fixture
    two_nodes: None,
    engine: Engine,
) -> None:
    api = cluster_api
    first = api.create(ROUTERS, "router", {"name": "r1", "ha": True})
    assert first["ha"] is True
    vrrp = vrrp_of(api, first["id"])
    assert len(set(vrrp)) == 2 and all(IPv4Address(a) in HA_CIDR for a in vrrp)
    second = api.create(ROUTERS, "router", {"name": "r2", "ha": True})
    assert set(vrrp_of(api, second["id"])).isdisjoint(vrrp)
    plain = api.create(ROUTERS, "router", {"name": "r3"})
    assert plain["ha"] is False
    (row,) = [x for x in api.document()["routers"] if x["id"] == plain["id"]]
    assert not row.get("ha") and not row.get("vrrp_addresses")

    shown = api.get(f"{ROUTERS}/{first['id']}").json()["router"]
    assert shown["ha"] is True
    listed = {x["id"]: x["ha"] for x in api.get(ROUTERS).json()["routers"]}
    assert listed == {first["id"]: True, second["id"]: True, plain["id"]: False}
    only_ha = api.get(ROUTERS, params={"ha": "true"}).json()["routers"]
    assert sorted(x["id"] for x in only_ha) == sorted([first["id"], second["id"]])
    assert [x["id"] for x in api.get(ROUTERS, params={"ha": "false"}).json()["routers"]] == [
        plain["id"]
    ]

    # The scheduler places each HA router twice, on two nodes, MASTER and BACKUP.
    scheduler.run_pass(engine, CLUSTER)
    placed = [p for p in scheduler.placements(engine, CLUSTER) if p.holder == first["id"]]
    assert sorted((p.role, p.slot) for p in placed) == [("BACKUP", 1), ("MASTER", 0)]
    assert sorted(p.node for p in placed) == ["n1", "n2"]
    # Its L3 agents are those two nodes', active where the MASTER is.
    agents = l3_agents(api, first["id"])
    assert sorted((a["host"], a["ha_state"]) for a in agents) == sorted(
        (p.node, "active" if p.role == "MASTER" else "standby") for p in placed
    )
    assert {a["agent_type"] for a in agents} == {"L3 agent"}
    assert [a["ha_state"] for a in l3_agents(api, plain["id"])] == [None]
    r = api.get(f"{ROUTERS}/{first['id']}/l3-agents", "alpha")
    assert r.status_code == 403, r.text


def l3_agents(api: Api, router_id: str) -> list[dict[str, Any]]:
    r = api.get(f"{ROUTERS}/{router_id}/l3-agents")
    assert r.status_code == 200, r.text
    return list(r.json()["agents"])


def test_a_node_on_its_own_refuses_an_ha_router(api: Api) -> None:
    r = api.post(ROUTERS, {"router": {"name": "r", "ha": True}})
    assert r.status_code == 400, r.text
    error = r.json()["NeutronError"]
    assert error["type"] == "BadRequest"
    assert "field/attribute ha" in error["message"] and "--cluster" in error["message"]
    assert api.get(ROUTERS).json()["routers"] == []
    # ``ha`` false (Neutron's l3_ha default, as when it is omitted) is anyone's.
    router = api.create(ROUTERS, "router", {"name": "r", "ha": False}, "alpha")
    assert router["ha"] is False
    # Its one L3 agent is this node's (once it has joined the store, as serve does).
    assert l3_agents(api, router["id"]) == []
    m = Membership(api.store.engine, NODE, log=lambda _s: None)
    m.join()
    try:
        agents = l3_agents(api, router["id"])
    finally:
        m.stop()
    assert [(a["host"], a["ha_state"]) for a in agents] == [(NODE, None)]


def test_only_an_admin_asks_for_an_ha_router(
    cluster_api: Api,  # noqa: F811 - the fixture
    two_nodes: None,
) -> None:
    r = cluster_api.post(ROUTERS, {"router": {"name": "r", "ha": True}}, "alpha")
    assert r.status_code == 403, r.text
    assert "ha" in r.json()["NeutronError"]["message"]
    assert cluster_api.get(ROUTERS).json()["routers"] == []


def test_ha_does_not_change_on_an_existing_router(
    cluster_api: Api,  # noqa: F811 - the fixture
    two_nodes: None,
) -> None:
    api = cluster_api
    ha = api.create(ROUTERS, "router", {"name": "ha", "ha": True})
    vrrp = vrrp_of(api, ha["id"])
    plain = api.create(ROUTERS, "router", {"name": "plain"}, "alpha")
    for router_id, asked in ((ha["id"], False), (plain["id"], True)):
        r = api.put(f"{ROUTERS}/{router_id}", {"router": {"ha": asked}})
        assert r.status_code == 400, r.text
        message = r.json()["NeutronError"]["message"]
        assert "field/attribute ha" in message and "create a new router" in message
    r = api.put(f"{ROUTERS}/{plain['id']}", {"router": {"ha": True}}, "alpha")
    assert r.status_code == 403, r.text
    # The value it has is no change, and the rest of the update lands.
    r = api.put(f"{ROUTERS}/{ha['id']}", {"router": {"ha": True, "name": "renamed"}})
    assert r.status_code == 200, r.text
    assert r.json()["router"]["name"] == "renamed" and r.json()["router"]["ha"] is True
    r = api.put(f"{ROUTERS}/{plain['id']}", {"router": {"ha": False}}, "alpha")
    assert r.status_code == 200, r.text
    assert vrrp_of(api, ha["id"]) == vrrp


def test_l3_ha_is_listed_among_the_extensions(api: Api) -> None:
    r = api.get("/v2.0/extensions/l3-ha")
    assert r.status_code == 200, r.text
    assert r.json()["extension"]["name"] == "HA Router extension"
    aliases = [x["alias"] for x in api.get("/v2.0/extensions").json()["extensions"]]
    assert "l3-ha" in aliases


@contextmanager
def cluster_service(engine: Engine, tmp: Path, node: str) -> Iterator[Api]:
    """An API process of the cluster on ``engine``'s store (own Service, own caches)."""
    store = LedgerStore(engine, node, CLUSTER)
    store.set_desired(OPERATOR, operator_document(OPERATOR_TOPOLOGY))
    svc = Service(store, CLUSTER, quotas=QuotaStore(engine), certificates_dir=CERTIFICATES)
    app = create_app(svc, Tokens.load(write_tokens(tmp / "tokens.yaml")))
    with TestClient(app, raise_server_exceptions=False) as client:
        # Routes are built on the first requests, which is not thread-safe: now.
        assert client.get(ROUTERS, headers={"X-Auth-Token": "admin-token-000000000000"})
        yield Api(client, store, svc, load_data(OPERATOR_TOPOLOGY, NODE))


def test_parallel_ha_routers_never_share_an_address(
    engine: Engine, tmp_path: Path, two_nodes: None
) -> None:
    """4 threads on 2 API processes each create 3 HA routers: 24 addresses, all apart
    (the store holds each as an allocation, so a stale choice is decided again)."""
    with ExitStack() as stack:
        apis = []
        for i in range(2):
            (tmp_path / f"api{i}").mkdir()
            apis.append(stack.enter_context(cluster_service(engine, tmp_path / f"api{i}", f"a{i}")))
        retries = Retries()

        def creates(api: Api, thread: int) -> list[dict[str, Any]]:
            made = []
            for k in range(3):
                body = {"router": {"name": f"r-{thread}-{k}", "ha": True}}
                r = send(lambda body=body: api.post(ROUTERS, body), retries)
                assert r.status_code == 201, r.text
                made.append(r.json()["router"])
            return made

        made = together([lambda a=apis[t % 2], t=t: creates(a, t) for t in range(4)])
        ids = {x["id"] for m in made for x in m}
        assert len(ids) == 12
        held = [a for router_id in ids for a in vrrp_of(apis[0], router_id)]
        assert len(set(held)) == len(held) == 24, sorted(held)
        load_data(apis[0].document(), NODE, "api")
        print("retried:", dict(retries.seen))
