"""Neutron's routers: ``/v2.0/routers``, their gateway, and adding and removing
interfaces.

An HA router (Neutron's ``l3-ha``, ``"ha": true``) runs as two instances on two nodes
of a cluster, each with its own address on the API topology's HA network
(``vrrp_addresses``, allocated here as Octavia's ACTIVE_STANDBY pair's are). As
Neutron's default policy has it, only an admin asks for one; ``ha`` omitted is false
(Neutron's ``l3_ha`` default). A router does not change between HA and not HA: Neutron
converts one only once it is down, netnode not at all (a new router is the way)."""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address
from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api import zones
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict, Forbidden, NotFound
from netnode.api.listing import neutron
from netnode.api.neutron.lookups import find_network, find_owned, find_subnet, owned_for_change
from netnode.api.neutron.views import router_view
from netnode.api.service import Doc, Service, may_write, new_id
from netnode.api.world import World

router = APIRouter()


def _gateway(
    ctx: Context, doc: Doc, w: World, info: s.GatewayInfo, current: dict[str, Any] | None
) -> dict[str, Any]:
    _, net = find_network(ctx, w, info.network_id)
    if not net.external:
        raise BadRequest(
            f"Invalid input for field/attribute external_gateway_info. Network "
            f"{info.network_id} is not an external network"
        )
    address = None
    if info.external_fixed_ips:
        fixed = info.external_fixed_ips[0]
        address = fixed.ip_address
        if address is None and fixed.subnet_id is not None:
            if w.subnets.get(fixed.subnet_id, (None, None))[1] is not net:
                raise BadRequest(
                    "Invalid input for field/attribute external_fixed_ips: the "
                    "subnet is not on the gateway's network"
                )
            address = w.free_address(fixed.subnet_id)
        elif address is not None:
            if w.subnet_holding(net.uid, address) is None:
                raise BadRequest(
                    f"Invalid input for field/attribute external_fixed_ips. "
                    f"{address} is in no subnet of network {net.uid}"
                )
            if address in w.used.get(net.uid, set()) and not (
                current and current.get("ip_address") == str(address)
            ):
                raise Conflict(f"IP address {address} already allocated in network {net.uid}")
    elif current is not None and current["network"] == net.uid:
        address = ipaddress.IPv4Address(current["ip_address"])
    else:
        for subnet in net.subnets:
            address = w.free_address(subnet.uid)
            if address is not None:
                break
    if address is None:
        raise Conflict(f"No more IP addresses available on network {net.uid}")
    gw: dict[str, Any] = {"network": doc.use_network(w, net.uid), "ip_address": str(address)}
    if info.enable_snat is not None:
        gw["enable_snat"] = info.enable_snat
    elif current is not None and "enable_snat" in current:
        gw["enable_snat"] = current["enable_snat"]
    return gw


ROUTERS = neutron("routers", "Router")


