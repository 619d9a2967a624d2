"""Neutron v2.0's L3 subset (``/v2.0``): networks, subnets, routers (gateway, add and
remove interface), floating IPs, and ports (read only: a VIP, a router's interface or
gateway, a lab host)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict, Forbidden, NotFound
from netnode.api.listing import neutron
from netnode.api.service import Doc, Service, may_write, new_id, writable
from netnode.api.world import Port, Source, World
from netnode.model.topology import Network

router = APIRouter()
EXTERNAL_BRIDGE = "br-ex"


# --- views ---------------------------------------------------------------------------------


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
    return {
        **_common(w, src, subnet.uid, subnet.name),
        "network_id": net.uid,
        "cidr": str(subnet.cidr),
        "gateway_ip": str(subnet.gateway_ip) if subnet.gateway_ip else None,
        "ip_version": 4,
        "enable_dhcp": False,
        "allocation_pools": [{"start": str(first), "end": str(last)}],
        "dns_nameservers": [],
        "host_routes": [],
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
        "admin_state_up": True,
        "external_gateway_info": info,
        "routes": [],
        "distributed": False,
        "ha": False,
        "availability_zones": [],
        "availability_zone_hints": [],
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


def port_view(port: Port) -> dict[str, Any]:
    return {
        "id": port.id,
        "name": port.name,
        "description": "",
        "network_id": port.network_id,
        "project_id": port.project_id,
        "tenant_id": port.project_id,
        "mac_address": port.mac,
        "admin_state_up": True,
        "status": "ACTIVE",
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": [{"subnet_id": port.subnet_id, "ip_address": str(port.address)}],
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": [],
        "binding:vnic_type": "normal",
        "port_security_enabled": False,
        "created_at": None,
        "updated_at": None,
        "tags": [],
        "revision_number": 0,
    }


# --- lookups -------------------------------------------------------------------------------


def _network(ctx: Context, w: World, net_id: str) -> tuple[Source, Network]:
    entry = w.networks.get(net_id)
    if entry is None or not ctx.may_see(w.project_of(entry[0], net_id), w.shared(*entry)):
        raise NotFound.of("Network", net_id)
    return entry


def _subnet(ctx: Context, w: World, subnet_id: str) -> Any:
    entry = w.subnets.get(subnet_id)
    if entry is None or not ctx.may_see(
        w.project_of(entry[0], entry[1].uid), w.shared(entry[0], entry[1])
    ):
        raise NotFound.of("Subnet", subnet_id)
    return entry


def _owned(ctx: Context, w: World, table: dict[str, Any], object_id: str, kind: str) -> Any:
    entry = table.get(object_id)
    if entry is None or not ctx.may_see(w.project_of(entry[0], object_id)):
        raise NotFound.of(kind, object_id)
    return entry


def _owned_for_change(
    ctx: Context, w: World, table: dict[str, Any], object_id: str, kind: str
) -> Any:
    """``_owned``, for a caller that may write, of an object the API made."""
    may_write(ctx)
    entry = _owned(ctx, w, table, object_id, kind)
    writable(entry[0], kind.lower(), object_id)
    return entry


def _shared_subnets(w: World) -> frozenset[str]:
    return frozenset(sid for sid, (src, net, _) in w.subnets.items() if w.shared(src, net))


# --- networks --------------------------------------------------------------------------------


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
                tag = next((t for t in range(1, 4095) if t not in used), None)
                if tag is None:
                    raise Conflict("no free VLAN left for a new network")
            elif tag in used:
                raise Conflict(
                    f"Unable to create the network. The VLAN {tag} on physical "
                    "network physnet-int is in use."
                )
            item["segmentation_id"] = tag
        doc.data["networks"].append(item)
        doc.set_meta(net_id, ctx, data, shared=req.shared)
        return net_id

    net_id = svc.change(mutate)
    return {"network": network_view(svc.world(), net_id)}


@router.get("/networks/{net_id}", response_model=s.wrap_out("network", s.NetworkOut))
def show_network(net_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _network(ctx, w, net_id)
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
        may_write(ctx)
        src, _ = _network(ctx, w, net_id)
        _mine(ctx, w, src, net_id, "network")
        doc.update_meta(net_id, data)
        if data.get("shared") is not None:
            doc.data["metadata"][net_id]["shared"] = data["shared"]

    svc.change(mutate)
    return {"network": network_view(svc.world(), net_id)}


def _mine(ctx: Context, w: World, src: Source, object_id: str, kind: str) -> None:
    writable(src, kind, object_id)
    if not ctx.may_see(w.project_of(src, object_id)):
        raise NotFound.of(kind.title(), object_id)


def _in_use(w: World, network_id: str, subnet_id: str | None = None) -> Port | None:
    for port in w.ports.values():
        if port.network_id == network_id and subnet_id in (None, port.subnet_id):
            return port
    return None


@router.delete("/networks/{net_id}", status_code=204)
def delete_network(net_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        may_write(ctx)
        src, _ = _network(ctx, w, net_id)
        _mine(ctx, w, src, net_id, "network")
        port = _in_use(w, net_id)
        if port is not None:
            raise Conflict(
                f"Unable to complete operation on network {net_id}. There are one "
                f"or more ports still in use on the network ({port.device_owner} "
                f"{port.device_id})."
            )
        doc.remove("network", net_id)

    svc.change(mutate)
    return Response(status_code=204)


# --- subnets ---------------------------------------------------------------------------------


SUBNETS = neutron("subnets", "Subnet")


@router.get("/subnets", response_model=s.wrap_out("subnets", s.SubnetOut, True))
def list_subnets(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    shared = _shared_subnets(w)
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
        src, _ = _network(ctx, w, req.network_id)
        _mine(ctx, w, src, req.network_id, "network")
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
        doc.find("network", req.network_id)["subnets"].append(item)
        doc.set_meta(subnet_id, ctx, data, w.project_of(src, req.network_id))
        return subnet_id

    subnet_id = svc.change(mutate)
    return {"subnet": subnet_view(svc.world(), subnet_id)}


@router.get("/subnets/{subnet_id}", response_model=s.wrap_out("subnet", s.SubnetOut))
def show_subnet(subnet_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _subnet(ctx, w, subnet_id)
    return {"subnet": subnet_view(w, subnet_id)}


@router.put("/subnets/{subnet_id}", response_model=s.wrap_out("subnet", s.SubnetOut))
def update_subnet(
    subnet_id: str,
    body: s.wrap("subnet", s.SubnetUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.subnet.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        may_write(ctx)
        src, _, _ = _subnet(ctx, w, subnet_id)
        _mine(ctx, w, src, subnet_id, "subnet")
        doc.update_meta(subnet_id, data)

    svc.change(mutate)
    return {"subnet": subnet_view(svc.world(), subnet_id)}


@router.delete("/subnets/{subnet_id}", status_code=204)
def delete_subnet(subnet_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        may_write(ctx)
        src, net, _ = _subnet(ctx, w, subnet_id)
        _mine(ctx, w, src, subnet_id, "subnet")
        port = _in_use(w, net.uid, subnet_id)
        if port is not None:
            raise Conflict(
                f"Unable to complete operation on subnet {subnet_id}: one or more "
                f"ports have an IP allocation from this subnet ({port.device_owner} "
                f"{port.device_id})."
            )
        doc.remove("subnet", subnet_id)

    svc.change(mutate)
    return Response(status_code=204)


# --- routers ---------------------------------------------------------------------------------


def _gateway(
    ctx: Context, doc: Doc, w: World, info: s.GatewayInfo, current: dict[str, Any] | None
) -> dict[str, Any]:
    _, net = _network(ctx, w, info.network_id)
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

    def mutate(doc: Doc, w: World) -> str:
        router_id = new_id()
        item: dict[str, Any] = {"id": router_id, "name": router_id}
        if req.external_gateway_info is not None:
            item["external_gateway"] = _gateway(ctx, doc, w, req.external_gateway_info, None)
        doc.data["routers"].append(item)
        doc.set_meta(router_id, ctx, data)
        return router_id

    router_id = svc.change(mutate)
    return {"router": router_view(svc.world(), router_id)}


@router.get("/routers/{router_id}", response_model=s.wrap_out("router", s.RouterOut))
def show_router(router_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _owned(ctx, w, w.routers, router_id, "Router")
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
        _, r = _owned_for_change(ctx, w, w.routers, router_id, "Router")
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
                    for f in doc.data["floating_ips"]
                ):
                    raise Conflict(
                        f"Gateway cannot be updated for router {router_id}, since "
                        "a gateway to the external network is required by one or "
                        "more floating IPs."
                    )
                item.pop("external_gateway")
        doc.update_meta(router_id, data)

    svc.change(mutate)
    return {"router": router_view(svc.world(), router_id)}


def _via(doc: Doc, fip: dict[str, Any], interfaces: list[str]) -> bool:
    """Whether ``fip``'s fixed network is one the router's interfaces serve."""
    for net in doc.data["networks"]:
        if net["name"] == fip.get("fixed_network"):
            return any(sub["name"] in interfaces for sub in net["subnets"])
    return False


@router.delete("/routers/{router_id}", status_code=204)
def delete_router(router_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _, r = _owned_for_change(ctx, w, w.routers, router_id, "Router")
        if r.interfaces:
            raise Conflict(f"Router {router_id} still has ports")
        doc.remove("router", router_id)

    svc.change(mutate)
    return Response(status_code=204)


def _interface_subnet(w: World, req: s.RouterInterface) -> str:
    if req.port_id is not None:
        port = w.ports.get(req.port_id)
        if port is None or port.device_owner != "network:router_interface":
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
        _, _ = _owned_for_change(ctx, w, w.routers, router_id, "Router")
        subnet_id = _interface_subnet(w, body)
        _, net, subnet = _subnet(ctx, w, subnet_id)
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
        _, _ = _owned_for_change(ctx, w, w.routers, router_id, "Router")
        subnet_id = _interface_subnet(w, body)
        if w.served.get(subnet_id) != router_id:
            raise NotFound(f"Router {router_id} does not have an interface with subnet {subnet_id}")
        answer.update(_interface_answer(w, router_id, subnet_id))
        item = doc.find("router", router_id)
        name = doc.subnet_name(w, subnet_id)
        item["interfaces"] = [x for x in item.get("interfaces", []) if x != name]
        net_name = next(
            n["name"] for n in doc.data["networks"] if any(x["name"] == name for x in n["subnets"])
        )
        if any(
            f.get("fixed_network") == net_name and f.get("fixed_ip_address")
            for f in doc.data["floating_ips"]
        ):
            raise Conflict(
                f"Router interface for subnet {subnet_id} on router {router_id} "
                "cannot be deleted, as it is required by one or more floating IPs."
            )

    svc.change(mutate)
    return answer


# --- floating IPs ------------------------------------------------------------------------------


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
    if port.device_owner not in ("Octavia", "compute:nova"):
        raise BadRequest(
            f"Invalid input for field/attribute port_id: port {port_id} is a "
            f"{port.device_owner} port; bind a VIP or an instance's port"
        )
    if fixed is not None and fixed != port.address:
        raise BadRequest(
            f"Invalid input for field/attribute fixed_ip_address: port "
            f"{port_id} has no address {fixed}"
        )
    subnet_id = port.subnet_id or ""
    if subnet_id not in w.served:
        raise NotFound(
            f"External network is not reachable from subnet {subnet_id}. "
            f"Therefore, cannot associate Port {port_id} with a Floating IP."
        )
    for other in doc.data["floating_ips"]:
        if (
            other is not item
            and other.get("fixed_ip_address") == str(port.address)
            and other.get("fixed_network") == port.network_id
        ):
            raise Conflict(
                f"Cannot associate floating IP with port {port_id} using fixed IP "
                f"{port.address}, as that fixed IP already has floating IP "
                f"{other['floating_ip_address']}."
            )
    item["fixed_ip_address"] = str(port.address)
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
        _, net = _network(ctx, w, req.floating_network_id)
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
        doc.data["floating_ips"].append(item)
        doc.set_meta(fip_id, ctx, data)
        return fip_id

    fip_id = svc.change(mutate)
    return {"floatingip": fip_view(svc.world(), fip_id)}


@router.get("/floatingips/{fip_id}", response_model=s.wrap_out("floatingip", s.FloatingIPOut))
def show_floatingip(fip_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _owned(ctx, w, w.fips, fip_id, "Floating IP")
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
        _, _ = _owned_for_change(ctx, w, w.fips, fip_id, "Floating IP")
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
        _, _ = _owned_for_change(ctx, w, w.fips, fip_id, "Floating IP")
        doc.remove("floatingip", fip_id)

    svc.change(mutate)
    return Response(status_code=204)


# --- ports ---------------------------------------------------------------------------------------


PORTS = neutron("ports", "Port")


@router.get("/ports", response_model=s.wrap_out("ports", s.PortOut, True))
def list_ports(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    return listing(request, ctx, w, PORTS, lambda: [port_view(p) for p in w.ports.values()])


@router.get("/ports/{port_id}", response_model=s.wrap_out("port", s.PortOut))
def show_port(port_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    port = w.ports.get(port_id)
    if port is None or not ctx.may_see(port.project_id):
        raise NotFound.of("Port", port_id)
    return {"port": port_view(port)}


# --- extensions ------------------------------------------------------------------------------

# What clients look up before using a feature (the openstack CLI asks for
# external-gateway-multihoming before it sets a router's gateway, for example).
EXTENSIONS = {
    "router": ("Neutron L3 Router", "Router abstraction for layer 3 forwarding"),
    "external-net": ("Neutron external network", "Networks marked router:external"),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "enable_snat"),
    "provider": ("Provider Network", "provider:network_type and provider:segmentation_id"),
    "l3-ha": ("HA Router extension", "reported as false: one node"),
    "floating-ip-port-forwarding": (
        "Floating IP Port Forwarding",
        "port_forwardings of a floating IP (api/port_forwardings.py)",
    ),
}


def _extension(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "links": [],
        "updated": "2026-11-26T00:00:00-00:00",
    }


@router.get("/extensions")
def list_extensions(ctx: Context = Ctx) -> Any:
    return {"extensions": [_extension(a) for a in EXTENSIONS]}


@router.get("/extensions/{alias}")
def show_extension(alias: str, ctx: Context = Ctx) -> Any:
    if alias not in EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist")
    return {"extension": _extension(alias)}
