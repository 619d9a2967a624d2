"""Neutron's ports: ``/v2.0/ports``. A port made through the API is a row of the API's
topology (the model's ``ports``): its addresses come from the subnets' allocation
pools, its MAC from Neutron's fa:16:3e prefix, both held in the store's allocations so
that no two rows ever hold the same one. The ports netnode derives itself (a VIP, a
router's interface or gateway, a floating IP's, a lab host's) are shown here too, and
stay as their owner made them: they cannot be changed or deleted through this API."""

from __future__ import annotations

import ipaddress
import random
from ipaddress import IPv4Address
from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict, Forbidden, NotFound
from netnode.api.listing import neutron
from netnode.api.neutron.lookups import find_network
from netnode.api.neutron.views import port_view
from netnode.api.service import Doc, Service, may_write, new_id, writable
from netnode.api.world import Port, World
from netnode.model.topology import Network

router = APIRouter()

PORTS = neutron("ports", "Port")
MAC_ATTEMPTS = 16


class IpAddressAlreadyAllocated(Conflict):
    neutron_type = "IpAddressAlreadyAllocated"


class MacAddressInUse(Conflict):
    neutron_type = "MacAddressInUse"


class IpAddressGenerationFailure(Conflict):
    neutron_type = "IpAddressGenerationFailure"


class InvalidIpForSubnet(BadRequest):
    neutron_type = "InvalidIpForSubnet"


# --- reading ----------------------------------------------------------------------------


def find_port(ctx: Context, w: World, port_id: str) -> Port:
    port = w.ports.get(port_id)
    if port is None or not ctx.may_see(port.project_id):
        raise NotFound.of("Port", port_id)
    return port


def port_for_change(ctx: Context, w: World, port_id: str) -> Port:
    """A port the caller may change: one of the topology's ports (not one netnode
    derives for a VIP, a router, a floating IP or a lab host), made through the API."""
    may_write(ctx)
    port = find_port(ctx, w, port_id)
    if port.spec is None:
        if port.device_owner == "network:router_interface":
            raise Conflict(
                f"Port {port_id} cannot be deleted directly via the port API: has device "
                "owner network:router_interface. Remove the interface from the router "
                f"({port.device_id}) instead."
            )
        raise Conflict(
            f"Port {port_id} belongs to {port.device_owner} {port.device_id} and is "
            "managed with it: change or delete that object instead."
        )
    writable(w.sources[port.source], "port", port_id)
    return port


