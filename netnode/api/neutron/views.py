"""Neutron's JSON for the objects of a world: networks, subnets, routers, floating IPs
and ports."""

from __future__ import annotations

import ipaddress
from typing import Any

from netnode.api.world import Port, Source, World


def _common(w: World, src: Source, object_id: str, name: str) -> dict[str, Any]:
    meta = src.topo.metadata.get(object_id)
    project = w.project_of(src, object_id)
    return {
        "id": object_id,
        "name": meta.name if meta else name,
        "description": meta.description if meta else "",
        "project_id": project,
        "tenant_id": project,
        "created_at": meta.created_at if meta else None,
        "updated_at": meta.updated_at if meta else None,
        "tags": list(meta.tags) if meta else [],
        "revision_number": 0,
    }


def network_view(w: World, net_id: str) -> dict[str, Any]:
    src, net = w.networks[net_id]
    return {
        **_common(w, src, net.uid, net.name),
        "status": "ACTIVE",
        "admin_state_up": True,
        "subnets": [x.uid for x in net.subnets],
        "shared": w.shared(src, net),
        "router:external": net.external,
        "provider:network_type": "flat" if net.external else "vlan",
        "provider:physical_network": "physnet-ex" if net.external else "physnet-int",
        "provider:segmentation_id": net.segmentation_id,
        "mtu": 1500,
        "availability_zones": [],
        "availability_zone_hints": [],
        "port_security_enabled": False,
        "is_default": False,
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
    }


def subnet_view(w: World, subnet_id: str) -> dict[str, Any]:
    src, net, subnet = w.subnets[subnet_id]
    first, last = _ends(subnet.cidr)
    if subnet.gateway_ip == first:
        first += 1  # Neutron leaves the gateway out of the pool
    elif subnet.gateway_ip == last:
        last -= 1
    pools = [{"start": str(p.start), "end": str(p.end)} for p in subnet.allocation_pools]
    return {
        **_common(w, src, subnet.uid, subnet.name),
        "network_id": net.uid,
        "cidr": str(subnet.cidr),
        "gateway_ip": str(subnet.gateway_ip) if subnet.gateway_ip else None,
        "ip_version": 4,
        "enable_dhcp": subnet.enable_dhcp,
        "allocation_pools": pools or [{"start": str(first), "end": str(last)}],
        "dns_nameservers": [str(a) for a in subnet.dns_nameservers],
        "host_routes": [
            {"destination": str(r.destination), "nexthop": str(r.nexthop)}
            for r in subnet.host_routes
        ],
        "service_types": [],
        "subnetpool_id": None,
        "segment_id": None,
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
    }


def _ends(cidr: ipaddress.IPv4Network) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    return cidr.network_address + 1, cidr.broadcast_address - 1


def router_view(w: World, router_id: str) -> dict[str, Any]:
    src, r = w.routers[router_id]
    gw = r.external_gateway
    info = None
    if gw is not None:
        net = next(n for n in src.topo.networks if n.name == gw.network)
        info = {
            "network_id": net.uid,
            "enable_snat": gw.enable_snat,
            "external_fixed_ips": [
                {
                    "subnet_id": w.subnet_holding(net.uid, gw.ip_address),
                    "ip_address": str(gw.ip_address),
                }
            ],
        }
    return {
        **_common(w, src, r.uid, r.name),
        "status": "ACTIVE",
        "admin_state_up": r.admin_state_up,
        "external_gateway_info": info,
        "routes": [
            {"destination": str(x.destination), "nexthop": str(x.nexthop)} for x in r.routes
        ],
        "distributed": False,
        "ha": r.ha,
        "availability_zones": [],
        "availability_zone_hints": list(r.availability_zone_hints),
        "flavor_id": None,
    }


def fip_view(w: World, fip_id: str) -> dict[str, Any]:
    src, f = w.fips[fip_id]
    by_name = {n.name: n.uid for n in src.topo.networks}
    net_id = by_name.get(f.network or "", "")
    port = None
    router_id = None
    if f.fixed_ip_address is not None and f.fixed_network is not None:
        fixed_net = by_name[f.fixed_network]
        port = w.port_of_address(fixed_net, f.fixed_ip_address)
        subnet_id = w.subnet_holding(fixed_net, f.fixed_ip_address)
        router_id = w.served.get(subnet_id or "")
    common = _common(w, src, f.uid, f.name)
    del common["name"]  # Neutron's floating IPs have none (openstacksdk reads the address)
    return {
        **common,
        "floating_ip_address": str(f.floating_ip_address),
        "floating_network_id": net_id,
        "fixed_ip_address": str(f.fixed_ip_address) if f.fixed_ip_address else None,
        "port_id": port.id if port else None,
        "router_id": router_id,
        # Neutron: a floating IP in use (bound, or forwarding ports) is ACTIVE.
        "status": "ACTIVE" if port or f.port_forwardings else "DOWN",
        "port_details": None,
        "port_forwardings": [
            {
                "protocol": pf.protocol,
                "external_port": pf.external_port,
                "internal_ip_address": str(pf.internal_ip_address),
                "internal_port": pf.internal_port,
            }
            for pf in f.port_forwardings
        ],
        "dns_domain": "",
        "dns_name": "",
        "qos_policy_id": None,
    }


def port_view(w: World, port: Port) -> dict[str, Any]:
    """A port as Neutron shows it. netnode has no security groups and no anti-spoofing
    rules: ``port_security_enabled`` is false and ``security_groups`` empty, truthfully."""
    spec = port.spec
    common: dict[str, Any] = {
        "id": port.id,
        "name": port.name,
        "description": "",
        "project_id": port.project_id,
        "tenant_id": port.project_id,
        "created_at": None,
        "updated_at": None,
        "tags": [],
        "revision_number": 0,
    }
    if spec is not None:
        common = _common(w, w.sources[port.source], port.id, spec.name)
    return {
        **common,
        "network_id": port.network_id,
        "mac_address": port.mac,
        "admin_state_up": spec.admin_state_up if spec is not None else True,
        "status": "ACTIVE" if spec is None or spec.admin_state_up else "DOWN",
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": [
            {"subnet_id": subnet_id, "ip_address": str(address)}
            for subnet_id, address in port.fixed
        ],
        "allowed_address_pairs": [
            {
                "ip_address": _pair_address(p.ip_address),
                "mac_address": p.mac_address or port.mac,
            }
            for p in (spec.allowed_address_pairs if spec is not None else ())
        ],
        "binding:host_id": spec.binding_host_id if spec is not None else "",
        "binding:vif_type": "ovs",
        "binding:vnic_type": "normal",
        "extra_dhcp_opts": [],
        "security_groups": [],
        "port_security_enabled": False,
    }


def _pair_address(network: ipaddress.IPv4Network) -> str:
    """An allowed address pair's address as given: a plain address or a CIDR."""
    return str(network.network_address) if network.prefixlen == 32 else str(network)
