"""Failures in the shapes OpenStack clients read, with the right codes, and never
half-applied: a refused request leaves the API's document (and its generation) as it
was."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.conftest import Api

UNKNOWN = str(uuid.uuid4())


def fault(r: Any, status: int) -> str:
    """Octavia's error body; its faultstring."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    assert body["faultcode"] == ("Client" if status < 500 else "Server")
    return str(body["faultstring"])


def neutron_error(r: Any, status: int, kind: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"NeutronError"}, body
    assert body["NeutronError"]["type"] == kind
    assert body["NeutronError"]["detail"] == ""
    return str(body["NeutronError"]["message"])


# --- 400: bad input, naming the field ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named", "why"),
    [
        ({"bogus": 1}, "bogus", "Unknown attribute"),
        ({"vip_address": "10.0.0.300"}, "vip_address", "not a valid IPv4 address"),
        ({"vip_address": "fe80::1"}, "vip_address", "not a valid IPv4 address"),
        ({"vip_subnet_id": "not-a-uuid"}, "vip_subnet_id", "should match pattern"),
        ({"admin_state_up": "maybe"}, "admin_state_up", "valid boolean"),
        ({"name": "x" * 300}, "name", "at most 255"),
    ],
)
def test_bad_loadbalancer_field(api: Api, fields: dict[str, Any], named: str, why: str) -> None:
    before = api.generation()
    body = {"vip_subnet_id": api.subnet_id("tenant1-subnet"), **fields}
    text = fault(api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body}), 400)
    assert text.startswith(f"Invalid input for field/attribute {named}."), text
    assert why in text
    assert api.generation() == before


@pytest.mark.parametrize(
    ("fields", "named", "why"),
    [
        ({"protocol_port": 0}, "protocol_port", "greater than or equal to 1"),
        ({"protocol_port": 65536}, "protocol_port", "less than or equal to 65535"),
        ({"protocol": "SCTP"}, "protocol", "'UDP' or 'PROMETHEUS'"),
        ({"protocol_port": None}, "protocol_port", "valid integer"),
    ],
)
def test_bad_listener_field(api: Api, fields: dict[str, Any], named: str, why: str) -> None:
    lb = api.loadbalancer()
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80, **fields}
    text = fault(api.post("/v2/lbaas/listeners", {"listener": body}), 400)
    assert text.startswith(f"Invalid input for field/attribute {named}."), text
    assert why in text


@pytest.mark.parametrize(
    ("path", "kind", "fields", "missing"),
    [
        (
            "/v2/lbaas/listeners",
            "listener",
            {"protocol": "HTTP", "protocol_port": 80},
            "loadbalancer_id",
        ),
        (
            "/v2/lbaas/listeners",
            "listener",
            {"loadbalancer_id": UNKNOWN, "protocol": "HTTP"},
            "protocol_port",
        ),
        ("/v2/lbaas/pools", "pool", {"protocol": "HTTP"}, "lb_algorithm"),
        ("/v2/lbaas/healthmonitors", "healthmonitor", {"pool_id": UNKNOWN, "type": "TCP"}, "delay"),
    ],
)
def test_mandatory_field_missing(
    api: Api, path: str, kind: str, fields: dict[str, Any], missing: str
) -> None:
    text = fault(api.post(path, {kind: fields}), 400)
    assert text == (
        f"Invalid input for field/attribute {missing}. Value: 'None'. Mandatory field missing."
    )


def test_body_not_wrapped_in_its_kind(api: Api) -> None:
    text = fault(api.post("/v2/lbaas/loadbalancers", {"vip_subnet_id": UNKNOWN}), 400)
    assert "loadbalancer" in text


