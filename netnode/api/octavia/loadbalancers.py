"""Octavia's load balancers: ``/loadbalancers`` (fully populated creates, ``graph.py``),
their status tree and statistics."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import graph, zones
from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import Quotas
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import ApiError, BadRequest, Conflict
from netnode.api.listing import octavia
from netnode.api.octavia import flavors
from netnode.api.octavia.lookups import find_lb, lb_for_change
from netnode.api.octavia.views import views
from netnode.api.service import Doc, Service, asked_project, may_write, new_id, writable
from netnode.api.world import Port, Source, World
from netnode.reconcile.status import loadbalancer_stats, to_octavia_json

router = APIRouter()

LOADBALANCERS = octavia("loadbalancers", "Load Balancer")


@router.get("/loadbalancers", response_model=s.wrap_out("loadbalancers", s.LoadBalancerOut, True))
def list_loadbalancers(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    v = views(svc, w)
    return listing(request, ctx, w, LOADBALANCERS, lambda: [v.loadbalancer(i) for i in w.lbs])


@router.post(
    "/loadbalancers",
    status_code=201,
    response_model=s.wrap_out("loadbalancer", s.LoadBalancerFullOut),
)
def create_loadbalancer(
    body: s.wrap("loadbalancer", s.LoadBalancerCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    """A load balancer, fully populated when the body has listeners or pools
    (``graph.py``): the whole tree in one change, answered whole."""
    may_write(ctx)
    req: s.LoadBalancerCreate = body.loadbalancer  # type: ignore[attr-defined]
    data = req.model_dump(exclude_unset=True, exclude={"listeners", "pools"})
    built = graph.Built()
    chosen = flavors.choices(svc, req.flavor_id) if req.flavor_id is not None else {}
    paired = chosen.get("loadbalancer_topology") == "ACTIVE_STANDBY"
    if paired and svc.store.scope == svc.store.node:
        raise BadRequest(
            "Invalid input for field/attribute flavor_id: its loadbalancer_topology is "
            "ACTIVE_STANDBY, which needs two nodes: this netnode runs on its own (start "
            "the nodes with --cluster NAME on one PostgreSQL store)"
        )
    if req.availability_zone is not None:
        zones.check(svc, "availability_zone", [req.availability_zone])

    def mutate(doc: Doc, w: World) -> str:
        nonlocal built
        port = _vip_port(ctx, w, req) if req.vip_port_id is not None else None
        subnet_id = _vip_subnet(ctx, w, req) if port is None else port.subnet_id
        assert subnet_id is not None
        _, net, subnet = w.subnets[subnet_id]
        if port is not None:
            assert port.address is not None
            address = port.address
            # The port becomes the VIP's: its row goes, the load balancer holds its
            # address and MAC, and the VIP's port keeps its id.
            doc.remove("networkport", port.id)
        elif req.vip_address is not None:
            if req.vip_address not in subnet.cidr:
                raise BadRequest(
                    f"Invalid input for field/attribute vip_address. Value: "
                    f"'{req.vip_address}'. It is not in subnet {subnet_id} ({subnet.cidr})"
                )
            if req.vip_address in w.used.get(net.uid, set()):
                raise Conflict(
                    f"IP address {req.vip_address} is already allocated in subnet {subnet_id}"
                )
            address = req.vip_address
        else:
            found = w.free_address(subnet_id)
            if found is None:
                raise Conflict(f"No more IP addresses available on subnet {subnet_id}")
            address = found
        quotas = Quotas(svc, w, doc.project_for(ctx, asked_project(data)))
        quotas.take("load_balancer")
        lb_id = new_id()
        lb: dict[str, Any] = {
            "id": lb_id,
            "name": lb_id,
            "vip": {"network": doc.use_network(w, net.uid), "address": str(address)},
            "admin_state_up": req.admin_state_up,
        }
        if port is not None:
            lb["vip"] |= {"mac": port.mac, "port_id": port.id}
        if paired:
            lb["topology"] = "ACTIVE_STANDBY"
            lb["vrrp_addresses"] = [str(a) for a in _vrrp_addresses(w, subnet_id, address)]
        if "failover_profile" in chosen:
            lb["failover_profile"] = chosen["failover_profile"]
        if req.availability_zone is not None:
            lb["availability_zone"] = req.availability_zone
        doc.add("load_balancers", lb)
        doc.set_meta(
            lb_id, ctx, data, quotas.project, flavor_id=req.flavor_id, provider=req.provider
        )
        built = graph.populate(svc, ctx, doc, w, quotas, lb, req)
        return lb_id

    try:
        lb_id = svc.change(mutate)
    except ApiError as exc:
        raise built.told(exc) from exc
    return {"loadbalancer": graph.full_view(views(svc, svc.world()), lb_id)}


def _vrrp_addresses(w: World, subnet_id: str, vip: IPv4Address) -> list[IPv4Address]:
    """Two free addresses of the VIP's subnet for an ACTIVE_STANDBY pair's instances."""
    found: list[IPv4Address] = []
    for _ in range(2):
        address = w.free_address(subnet_id, taken=[vip, *found])
        if address is None:
            raise Conflict(
                f"No more IP addresses available on subnet {subnet_id} for the "
                "ACTIVE_STANDBY pair's two VRRP addresses"
            )
        found.append(address)
    return found


def _vip_port(ctx: Context, w: World, req: s.LoadBalancerCreate) -> Port:
    """The port ``vip_port_id`` names, if it may become the VIP: a port made through
    Neutron's API, on a tenant network, with one address, used by no device (Octavia's
    check), agreeing with the body's other vip_ fields."""
    port_id = req.vip_port_id
    port = w.ports.get(port_id or "")
    field = "Invalid input for field/attribute vip_port_id"
    if port is None or not ctx.may_see(port.project_id):
        raise BadRequest(f"{field}. Value: '{port_id}'. Port not found")
    if port.spec is None:
        raise BadRequest(
            f"{field}: port {port_id} belongs to {port.device_owner} {port.device_id}; "
            "give a port made through Neutron's API"
        )
    writable(w.sources[port.source], "port", port.id)
    if port.device_id:
        raise BadRequest(f"{field}: port {port_id} already in use by device {port.device_id}")
    if w.networks[port.network_id][1].external:
        raise BadRequest(
            f"{field}: port {port_id} is on an external network; netnode puts a VIP on a "
            "tenant network (reach it from outside with a floating IP)"
        )
    if len(port.addresses) != 1:
        raise BadRequest(
            f"{field}: port {port_id} has {len(port.addresses)} addresses; a VIP takes a "
            "port with exactly one"
        )
    for asked, value, have in (
        ("vip_network_id", req.vip_network_id, port.network_id),
        ("vip_subnet_id", req.vip_subnet_id, port.subnet_id),
        ("vip_address", req.vip_address, port.address),
    ):
        if value is not None and value != have:
            raise BadRequest(
                f"Invalid input for field/attribute {asked}. Value: '{value}'. "
                f"Port {port_id} has {have}"
            )
    return port