@router.get("/routers", response_model=s.wrap_out("routers", s.RouterOut, True))
def list_routers(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    return listing(request, ctx, w, ROUTERS, lambda: [router_view(w, i) for i in w.routers])


@router.post("/routers", status_code=201, response_model=s.wrap_out("router", s.RouterOut))
def create_router(
    body: s.wrap("router", s.RouterCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    may_write(ctx)
    req: s.RouterCreate = body.router  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)
    if req.ha:
        _may_be_ha(svc, ctx)
    hints = list(dict.fromkeys(req.availability_zone_hints or ()))
    zones.check(svc, "availability_zone_hints", hints)

    def mutate(doc: Doc, w: World) -> str:
        router_id = new_id()
        item: dict[str, Any] = {"id": router_id, "name": router_id}
        if req.external_gateway_info is not None:
            item["external_gateway"] = _gateway(ctx, doc, w, req.external_gateway_info, None)
        if req.ha:
            item["ha"] = True
            item["vrrp_addresses"] = [str(a) for a in _vrrp_addresses(w)]
        if hints:
            item["availability_zone_hints"] = hints
        if not req.admin_state_up:
            item["admin_state_up"] = False
        doc.add("routers", item)
        doc.set_meta(router_id, ctx, data)
        return router_id

    router_id = svc.change(mutate)
    return {"router": router_view(svc.world(), router_id)}


def _may_be_ha(svc: Service, ctx: Context) -> None:
    """An HA router is an admin's to ask for, and needs the nodes of a cluster."""
    if not ctx.is_admin:
        raise Forbidden("only an admin may set a router's ha")
    if svc.store.scope == svc.store.node:
        raise BadRequest(
            "Invalid input for field/attribute ha: an HA router needs two nodes: this "
            "netnode runs on its own (start the nodes with --cluster NAME on one "
            "PostgreSQL store)"
        )


def _vrrp_addresses(w: World) -> list[IPv4Address]:
    """Two free addresses of the HA network for an HA router's instances (their ha-
    ports, which VRRP runs between)."""
    found: list[IPv4Address] = []
    for _ in range(2):
        address = w.free_ha_address(taken=found)
        if address is None:
            raise Conflict(
                f"No more IP addresses available on the HA network {w.ha_network().cidr} "
                "for the HA router's two VRRP addresses"
            )
        found.append(address)
    return found


@router.get("/routers/{router_id}", response_model=s.wrap_out("router", s.RouterOut))
def show_router(router_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    find_owned(ctx, w, w.routers, router_id, "Router")
    return {"router": router_view(w, router_id)}


@router.put("/routers/{router_id}", response_model=s.wrap_out("router", s.RouterOut))
def update_router(
    router_id: str,
    body: s.wrap("router", s.RouterUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.RouterUpdate = body.router  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True)

    def mutate(doc: Doc, w: World) -> None:
        _, r = owned_for_change(ctx, w, w.routers, router_id, "Router")
        if req.ha is not None:
            _same_ha(ctx, r.ha, req.ha)
        item = doc.find("router", router_id)
        if "external_gateway_info" in data:
            info = req.external_gateway_info
            if isinstance(info, dict) and info:
                try:
                    info = s.GatewayInfo.model_validate(info)
                except ValueError as exc:
                    raise BadRequest(
                        f"Invalid input for field/attribute external_gateway_info: {exc}"
                    ) from exc
            if isinstance(info, s.GatewayInfo):
                item["external_gateway"] = _gateway(ctx, doc, w, info, item.get("external_gateway"))
            elif item.get("external_gateway"):
                if any(
                    f.get("fixed_ip_address") and _via(doc, f, r.interfaces)
                    for f in doc.roots("floating_ips")
                ):
                    raise Conflict(
                        f"Gateway cannot be updated for router {router_id}, since "
                        "a gateway to the external network is required by one or "
                        "more floating IPs."
                    )
                item.pop("external_gateway")
        if req.admin_state_up is not None:
            item["admin_state_up"] = req.admin_state_up
        if req.routes is not None:
            item["routes"] = _route_items(req.routes)
        doc.update_meta(router_id, data)

    svc.change(mutate)
    return {"router": router_view(svc.world(), router_id)}


def _route_items(routes: list[s.Route]) -> list[dict[str, str]]:
    """The topology's routes, one per destination as Neutron keeps them (a route given
    twice is the same route)."""
    items = {(str(r.destination), str(r.nexthop)): None for r in routes}
    return [{"destination": d, "nexthop": n} for d, n in items]


def _change_routes(
    svc: Service, ctx: Context, router_id: str, body: s.RouterRoutes, adding: bool
) -> Any:
    def mutate(doc: Doc, w: World) -> None:
        owned_for_change(ctx, w, w.routers, router_id, "Router")
        item = doc.find("router", router_id)
        current = _route_items([s.Route.model_validate(r) for r in item.get("routes", [])])
        given = _route_items(body.routes)
        if adding:
            routes = current + [r for r in given if r not in current]
        else:
            routes = [r for r in current if r not in given]
        if routes:
            item["routes"] = routes
        else:
            item.pop("routes", None)

    svc.change(mutate)
    return {"router": router_view(svc.world(), router_id)}


@router.put("/routers/{router_id}/add_extraroutes")
def add_extraroutes(
    router_id: str,
    body: s.wrap("router", s.RouterRoutes),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    return _change_routes(svc, ctx, router_id, body.router, adding=True)  # type: ignore[attr-defined]


@router.put("/routers/{router_id}/remove_extraroutes")
def remove_extraroutes(
    router_id: str,
    body: s.wrap("router", s.RouterRoutes),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    return _change_routes(svc, ctx, router_id, body.router, adding=False)  # type: ignore[attr-defined]


def _same_ha(ctx: Context, now: bool, asked: bool) -> None:
    """``ha`` in an update: only the value the router has (no conversion: its
    instances, nodes and VRRP addresses would all change); asking for another is an
    admin's question, so anyone else hears 403 first, as in Neutron."""
    if asked == now:
        return
    if not ctx.is_admin:
        raise Forbidden("only an admin may set a router's ha")
    raise BadRequest(
        f"Invalid input for field/attribute ha: netnode does not convert a router "
        f"{'to' if asked else 'from'} HA; create a new router with ha "
        f"{str(asked).lower()} and move the interfaces and gateway to it"
    )


def _via(doc: Doc, fip: dict[str, Any], interfaces: list[str]) -> bool:
    """Whether ``fip``'s fixed network is one the router's interfaces serve."""
    for net in doc.networks():
        if net["name"] == fip.get("fixed_network"):
            return any(sub["name"] in interfaces for sub in net["subnets"])
    return False


@router.delete("/routers/{router_id}", status_code=204)
def delete_router(router_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _, r = owned_for_change(ctx, w, w.routers, router_id, "Router")
        if r.interfaces:
            raise Conflict(f"Router {router_id} still has ports")
        doc.remove("router", router_id)

    svc.change(mutate)
    return Response(status_code=204)


def _interface_subnet(w: World, req: s.RouterInterface) -> str:
    if req.port_id is not None:
        port = w.ports.get(req.port_id)
        if port is None or port.spec is not None or port.device_owner != "network:router_interface":
            raise BadRequest(
                "Invalid input for field/attribute port_id: netnode makes a "
                "router's interface itself; give subnet_id"
            )
        assert port.subnet_id is not None
        return port.subnet_id
    if req.subnet_id is None:
        raise BadRequest("Invalid input for field/attribute subnet_id: give subnet_id")
    return req.subnet_id


@router.put("/routers/{router_id}/add_router_interface")
def add_router_interface(
    router_id: str, body: s.RouterInterface, svc: Service = Svc, ctx: Context = Ctx
) -> Any:
    def mutate(doc: Doc, w: World) -> str:
        _, _ = owned_for_change(ctx, w, w.routers, router_id, "Router")
        subnet_id = _interface_subnet(w, body)
        _, net, subnet = find_subnet(ctx, w, subnet_id)
        if net.external:
            raise BadRequest(
                f"Bad router request: subnet {subnet_id} is on an external "
                "network; set it as the router's gateway instead"
            )
        if subnet.gateway_ip is None:
            raise BadRequest(
                f"Bad router request: Subnet {subnet_id} does not have a "
                "gateway IP for the router to take"
            )
        if subnet_id in w.served:
            raise Conflict(
                f"Router already has a port on subnet {subnet_id}"
                if w.served[subnet_id] == router_id
                else f"Subnet {subnet_id} is already served by router {w.served[subnet_id]}"
            )
        item = doc.find("router", router_id)
        item.setdefault("interfaces", []).append(doc.subnet_name(w, subnet_id))
        return subnet_id

    subnet_id = svc.change(mutate)
    return _interface_answer(svc.world(), router_id, subnet_id)


def _interface_answer(w: World, router_id: str, subnet_id: str) -> dict[str, Any]:
    src, net, subnet = w.subnets[subnet_id]
    port = w.port_of_address(net.uid, subnet.gateway_ip) if subnet.gateway_ip else None
    project = (
        w.project_of(w.routers[router_id][0], router_id)
        if router_id in w.routers
        else w.project_of(src, subnet_id)
    )
    return {
        "id": router_id,
        "subnet_id": subnet_id,
        "subnet_ids": [subnet_id],
        "network_id": net.uid,
        "port_id": port.id if port else None,
        "project_id": project,
        "tenant_id": project,
    }


@router.put("/routers/{router_id}/remove_router_interface")
def remove_router_interface(
    router_id: str, body: s.RouterInterface, svc: Service = Svc, ctx: Context = Ctx
) -> Any:
    answer: dict[str, Any] = {}

    def mutate(doc: Doc, w: World) -> None:
        _, _ = owned_for_change(ctx, w, w.routers, router_id, "Router")
        subnet_id = _interface_subnet(w, body)
        if w.served.get(subnet_id) != router_id:
            raise NotFound(f"Router {router_id} does not have an interface with subnet {subnet_id}")
        answer.update(_interface_answer(w, router_id, subnet_id))
        item = doc.find("router", router_id)
        name = doc.subnet_name(w, subnet_id)
        item["interfaces"] = [x for x in item.get("interfaces", []) if x != name]
        net_name = next(
            n["name"] for n in doc.networks() if any(x["name"] == name for x in n["subnets"])
        )
        if any(
            f.get("fixed_network") == net_name and f.get("fixed_ip_address")
            for f in doc.roots("floating_ips")
        ):
            raise Conflict(
                f"Router interface for subnet {subnet_id} on router {router_id} "
                "cannot be deleted, as it is required by one or more floating IPs."
            )

    svc.change(mutate)
    return answer
