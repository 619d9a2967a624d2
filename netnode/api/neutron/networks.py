"""Neutron's networks: ``/v2.0/networks`` (tenant and external)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict, Forbidden
from netnode.api.listing import neutron
from netnode.api.neutron.lookups import find_network, in_use, network_for_change
from netnode.api.neutron.views import network_view
from netnode.api.service import Doc, Service, may_write, new_id
from netnode.api.world import World

router = APIRouter()
EXTERNAL_BRIDGE = "br-ex"

NETWORKS = neutron("networks", "Network")


@router.get("/networks", response_model=s.wrap_out("networks", s.NetworkOut, True))
def list_networks(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    return listing(request, ctx, w, NETWORKS, lambda: [network_view(w, i) for i in w.networks])


@router.post("/networks", status_code=201, response_model=s.wrap_out("network", s.NetworkOut))
def create_network(
    body: s.wrap("network", s.NetworkCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    may_write(ctx)
    req: s.NetworkCreate = body.network  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> str:
        net_id = new_id()
        item: dict[str, Any] = {"id": net_id, "name": net_id, "subnets": []}
        if req.router_external:
            if not ctx.is_admin:
                raise Forbidden("only an admin may create an external network")
            if req.provider_segmentation_id is not None or req.provider_network_type == "vlan":
                raise BadRequest(
                    "Invalid input for field/attribute provider:segmentation_id: "
                    "an external network is flat"
                )
            for _, other in w.networks.values():
                if other.external and (other.bridge or EXTERNAL_BRIDGE) == EXTERNAL_BRIDGE:
                    raise Conflict(
                        f"bridge {EXTERNAL_BRIDGE} already carries external network "
                        f"{other.uid}; netnode has one external network per bridge"
                    )
            item["external"] = True
        else:
            if req.provider_network_type == "flat":
                raise BadRequest(
                    "Invalid input for field/attribute provider:network_type: "
                    "tenant networks are VLANs on the integration bridge"
                )
            used = w.used_tags()
            tag = req.provider_segmentation_id
            if tag is None:
                tag = w.free_tag()
                if tag is None:
                    raise Conflict("no free VLAN left for a new network")
            elif tag in used:
                raise Conflict(
                    f"Unable to create the network. The VLAN {tag} on physical "
                    "network physnet-int is in use."
                )
            item["segmentation_id"] = tag
        doc.add("networks", item)
        doc.set_meta(net_id, ctx, data, shared=req.shared)
        return net_id

    net_id = svc.change(mutate)
    return {"network": network_view(svc.world(), net_id)}


@router.get("/networks/{net_id}", response_model=s.wrap_out("network", s.NetworkOut))
def show_network(net_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    find_network(ctx, w, net_id)
    return {"network": network_view(w, net_id)}


@router.put("/networks/{net_id}", response_model=s.wrap_out("network", s.NetworkOut))
def update_network(
    net_id: str,
    body: s.wrap("network", s.NetworkUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.network.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        network_for_change(ctx, w, net_id)
        doc.update_meta(net_id, data)
        if data.get("shared") is not None:
            doc.meta(net_id)["shared"] = data["shared"]

    svc.change(mutate)
    return {"network": network_view(svc.world(), net_id)}


@router.delete("/networks/{net_id}", status_code=204)
def delete_network(net_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        network_for_change(ctx, w, net_id)
        port = in_use(w, net_id)
        if port is not None:
            raise Conflict(
                f"Unable to complete operation on network {net_id}. There are one "
                f"or more ports still in use on the network ({port.device_owner} "
                f"{port.device_id})."
            )
        doc.remove("network", net_id)

    svc.change(mutate)
    return Response(status_code=204)
