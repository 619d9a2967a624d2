"""Neutron's subnets: ``/v2.0/subnets``."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict
from netnode.api.listing import neutron
from netnode.api.neutron.lookups import (
    find_subnet,
    in_use,
    network_for_change,
    shared_subnets,
    subnet_for_change,
)
from netnode.api.neutron.views import subnet_view
from netnode.api.service import Doc, Service, may_write, new_id
from netnode.api.world import World

router = APIRouter()

SUBNETS = neutron("subnets", "Subnet")


@router.get("/subnets", response_model=s.wrap_out("subnets", s.SubnetOut, True))
def list_subnets(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    shared = shared_subnets(w)
    return listing(
        request,
        ctx,
        w,
        SUBNETS,
        lambda: [subnet_view(w, i) for i in w.subnets],
        shared=lambda subnet: subnet["id"] in shared,
    )


@router.post("/subnets", status_code=201, response_model=s.wrap_out("subnet", s.SubnetOut))
def create_subnet(
    body: s.wrap("subnet", s.SubnetCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    may_write(ctx)
    req: s.SubnetCreate = body.subnet  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)
    try:
        cidr = ipaddress.IPv4Network(req.cidr, strict=True)
    except ValueError as exc:
        raise BadRequest(
            f"Invalid input for field/attribute cidr. Value: '{req.cidr}'. {exc}"
        ) from exc
    if cidr.prefixlen > 30:
        raise BadRequest(
            f"Invalid input for field/attribute cidr. Value: '{req.cidr}'. "
            "Too small for a gateway and hosts (at most /30)"
        )

    def mutate(doc: Doc, w: World) -> str:
        src, _ = network_for_change(ctx, w, req.network_id)
        gateway = req.gateway_ip if "gateway_ip" in data else cidr.network_address + 1
        if gateway is not None and (
            gateway not in cidr or gateway in (cidr.network_address, cidr.broadcast_address)
        ):
            raise BadRequest(
                f"Invalid input for field/attribute gateway_ip. Value: "
                f"'{gateway}'. It is not a host address of {cidr}"
            )
        subnet_id = new_id()
        item: dict[str, Any] = {"id": subnet_id, "name": subnet_id, "cidr": str(cidr)}
        if gateway is not None:
            item["gateway_ip"] = str(gateway)
        _extras(item, req.model_dump(mode="json", exclude_unset=True))
        item["enable_dhcp"] = req.enable_dhcp
        doc.find("network", req.network_id)["subnets"].append(item)
        doc.set_meta(subnet_id, ctx, data, w.project_of(src, req.network_id))
        return subnet_id

    subnet_id = svc.change(mutate)
    return {"subnet": subnet_view(svc.world(), subnet_id)}


def _extras(item: dict[str, Any], data: dict[str, Any]) -> None:
    """DHCP's fields of a subnet, as the model holds them (it checks them: pools inside
    the subnet and off the gateway, routes' next hops on it)."""
    for key in ("enable_dhcp", "dns_nameservers", "host_routes", "allocation_pools"):
        if key in data:
            item[key] = (
                data[key] if data[key] is not None else ([] if key != "enable_dhcp" else False)
            )


@router.get("/subnets/{subnet_id}", response_model=s.wrap_out("subnet", s.SubnetOut))
def show_subnet(subnet_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    find_subnet(ctx, w, subnet_id)
    return {"subnet": subnet_view(w, subnet_id)}


@router.put("/subnets/{subnet_id}", response_model=s.wrap_out("subnet", s.SubnetOut))
def update_subnet(
    subnet_id: str,
    body: s.wrap("subnet", s.SubnetUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.subnet.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    extras = body.subnet.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        subnet_for_change(ctx, w, subnet_id)
        _extras(doc.find("subnet", subnet_id), extras)
        doc.update_meta(subnet_id, data)

    svc.change(mutate)
    return {"subnet": subnet_view(svc.world(), subnet_id)}


@router.delete("/subnets/{subnet_id}", status_code=204)
def delete_subnet(subnet_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _, net, _ = subnet_for_change(ctx, w, subnet_id)
        port = in_use(w, net.uid, subnet_id)
        if port is not None:
            raise Conflict(
                f"Unable to complete operation on subnet {subnet_id}: one or more "
                f"ports have an IP allocation from this subnet ({port.device_owner} "
                f"{port.device_id})."
            )
        doc.remove("subnet", subnet_id)

    svc.change(mutate)
    return Response(status_code=204)