def test_body_not_json(api: Api) -> None:
    r = api.request(
        "POST",
        "/v2/lbaas/loadbalancers",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert fault(r, 400) == (
        "Invalid input: the body is not valid JSON (Expecting property "
        "name enclosed in double quotes at character 1)"
    )


@pytest.mark.parametrize(
    ("path", "body", "named", "why"),
    [
        # JSON's types, not pydantic's coercions: a quota of false is not 0.
        (
            "/v2/lbaas/quotas/alpha",
            {"quota": {"loadbalancer": False}},
            "loadbalancer",
            "valid integer",
        ),
        ("/v2/lbaas/quotas/alpha", {"quota": {"member": "5"}}, "member", "valid integer"),
        (
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"admin_state_up": "true"}},
            "admin_state_up",
            "valid boolean",
        ),
        (
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"admin_state_up": 1}},
            "admin_state_up",
            "valid boolean",
        ),
        (
            "/v2/lbaas/listeners",
            {"listener": {"loadbalancer_id": UNKNOWN, "protocol": "HTTP", "protocol_port": "80"}},
            "protocol_port",
            "valid integer",
        ),
        (
            "/v2/lbaas/listeners",
            {
                "listener": {
                    "loadbalancer_id": UNKNOWN,
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "insert_headers": {"X-Forwarded-For": 1},
                }
            },
            "X-Forwarded-For",
            "'true', 'false'",
        ),
        ("/v2.0/routers", {"router": {"ha": 0}}, "ha", "valid boolean"),
    ],
)
def test_values_of_the_wrong_json_type(
    api: Api, path: str, body: dict[str, Any], named: str, why: str
) -> None:
    r = api.request("PUT" if "quotas" in path else "POST", path, json=body)
    assert r.status_code == 400, r.text
    text = (
        r.json()["NeutronError"]["message"]
        if path.startswith("/v2.0/r")
        else r.json()["faultstring"]
    )
    assert text.startswith(f"Invalid input for field/attribute {named}."), text
    assert why in text
    assert api.get("/v2/lbaas/quotas/alpha").json()["quota"]["loadbalancer"] == -1


def test_bad_member_address(api: Api) -> None:
    lb = api.loadbalancer()
    pool = api.pool(loadbalancer_id=lb["id"])
    r = api.post(
        f"/v2/lbaas/pools/{pool['id']}/members",
        {"member": {"address": "10.0.0", "protocol_port": 80}},
    )
    assert fault(r, 400).startswith("Invalid input for field/attribute address.")


def test_vip_outside_its_subnet(api: Api) -> None:
    r = api.post(
        "/v2/lbaas/loadbalancers",
        {
            "loadbalancer": {
                "vip_subnet_id": api.subnet_id("tenant1-subnet"),
                "vip_address": "10.9.9.9",
            }
        },
    )
    assert fault(r, 400).startswith("Invalid input for field/attribute vip_address.")


def test_neutron_bad_input(api: Api) -> None:
    before = api.generation()
    message = neutron_error(
        api.post("/v2.0/networks", {"network": {"bogus": 1}}), 400, "BadRequest"
    )
    assert message.startswith("Invalid input for field/attribute bogus.")
    r = api.post(
        "/v2.0/subnets",
        {"subnet": {"network_id": api.network_id("tenant1"), "cidr": "10.1.0.0/33"}},
    )
    assert neutron_error(r, 400, "BadRequest").startswith("Invalid input for field/attribute cidr.")
    r = api.post("/v2.0/subnets", {"subnet": {"cidr": "10.1.0.0/24"}})
    assert "network_id" in neutron_error(r, 400, "BadRequest")
    # A union's member types are not fields: the field is named, not "GatewayInfo".
    r = api.put(f"/v2.0/routers/{UNKNOWN}", {"router": {"external_gateway_info": 5}})
    assert neutron_error(r, 400, "BadRequest").startswith(
        "Invalid input for field/attribute external_gateway_info. Value: '5'."
    )
    assert api.generation() == before