def _vip_subnet(ctx: Context, w: World, req: s.LoadBalancerCreate) -> str:
    if req.vip_subnet_id is not None:
        entry = w.subnets.get(req.vip_subnet_id)
        if entry is None or not ctx.may_see(
            w.project_of(entry[0], entry[1].uid), w.shared(entry[0], entry[1])
        ):
            raise BadRequest(
                f"Invalid input for field/attribute vip_subnet_id. Value: "
                f"'{req.vip_subnet_id}'. Subnet not found"
            )
        if req.vip_network_id is not None and entry[1].uid != req.vip_network_id:
            raise BadRequest(
                "Invalid input for field/attribute vip_subnet_id: the subnet is "
                "not on vip_network_id"
            )
        if entry[1].external:
            raise BadRequest(
                "Invalid input for field/attribute vip_subnet_id: netnode puts a "
                "VIP on a tenant network; reach it from outside with a floating IP"
            )
        return req.vip_subnet_id
    if req.vip_network_id is not None:
        entry_n = w.networks.get(req.vip_network_id)
        if entry_n is None or not ctx.may_see(
            w.project_of(*entry_n[:1], entry_n[1].uid), w.shared(*entry_n)
        ):
            raise BadRequest(
                f"Invalid input for field/attribute vip_network_id. Value: "
                f"'{req.vip_network_id}'. Network not found"
            )
        net = entry_n[1]
        if net.external:
            raise BadRequest(
                "Invalid input for field/attribute vip_network_id: netnode puts a "
                "VIP on a tenant network; reach it from outside with a floating IP"
            )
        for subnet in net.subnets:
            if req.vip_address is None or req.vip_address in subnet.cidr:
                return subnet.uid
        raise BadRequest(
            f"Invalid input for field/attribute vip_network_id: network "
            f"{net.uid} has no subnet for the VIP"
        )
    raise BadRequest(
        "Invalid input for field/attribute vip_subnet_id: give vip_subnet_id or vip_network_id"
    )