@router.get("/ports", response_model=s.wrap_out("ports", s.PortOut, True))
def list_ports(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    return listing(request, ctx, w, PORTS, lambda: [port_view(w, p) for p in w.ports.values()])


@router.get("/ports/{port_id}", response_model=s.wrap_out("port", s.PortOut))
def show_port(port_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    return {"port": port_view(w, find_port(ctx, w, port_id))}


# --- changing ---------------------------------------------------------------------------


def _fixed_ips(
    doc: Doc,
    w: World,
    net: Network,
    asked: list[s.FixedIp] | None,
    own: frozenset[ipaddress.IPv4Address] = frozenset(),
) -> list[dict[str, str]]:
    """The port's addresses as the document holds them ({"subnet", "ip_address"}): those
    asked for, checked; an address allocated where only a subnet is named; with nothing
    asked, one address of the first subnet with one free. ``own``: the addresses the
    port already holds (an update may keep them)."""
    subnets = {x.uid: x for x in net.subnets}
    if asked is None:
        asked = [s.FixedIp(subnet_id=x.uid) for x in net.subnets[:1]]
        for x in net.subnets:
            if w.free_address(x.uid) is not None:
                asked = [s.FixedIp(subnet_id=x.uid)]
                break
    used = w.used.get(net.uid, set()) - own
    chosen: list[tuple[str, ipaddress.IPv4Address]] = []
    for n, fixed in enumerate(asked):
        field = f"fixed_ips[{n}]"
        if fixed.subnet_id is not None and fixed.subnet_id not in subnets:
            raise BadRequest(
                f"Invalid input for field/attribute {field}.subnet_id: subnet "
                f"{fixed.subnet_id} is not on network {net.uid}"
            )
        address = fixed.ip_address
        if address is None:
            if fixed.subnet_id is None:
                raise BadRequest(
                    f"Invalid input for field/attribute {field}: name a subnet_id, an "
                    "ip_address or both"
                )
            address = w.free_address(fixed.subnet_id, [a for _, a in chosen])
            if address is None:
                raise IpAddressGenerationFailure(
                    f"No more IP addresses available for subnet {fixed.subnet_id}."
                )
            chosen.append((fixed.subnet_id, address))
            continue
        holder = w.subnet_holding(net.uid, address)
        if holder is None or (fixed.subnet_id is not None and holder != fixed.subnet_id):
            where = "the specified subnet" if fixed.subnet_id else "any of the subnets"
            raise InvalidIpForSubnet(
                f"Invalid input for field/attribute {field}.ip_address: IP address "
                f"{address} is not a valid IP for {where} on network {net.uid}."
            )
        cidr = subnets[holder].cidr
        if address in (cidr.network_address, cidr.broadcast_address):
            raise InvalidIpForSubnet(
                f"Invalid input for field/attribute {field}.ip_address: {address} is the "
                f"network or broadcast address of {cidr}."
            )
        if address in used or address in (a for _, a in chosen):
            raise IpAddressAlreadyAllocated(
                f"IP address {address} already allocated in subnet {holder}"
            )
        chosen.append((holder, address))
    return [
        {"subnet": doc.subnet_name(w, subnet_id), "ip_address": str(address)}
        for subnet_id, address in chosen
    ]


def _mac(w: World, net: Network, asked: str | None, own: str | None = None) -> str:
    """The port's MAC: the one asked for, unless another port holds it; else a random
    one in Neutron's fa:16:3e prefix (the store refuses one held twice: the change is
    then decided again, with another)."""
    macs = w.macs() - {own.lower()} if own else w.macs()
    if asked is not None:
        if asked.lower() in macs:
            raise MacAddressInUse(
                f"Unable to complete operation for network {net.uid}. The mac address "
                f"{asked} is in use."
            )
        return asked.lower()
    for _ in range(MAC_ATTEMPTS):
        mac = "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        if mac not in macs:
            return mac
    raise Conflict(f"no free MAC address found for a port of network {net.uid}; try again")


def _not_mapped(w: World, port: Port, addresses: set[IPv4Address], bound: bool = True) -> None:
    """Refuse to take ``addresses`` from ``port`` while a floating IP maps to one: a
    port forwarding always, a floating IP bound to it when ``bound`` (a delete unbinds
    those instead, as Neutron)."""
    for fip_id, (_, fip) in w.fips.items():
        mapped = [(pf.internal_ip_address, pf.internal_network) for pf in fip.port_forwardings]
        if bound and fip.fixed_ip_address is not None:
            mapped.append((fip.fixed_ip_address, fip.fixed_network))
        for address, network in mapped:
            if address in addresses and network == port.network_id:
                raise Conflict(
                    f"Port {port.id}'s address {address} is used by floating IP {fip_id} "
                    f"({fip.floating_ip_address}): unbind it or delete its port forwarding "
                    "first"
                )


def _settings(item: dict[str, Any], data: dict[str, Any]) -> None:
    """What a create or update sets on the port's row, besides addresses and MAC."""
    for key in ("admin_state_up", "device_id", "device_owner", "binding_host_id"):
        if data.get(key) is not None:
            item[key] = data[key]
    if data.get("allowed_address_pairs") is not None:
        item["allowed_address_pairs"] = [
            {k: str(v) for k, v in pair.items() if v is not None}
            for pair in data["allowed_address_pairs"]
        ]


@router.post("/ports", status_code=201, response_model=s.wrap_out("port", s.PortOut))
def create_port(
    body: s.wrap("port", s.PortCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    may_write(ctx)
    req: s.PortCreate = body.port  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> str:
        _, net = find_network(ctx, w, req.network_id)
        if net.external and not ctx.is_admin:
            raise Forbidden(
                f"only an admin may create a port on external network {net.uid} (its "
                "addresses are the floating IPs' and the routers' gateways')"
            )
        port_id = new_id()
        item: dict[str, Any] = {
            "id": port_id,
            "name": port_id,
            "network": doc.use_network(w, net.uid),
            "fixed_ips": _fixed_ips(doc, w, net, req.fixed_ips),
            "mac_address": _mac(w, net, req.mac_address),
        }
        _settings(item, data)
        doc.add("ports", item)
        doc.set_meta(port_id, ctx, data)
        return port_id

    port_id = svc.change(mutate)
    w = svc.world()
    return {"port": port_view(w, w.ports[port_id])}


@router.put("/ports/{port_id}", response_model=s.wrap_out("port", s.PortOut))
def update_port(
    port_id: str,
    body: s.wrap("port", s.PortUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.PortUpdate = body.port  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> None:
        port = port_for_change(ctx, w, port_id)
        _, net = w.networks[port.network_id]
        item = doc.find("networkport", port_id)
        if "fixed_ips" in data:
            asked = req.fixed_ips if req.fixed_ips is not None else []
            item["fixed_ips"] = _fixed_ips(doc, w, net, asked, frozenset(port.addresses))
            kept = {IPv4Address(f["ip_address"]) for f in item["fixed_ips"]}
            _not_mapped(w, port, set(port.addresses) - kept)
        _settings(item, data)
        doc.update_meta(port_id, data)

    svc.change(mutate)
    w = svc.world()
    return {"port": port_view(w, w.ports[port_id])}


@router.delete("/ports/{port_id}", status_code=204)
def delete_port(port_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        port = port_for_change(ctx, w, port_id)
        _not_mapped(w, port, set(port.addresses), bound=False)
        # As Neutron: the floating IPs bound to the port are unbound, not left dangling.
        # (The API's networks are named by their ids in its topology, copies too.)
        for fip_id, (src, fip) in w.fips.items():
            if (
                src.is_api
                and fip.fixed_network == port.network_id
                and fip.fixed_ip_address in port.addresses
            ):
                item = doc.find("floatingip", fip_id)
                item.pop("fixed_ip_address", None)
                item.pop("fixed_network", None)
        doc.remove("networkport", port_id)

    svc.change(mutate)
    return Response(status_code=204)
