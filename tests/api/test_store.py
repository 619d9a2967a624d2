"""The API and topology files share one store: what ``netnode apply`` records shows
through the API, and what the API makes is a topology the reconcile loop reads."""

from __future__ import annotations

import copy
from typing import Any

from netnode.model.loading import load_data
from tests.api.conftest import NODE, OPERATOR, OPERATOR_TOPOLOGY, Api, operator_document


def with_load_balancer() -> dict:
    data = copy.deepcopy(OPERATOR_TOPOLOGY)
    data["load_balancers"] = [
        {
            "name": "web",
            "vip": {"network": "tenant1", "address": "10.0.0.100"},
            "listeners": [{"name": "http", "protocol_port": 80, "default_pool": "vms"}],
            "pools": [
                {
                    "name": "vms",
                    "members": [{"name": "vm1", "address": "10.0.0.81", "protocol_port": 80}],
                    "healthmonitor": {"type": "TCP"},
                }
            ],
        }
    ]
    return data


def test_a_topology_files_load_balancer_shows_through_the_api(api: Api) -> None:
    api.store.set_desired(OPERATOR, operator_document(with_load_balancer()))
    topo = load_data(with_load_balancer(), NODE)
    lb = topo.load_balancers[0]
    listed = api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
    assert [(x["id"], x["name"], x["vip_address"]) for x in listed] == [
        (lb.uid, "web", "10.0.0.100")
    ]
    assert listed[0]["project_id"] == "admin"  # the operator's project
    assert listed[0]["provisioning_status"] == "PENDING_CREATE"
    api.converge(OPERATOR)
    shown = api.get(f"/v2/lbaas/loadbalancers/{lb.uid}").json()["loadbalancer"]
    assert shown["provisioning_status"] == "ACTIVE"
    assert shown["listeners"] == [{"id": lb.listeners[0].uid}]
    pool = api.get(f"/v2/lbaas/pools/{lb.pools[0].uid}").json()["pool"]
    assert pool["listeners"] == [{"id": lb.listeners[0].uid}]
    assert pool["healthmonitor_id"] == lb.pools[0].healthmonitor.uid
    members = api.get(f"/v2/lbaas/pools/{lb.pools[0].uid}/members").json()["members"]
    assert [(m["name"], m["address"]) for m in members] == [("vm1", "10.0.0.81")]
    # A member project does not see the operator's load balancer...
    assert api.get("/v2/lbaas/loadbalancers", "alpha").json()["loadbalancers"] == []
    # Another project's (the operator's): forbidden, as Octavia's policy answers.
    assert api.get(f"/v2/lbaas/loadbalancers/{lb.uid}", "alpha").status_code == 403
    # ...and nobody changes it through the API: the file owns it.
    r = api.put(f"/v2/lbaas/loadbalancers/{lb.uid}", {"loadbalancer": {"name": "x"}})
    assert r.status_code == 409
    assert "topology file 'ops'" in r.json()["faultstring"]
    r = api.post(
        f"/v2/lbaas/pools/{lb.pools[0].uid}/members",
        {"member": {"address": "10.0.0.82", "protocol_port": 80}},
    )
    assert r.status_code == 409
    # Its VIP is taken for everyone.
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {
            "loadbalancer": {
                "vip_subnet_id": api.subnet_id("tenant1-subnet"),
                "vip_address": "10.0.0.100",
            }
        },
    )
    assert r.status_code == 409


def test_api_objects_are_the_api_topology_in_the_store(api: Api) -> None:
    assert api.store.document("api") == (None, 0)
    net = api.create("/v2.0/networks", "network", {"name": "my net"}, "alpha")
    lb = api.loadbalancer("alpha", name="web", vip_address="10.0.0.50")
    listener = api.listener(lb["id"], "alpha", protocol_port=8080)
    pool = api.pool("alpha", listener_id=listener["id"])
    member = api.member(pool["id"], "alpha", address="10.0.0.81", protocol_port=8000)

    document, generation = api.store.document("api")
    assert generation == 5  # one write per request
    assert document is not None
    topo = load_data(document, NODE)  # valid on its own: the reconcile loop can read it
    assert topo.name == "api"
    assert [n.uid for n in topo.networks] == [net["id"], api.network_id("tenant1")]
    [stored] = topo.load_balancers
    assert stored.uid == lb["id"]
    assert str(stored.vip.address) == "10.0.0.50"
    # The operator's network is copied in, under its id, so the topology stands alone.
    assert stored.vip.network == api.network_id("tenant1")
    assert [(x.uid, x.protocol_port, x.default_pool) for x in stored.listeners] == [
        (listener["id"], 8080, pool["id"])
    ]
    assert [(m.uid, str(m.address), m.protocol_port) for m in stored.pools[0].members] == [
        (member["id"], "10.0.0.81", 8000)
    ]
    assert topo.metadata[lb["id"]].name == "web"
    assert topo.metadata[lb["id"]].project_id == "alpha"
    assert topo.metadata[net["id"]].name == "my net"
    # The file's topology is untouched.
    assert api.store.document(OPERATOR)[0] == operator_document(OPERATOR_TOPOLOGY)


def test_the_copied_network_goes_when_nothing_uses_it(api: Api) -> None:
    lb = api.loadbalancer()
    assert [n["id"] for n in api.document()["networks"]] == [api.network_id("tenant1")]
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    assert api.document()["networks"] == []
    assert api.document()["metadata"] == {}
    # The operator's network is still there, shared, as before.
    assert api.get(f"/v2.0/networks/{api.network_id('tenant1')}", "beta").status_code == 200


def test_a_write_elsewhere_between_read_and_write_is_not_lost(api: Api) -> None:
    """Compare-and-set per object: a write that lands between a request's read and its
    write is kept, whether the request read what it changed (it starts again from the
    new state) or not (it writes only its own objects)."""
    first = api.loadbalancer(name="first")
    real = api.store.desired.commit
    raced: list[int] = []

    def racing(topology: str, change: Any, subnets: Any) -> int | None:
        if len(raced) < 2:
            raced.append(1)
            # Another writer (another API process) lands a change first.
            current, gen = api.store.document(topology)
            assert current is not None
            current["metadata"][first["id"]]["name"] = f"renamed elsewhere {len(raced)}"
            assert api.store.replace_desired(topology, current, gen)
        return real(topology, change, subnets)

    api.store.desired.commit = racing  # type: ignore[method-assign]
    try:
        second = api.loadbalancer(name="second")
        # This one reads the first load balancer: it starts again from the rename.
        third = api.put(
            f"/v2/lbaas/loadbalancers/{first['id']}", {"loadbalancer": {"description": "d"}}
        )
        assert third.status_code == 200, third.text
    finally:
        del api.store.desired.commit
    names = {x["id"]: x["name"] for x in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]}
    assert names == {first["id"]: "renamed elsewhere 2", second["id"]: "second"}
    assert raced == [1, 1]