@router.get("/loadbalancers/{lb_id}", response_model=s.wrap_out("loadbalancer", s.LoadBalancerOut))
def show_loadbalancer(lb_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    find_lb(ctx, w, lb_id)
    return {"loadbalancer": views(svc, w).loadbalancer(lb_id)}


@router.put("/loadbalancers/{lb_id}", response_model=s.wrap_out("loadbalancer", s.LoadBalancerOut))
def update_loadbalancer(
    lb_id: str,
    body: s.wrap("loadbalancer", s.LoadBalancerUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req = body.loadbalancer.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        lb_for_change(ctx, w, lb_id)
        item = doc.find("loadbalancer", lb_id)
        if req.get("admin_state_up") is not None:
            item["admin_state_up"] = req["admin_state_up"]
        doc.update_meta(lb_id, req)

    svc.change(mutate)
    return {"loadbalancer": views(svc, svc.world()).loadbalancer(lb_id)}


@router.delete("/loadbalancers/{lb_id}", status_code=204)
def delete_loadbalancer(
    lb_id: str, cascade: bool = False, svc: Service = Svc, ctx: Context = Ctx
) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        lb_for_change(ctx, w, lb_id)
        src, lb = w.lbs[lb_id]
        if (lb.listeners or lb.pools) and not cascade:
            raise BadRequest(f"Cannot delete Load Balancer {lb_id} - it has children")
        doc.remove("loadbalancer", lb_id)
        if lb.vip.port_id is not None:
            # A port the user gave stays, as Octavia leaves a VIP port it did not
            # create: its address and MAC, free of any device, its floating IP still
            # bound to it.
            doc.add(
                "ports",
                {
                    "id": lb.vip.port_id,
                    "name": lb.vip.port_id,
                    "network": lb.vip.network,
                    "fixed_ips": [{"ip_address": str(lb.vip.address)}],
                    "mac_address": lb.vip.mac,
                },
            )
            doc.set_meta(lb.vip.port_id, ctx, {}, w.project_of(src, lb_id))
            return
        fips = [
            f
            for f in doc.roots("floating_ips")
            if f.get("fixed_ip_address") == str(lb.vip.address)
            and f.get("fixed_network") == lb.vip.network
        ]
        for fip in fips:  # Neutron disassociates a floating IP whose port goes away
            fip.pop("fixed_ip_address", None)
            fip.pop("fixed_network", None)

    svc.change(mutate)
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/status")
def loadbalancer_status_tree(lb_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    src, lb = find_lb(ctx, w, lb_id)
    tree = to_octavia_json(svc.operating(lb, src.status))
    _rename(tree, w, src)
    return tree


def _rename(node: Any, w: World, src: Source) -> None:
    """Status trees carry the topology's names; the API shows its own."""
    if isinstance(node, dict):
        if "id" in node and "name" in node:
            meta = src.topo.metadata.get(node["id"])
            if meta is not None:
                node["name"] = meta.name
        for value in node.values():
            _rename(value, w, src)
    elif isinstance(node, list):
        for value in node:
            _rename(value, w, src)


@router.get("/loadbalancers/{lb_id}/stats")
def loadbalancer_statistics(lb_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, lb = find_lb(ctx, w, lb_id)
    return {"stats": loadbalancer_stats(lb, svc.stats_rows(lb))}