# --- 404 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/v2/lbaas/loadbalancers/{UNKNOWN}",
        f"/v2/lbaas/loadbalancers/{UNKNOWN}/status",
        f"/v2/lbaas/loadbalancers/{UNKNOWN}/stats",
        f"/v2/lbaas/listeners/{UNKNOWN}",
        f"/v2/lbaas/pools/{UNKNOWN}",
        f"/v2/lbaas/pools/{UNKNOWN}/members",
        f"/v2/lbaas/pools/{UNKNOWN}/members/{UNKNOWN}",
        f"/v2/lbaas/healthmonitors/{UNKNOWN}",
        f"/v2.0/lbaas/loadbalancers/{UNKNOWN}",
        "/v2/lbaas/nothing-here",
    ],
)
def test_octavia_unknown_id(api: Api, path: str) -> None:
    assert "could not be found" in fault(api.get(path), 404)


@pytest.mark.parametrize(
    "path",
    [
        f"/v2.0/networks/{UNKNOWN}",
        f"/v2.0/subnets/{UNKNOWN}",
        f"/v2.0/routers/{UNKNOWN}",
        f"/v2.0/floatingips/{UNKNOWN}",
        f"/v2.0/ports/{UNKNOWN}",
        "/v2.0/nothing-here",
    ],
)
def test_neutron_unknown_id(api: Api, path: str) -> None:
    assert "could not be found" in neutron_error(api.get(path), 404, "NotFound")


def test_changes_to_unknown_ids(api: Api) -> None:
    before = api.generation()
    fault(api.put(f"/v2/lbaas/loadbalancers/{UNKNOWN}", {"loadbalancer": {"name": "x"}}), 404)
    fault(api.delete(f"/v2/lbaas/listeners/{UNKNOWN}"), 404)
    fault(
        api.post(
            "/v2/lbaas/listeners",
            {"listener": {"loadbalancer_id": UNKNOWN, "protocol": "HTTP", "protocol_port": 80}},
        ),
        404,
    )
    neutron_error(api.delete(f"/v2.0/networks/{UNKNOWN}"), 404, "NotFound")
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": UNKNOWN, "cidr": "10.1.0.0/24"}})
    neutron_error(r, 404, "NotFound")
    assert api.generation() == before


# --- 409 --------------------------------------------------------------------------------------


def test_vip_address_in_use(api: Api) -> None:
    api.loadbalancer(vip_address="10.0.0.100")
    before = api.generation()
    subnet = api.subnet_id("tenant1-subnet")
    for address in ("10.0.0.100", "10.0.0.1"):  # another VIP, the subnet's gateway
        r = api.post(
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"vip_subnet_id": subnet, "vip_address": address}},
        )
        assert f"IP address {address} is already allocated" in fault(r, 409)
    assert api.generation() == before


def test_listener_port_taken_on_the_same_load_balancer(api: Api) -> None:
    lb = api.loadbalancer()
    other = api.loadbalancer()
    api.listener(lb["id"], protocol_port=80)
    before = api.generation()
    r = api.post(
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 80}},
    )
    assert "already using protocol_port 80" in fault(r, 409)
    assert api.generation() == before
    api.listener(other["id"], protocol_port=80)  # another load balancer: fine


def test_second_health_monitor_on_a_pool(api: Api) -> None:
    lb = api.loadbalancer()
    pool = api.pool(loadbalancer_id=lb["id"])
    api.healthmonitor(pool["id"])
    before = api.generation()
    r = api.post(
        "/v2/lbaas/healthmonitors",
        {
            "healthmonitor": {
                "pool_id": pool["id"],
                "type": "HTTP",
                "delay": 5,
                "timeout": 5,
                "max_retries": 3,
            }
        },
    )
    assert "already has a health monitor" in fault(r, 409)
    assert api.generation() == before


def test_duplicate_member(api: Api) -> None:
    lb = api.loadbalancer()
    pool = api.pool(loadbalancer_id=lb["id"])
    api.member(pool["id"], address="10.0.0.81", protocol_port=80)
    r = api.post(
        f"/v2/lbaas/pools/{pool['id']}/members",
        {"member": {"address": "10.0.0.81", "protocol_port": 80}},
    )
    assert "already using ip address 10.0.0.81" in fault(r, 409)


