"""Neutron's floating IP port forwardings (extension ``floating-ip-port-forwarding``):
``/v2.0/floatingips/{fip_id}/port_forwardings[/{pf_id}]``.

A port forwarding sends ``floating_ip_address:external_port/protocol`` to
``internal_ip_address:internal_port`` of a Neutron port (a VIP or an instance's). It
belongs to its floating IP: the floating IP's project sees and changes it, and a
floating IP that is bound to a port as a whole takes none (409), as in Neutron. The
rules the topology holds for every forwarding (one per external port and protocol, one
router per floating IP...) are checked by the model when the change is written
(``Service.change``).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, Literal

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict, NotFound
from netnode.api.listing import neutron
from netnode.api.neutron.lookups import find_owned
from netnode.api.service import Doc, Service, may_write, new_id, writable
from netnode.api.world import Port, Source, World
from netnode.model.topology import FloatingIP, FreeText, ObjectId, PortForwarding

router = APIRouter()

KIND = "Port Forwarding"


# --- bodies ----------------------------------------------------------------------------------


class PortForwardingCreate(s.Body):
    protocol: Literal["tcp", "udp"]
    external_port: s.PortNumber
    internal_port: s.PortNumber
    internal_port_id: ObjectId
    # The port's address when left out (netnode's ports have one address each).
    internal_ip_address: IPv4Address | None = None
    description: FreeText | None = None


class PortForwardingUpdate(s.Body):
    protocol: Literal["tcp", "udp"] | None = None
    external_port: s.PortNumber | None = None
    internal_port: s.PortNumber | None = None
    internal_port_id: ObjectId | None = None
    internal_ip_address: IPv4Address | None = None
    description: FreeText | None = None


class PortForwardingOut(s.Out):
    id: str
    protocol: str
    external_port: int
    internal_port: int
    internal_ip_address: str
    internal_port_id: str | None
    description: str


# --- views and lookups ---------------------------------------------------------------------


def view(w: World, src: Source, pf: PortForwarding) -> dict[str, Any]:
    meta = src.topo.metadata.get(pf.uid)
    network_id = _network_id(src, pf.internal_network)
    port = w.port_of_address(network_id, pf.internal_ip_address) if network_id else None
    return {
        "id": pf.uid,
        "protocol": pf.protocol,
        "external_port": pf.external_port,
        "internal_port": pf.internal_port,
        "internal_ip_address": str(pf.internal_ip_address),
        "internal_port_id": port.id if port else None,
        "description": meta.description if meta else "",
    }


def _network_id(src: Source, name: str | None) -> str | None:
    return next((n.uid for n in src.topo.networks if n.name == name), None)


def _fip(ctx: Context, w: World, fip_id: str) -> tuple[Source, FloatingIP]:
    entry: tuple[Source, FloatingIP] = find_owned(ctx, w, w.fips, fip_id, "Floating IP")
    return entry


def _fip_for_change(ctx: Context, w: World, fip_id: str) -> tuple[Source, FloatingIP]:
    may_write(ctx)
    src, fip = _fip(ctx, w, fip_id)
    writable(src, "floating IP", fip_id)
    return src, fip


def _forwarding(fip: FloatingIP, pf_id: str) -> PortForwarding:
    for pf in fip.port_forwardings:
        if pf.id == pf_id:
            return pf
    raise NotFound.of(KIND, pf_id)


def _internal_port(
    ctx: Context, w: World, src: Source, fip: FloatingIP, port_id: str, address: IPv4Address | None
) -> Port:
    """The port a forwarding may go to, or Neutron's error why it may not."""
    port = w.ports.get(port_id)
    if port is None or not ctx.may_see(port.project_id):
        raise NotFound.of("Port", port_id)
    if port.device_owner not in ("Octavia", "compute:nova"):
        raise BadRequest(
            f"Invalid input for field/attribute internal_port_id: port {port_id} is a "
            f"{port.device_owner} port; forward to a VIP or an instance's port"
        )
    if port.address is None or (address is not None and address != port.address):
        raise BadRequest(
            f"Invalid input for field/attribute internal_ip_address: port {port_id} has no "
            f"address {address} (it has {port.address})"
        )
    subnet_id = port.subnet_id or ""
    router_id = w.served.get(subnet_id)
    router = w.routers.get(router_id) if router_id is not None else None
    gateway = router[1].external_gateway if router is not None else None
    gateway_net = _network_id(router[0], gateway.network) if router and gateway else None
    if router_id is None or gateway_net != _network_id(src, fip.network):
        raise NotFound(
            f"External network {_network_id(src, fip.network)} is not reachable from subnet "
            f"{subnet_id}. Therefore, cannot associate Port {port_id} with a Floating IP."
        )
    for other_src, other in w.fips.values():
        if (
            other.fixed_ip_address == port.address
            and _network_id(other_src, other.fixed_network) == port.network_id
        ):
            raise Conflict(
                f"Cannot create port forwarding to floating IP {fip.floating_ip_address} "
                f"({fip.uid}) with port {port_id} using fixed IP {port.address}, as that "
                f"port already has a binding floating IP {other.floating_ip_address}."
            )
    return port


