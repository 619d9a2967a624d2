"""Neutron's floating IPs: ``/v2.0/floatingips``, bound to a port (a VIP or an
instance's) or carrying port forwardings (``port_forwardings.py``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict, NotFound
from netnode.api.listing import neutron
from netnode.api.neutron.lookups import find_network, find_owned, owned_for_change
from netnode.api.neutron.views import fip_view
from netnode.api.service import Doc, Service, may_write, new_id
from netnode.api.world import World

router = APIRouter()


def _associate(
    ctx: Context,
    doc: Doc,
    w: World,
    item: dict[str, Any],
    port_id: str,
    fixed: ipaddress.IPv4Address | None,
) -> None:
    port = w.ports.get(port_id)
    if port is None or (not ctx.may_see(port.project_id) and not ctx.is_admin):
        raise NotFound.of("Port", port_id)
    if port.spec is None and port.device_owner not in ("Octavia", "compute:nova"):
        raise BadRequest(
            f"Invalid input for field/attribute port_id: port {port_id} is a "
            f"{port.device_owner} port; bind a VIP, an instance's or a user's port"
        )
    if not port.addresses:
        raise BadRequest(
            f"Invalid input for field/attribute port_id: port {port_id} has no fixed IP; "
            "give it an address first"
        )
    if fixed is not None and fixed not in port.addresses:
        raise BadRequest(
            f"Invalid input for field/attribute fixed_ip_address: port "
            f"{port_id} has no address {fixed}"
        )
    address = fixed if fixed is not None else port.addresses[0]
    subnet_id = w.subnet_holding(port.network_id, address) or ""
    if subnet_id not in w.served:
        raise NotFound(
            f"External network is not reachable from subnet {subnet_id}. "
            f"Therefore, cannot associate Port {port_id} with a Floating IP."
        )
    for other in doc.roots("floating_ips"):
        if (
            other is not item
            and other.get("fixed_ip_address") == str(address)
            and other.get("fixed_network") == port.network_id
        ):
            raise Conflict(
                f"Cannot associate floating IP with port {port_id} using fixed IP "
                f"{address}, as that fixed IP already has floating IP "
                f"{other['floating_ip_address']}."
            )
    item["fixed_ip_address"] = str(address)
    item["fixed_network"] = doc.use_network(w, port.network_id)


FLOATINGIPS = neutron("floatingips", "Floating IP")


@router.get("/floatingips", response_model=s.wrap_out("floatingips", s.FloatingIPOut, True))
def list_floatingips(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    return listing(request, ctx, w, FLOATINGIPS, lambda: [fip_view(w, i) for i in w.fips])


@router.post(
    "/floatingips", status_code=201, response_model=s.wrap_out("floatingip", s.FloatingIPOut)
)
def create_floatingip(
    body: s.wrap("floatingip", s.FloatingIPCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    may_write(ctx)
    req: s.FloatingIPCreate = body.floatingip  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> str:
        _, net = find_network(ctx, w, req.floating_network_id)
        if not net.external:
            raise BadRequest(
                f"Bad floatingip request: Network {net.uid} is not a valid external network."
            )
        address = req.floating_ip_address
        if address is not None:
            if w.subnet_holding(net.uid, address) is None:
                raise BadRequest(
                    f"Invalid input for field/attribute floating_ip_address. "
                    f"{address} is in no subnet of network {net.uid}"
                )
            if address in w.used.get(net.uid, set()):
                raise Conflict(f"IP address {address} already allocated in subnet")
        else:
            subnets = [req.subnet_id] if req.subnet_id else [x.uid for x in net.subnets]
            for subnet_id in subnets:
                if subnet_id not in w.subnets:
                    raise NotFound.of("Subnet", subnet_id)
                address = w.free_address(subnet_id)
                if address is not None:
                    break
        if address is None:
            raise Conflict(f"No more IP addresses available on network {net.uid}.")
        fip_id = new_id()
        item: dict[str, Any] = {
            "id": fip_id,
            "name": fip_id,
            "floating_ip_address": str(address),
            "network": doc.use_network(w, net.uid),
        }
        if req.port_id is not None:
            _associate(ctx, doc, w, item, req.port_id, req.fixed_ip_address)
        doc.add("floating_ips", item)
        doc.set_meta(fip_id, ctx, data)
        return fip_id

    fip_id = svc.change(mutate)
    return {"floatingip": fip_view(svc.world(), fip_id)}


@router.get("/floatingips/{fip_id}", response_model=s.wrap_out("floatingip", s.FloatingIPOut))
def show_floatingip(fip_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    find_owned(ctx, w, w.fips, fip_id, "Floating IP")
    return {"floatingip": fip_view(w, fip_id)}


@router.put("/floatingips/{fip_id}", response_model=s.wrap_out("floatingip", s.FloatingIPOut))
def update_floatingip(
    fip_id: str,
    body: s.wrap("floatingip", s.FloatingIPUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.FloatingIPUpdate = body.floatingip  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> None:
        _, _ = owned_for_change(ctx, w, w.fips, fip_id, "Floating IP")
        item = doc.find("floatingip", fip_id)
        if "port_id" in data:
            if req.port_id is None:
                item.pop("fixed_ip_address", None)
                item.pop("fixed_network", None)
            else:
                _associate(ctx, doc, w, item, req.port_id, req.fixed_ip_address)
        doc.update_meta(fip_id, data)

    svc.change(mutate)
    return {"floatingip": fip_view(svc.world(), fip_id)}


@router.delete("/floatingips/{fip_id}", status_code=204)
def delete_floatingip(fip_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _, _ = owned_for_change(ctx, w, w.fips, fip_id, "Floating IP")
        doc.remove("floatingip", fip_id)

    svc.change(mutate)
    return Response(status_code=204)