def test_children_wait_while_the_load_balancer_is_pending(api: Api) -> None:
    lb = api.create(
        "/v2/lbaas/loadbalancers",
        "loadbalancer",
        {"vip_subnet_id": api.subnet_id("tenant1-subnet")},
    )
    assert lb["provisioning_status"] == "PENDING_CREATE"
    before = api.generation()
    listener = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}
    r = api.post("/v2/lbaas/listeners", {"listener": listener})
    text = fault(r, 409)
    assert lb["id"] in text
    assert "PENDING_CREATE" in text
    r = api.post(
        "/v2/lbaas/pools",
        {"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
    )
    fault(r, 409)
    fault(api.put(f"/v2/lbaas/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}}), 409)
    fault(api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 409)
    assert api.generation() == before

    api.converge()
    made = api.create("/v2/lbaas/listeners", "listener", listener)
    # The new listener puts its load balancer in PENDING_UPDATE: the next change waits.
    r = api.post(
        "/v2/lbaas/pools",
        {"pool": {"listener_id": made["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
    )
    assert "PENDING_UPDATE" in fault(r, 409)
    r = api.put(f"/v2/lbaas/listeners/{made['id']}", {"listener": {"name": "x"}})
    assert "PENDING_UPDATE" in fault(r, 409)


def test_pool_protocol_must_match_its_listener(api: Api) -> None:
    lb = api.loadbalancer()
    listener = api.listener(lb["id"], protocol="HTTP", protocol_port=80)
    r = api.post(
        "/v2/lbaas/pools",
        {"pool": {"listener_id": listener["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}},
    )
    assert "is not compatible with listener protocol HTTP" in fault(r, 409)


def test_neutron_conflicts(api: Api) -> None:
    lb = api.loadbalancer()
    before = api.generation()
    r = api.post("/v2.0/networks", {"network": {"provider:segmentation_id": 1}})
    assert "VLAN 1" in neutron_error(r, 409, "Conflict")
    r = api.delete(f"/v2.0/networks/{api.network_id('tenant1')}")
    neutron_error(r, 409, "Conflict")  # a topology file's
    r = api.post(
        "/v2.0/floatingips",
        {
            "floatingip": {
                "floating_network_id": api.network_id("public"),
                "floating_ip_address": "10.255.253.1",
            }
        },
    )
    assert "already allocated" in neutron_error(r, 409, "Conflict")
    assert api.generation() == before
    assert lb["id"] in {x["id"] for x in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]}


# --- 5xx --------------------------------------------------------------------------------------


def test_a_crash_answers_500_in_the_api_shape(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(api.svc, "world", broken)
    text = fault(api.get("/v2/lbaas/loadbalancers"), 500)
    assert text == "netnode failed to answer: RuntimeError"  # no details leak
    message = neutron_error(api.get("/v2.0/networks"), 500, "NeutronError")
    assert message == "netnode failed to answer: RuntimeError"


# --- nothing half-applied ---------------------------------------------------------------------


def test_a_refusal_after_part_of_the_change_was_made_leaves_nothing(api: Api) -> None:
    """create_pool adds the pool, then finds the listener already has a default pool:
    the pool must not be left behind."""
    lb = api.loadbalancer()
    listener = api.listener(lb["id"])
    api.pool(listener_id=listener["id"])
    before, document = api.generation(), api.document()
    r = api.post(
        "/v2/lbaas/pools",
        {
            "pool": {
                "listener_id": listener["id"],
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
            }
        },
    )
    assert "already has a default pool" in fault(r, 409)
    assert api.generation() == before
    assert api.document() == document
    assert len(api.get("/v2/lbaas/pools").json()["pools"]) == 1


def test_a_change_the_whole_topology_refuses_is_not_written(api: Api) -> None:
    """The document is validated whole before it is written: a second subnet
    overlapping the first is refused by the topology's own rules."""
    net = api.create("/v2.0/networks", "network", {"name": "n"})
    api.create("/v2.0/subnets", "subnet", {"network_id": net["id"], "cidr": "192.168.7.0/24"})
    before, document = api.generation(), api.document()
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "192.168.7.128/25"}})
    assert "overlaps" in neutron_error(r, 400, "BadRequest")
    assert api.generation() == before
    assert api.document() == document