def _check_free(fip: FloatingIP, protocol: str, external_port: int, but: str | None) -> None:
    for pf in fip.port_forwardings:
        if pf.id != but and (pf.protocol, pf.external_port) == (protocol, external_port):
            raise Conflict(
                f"A duplicate port forwarding entry with same attributes already exists, "
                f"conflicting values are floatingip_id={fip.uid}, external_port={external_port}, "
                f"protocol={protocol} (port forwarding {pf.id})"
            )


def _items(doc: Doc, fip_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = doc.find("floatingip", fip_id).setdefault("port_forwardings", [])
    return items


# --- routes ----------------------------------------------------------------------------------


PORT_FORWARDINGS = neutron("port_forwardings", KIND)


@router.get(
    "/floatingips/{fip_id}/port_forwardings",
    response_model=s.wrap_out("port_forwardings", PortForwardingOut, True),
)
def list_port_forwardings(
    fip_id: str, request: Request, svc: Service = Svc, ctx: Context = Ctx
) -> Any:
    w = svc.world()
    src, fip = _fip(ctx, w, fip_id)
    # Visible as their floating IP is (checked above); the query's filters still apply.
    return listing(
        request,
        ctx,
        w,
        PORT_FORWARDINGS,
        lambda: [view(w, src, pf) for pf in fip.port_forwardings],
        scope=fip_id,
        shared=lambda _pf: True,
    )


@router.post(
    "/floatingips/{fip_id}/port_forwardings",
    status_code=201,
    response_model=s.wrap_out("port_forwarding", PortForwardingOut),
)
def create_port_forwarding(
    fip_id: str,
    body: s.wrap("port_forwarding", PortForwardingCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: PortForwardingCreate = body.port_forwarding  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> str:
        src, fip = _fip_for_change(ctx, w, fip_id)
        if fip.fixed_ip_address is not None:
            raise Conflict(
                f"Cannot create a port forwarding on floating IP {fip.floating_ip_address} "
                f"({fip_id}): it is associated with fixed IP {fip.fixed_ip_address}; "
                "disassociate it first"
            )
        port = _internal_port(ctx, w, src, fip, req.internal_port_id, req.internal_ip_address)
        _check_free(fip, req.protocol, req.external_port, None)
        pf_id = new_id()
        _items(doc, fip_id).append(
            {
                "id": pf_id,
                "protocol": req.protocol,
                "external_port": req.external_port,
                "internal_ip_address": str(port.address),
                "internal_port": req.internal_port,
                "internal_network": doc.use_network(w, port.network_id),
            }
        )
        doc.set_meta(pf_id, ctx, data, project_id=w.project_of(src, fip_id))
        return pf_id

    pf_id = svc.change(mutate)
    w = svc.world()
    src, fip = w.fips[fip_id]
    return {"port_forwarding": view(w, src, _forwarding(fip, pf_id))}


@router.get(
    "/floatingips/{fip_id}/port_forwardings/{pf_id}",
    response_model=s.wrap_out("port_forwarding", PortForwardingOut),
)
def show_port_forwarding(fip_id: str, pf_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    src, fip = _fip(ctx, w, fip_id)
    return {"port_forwarding": view(w, src, _forwarding(fip, pf_id))}


@router.put(
    "/floatingips/{fip_id}/port_forwardings/{pf_id}",
    response_model=s.wrap_out("port_forwarding", PortForwardingOut),
)
def update_port_forwarding(
    fip_id: str,
    pf_id: str,
    body: s.wrap("port_forwarding", PortForwardingUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: PortForwardingUpdate = body.port_forwarding  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> None:
        src, fip = _fip_for_change(ctx, w, fip_id)
        current = _forwarding(fip, pf_id)
        item = doc.find("portforwarding", pf_id)
        protocol = req.protocol or current.protocol
        external_port = req.external_port or current.external_port
        _check_free(fip, protocol, external_port, pf_id)
        item["protocol"] = protocol
        item["external_port"] = external_port
        if req.internal_port is not None:
            item["internal_port"] = req.internal_port
        if req.internal_port_id is not None:
            port = _internal_port(ctx, w, src, fip, req.internal_port_id, req.internal_ip_address)
            item["internal_ip_address"] = str(port.address)
            item["internal_network"] = doc.use_network(w, port.network_id)
        elif req.internal_ip_address is not None:
            network_id = _network_id(src, current.internal_network)
            port = w.port_of_address(network_id or "", req.internal_ip_address)
            if port is None:
                raise BadRequest(
                    "Invalid input for field/attribute internal_ip_address: no port holds "
                    f"{req.internal_ip_address} on network {network_id}; give internal_port_id"
                )
            port = _internal_port(ctx, w, src, fip, port.id, req.internal_ip_address)
            item["internal_ip_address"] = str(port.address)
        doc.update_meta(pf_id, data)

    svc.change(mutate)
    w = svc.world()
    src, fip = w.fips[fip_id]
    return {"port_forwarding": view(w, src, _forwarding(fip, pf_id))}


@router.delete("/floatingips/{fip_id}/port_forwardings/{pf_id}", status_code=204)
def delete_port_forwarding(
    fip_id: str, pf_id: str, svc: Service = Svc, ctx: Context = Ctx
) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _, fip = _fip_for_change(ctx, w, fip_id)
        _forwarding(fip, pf_id)
        doc.remove("portforwarding", pf_id)

    svc.change(mutate)
    return Response(status_code=204)
