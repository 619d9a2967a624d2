"""A topology document as rows: the part of a document that is not a list of objects
(its name, bridges, lab...) is its *header*, kept on the topology's row; each object of
its top-level lists (a network with its subnets, a load balancer with its listeners,
pools, members and monitors, a router, a floating IP with its port forwardings, a port)
is one *row* of its own, with the API metadata of every object it holds.

Pure: splitting a document into a header and rows and assembling it back, and the
addresses each row holds or binds (``allocations``), which the store keeps in a table
with a unique key so that two writers can never hold one address, VLAN tag or
external bridge. ``assemble(split(d))``
is ``d`` again, list order and all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from netnode.model.topology import Subnet

Json = dict[str, Any]

# The document's lists whose items are rows, in the document's order.
ROOTS = ("networks", "load_balancers", "routers", "floating_ips", "ports")
METADATA = "metadata"

# What a row does with an address on a network: holds it (a VIP, a router's gateway or
# interface, a floating IP) or binds to it (a floating IP's fixed address).
HOLDS = "holds"
BINDS = "binds"


@dataclass(frozen=True)
class Row:
    """One top-level object of a topology document."""

    key: str
    kind: str  # the document list holding it: one of ROOTS
    position: int
    body: Json
    # API metadata (name, project, timestamps) of the objects within, by id.
    meta: Json


# Scopes of allocations that are not a network's addresses (network names have no '#').
VLANS = "#vlan"  # segmentation ids on the integration bridge
BRIDGES = "#bridge"  # the bridge of an external network
MACS = "#mac"  # a VIP's MAC address
HA = "#ha"  # an HA router's instance's address on its topology's HA network


@dataclass(frozen=True, order=True)
class Allocation:
    """A value one row holds (or binds) within a scope: an address on a network (the
    scope is the network's name in the topology), a VLAN tag, an external bridge."""

    scope: str
    value: str
    role: str  # HOLDS or BINDS

    def __str__(self) -> str:
        if self.scope == VLANS:
            return f"VLAN {self.value}"
        if self.scope == BRIDGES:
            return f"external bridge {self.value}"
        if self.scope == MACS:
            return f"MAC address {self.value}"
        if self.scope == HA:
            return f"address {self.value} on the HA network"
        return f"address {self.value} on network {self.scope}"


def row_key(kind: str, item: Json, position: int) -> str:
    """A row's key: its object's id (a resolved document has one), else its name."""
    ident = item.get("id") or item.get("name")
    return str(ident) if ident else f"{kind}#{position}"


def ids_within(item: Any) -> Iterator[str]:
    """The ids of ``item`` and of every object it holds, at any depth."""
    if isinstance(item, dict):
        ident = item.get("id")
        if isinstance(ident, str):
            yield ident
        for value in item.values():
            if isinstance(value, (dict, list)):
                yield from ids_within(value)
    elif isinstance(item, list):
        for value in item:
            yield from ids_within(value)


def split(document: Json) -> tuple[Json, list[Row]]:
    """The document's header and its rows. The header keeps an empty list where the
    document had one (and an empty metadata mapping), so that assembling gives back
    exactly the keys the document had; metadata of no row's object stays in it."""
    header = {k: v for k, v in document.items() if k not in ROOTS and k != METADATA}
    metadata: Json = dict(document.get(METADATA) or {})
    rows: list[Row] = []
    keys: set[str] = set()
    for kind in ROOTS:
        if kind not in document:
            continue
        header[kind] = []
        for position, item in enumerate(document[kind] or []):
            key = row_key(kind, item, position)
            if key in keys:  # two objects with one id or name: a document refused later
                key = f"{key}#{kind}#{position}"
            keys.add(key)
            meta = {i: metadata.pop(i) for i in dict.fromkeys(ids_within(item)) if i in metadata}
            rows.append(Row(key, kind, position, item, meta))
    if METADATA in document:
        header[METADATA] = metadata
    return header, rows


def assemble(header: Json, rows: Iterable[Row]) -> Json:
    """The document that ``header`` and ``rows`` make (rows in any order)."""
    document = dict(header)
    for kind in ROOTS:
        if kind in document:
            document[kind] = []
    metadata: Json | None = dict(document[METADATA]) if METADATA in document else None
    for row in sorted(rows, key=lambda r: (r.position, r.key)):
        document.setdefault(row.kind, []).append(row.body)
        if row.meta:
            if metadata is None:
                metadata = {}
            metadata.update(row.meta)
    if metadata is not None:
        document[METADATA] = metadata
    return document


def gateways(networks: Iterable[Json]) -> dict[str, tuple[str, str]]:
    """Subnet name -> (its network's name, its gateway address), for routers' interfaces."""
    found: dict[str, tuple[str, str]] = {}
    for net in networks:
        for subnet in net.get("subnets") or []:
            if subnet.get("gateway_ip") and subnet.get("name"):
                found[subnet["name"]] = (net.get("name", ""), str(subnet["gateway_ip"]))
    return found


def allocations(row: Row, subnets: dict[str, tuple[str, str]]) -> set[Allocation]:
    """What ``row`` holds or binds: addresses on its topology's networks (``subnets``: as
    ``gateways`` gives them), a network's VLAN tag or external bridge."""
    body = row.body
    found: set[Allocation] = set()

    def add(scope: Any, value: Any, role: str = HOLDS) -> None:
        if scope and value is not None and value != "":
            found.add(Allocation(str(scope), str(value), role))

    if row.kind == "load_balancers":
        vip = body.get("vip") or {}
        add(vip.get("network"), vip.get("address"))
        add(MACS, vip.get("mac"))
        for vrrp in body.get("vrrp_addresses") or []:
            add(vip.get("network"), vrrp)
    elif row.kind == "routers":
        gateway = body.get("external_gateway") or {}
        add(gateway.get("network"), gateway.get("ip_address"))
        for name in body.get("interfaces") or []:
            if name in subnets:
                add(*subnets[name])
        for vrrp in body.get("vrrp_addresses") or []:
            add(HA, vrrp)
    elif row.kind == "networks":
        if body.get("external"):
            add(BRIDGES, body.get("bridge"))
        elif body.get("segmentation_id") is not None:
            add(VLANS, body["segmentation_id"])
        for subnet in body.get("subnets") or []:
            add(body.get("name"), _dhcp_address(subnet))
    elif row.kind == "floating_ips":
        add(body.get("network"), body.get("floating_ip_address"))
        add(body.get("fixed_network"), body.get("fixed_ip_address"), BINDS)
    elif row.kind == "ports":
        for fixed in body.get("fixed_ips") or []:
            add(body.get("network"), fixed.get("ip_address"))
        add(MACS, body.get("mac_address"))
    return found


def _dhcp_address(subnet: Json) -> IPv4Address | None:
    """The DHCP port's address a subnet holds (``Subnet.dhcp_address``), if any."""
    if not subnet.get("enable_dhcp"):
        return None
    try:
        return Subnet.model_validate(subnet).dhcp_address
    except ValueError:
        return None  # refused by validation, which names the field


def within(address: str, network: Json) -> bool:
    """Whether ``address`` is inside one of ``network``'s subnets."""
    try:
        ip = IPv4Address(address)
        return any(ip in IPv4Network(s["cidr"], strict=False) for s in network.get("subnets") or [])
    except (ValueError, KeyError, TypeError):
        return False
