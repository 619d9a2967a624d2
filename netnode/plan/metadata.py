"""What the metadata service knows, and its proxies' processes. Pure.

The metadata service (``netnode.metadata``) runs once per node, on the host, and
listens on a UNIX socket in the node's state directory. It never reads the store:
each topology's reconcile writes, atomically, one JSON document (``document``) into
``<state>/<node>/metadata/topologies/<topology>.json``, and the service re-reads a
document when its file changes. A document says which networks are behind each router
(``routers``) and, per network, which port holds each address (``networks``): the
service answers a request that came through router R from address A with the port at A
on a network behind R, and from nowhere else.

The proxies are HAProxy processes (``render.metadata_proxy``): one in each router
namespace that has tenant interfaces (``router_proxy``), and one in the DHCP namespace
of each network without a router (``network_proxy``).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import PurePath
from typing import Any

from netnode.model.topology import Network, NetworkPort, Subnet, Topology
from netnode.plan.spec import ProcessSpec
from netnode.render.metadata_proxy import (
    ROUTER_PORT,
    render_network_proxy,
    render_router_proxy,
)

__all__ = [
    "ROUTER_PORT",
    "document",
    "document_text",
    "documents_dir",
    "metadata_dir",
    "network_proxy",
    "routed_networks",
    "router_proxy",
    "service_socket",
]

# The availability zone the answers name (Nova's default).
AVAILABILITY_ZONE = "nova"


def metadata_dir(run_dir: PurePath) -> PurePath:
    """The metadata service's directory (beside HAProxy's run directory)."""
    return run_dir.parent / "metadata"


def service_socket(run_dir: PurePath) -> str:
    """The UNIX socket the metadata service listens on and its proxies forward to."""
    return str(metadata_dir(run_dir) / "service.sock")


def documents_dir(run_dir: PurePath) -> PurePath:
    """One ``<topology>.json`` per topology (``document``)."""
    return metadata_dir(run_dir) / "topologies"


def proxy_name(object_id: str) -> str:
    """``md-<id>``: no longer than a load balancer's ``lb-<id>``, whose socket paths
    the state directory's length is measured by (HAProxy takes 97 bytes at most)."""
    return f"md-{object_id}"


def _stats_socket(run_dir: PurePath, name: str) -> str:
    return str(run_dir / name / "stats.sock")


def router_proxy(router_id: str, host_id: str, namespace: str, run_dir: PurePath) -> ProcessSpec:
    """The HAProxy of a router namespace (0.0.0.0:9697, ``X-Neutron-Router-ID``)."""
    name = proxy_name(host_id)
    config = render_router_proxy(
        router_id,
        service_socket=service_socket(run_dir),
        stats_socket=_stats_socket(run_dir, name),
    )
    return ProcessSpec(name, namespace, "router", config)


def network_proxy(network: Network, namespace: str, run_dir: PurePath) -> ProcessSpec:
    """The HAProxy of a router-less network's DHCP namespace (``namespace``, the DHCP
    agent's ``qdhcp-<network>``): 169.254.169.254:80, which must be an address of the
    DHCP port, with ``X-Neutron-Network-ID``."""
    name = proxy_name(network.uid)
    config = render_network_proxy(
        network.uid,
        service_socket=service_socket(run_dir),
        stats_socket=_stats_socket(run_dir, name),
    )
    return ProcessSpec(name, namespace, "dhcp", config)


def routed_networks(topo: Topology) -> dict[str, list[str]]:
    """router id -> the ids of the networks behind it (those of its interfaces)."""
    owner = {s.name: n for n in topo.networks for s in n.subnets}
    result: dict[str, list[str]] = {}
    for router in topo.routers:
        ids = {owner[s].uid for s in router.interfaces if s in owner}
        if ids:
            result[router.uid] = sorted(ids)
    return result


def document(topo: Topology) -> dict[str, Any]:
    """What the metadata service needs of ``topo``: the networks behind each router,
    each port by network and address, and Nova's metadata API when it is to be asked
    instead (``nova_metadata``)."""
    networks: dict[str, dict[str, Any]] = {}
    for port in topo.ports:
        net = topo.network(port.network)
        record = _port_record(topo, net, port)
        for fixed in port.fixed_ips:
            networks.setdefault(net.uid, {})[str(fixed.ip_address)] = record
    nova = topo.nova_metadata
    return {
        "topology": topo.name or "topology",
        "routers": routed_networks(topo),
        "networks": networks,
        "nova": None if nova is None else {"url": nova.url, "shared_secret": nova.shared_secret},
    }


def document_text(topo: Topology) -> str:
    """``document`` as the file holds it (stable: the same topology, the same text)."""
    return as_text(document(topo))


def as_text(doc: dict[str, Any]) -> str:
    """A document made by ``document``, as the file holds it."""
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def _port_record(topo: Topology, net: Network, port: NetworkPort) -> dict[str, Any]:
    meta = topo.metadata.get(port.uid)
    fixed_ips = []
    for fixed in port.fixed_ips:
        subnet = _subnet(net, fixed.subnet, fixed.ip_address)
        fixed_ips.append(
            {
                "ip_address": str(fixed.ip_address),
                "subnet_id": None if subnet is None else subnet.uid,
                "cidr": None if subnet is None else str(subnet.cidr),
                "gateway_ip": None
                if subnet is None or subnet.gateway_ip is None
                else str(subnet.gateway_ip),
                "dns_nameservers": []
                if subnet is None
                else [str(d) for d in subnet.dns_nameservers],
                "host_routes": []
                if subnet is None
                else [
                    {"destination": str(r.destination), "nexthop": str(r.nexthop)}
                    for r in subnet.host_routes
                ],
            }
        )
    return {
        "id": port.uid,
        "name": port.name,
        "network_id": net.uid,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "hostname": port.hostname or port.name,
        "mac_address": port.mac_address,
        "project_id": "" if meta is None else meta.project_id,
        "availability_zone": AVAILABILITY_ZONE,
        "public_keys": dict(sorted(port.public_keys.items())),
        "user_data": port.user_data,
        "fixed_ips": fixed_ips,
    }


def _subnet(net: Network, name: str | None, address: IPv4Address) -> Subnet | None:
    for subnet in net.subnets:
        if (name is None or subnet.name == name) and address in subnet.cidr:
            return subnet
    return None
