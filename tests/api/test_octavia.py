"""Octavia v2 through the API: load balancers, listeners, pools, members (one by one
and in a batch), health monitors. No reconcile loop runs: each object is PENDING_CREATE
when made, and the test marks it converged (``Api.converge``) before its children."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


def test_create_loadbalancer_is_pending_until_converged(api: Api) -> None:
    lb = api.create(
        "/v2/lbaas/loadbalancers",
        "loadbalancer",
        {
            "name": "web",
            "description": "d",
            "vip_subnet_id": api.subnet_id("tenant1-subnet"),
            "vip_address": "10.0.0.100",
            "tags": ["t1"],
        },
        "alpha",
    )
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["name"] == "web"
    assert lb["description"] == "d"
    assert lb["project_id"] == "alpha"
    assert lb["vip_address"] == "10.0.0.100"
    assert lb["vip_subnet_id"] == api.subnet_id("tenant1-subnet")
    assert lb["vip_network_id"] == api.network_id("tenant1")
    assert lb["vip_port_id"]
    assert lb["provider"] == "amphora"  # Octavia's default provider: HAProxy here
    assert lb["tags"] == ["t1"]
    assert lb["listeners"] == lb["pools"] == []
    api.converge()
    shown = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}", "alpha").json()["loadbalancer"]
    assert shown["provisioning_status"] == "ACTIVE"
    # The VIP is a Neutron port of the load balancer.
    port = api.get(f"/v2.0/ports/{lb['vip_port_id']}", "alpha").json()["port"]
    assert port["device_owner"] == "Octavia"
    assert port["device_id"] == lb["id"]
    assert port["fixed_ips"] == [
        {"subnet_id": api.subnet_id("tenant1-subnet"), "ip_address": "10.0.0.100"}
    ]


def test_vip_address_is_allocated_when_not_given(api: Api) -> None:
    first = api.create(
        "/v2/lbaas/loadbalancers", "loadbalancer", {"vip_network_id": api.network_id("tenant1")}
    )
    second = api.create(
        "/v2/lbaas/loadbalancers",
        "loadbalancer",
        {"vip_subnet_id": api.subnet_id("tenant1-subnet")},
    )
    assert first["vip_address"] == "10.0.0.2"  # 10.0.0.1 is the subnet's gateway
    assert second["vip_address"] == "10.0.0.3"


@pytest.mark.parametrize("prefix", ["/v2/lbaas", "/v2.0/lbaas"])
def test_whole_load_balancer(api: Api, prefix: str) -> None:
    lb = api.loadbalancer(name="web")
    listener = api.create(
        f"{prefix}/listeners",
        "listener",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "HTTP",
            "protocol_port": 80,
            "connection_limit": 100,
            "insert_headers": {"X-Forwarded-For": "true"},
        },
    )
    assert listener["provisioning_status"] == "PENDING_CREATE"
    assert listener["loadbalancers"] == [{"id": lb["id"]}]
    assert listener["insert_headers"] == {"X-Forwarded-For": "true"}
    assert listener["connection_limit"] == 100
    assert listener["default_pool_id"] is None
    parent = api.get(f"{prefix}/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert parent["provisioning_status"] == "PENDING_UPDATE"  # Octavia locks the parent
    assert parent["listeners"] == [{"id": listener["id"]}]
    api.converge()

    pool = api.create(
        f"{prefix}/pools",
        "pool",
        {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
    )
    assert pool["listeners"] == [{"id": listener["id"]}]
    assert pool["loadbalancers"] == [{"id": lb["id"]}]
    api.converge()
    shown = api.get(f"{prefix}/listeners/{listener['id']}").json()["listener"]
    assert shown["default_pool_id"] == pool["id"]

    member = api.create(
        f"{prefix}/pools/{pool['id']}/members",
        "member",
        {
            "address": "10.0.0.81",
            "protocol_port": 80,
            "weight": 3,
            "name": "vm1",
            "subnet_id": api.subnet_id("tenant1-subnet"),
        },
    )
    assert member["address"] == "10.0.0.81"
    assert member["weight"] == 3
    assert member["name"] == "vm1"
    assert member["subnet_id"] == api.subnet_id("tenant1-subnet")
    assert member["provisioning_status"] == "PENDING_CREATE"
    api.converge()

    hm = api.create(
        f"{prefix}/healthmonitors",
        "healthmonitor",
        {
            "pool_id": pool["id"],
            "type": "HTTP",
            "delay": 5,
            "timeout": 3,
            "max_retries": 2,
            "url_path": "/health",
            "expected_codes": "200-204",
        },
    )
    assert hm["pools"] == [{"id": pool["id"]}]
    assert hm["url_path"] == "/health"
    assert hm["expected_codes"] == "200-204"
    assert hm["max_retries"] == 2
    api.converge()

    pool = api.get(f"{prefix}/pools/{pool['id']}").json()["pool"]
    assert pool["members"] == [{"id": member["id"]}]
    assert pool["healthmonitor_id"] == hm["id"]
    members = api.get(f"{prefix}/pools/{pool['id']}/members").json()["members"]
    assert [m["id"] for m in members] == [member["id"]]
    assert api.get(f"{prefix}/healthmonitors/{hm['id']}").json()["healthmonitor"]["delay"] == 5
    for kind, objects in (
        ("loadbalancers", [lb]),
        ("listeners", [listener]),
        ("pools", [pool]),
        ("healthmonitors", [hm]),
    ):
        listed = api.get(f"{prefix}/{kind}").json()[kind]
        assert [x["id"] for x in listed] == [x["id"] for x in objects], kind
        assert all(x["provisioning_status"] == "ACTIVE" for x in listed), kind

    tree = api.get(f"{prefix}/loadbalancers/{lb['id']}/status").json()["statuses"]
    lb_status = tree["loadbalancer"]
    assert lb_status["id"] == lb["id"]
    assert lb_status["name"] == "web"
    assert lb_status["listeners"][0]["pools"][0]["members"][0]["id"] == member["id"]
    stats = api.get(f"{prefix}/loadbalancers/{lb['id']}/stats").json()["stats"]
    assert stats["total_connections"] == 0


def test_updates_are_pending_until_converged(api: Api) -> None:
    lb = api.loadbalancer()
    listener = api.listener(lb["id"])
    pool = api.pool(loadbalancer_id=lb["id"])
    member = api.member(pool["id"])
    hm = api.healthmonitor(pool["id"])

    r = api.put(f"/v2/lbaas/members/{member['id']}", {"member": {"weight": 7}})
    assert r.status_code == 404  # members live under their pool
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}",
        {"member": {"weight": 7, "name": "w7"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["member"]["weight"] == 7
    assert r.json()["member"]["name"] == "w7"
    assert r.json()["member"]["provisioning_status"] == "PENDING_UPDATE"
    api.converge()
    r = api.put(
        f"/v2/lbaas/listeners/{listener['id']}",
        {"listener": {"default_pool_id": pool["id"], "timeout_client_data": 1000}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["listener"]["default_pool_id"] == pool["id"]
    assert r.json()["listener"]["timeout_client_data"] == 1000
    api.converge()
    r = api.put(f"/v2/lbaas/pools/{pool['id']}", {"pool": {"lb_algorithm": "SOURCE_IP"}})
    assert r.status_code == 200, r.text
    assert r.json()["pool"]["lb_algorithm"] == "SOURCE_IP"
    api.converge()
    r = api.put(f"/v2/lbaas/healthmonitors/{hm['id']}", {"healthmonitor": {"delay": 9}})
    assert r.status_code == 200, r.text
    assert r.json()["healthmonitor"]["delay"] == 9
    api.converge()
    r = api.put(
        f"/v2/lbaas/loadbalancers/{lb['id']}",
        {"loadbalancer": {"admin_state_up": False, "name": "renamed"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["loadbalancer"]["admin_state_up"] is False
    assert r.json()["loadbalancer"]["name"] == "renamed"
    assert r.json()["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"


def test_delete_children_then_the_load_balancer(api: Api) -> None:
    lb = api.loadbalancer()
    listener = api.listener(lb["id"])
    pool = api.pool(listener_id=listener["id"])
    member = api.member(pool["id"])
    hm = api.healthmonitor(pool["id"])
    r = api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}")
    assert r.status_code == 400  # it has children; Octavia wants cascade
    for path in (
        f"/v2/lbaas/healthmonitors/{hm['id']}",
        f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}",
        f"/v2/lbaas/pools/{pool['id']}",
        f"/v2/lbaas/listeners/{listener['id']}",
        f"/v2/lbaas/loadbalancers/{lb['id']}",
    ):
        r = api.delete(path)
        assert r.status_code == 204, (path, r.text)
        assert api.get(path).status_code == 404, path
        api.converge()
    assert api.document()["load_balancers"] == []


def test_cascade_delete(api: Api) -> None:
    lb = api.loadbalancer()
    pool = api.pool(loadbalancer_id=lb["id"])
    api.member(pool["id"])
    r = api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    assert r.status_code == 204, r.text
    assert api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"] == []
    assert api.get("/v2/lbaas/pools").json()["pools"] == []


def test_member_batch_update_replaces_the_members(api: Api) -> None:
    lb = api.loadbalancer()
    pool = api.pool(loadbalancer_id=lb["id"])
    kept = api.member(pool["id"], address="10.0.0.81", weight=1)
    dropped = api.member(pool["id"], address="10.0.0.82")
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}/members",
        {
            "members": [
                {"address": "10.0.0.81", "protocol_port": 80, "weight": 5},
                {"address": "10.0.0.83", "protocol_port": 80, "name": "new"},
            ]
        },
    )
    assert r.status_code == 202, r.text
    assert r.content == b""
    members = {
        m["address"]: m for m in api.get(f"/v2/lbaas/pools/{pool['id']}/members").json()["members"]
    }
    assert set(members) == {"10.0.0.81", "10.0.0.83"}
    assert members["10.0.0.81"]["id"] == kept["id"]  # matched by address and port
    assert members["10.0.0.81"]["weight"] == 5
    assert members["10.0.0.81"]["provisioning_status"] == "PENDING_UPDATE"
    assert members["10.0.0.83"]["name"] == "new"
    assert members["10.0.0.83"]["provisioning_status"] == "PENDING_CREATE"
    assert members["10.0.0.83"]["id"] not in (kept["id"], dropped["id"])
    r = api.get(f"/v2/lbaas/pools/{pool['id']}/members/{dropped['id']}")
    assert r.status_code == 404


def test_member_batch_answer_is_documented_without_a_body(api: Api) -> None:
    operation = api.get("/openapi.json", who=None).json()["paths"][
        "/v2/lbaas/pools/{pool_id}/members"
    ]["put"]
    assert "content" not in operation["responses"]["202"]


def test_member_batch_refuses_a_duplicate_and_changes_nothing(api: Api) -> None:
    lb = api.loadbalancer()
    pool = api.pool(loadbalancer_id=lb["id"])
    api.member(pool["id"])
    before = api.generation()
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}/members",
        {
            "members": [
                {"address": "10.0.0.90", "protocol_port": 80},
                {"address": "10.0.0.90", "protocol_port": 80},
            ]
        },
    )
    assert r.status_code == 400
    assert "members[1]" in r.json()["faultstring"]
    assert api.generation() == before
    assert len(api.get(f"/v2/lbaas/pools/{pool['id']}/members").json()["members"]) == 1


def test_listing_filters_by_field(api: Api) -> None:
    a = api.loadbalancer(name="a")
    api.loadbalancer(name="b")
    listed = api.get("/v2/lbaas/loadbalancers", params={"name": "a"}).json()["loadbalancers"]
    assert [x["id"] for x in listed] == [a["id"]]
    listed = api.get("/v2/lbaas/loadbalancers", params={"vip_address": a["vip_address"]}).json()[
        "loadbalancers"
    ]
    assert [x["id"] for x in listed] == [a["id"]]


def test_the_provider_asked_for_is_the_provider_shown(api: Api) -> None:
    """Terraform compares what it sent with what it reads back: amphora stays amphora,
    netnode stays netnode (one HAProxy provider under two names), anything else is
    refused naming the field."""
    for provider in ("amphora", "netnode"):
        lb = api.loadbalancer(provider=provider)
        assert lb["provider"] == provider
        shown = api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]
        assert shown["provider"] == provider
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"vip_subnet_id": api.subnet_id("tenant1-subnet"), "provider": "ovn"}},
    )
    assert r.status_code == 400 and "provider" in r.text


def test_providers_and_quota_defaults(api: Api) -> None:
    providers = api.get("/v2/lbaas/providers").json()["providers"]
    assert [p["name"] for p in providers] == ["amphora", "netnode"]
    defaults = api.get("/v2/lbaas/quotas/defaults").json()["quota"]
    assert defaults["load_balancer"] == defaults["loadbalancer"] == -1


def test_a_monitor_may_time_out_after_its_delay_except_on_a_udp_pool(api: Api) -> None:
    """Octavia's rule (octavia-tempest-plugin makes delay 2, timeout 3): only a UDP
    pool's monitor must time out within its delay; the model says so, naming the field."""
    lb = api.loadbalancer()
    tcp = api.pool(loadbalancer_id=lb["id"], protocol="TCP", lb_algorithm="ROUND_ROBIN")
    made = api.healthmonitor(tcp["id"], type="TCP", delay=2, timeout=3, max_retries=3)
    assert (made["delay"], made["timeout"]) == (2, 3)
    udp = api.pool(loadbalancer_id=lb["id"], protocol="UDP", lb_algorithm="ROUND_ROBIN")
    r = api.post(
        "/v2/lbaas/healthmonitors",
        {
            "healthmonitor": {
                "pool_id": udp["id"],
                "type": "UDP-CONNECT",
                "delay": 2,
                "timeout": 3,
                "max_retries": 3,
            }
        },
    )
    assert r.status_code == 400, r.text
    assert "healthmonitor.timeout" in r.text and "exceeds delay 2" in r.text
