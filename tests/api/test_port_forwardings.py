"""Neutron's floating IP port forwardings through the API: the body shapes, the desired
topology they become, and Neutron's errors (400 bad field, 404, 409)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api


@pytest.fixture
def setup(api: Api) -> dict[str, Any]:
    """A load balancer on tenant1, routed to public, and an unbound floating IP."""
    lb = api.loadbalancer(name="lb")
    router = api.create(
        "/v2.0/routers",
        "router",
        {"name": "r", "external_gateway_info": {"network_id": api.network_id("public")}},
    )
    r = api.put(
        f"/v2.0/routers/{router['id']}/add_router_interface",
        {"subnet_id": api.subnet_id("tenant1-subnet")},
    )
    assert r.status_code == 200, r.text
    fip = api.create(
        "/v2.0/floatingips", "floatingip", {"floating_network_id": api.network_id("public")}
    )
    api.converge()
    return {"lb": lb, "router": router, "fip": fip, "port_id": lb["vip_port_id"]}


def pf_body(port_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "port_forwarding": {
            "protocol": "tcp",
            "external_port": 8080,
            "internal_port": 80,
            "internal_port_id": port_id,
            **fields,
        }
    }


def path(fip_id: str, pf_id: str | None = None) -> str:
    base = f"/v2.0/floatingips/{fip_id}/port_forwardings"
    return base if pf_id is None else f"{base}/{pf_id}"


def error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()["NeutronError"]


def test_create_show_list_update_delete(api: Api, setup: dict[str, Any]) -> None:
    fip_id, port_id = setup["fip"]["id"], setup["port_id"]
    vip = setup["lb"]["vip_address"]
    r = api.post(path(fip_id), pf_body(port_id, description="web"))
    assert r.status_code == 201, r.text
    pf = r.json()["port_forwarding"]
    assert pf == {
        "id": pf["id"],
        "protocol": "tcp",
        "external_port": 8080,
        "internal_port": 80,
        "internal_ip_address": vip,
        "internal_port_id": port_id,
        "description": "web",
    }
    # What the host will get: the forwarding in the API's desired topology.
    (stored,) = [f for f in api.document()["floating_ips"] if f["id"] == fip_id]
    assert stored["port_forwardings"] == [
        {
            "id": pf["id"],
            "protocol": "tcp",
            "external_port": 8080,
            "internal_ip_address": vip,
            "internal_port": 80,
            "internal_network": api.network_id("tenant1"),
        }
    ]
    assert api.get(path(fip_id, pf["id"])).json()["port_forwarding"] == pf
    assert api.get(path(fip_id)).json()["port_forwardings"] == [pf]
    assert api.get(path(fip_id), params={"protocol": "udp"}).json()["port_forwardings"] == []
    shown = api.get(f"/v2.0/floatingips/{fip_id}").json()["floatingip"]
    assert shown["port_forwardings"] == [
        {"protocol": "tcp", "external_port": 8080, "internal_ip_address": vip, "internal_port": 80}
    ]
    assert shown["status"] == "ACTIVE"  # in use, though bound to no port

    r = api.put(
        path(fip_id, pf["id"]),
        {"port_forwarding": {"external_port": 2222, "protocol": "udp", "description": "dns"}},
    )
    assert r.status_code == 200, r.text
    changed = r.json()["port_forwarding"]
    assert (changed["external_port"], changed["protocol"], changed["description"]) == (
        2222,
        "udp",
        "dns",
    )
    assert changed["internal_port"] == 80

    assert api.delete(path(fip_id, pf["id"])).status_code == 204
    assert api.get(path(fip_id)).json()["port_forwardings"] == []
    assert api.get(f"/v2.0/floatingips/{fip_id}").json()["floatingip"]["status"] == "DOWN"
    error(api.get(path(fip_id, pf["id"])), 404)
    assert pf["id"] not in api.document()["metadata"]


def test_the_extension_is_announced(api: Api) -> None:
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert "floating-ip-port-forwarding" in aliases
    assert api.get("/v2.0/extensions/floating-ip-port-forwarding").status_code == 200


def test_a_duplicate_external_port_is_409_and_changes_nothing(
    api: Api, setup: dict[str, Any]
) -> None:
    fip_id, port_id = setup["fip"]["id"], setup["port_id"]
    assert api.post(path(fip_id), pf_body(port_id)).status_code == 201
    before = api.generation()
    found = error(api.post(path(fip_id), pf_body(port_id, internal_port=81)), 409)
    assert found["type"] == "Conflict"
    assert "external_port=8080" in found["message"]
    # The same port on the other protocol is another forwarding.
    assert api.post(path(fip_id), pf_body(port_id, protocol="udp")).status_code == 201
    assert api.generation() == before + 1


def test_the_same_internal_socket_twice_is_409(api: Api, setup: dict[str, Any]) -> None:
    fip_id, port_id = setup["fip"]["id"], setup["port_id"]
    assert api.post(path(fip_id), pf_body(port_id)).status_code == 201
    found = error(api.post(path(fip_id), pf_body(port_id, external_port=8081)), 409)
    assert "already the target" in found["message"]


def test_a_floating_ip_bound_to_a_port_takes_no_forwarding(api: Api, setup: dict[str, Any]) -> None:
    fip_id, port_id = setup["fip"]["id"], setup["port_id"]
    r = api.put(f"/v2.0/floatingips/{fip_id}", {"floatingip": {"port_id": port_id}})
    assert r.status_code == 200, r.text
    found = error(api.post(path(fip_id), pf_body(port_id)), 409)
    assert "associated with fixed IP" in found["message"]


def test_a_port_with_a_floating_ip_of_its_own_is_409(api: Api, setup: dict[str, Any]) -> None:
    port_id = setup["port_id"]
    bound = api.create(
        "/v2.0/floatingips",
        "floatingip",
        {"floating_network_id": api.network_id("public"), "port_id": port_id},
    )
    found = error(api.post(path(setup["fip"]["id"]), pf_body(port_id)), 409)
    assert bound["floating_ip_address"] in found["message"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"protocol": "icmp"}, "protocol"),
        ({"external_port": 0}, "external_port"),
        ({"internal_port": 70000}, "internal_port"),
        ({"external_port": "8080"}, "external_port"),
        ({"internal_ip_address": "10.0.0.7"}, "internal_ip_address"),
        ({"internal_port_range": "80:90"}, "internal_port_range"),
    ],
)
def test_bad_fields_are_400_naming_the_field(
    api: Api, setup: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    before = api.generation()
    found = error(api.post(path(setup["fip"]["id"]), pf_body(setup["port_id"], **fields)), 400)
    assert field in found["message"]
    assert api.generation() == before


def test_a_missing_internal_port_id_is_400(api: Api, setup: dict[str, Any]) -> None:
    body = pf_body(setup["port_id"])
    del body["port_forwarding"]["internal_port_id"]
    found = error(api.post(path(setup["fip"]["id"]), body), 400)
    assert "internal_port_id" in found["message"] and "Mandatory" in found["message"]


def test_unknown_objects_are_404(api: Api, setup: dict[str, Any]) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    fip_id = setup["fip"]["id"]
    assert "Floating IP" in error(api.get(path(unknown)), 404)["message"]
    assert (
        "Floating IP" in error(api.post(path(unknown), pf_body(setup["port_id"])), 404)["message"]
    )
    assert "Port Forwarding" in error(api.get(path(fip_id, unknown)), 404)["message"]
    assert "Port Forwarding" in error(api.delete(path(fip_id, unknown)), 404)["message"]
    assert "Port " in error(api.post(path(fip_id), pf_body(unknown)), 404)["message"]


def test_a_port_the_floating_ips_network_cannot_reach_is_404(api: Api) -> None:
    lb = api.loadbalancer()  # tenant1, but no router serves it
    fip = api.create(
        "/v2.0/floatingips", "floatingip", {"floating_network_id": api.network_id("public")}
    )
    found = error(api.post(path(fip["id"]), pf_body(lb["vip_port_id"])), 404)
    assert "is not reachable from subnet" in found["message"]


def test_another_projects_floating_ip_is_404_and_a_reader_may_not_write(
    api: Api, setup: dict[str, Any]
) -> None:
    fip_id, port_id = setup["fip"]["id"], setup["port_id"]
    error(api.get(path(fip_id), "beta"), 404)
    error(api.post(path(fip_id), pf_body(port_id), "beta"), 404)
    error(api.post(path(fip_id), pf_body(port_id), "alpha-reader"), 403)
