"""Neutron's ports through the API: create, show, update, delete and list with filters;
addresses from the allocation pools and MACs in fa:16:3e, each held once (the store's
allocations); the ports netnode derives left alone; floating IPs bound to a user's
port; the subnets' DHCP fields; the tag sub-resource."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tests.api.conftest import Api
from tests.api.test_concurrency import Retries, send, services, together

PORTS = "/v2.0/ports"
MAC = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")


def network(api: Api, cidr: str = "192.168.20.0/24", who: str = "alpha", **subnet: Any) -> tuple:
    """A network and a subnet, without DHCP unless asked (its port would hold the pool's
    first address: test_the_dhcp_port_holds_the_pools_first_address)."""
    net = api.create("/v2.0/networks", "network", {"name": "n"}, who)
    fields = {"network_id": net["id"], "cidr": cidr, "enable_dhcp": False, **subnet}
    sub = api.create("/v2.0/subnets", "subnet", fields, who)
    return net, sub


def port(api: Api, who: str = "alpha", **fields: Any) -> dict[str, Any]:
    return api.create(PORTS, "port", fields, who)


def routed(api: Api, sub: dict[str, Any], who: str = "alpha") -> dict[str, Any]:
    """A router with the public gateway and an interface on ``sub``."""
    router = api.create(
        "/v2.0/routers",
        "router",
        {"name": "r", "external_gateway_info": {"network_id": api.network_id("public")}},
        who,
    )
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]}, who)
    assert r.status_code == 200, r.text
    return router


def error(r: Any) -> tuple[int, str, str]:
    body = r.json()["NeutronError"]
    return r.status_code, body["type"], body["message"]


def test_create_show_update_delete(api: Api) -> None:
    net, sub = network(api)
    made = port(
        api,
        network_id=net["id"],
        name="vm one",
        device_id="vm-1",
        device_owner="compute:nova",
        **{"binding:host_id": "kvm1"},
        allowed_address_pairs=[{"ip_address": "192.168.20.200"}],
        tags=["t"],
    )
    # The first address of the pool: the gateway .1 is held.
    assert made["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "192.168.20.2"}]
    assert MAC.match(made["mac_address"]), made["mac_address"]
    assert made["name"] == "vm one" and made["project_id"] == "alpha"
    assert (made["device_id"], made["device_owner"]) == ("vm-1", "compute:nova")
    assert made["binding:host_id"] == "kvm1"
    assert made["allowed_address_pairs"] == [
        {"ip_address": "192.168.20.200", "mac_address": made["mac_address"]}
    ]
    assert made["tags"] == ["t"] and made["admin_state_up"] is True
    assert made["port_security_enabled"] is False and made["security_groups"] == []
    shown = api.get(f"{PORTS}/{made['id']}", "alpha").json()["port"]
    assert shown == made
    assert api.get(f"{PORTS}/{made['id']}", "beta").status_code == 404

    r = api.put(
        f"{PORTS}/{made['id']}",
        {
            "port": {
                "name": "renamed",
                "admin_state_up": False,
                "device_id": "",
                "fixed_ips": [{"ip_address": "192.168.20.50"}],
            }
        },
        "alpha",
    )
    assert r.status_code == 200, r.text
    changed = r.json()["port"]
    assert changed["name"] == "renamed" and changed["admin_state_up"] is False
    assert changed["status"] == "DOWN" and changed["device_id"] == ""
    assert changed["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "192.168.20.50"}]
    assert changed["mac_address"] == made["mac_address"]
    # The address it gave up is free again.
    again = port(api, network_id=net["id"], fixed_ips=[{"ip_address": "192.168.20.2"}])
    assert again["fixed_ips"][0]["ip_address"] == "192.168.20.2"

    assert api.put(f"{PORTS}/{made['id']}", {"port": {"name": "x"}}, "beta").status_code == 404
    assert api.delete(f"{PORTS}/{made['id']}", "alpha").status_code == 204
    assert api.get(f"{PORTS}/{made['id']}", "alpha").status_code == 404
    assert api.delete(f"{PORTS}/{made['id']}", "alpha").status_code == 404


def test_addresses_come_from_the_allocation_pools(api: Api) -> None:
    net, sub = network(
        api,
        allocation_pools=[
            {"start": "192.168.20.10", "end": "192.168.20.11"},
            {"start": "192.168.20.20", "end": "192.168.20.20"},
        ],
    )
    assert sub["allocation_pools"][0] == {"start": "192.168.20.10", "end": "192.168.20.11"}
    got = [port(api, network_id=net["id"])["fixed_ips"][0]["ip_address"] for _ in range(3)]
    assert got == ["192.168.20.10", "192.168.20.11", "192.168.20.20"]
    r = api.post(PORTS, {"port": {"network_id": net["id"]}}, "alpha")
    assert error(r)[:2] == (409, "IpAddressGenerationFailure"), r.text
    # An address outside the pools but in the subnet may still be asked for.
    fixed = [{"subnet_id": sub["id"], "ip_address": "192.168.20.99"}]
    assert port(api, network_id=net["id"], fixed_ips=fixed)["fixed_ips"] == fixed
    # No addresses at all, as Neutron's fixed_ips: [].
    assert port(api, network_id=net["id"], fixed_ips=[])["fixed_ips"] == []


def test_address_and_mac_errors_are_neutrons(api: Api) -> None:
    net, _sub = network(api)
    first = port(api, network_id=net["id"], fixed_ips=[{"ip_address": "192.168.20.7"}])

    def create(**fields: Any) -> tuple[int, str, str]:
        return error(api.post(PORTS, {"port": {"network_id": net["id"], **fields}}, "alpha"))

    status, kind, text = create(fixed_ips=[{"ip_address": "192.168.20.7"}])
    assert (status, kind) == (409, "IpAddressAlreadyAllocated") and "192.168.20.7" in text
    status, kind, _ = create(fixed_ips=[{"ip_address": "192.168.20.1"}])  # the gateway
    assert (status, kind) == (409, "IpAddressAlreadyAllocated")
    status, kind, text = create(fixed_ips=[{"ip_address": "10.9.9.9"}])
    assert (status, kind) == (400, "InvalidIpForSubnet") and "fixed_ips[0].ip_address" in text
    status, _, text = create(fixed_ips=[{"ip_address": "192.168.20.255"}])
    assert status == 400 and "broadcast" in text
    status, _, text = create(fixed_ips=[{"subnet_id": api.subnet_id("tenant1-subnet")}])
    assert status == 400 and "fixed_ips[0].subnet_id" in text
    status, kind, text = create(mac_address=first["mac_address"].upper())
    assert (status, kind) == (409, "MacAddressInUse") and first["mac_address"] in text
    status, _, text = create(mac_address="not-a-mac")
    assert status == 400 and "mac_address" in text
    status, _, text = create(port_security_enabled=True)
    assert status == 400 and "port_security_enabled" in text
    r = api.post(PORTS, {"port": {"network_id": "00000000-0000-4000-8000-000000000000"}}, "alpha")
    assert r.status_code == 404
    assert api.post(PORTS, {"port": {"network_id": net["id"]}}, "alpha-reader").status_code == 403
    # Nothing of the refused creates was kept.
    listed = api.get(PORTS, "alpha", params={"network_id": net["id"]}).json()["ports"]
    assert [p["id"] for p in listed] == [first["id"]]


def test_list_filters(api: Api) -> None:
    net, sub = network(api)
    a = port(api, network_id=net["id"], name="a", device_id="vm-a", device_owner="compute:nova")
    b = port(api, network_id=net["id"], name="b", fixed_ips=[{"ip_address": "192.168.20.40"}])
    other = port(api, "beta", network_id=api.network_id("tenant1"), name="c")

    def ids(who: str = "alpha", **params: Any) -> set[str]:
        r = api.get(PORTS, who, params=params)
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["ports"]}

    assert ids(network_id=net["id"]) == {a["id"], b["id"]}
    assert ids(device_id="vm-a") == {a["id"]}
    assert ids(device_owner="compute:nova") == {a["id"]}
    assert ids(mac_address=b["mac_address"]) == {b["id"]}
    assert ids(name="b") == {b["id"]}
    assert ids(fixed_ips="ip_address=192.168.20.40") == {b["id"]}
    assert ids(fixed_ips=f"subnet_id={sub['id']}") == {a["id"], b["id"]}
    assert ids("admin", project_id="beta") == {other["id"]}
    assert other["id"] not in ids()  # another project's port
    assert api.get(PORTS, "alpha", params={"bogus": "1"}).status_code == 400


def test_ports_netnode_derives_stay_as_they_are(api: Api) -> None:
    _net, sub = network(api)
    router = api.create("/v2.0/routers", "router", {"name": "r"}, "alpha")
    r = api.put(
        f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]}, "alpha"
    )
    assert r.status_code == 200, r.text
    interface = r.json()["port_id"]
    shown = api.get(f"{PORTS}/{interface}", "alpha").json()["port"]
    assert shown["device_owner"] == "network:router_interface"
    status, _, text = error(api.delete(f"{PORTS}/{interface}", "alpha"))
    assert status == 409 and "cannot be deleted directly" in text
    lb = api.loadbalancer("alpha", vip_subnet_id=sub["id"])
    status, _, text = error(api.delete(f"{PORTS}/{lb['vip_port_id']}", "alpha"))
    assert status == 409 and "Octavia" in text
    r = api.put(f"{PORTS}/{lb['vip_port_id']}", {"port": {"name": "x"}}, "alpha")
    assert r.status_code == 409


def test_a_network_or_subnet_with_ports_is_not_deleted(api: Api) -> None:
    net, sub = network(api)
    made = port(api, network_id=net["id"])
    status, _, text = error(api.delete(f"/v2.0/subnets/{sub['id']}", "alpha"))
    assert status == 409 and "IP allocation" in text
    status, _, _ = error(api.delete(f"/v2.0/networks/{net['id']}", "alpha"))
    assert status == 409
    assert api.delete(f"{PORTS}/{made['id']}", "alpha").status_code == 204
    assert api.delete(f"/v2.0/subnets/{sub['id']}", "alpha").status_code == 204
    assert api.delete(f"/v2.0/networks/{net['id']}", "alpha").status_code == 204


def test_subnet_dhcp_fields(api: Api) -> None:
    net = api.create("/v2.0/networks", "network", {"name": "n"}, "alpha")
    fields = {
        "network_id": net["id"],
        "cidr": "192.168.20.0/24",
        "dns_nameservers": ["192.168.20.53"],
        "host_routes": [{"destination": "172.16.0.0/16", "nexthop": "192.168.20.254"}],
    }
    sub = api.create("/v2.0/subnets", "subnet", fields, "alpha")
    assert sub["enable_dhcp"] is True  # Neutron's default through the API
    assert sub["dns_nameservers"] == ["192.168.20.53"]
    assert sub["host_routes"] == [{"destination": "172.16.0.0/16", "nexthop": "192.168.20.254"}]
    body = {
        "subnet": {
            "enable_dhcp": False,
            "dns_nameservers": [],
            "host_routes": [],
            "allocation_pools": [{"start": "192.168.20.100", "end": "192.168.20.150"}],
        }
    }
    r = api.put(f"/v2.0/subnets/{sub['id']}", body, "alpha")
    assert r.status_code == 200, r.text
    changed = r.json()["subnet"]
    assert changed["enable_dhcp"] is False and changed["dns_nameservers"] == []
    assert changed["host_routes"] == []
    assert changed["allocation_pools"] == [{"start": "192.168.20.100", "end": "192.168.20.150"}]
    assert api.get(f"/v2.0/subnets/{sub['id']}", "alpha").json()["subnet"] == changed
    # A route's next hop off the subnet is taken, as Neutron takes it; a pool holding the
    # gateway is not.
    off = {"subnet": {"host_routes": [{"destination": "172.16.0.0/16", "nexthop": "10.1.1.1"}]}}
    r = api.put(f"/v2.0/subnets/{sub['id']}", off, "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["subnet"]["host_routes"] == off["subnet"]["host_routes"]
    bad = {"subnet": {"allocation_pools": [{"start": "192.168.20.1", "end": "192.168.20.9"}]}}
    r = api.put(f"/v2.0/subnets/{sub['id']}", bad, "alpha")
    assert r.status_code == 409 and "gateway" in r.text, r.text
    explicit = network(api, "192.168.21.0/24", enable_dhcp=False)[1]
    assert explicit["enable_dhcp"] is False


def test_floating_ip_on_a_users_port(api: Api) -> None:
    net, sub = network(api)
    router = routed(api, sub)
    vm = port(api, network_id=net["id"], fixed_ips=[{"ip_address": "192.168.20.30"}])
    public = api.network_id("public")
    fip = api.create(
        "/v2.0/floatingips",
        "floatingip",
        {"floating_network_id": public, "port_id": vm["id"]},
        "alpha",
    )
    assert (fip["port_id"], fip["fixed_ip_address"]) == (vm["id"], "192.168.20.30")
    assert fip["router_id"] == router["id"] and fip["status"] == "ACTIVE"
    # A port whose address is already bound, and an address the port lacks.
    r = api.post(
        "/v2.0/floatingips",
        {"floatingip": {"floating_network_id": public, "port_id": vm["id"]}},
        "alpha",
    )
    assert r.status_code == 409, r.text
    other = api.create("/v2.0/floatingips", "floatingip", {"floating_network_id": public}, "alpha")
    r = api.put(
        f"/v2.0/floatingips/{other['id']}",
        {"floatingip": {"port_id": vm["id"], "fixed_ip_address": "192.168.20.31"}},
        "alpha",
    )
    assert r.status_code == 400 and "fixed_ip_address" in r.text
    # Unbound with null, bound again by update.
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}}, "alpha")
    assert r.status_code == 200 and r.json()["floatingip"]["port_id"] is None
    r = api.put(f"/v2.0/floatingips/{other['id']}", {"floatingip": {"port_id": vm["id"]}}, "alpha")
    assert r.status_code == 200, r.text
    assert r.json()["floatingip"]["fixed_ip_address"] == "192.168.20.30"
    # Deleting the port unbinds its floating IP, as Neutron does.
    assert api.delete(f"{PORTS}/{vm['id']}", "alpha").status_code == 204
    shown = api.get(f"/v2.0/floatingips/{other['id']}", "alpha").json()["floatingip"]
    assert shown["port_id"] is None and shown["fixed_ip_address"] is None


def test_tags_sub_resource(api: Api) -> None:
    net, sub = network(api)
    made = port(api, network_id=net["id"])
    router = api.create("/v2.0/routers", "router", {"name": "r"}, "alpha")
    fip = api.create(
        "/v2.0/floatingips", "floatingip", {"floating_network_id": api.network_id("public")}
    )
    for path in (
        f"/v2.0/networks/{net['id']}",
        f"/v2.0/subnets/{sub['id']}",
        f"{PORTS}/{made['id']}",
        f"/v2.0/routers/{router['id']}",
    ):
        r = api.put(f"{path}/tags", {"tags": ["a", "b", "a"]}, "alpha")
        assert r.status_code == 200 and r.json() == {"tags": ["a", "b"]}, r.text
        assert api.request("PUT", f"{path}/tags/c", "alpha").status_code == 201
        assert api.get(f"{path}/tags", "alpha").json() == {"tags": ["a", "b", "c"]}
        assert api.get(f"{path}/tags/c", "alpha").status_code == 204
        assert api.get(f"{path}/tags/z", "alpha").status_code == 404
        assert api.delete(f"{path}/tags/a", "alpha").status_code == 204
        assert api.delete(f"{path}/tags/a", "alpha").status_code == 404
        kind = path.split("/")[2][:-1]
        assert api.get(path, "alpha").json()[kind]["tags"] == ["b", "c"]
        assert api.request("PUT", f"{path}/tags/c", "beta").status_code == 404
        assert api.request("PUT", f"{path}/tags/c", "alpha-reader").status_code == 403
        assert api.request("PUT", f"{path}/tags/a%2Cb", "alpha").status_code == 400
    assert api.request("PUT", f"/v2.0/floatingips/{fip['id']}/tags/x").status_code == 201
    assert api.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["tags"] == ["x"]
    assert api.delete(f"{PORTS}/{made['id']}/tags", "alpha").status_code == 204
    assert api.get(f"{PORTS}/{made['id']}/tags", "alpha").json() == {"tags": []}
    # The list filters read the same tags.
    listed = api.get("/v2.0/networks", "alpha", params={"tags": "b,c"}).json()["networks"]
    assert [n["id"] for n in listed] == [net["id"]]
    listed = api.get("/v2.0/subnets", "alpha", params={"not-tags-any": "b"}).json()["subnets"]
    assert sub["id"] not in [s["id"] for s in listed]
    assert api.get("/v2.0/agents/x/tags").status_code == 404
    extensions = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert {"standard-attr-tag", "allowed-address-pairs", "binding"} <= extensions


def test_ports_of_a_topology_file_are_shown(api: Api) -> None:
    from netnode.model.loading import load_data
    from tests.api.conftest import NODE, OPERATOR, OPERATOR_TOPOLOGY, operator_document

    data = {
        **OPERATOR_TOPOLOGY,
        "ports": [
            {"name": "vm1", "network": "tenant1", "fixed_ips": [{"ip_address": "10.0.0.60"}]}
        ],
    }
    api.store.set_desired(OPERATOR, operator_document(data))
    spec = load_data(data, NODE).ports[0]
    # The operator's, as the file's other objects.
    assert api.get(f"{PORTS}/{spec.uid}", "alpha").status_code == 404
    shown = api.get(f"{PORTS}/{spec.uid}").json()["port"]
    assert shown["fixed_ips"][0]["ip_address"] == "10.0.0.60"
    assert shown["mac_address"] == spec.mac_address and shown["name"] == "vm1"
    # The API allocates around it and may not change it.
    r = api.post(
        PORTS,
        {
            "port": {
                "network_id": api.network_id("tenant1"),
                "fixed_ips": [{"ip_address": "10.0.0.60"}],
            }
        },
        "alpha",
    )
    assert r.status_code == 409, r.text
    status, _, text = error(api.delete(f"{PORTS}/{spec.uid}"))
    assert status == 409 and "netnode apply" in text


def test_concurrent_creates_of_one_address(engine: Engine, tmp_path: Path) -> None:
    """Two services create a port at the same address at once: one gets it, the other
    Neutron's 409 (a client retries only what it is told to retry), and the store holds
    it once."""
    with services(engine, tmp_path, 2) as apis:
        net = apis[0].network_id("tenant1")
        retries = Retries()
        for round_ in range(3):
            fixed = [{"ip_address": f"10.0.0.{77 + round_}"}]
            body = {"port": {"network_id": net, "fixed_ips": fixed}}
            answers = together(
                [lambda a=a, b=body: send(lambda: a.post(PORTS, b), retries) for a in apis]
            )
            codes = sorted(r.status_code for r in answers)
            assert codes == [201, 409], [r.text for r in answers]
            refused = next(r for r in answers if r.status_code == 409)
            assert "IpAddressAlreadyAllocated" in refused.text, refused.text
        # And many at once without an address: all distinct.
        made = together(
            [
                lambda a=apis[i % 2]: send(
                    lambda: a.post(PORTS, {"port": {"network_id": net}}), retries
                )
                for i in range(6)
            ]
        )
        assert all(r.status_code == 201 for r in made), [r.text for r in made]
        addresses = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in made]
        macs = [r.json()["port"]["mac_address"] for r in made]
        assert len(set(addresses)) == 6 and len(set(macs)) == 6
        listed = apis[1].get(PORTS, params={"network_id": net}).json()["ports"]
        held = [ip["ip_address"] for p in listed for ip in p["fixed_ips"]]
        assert len(held) == len(set(held))
        print("retried:", dict(retries.seen))


def test_a_users_port_becomes_the_vip(api: Api) -> None:
    net, sub = network(api)
    vm = port(api, network_id=net["id"], name="for the vip", tags=["v"])
    lb = api.loadbalancer("alpha", vip_subnet_id=None, vip_port_id=vm["id"])
    assert lb["vip_port_id"] == vm["id"]
    assert (lb["vip_address"], lb["vip_subnet_id"], lb["vip_network_id"]) == (
        vm["fixed_ips"][0]["ip_address"],
        sub["id"],
        net["id"],
    )
    shown = api.get(f"{PORTS}/{vm['id']}", "alpha").json()["port"]
    assert shown["mac_address"] == vm["mac_address"]
    assert (shown["device_owner"], shown["device_id"]) == ("Octavia", lb["id"])
    assert api.delete(f"{PORTS}/{vm['id']}", "alpha").status_code == 409
    # Taken: another load balancer may not have it.
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_port_id": vm["id"]}}, "alpha")
    assert r.status_code == 400 and "vip_port_id" in r.text, r.text
    # Deleted, the load balancer leaves the port the user gave, free (as Octavia does).
    assert api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}", "alpha").status_code == 204
    kept = api.get(f"{PORTS}/{vm['id']}", "alpha").json()["port"]
    assert kept["fixed_ips"] == vm["fixed_ips"] and kept["mac_address"] == vm["mac_address"]
    assert (kept["device_owner"], kept["device_id"]) == ("", "")
    assert api.delete(f"{PORTS}/{vm['id']}", "alpha").status_code == 204


def test_vip_port_errors(api: Api) -> None:
    net, sub = network(api)
    used = port(api, network_id=net["id"], device_id="vm-1")
    bare = port(api, network_id=net["id"], fixed_ips=[])
    free = port(api, network_id=net["id"])

    def refused(**fields: Any) -> str:
        r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": fields}, "alpha")
        assert r.status_code == 400, r.text
        return str(r.json()["faultstring"])

    assert "in use by device vm-1" in refused(vip_port_id=used["id"])
    assert "has 0 addresses" in refused(vip_port_id=bare["id"])
    assert "vip_address" in refused(vip_port_id=free["id"], vip_address="192.168.20.200")
    assert "Port not found" in refused(vip_port_id="00000000-0000-4000-8000-000000000001")
    r = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_port_id": free["id"]}}, "beta")
    assert r.status_code == 400 and "Port not found" in r.text
    router = api.create("/v2.0/routers", "router", {"name": "r"}, "alpha")
    r = api.put(
        f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]}, "alpha"
    )
    interface = r.json()["port_id"]
    assert "network:router_interface" in refused(vip_port_id=interface)


def test_vip_network_id_alone(api: Api) -> None:
    net, sub = network(api)
    lb = api.loadbalancer("alpha", vip_subnet_id=None, vip_network_id=net["id"])
    assert lb["vip_subnet_id"] == sub["id"] and lb["vip_address"] == "192.168.20.2"


def test_a_port_a_floating_ip_maps_to_keeps_its_address(api: Api) -> None:
    net, sub = network(api)
    router = routed(api, sub)
    vm = port(api, network_id=net["id"], device_owner="compute:nova")
    public = api.network_id("public")
    fip = api.create(
        "/v2.0/floatingips",
        "floatingip",
        {"floating_network_id": public, "port_id": vm["id"]},
        "alpha",
    )
    # Moving the bound address away is refused, naming the floating IP.
    moved = {"port": {"fixed_ips": [{"ip_address": "192.168.20.60"}]}}
    r = api.put(f"{PORTS}/{vm['id']}", moved, "alpha")
    assert r.status_code == 409 and fip["id"] in r.text, r.text
    api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}}, "alpha")
    forwarding = {
        "port_forwarding": {
            "protocol": "tcp",
            "external_port": 2222,
            "internal_port": 22,
            "internal_port_id": vm["id"],
        }
    }
    r = api.post(f"/v2.0/floatingips/{fip['id']}/port_forwardings", forwarding, "alpha")
    assert r.status_code == 201, r.text
    r = api.delete(f"{PORTS}/{vm['id']}", "alpha")
    assert r.status_code == 409 and "port forwarding" in r.text, r.text
    # A project's port on the external network is the operator's to make.
    r = api.post(PORTS, {"port": {"network_id": public}}, "alpha")
    assert r.status_code == 403, r.text
    made = port(api, "admin", network_id=public)
    assert made["fixed_ips"][0]["ip_address"].startswith("10.255.253.")
    # A user's port is no router interface.
    r = api.put(
        f"/v2.0/routers/{router['id']}/add_router_interface", {"port_id": vm["id"]}, "alpha"
    )
    assert r.status_code == 400, r.text


def test_the_dhcp_port_holds_the_pools_first_address(api: Api) -> None:
    """Neutron's default: a subnet has DHCP; its network's DHCP port (network:dhcp)
    holds the pool's first address, is listed, is never allocated to anyone else, and
    goes with its subnet."""
    net, sub = network(api, enable_dhcp=True)
    assert sub["enable_dhcp"] is True
    listed = api.get(PORTS, "alpha", params={"network_id": net["id"]}).json()["ports"]
    (dhcp,) = listed
    assert dhcp["device_owner"] == "network:dhcp"
    assert dhcp["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "192.168.20.2"}]
    made = port(api, network_id=net["id"])
    assert made["fixed_ips"][0]["ip_address"] == "192.168.20.3"
    taken = api.post(
        PORTS,
        {"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "192.168.20.2"}]}},
        "alpha",
    )
    assert taken.status_code == 409, taken.text
    assert api.delete(f"{PORTS}/{dhcp['id']}", "alpha").status_code == 409
    assert api.delete(f"{PORTS}/{made['id']}", "alpha").status_code == 204
    assert api.delete(f"/v2.0/subnets/{sub['id']}", "alpha").status_code == 204
