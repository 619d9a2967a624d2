"""Octavia v2 (``/v2/lbaas`` and ``/v2.0/lbaas``): load balancers, listeners, pools,
members (with the batch update), health monitors, status tree, stats, quotas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError

from netnode.api import graph
from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import (
    Quotas,
    add_l7policy,
    add_l7rule,
    add_listener,
    add_member,
    add_monitor,
    add_pool,
    check_pool_protocol,
    listener_fields,
    member_fields,
    member_item,
    monitor_fields,
    place,
    policy_fields,
    pool_fields,
    put,
)
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from netnode.api.listing import constant, ids_of, octavia
from netnode.api.service import (
    Doc,
    Service,
    asked_project,
    may_write,
    new_id,
    not_pending,
    visible,
    writable,
)
from netnode.api.world import Source, World
from netnode.model.topology import (
    LoadBalancer,
    ProjectId,
)
from netnode.reconcile.status import loadbalancer_stats, to_octavia_json

router = APIRouter()
PROJECT_ID = TypeAdapter(ProjectId)

QUOTA_KINDS = (
    "load_balancer",
    "listener",
    "pool",
    "member",
    "health_monitor",
    "l7policy",
    "l7rule",
)


# --- views ---------------------------------------------------------------------------------


class Views:
    """Octavia's JSON for objects of a world, with live operating statuses."""

    def __init__(self, world: World, operating: Any) -> None:
        self.w = world
        self.operating = operating  # (lb) -> status tree of that LB, cached per request
        self._trees: dict[str, Any] = {}

    def tree(self, src: Source, lb: LoadBalancer) -> Any:
        if lb.uid not in self._trees:
            self._trees[lb.uid] = self.operating(lb, src.status)
        return self._trees[lb.uid]

    def _common(self, src: Source, obj: Any) -> dict[str, Any]:
        meta = src.topo.metadata.get(obj.uid)
        project = self.w.project_of(src, obj.uid)
        return {
            "id": obj.uid,
            "name": self.w.name_of(src, obj),
            "description": meta.description if meta else "",
            "project_id": project,
            "tenant_id": project,
            "provisioning_status": self.w.status(src, obj.uid),
            "created_at": meta.created_at if meta else None,
            "updated_at": meta.updated_at if meta else None,
            "tags": list(meta.tags) if meta else [],
        }

    def loadbalancer(self, lb_id: str) -> dict[str, Any]:
        src, lb = self.w.lbs[lb_id]
        net_id = next(n.uid for n in src.topo.networks if n.name == lb.vip.network)
        port = self.w.port_of_address(net_id, lb.vip.address)
        return {
            **self._common(src, lb),
            "operating_status": self.tree(src, lb).operating_status,
            "admin_state_up": lb.admin_state_up,
            "vip_address": str(lb.vip.address),
            "vip_port_id": port.id if port else None,
            "vip_subnet_id": self.w.subnet_holding(net_id, lb.vip.address),
            "vip_network_id": net_id,
            "vip_qos_policy_id": None,
            "listeners": [{"id": x.uid} for x in lb.listeners],
            "pools": [{"id": p.uid} for p in lb.pools],
            "provider": "netnode",
            "flavor_id": None,
            "availability_zone": None,
        }

    def listener(self, listener_id: str) -> dict[str, Any]:
        src, lb, x = self.w.listeners[listener_id]
        tree = self.tree(src, lb)
        op = next((ls.operating_status for ls in tree.listeners if ls.id == x.uid), "OFFLINE")
        pool_ids = {p.name: p.uid for p in lb.pools}
        return {
            **self._common(src, x),
            "operating_status": op,
            "admin_state_up": x.admin_state_up,
            "protocol": x.protocol,
            "protocol_port": x.protocol_port,
            "connection_limit": x.connection_limit,
            "default_pool_id": pool_ids.get(x.default_pool) if x.default_pool else None,
            "loadbalancers": [{"id": lb.uid}],
            "insert_headers": {k: str(v).lower() for k, v in x.insert_headers.items()},
            "timeout_client_data": x.timeout_client_data,
            "timeout_member_connect": x.timeout_member_connect,
            "timeout_member_data": x.timeout_member_data,
            "timeout_tcp_inspect": x.timeout_tcp_inspect,
            "default_tls_container_ref": x.default_tls_container_ref,
            "sni_container_refs": list(x.sni_container_refs),
            "l7policies": [{"id": p.uid} for p in x.l7policies],
            "allowed_cidrs": [str(c) for c in x.allowed_cidrs] or None,
            "client_ca_tls_container_ref": x.client_ca_tls_container_ref,
            "client_authentication": x.client_authentication,
            "client_crl_container_ref": x.client_crl_container_ref,
            "tls_ciphers": x.tls_ciphers,
            "tls_versions": x.tls_versions,
            "alpn_protocols": x.alpn_protocols,
            "hsts_max_age": x.hsts_max_age,
            "hsts_include_subdomains": x.hsts_include_subdomains,
            "hsts_preload": x.hsts_preload,
        }

    def pool(self, pool_id: str) -> dict[str, Any]:
        src, lb, p = self.w.pools[pool_id]
        status = self.tree(src, lb).pool(p.uid)
        return {
            **self._common(src, p),
            "operating_status": status.operating_status if status else "OFFLINE",
            "admin_state_up": p.admin_state_up,
            "protocol": p.protocol,
            "lb_algorithm": p.lb_algorithm,
            "session_persistence": (
                p.session_persistence.model_dump(mode="json") if p.session_persistence else None
            ),
            "loadbalancers": [{"id": lb.uid}],
            "listeners": [{"id": x.uid} for x in lb.listeners if x.default_pool == p.name],
            "members": [{"id": m.uid} for m in p.members],
            "healthmonitor_id": p.healthmonitor.uid if p.healthmonitor else None,
            "tls_enabled": p.tls_enabled,
            "tls_container_ref": p.tls_container_ref,
            "ca_tls_container_ref": p.ca_tls_container_ref,
            "crl_container_ref": p.crl_container_ref,
            "tls_ciphers": p.tls_ciphers,
            "tls_versions": p.tls_versions,
            "alpn_protocols": p.alpn_protocols,
        }

    def member(self, member_id: str) -> dict[str, Any]:
        src, lb, p, m = self.w.members[member_id]
        status = self.tree(src, lb).pool(p.uid)
        op = (
            next((x.operating_status for x in status.members if x.id == m.uid), "OFFLINE")
            if status
            else "OFFLINE"
        )
        meta = src.topo.metadata.get(m.uid)
        return {
            **self._common(src, m),
            "operating_status": op,
            "admin_state_up": m.admin_state_up,
            "address": str(m.address),
            "protocol_port": m.protocol_port,
            "weight": m.weight,
            "backup": m.backup,
            "subnet_id": meta.subnet_id if meta else None,
            "monitor_address": str(m.monitor_address) if m.monitor_address else None,
            "monitor_port": m.monitor_port,
        }

    def monitor(self, hm_id: str) -> dict[str, Any]:
        src, _, p, hm = self.w.monitors[hm_id]
        http = hm.type in ("HTTP", "HTTPS")
        meta = src.topo.metadata.get(hm.uid)
        project = self.w.project_of(src, hm.uid)
        return {
            "id": hm.uid,
            "name": meta.name if meta else "",
            "project_id": project,
            "tenant_id": project,
            "provisioning_status": self.w.status(src, hm.uid),
            "operating_status": "ONLINE" if hm.admin_state_up else "OFFLINE",
            "created_at": meta.created_at if meta else None,
            "updated_at": meta.updated_at if meta else None,
            "tags": list(meta.tags) if meta else [],
            "type": hm.type,
            "delay": hm.delay,
            "timeout": hm.timeout,
            "max_retries": hm.max_retries or hm.max_retries_down,
            "max_retries_down": hm.max_retries_down,
            "http_method": hm.http_method if http else None,
            "url_path": hm.url_path if http else None,
            "expected_codes": hm.expected_codes if http else None,
            "admin_state_up": hm.admin_state_up,
            "pools": [{"id": p.uid}],
            "http_version": hm.http_version if http else None,
            "domain_name": hm.domain_name if http else None,
        }

    def l7policy(self, policy_id: str) -> dict[str, Any]:
        src, lb, x, policy = self.w.l7policies[policy_id]
        pool_ids = {p.name: p.uid for p in lb.pools}
        redirect = policy.action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX")
        return {
            **self._common(src, policy),
            "operating_status": "ONLINE" if policy.admin_state_up else "OFFLINE",
            "admin_state_up": policy.admin_state_up,
            "listener_id": x.uid,
            "action": policy.action,
            "position": x.l7policies.index(policy) + 1,
            "redirect_pool_id": pool_ids.get(policy.redirect_pool or ""),
            "redirect_url": policy.redirect_url,
            "redirect_prefix": policy.redirect_prefix,
            "redirect_http_code": (policy.redirect_http_code or 302) if redirect else None,
            "rules": [{"id": r.uid} for r in policy.rules],
        }

    def l7rule(self, rule_id: str) -> dict[str, Any]:
        src, _, _, _, rule = self.w.l7rules[rule_id]
        common = self._common(src, rule)
        del common["name"], common["description"]  # Octavia's rules have neither
        return {
            **common,
            "operating_status": "ONLINE" if rule.admin_state_up else "OFFLINE",
            "type": rule.type,
            "compare_type": rule.compare_type,
            "key": rule.key,
            "value": rule.value,
            "invert": rule.invert,
            "admin_state_up": rule.admin_state_up,
        }


def views(svc: Service, world: World) -> Views:
    return Views(world, svc.operating)


# --- lookups shared by the routes ----------------------------------------------------------


def _lb(ctx: Context, w: World, lb_id: str) -> tuple[Source, LoadBalancer]:
    if lb_id not in w.lbs:
        raise NotFound.of("Load Balancer", lb_id)
    src, lb = w.lbs[lb_id]
    visible(ctx, w, src, lb_id, "Load Balancer")
    return src, lb


def _lb_for_change(ctx: Context, w: World, lb_id: str) -> Source:
    may_write(ctx)
    src, _ = _lb(ctx, w, lb_id)
    writable(src, "load balancer", lb_id)
    not_pending(w, src, lb_id)
    return src


# --- load balancers ------------------------------------------------------------------------


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

    def mutate(doc: Doc, w: World) -> str:
        nonlocal built
        subnet_id = _vip_subnet(ctx, w, req)
        _, net, subnet = w.subnets[subnet_id]
        if req.vip_address is not None:
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
        doc.data["load_balancers"].append(lb)
        doc.set_meta(lb_id, ctx, data, quotas.project)
        built = graph.populate(svc, ctx, doc, w, quotas, lb, req)
        return lb_id

    try:
        lb_id = svc.change(mutate)
    except ApiError as exc:
        raise built.told(exc) from exc
    return {"loadbalancer": graph.full_view(views(svc, svc.world()), lb_id)}


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
    _lb(ctx, w, lb_id)
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
        _lb_for_change(ctx, w, lb_id)
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
        _lb_for_change(ctx, w, lb_id)
        _, lb = w.lbs[lb_id]
        if (lb.listeners or lb.pools) and not cascade:
            raise BadRequest(f"Cannot delete Load Balancer {lb_id} - it has children")
        fips = [
            f
            for f in doc.data["floating_ips"]
            if f.get("fixed_ip_address") == str(lb.vip.address)
            and f.get("fixed_network") == lb.vip.network
        ]
        for fip in fips:  # Neutron disassociates a floating IP whose port goes away
            fip.pop("fixed_ip_address", None)
            fip.pop("fixed_network", None)
        doc.remove("loadbalancer", lb_id)

    svc.change(mutate)
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/status")
def loadbalancer_status_tree(lb_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    src, lb = _lb(ctx, w, lb_id)
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
    _, lb = _lb(ctx, w, lb_id)
    return {"stats": loadbalancer_stats(lb, svc.stats_rows(lb))}


# --- listeners ------------------------------------------------------------------------------


LISTENERS = octavia("listeners", "Listener", loadbalancer_id=ids_of("loadbalancers"))


@router.get("/listeners", response_model=s.wrap_out("listeners", s.ListenerOut, True))
def list_listeners(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    v = views(svc, w)
    return listing(request, ctx, w, LISTENERS, lambda: [v.listener(i) for i in w.listeners])


@router.post("/listeners", status_code=201, response_model=s.wrap_out("listener", s.ListenerOut))
def create_listener(
    body: s.wrap("listener", s.ListenerCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.ListenerCreate = body.listener  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> str:
        if req.loadbalancer_id not in w.lbs:
            raise NotFound.of("Load Balancer", req.loadbalancer_id)
        src = _lb_for_change(ctx, w, req.loadbalancer_id)
        quotas = Quotas(svc, w, w.project_of(src, req.loadbalancer_id))
        lb = doc.find("loadbalancer", req.loadbalancer_id)
        return str(add_listener(svc, ctx, doc, quotas, lb, req)["id"])

    listener_id = svc.change(mutate)
    return {"listener": views(svc, svc.world()).listener(listener_id)}


@router.get("/listeners/{listener_id}", response_model=s.wrap_out("listener", s.ListenerOut))
def show_listener(listener_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _child(ctx, w, w.listeners, listener_id, "Listener")
    return {"listener": views(svc, w).listener(listener_id)}


def _child(ctx: Context, w: World, table: dict[str, Any], object_id: str, kind: str) -> Any:
    if object_id not in table:
        raise NotFound.of(kind, object_id)
    entry = table[object_id]
    visible(ctx, w, entry[0], object_id, kind)
    return entry


def _child_for_change(
    ctx: Context, w: World, table: dict[str, Any], object_id: str, kind: str
) -> Any:
    may_write(ctx)
    entry = _child(ctx, w, table, object_id, kind)
    src, lb = entry[0], entry[1]
    writable(src, kind.lower(), object_id)
    not_pending(w, src, lb.uid)
    return entry


@router.put("/listeners/{listener_id}", response_model=s.wrap_out("listener", s.ListenerOut))
def update_listener(
    listener_id: str,
    body: s.wrap("listener", s.ListenerUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.listener.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        src, lb, _ = _child_for_change(ctx, w, w.listeners, listener_id, "Listener")
        item = doc.find("listener", listener_id)
        if data.get("admin_state_up") is not None:
            item["admin_state_up"] = data["admin_state_up"]
        listener_fields(
            svc, ctx, w.project_of(src, listener_id), item, data, doc.find("loadbalancer", lb.uid)
        )
        doc.update_meta(listener_id, data)

    svc.change(mutate)
    return {"listener": views(svc, svc.world()).listener(listener_id)}


@router.delete("/listeners/{listener_id}", status_code=204)
def delete_listener(listener_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _child_for_change(ctx, w, w.listeners, listener_id, "Listener")
        doc.remove("listener", listener_id)

    svc.change(mutate)
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats")
def listener_statistics(listener_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, lb, x = _child(ctx, w, w.listeners, listener_id, "Listener")
    only = lb.model_copy(update={"listeners": [x]})
    return {"stats": loadbalancer_stats(only, svc.stats_rows(lb))}


# --- pools -----------------------------------------------------------------------------------


POOLS = octavia("pools", "Pool", loadbalancer_id=ids_of("loadbalancers"))


@router.get("/pools", response_model=s.wrap_out("pools", s.PoolOut, True))
def list_pools(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    v = views(svc, w)
    return listing(request, ctx, w, POOLS, lambda: [v.pool(i) for i in w.pools])


@router.post("/pools", status_code=201, response_model=s.wrap_out("pool", s.PoolOut))
def create_pool(
    body: s.wrap("pool", s.PoolCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.PoolCreate = body.pool  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> str:
        listener = None
        if req.listener_id is not None:
            _, lb_obj, listener = _child(ctx, w, w.listeners, req.listener_id, "Listener")
            if req.loadbalancer_id not in (None, lb_obj.uid):
                raise BadRequest(
                    "Invalid input for field/attribute listener_id: the listener "
                    "is on another load balancer"
                )
            lb_id = lb_obj.uid
        elif req.loadbalancer_id is not None:
            lb_id = req.loadbalancer_id
            if lb_id not in w.lbs:
                raise NotFound.of("Load Balancer", lb_id)
        else:
            raise BadRequest(
                "Invalid input for field/attribute loadbalancer_id: give "
                "loadbalancer_id or listener_id"
            )
        src = _lb_for_change(ctx, w, lb_id)
        quotas = Quotas(svc, w, w.project_of(src, lb_id))
        pool_id = str(add_pool(svc, ctx, doc, quotas, doc.find("loadbalancer", lb_id), req)["id"])
        if listener is not None:
            item = doc.find("listener", listener.uid)
            if item.get("default_pool"):
                raise Conflict(f"Listener {listener.uid} already has a default pool")
            check_pool_protocol(item["protocol"], req.protocol)
            item["default_pool"] = pool_id
        return pool_id

    pool_id = svc.change(mutate)
    return {"pool": views(svc, svc.world()).pool(pool_id)}


@router.get("/pools/{pool_id}", response_model=s.wrap_out("pool", s.PoolOut))
def show_pool(pool_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _child(ctx, w, w.pools, pool_id, "Pool")
    return {"pool": views(svc, w).pool(pool_id)}


@router.put("/pools/{pool_id}", response_model=s.wrap_out("pool", s.PoolOut))
def update_pool(
    pool_id: str,
    body: s.wrap("pool", s.PoolUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.pool.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        src, _, _ = _child_for_change(ctx, w, w.pools, pool_id, "Pool")
        item = doc.find("pool", pool_id)
        for key in ("admin_state_up", "lb_algorithm"):
            if data.get(key) is not None:
                item[key] = data[key]
        pool_fields(svc, ctx, w.project_of(src, pool_id), item, data)
        doc.update_meta(pool_id, data)

    svc.change(mutate)
    return {"pool": views(svc, svc.world()).pool(pool_id)}


@router.delete("/pools/{pool_id}", status_code=204)
def delete_pool(pool_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _child_for_change(ctx, w, w.pools, pool_id, "Pool")
        for policy in doc.items("l7policy"):
            if policy.get("redirect_pool") == pool_id:  # Octavia turns them into REJECT
                policy["action"] = "REJECT"
                policy.pop("redirect_pool")
        for listener in doc.items("listener"):
            if listener.get("default_pool") == pool_id:
                listener.pop("default_pool")
        doc.remove("pool", pool_id)

    svc.change(mutate)
    return Response(status_code=204)


# --- members -------------------------------------------------------------------------------


@router.get("/pools/{pool_id}/members", response_model=s.wrap_out("members", s.MemberOut, True))
def list_members(pool_id: str, request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, _, pool = _child(ctx, w, w.pools, pool_id, "Pool")
    v = views(svc, w)
    members = octavia("members", "Member", pool_id=constant(pool_id))
    return listing(
        request, ctx, w, members, lambda: [v.member(m.uid) for m in pool.members], scope=pool_id
    )


@router.post(
    "/pools/{pool_id}/members", status_code=201, response_model=s.wrap_out("member", s.MemberOut)
)
def create_member(
    pool_id: str,
    body: s.wrap("member", s.MemberCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.MemberCreate = body.member  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> str:
        src, _, _ = _child_for_change(ctx, w, w.pools, pool_id, "Pool")
        quotas = Quotas(svc, w, w.project_of(src, pool_id))
        return str(add_member(ctx, doc, w, quotas, doc.find("pool", pool_id), req)["id"])

    member_id = svc.change(mutate)
    return {"member": views(svc, svc.world()).member(member_id)}


@router.put("/pools/{pool_id}/members", status_code=202, response_class=Response)
def batch_update_members(
    pool_id: str, body: s.MemberBatch, svc: Service = Svc, ctx: Context = Ctx
) -> Response:
    """Octavia's batch update: the pool's members become exactly the list given, matched
    by address and port (kept members keep their ids)."""

    def mutate(doc: Doc, w: World) -> None:
        src, _, _ = _child_for_change(ctx, w, w.pools, pool_id, "Pool")
        project = w.project_of(src, pool_id)
        pool = doc.find("pool", pool_id)
        existing = {(m["address"], m["protocol_port"]): m for m in pool.get("members", [])}
        members = []
        seen = set()
        for i, entry in enumerate(body.members):
            data = entry.model_dump(exclude_unset=True)
            key = (str(entry.address), entry.protocol_port)
            if key in seen:
                raise BadRequest(
                    f"Invalid input for field/attribute members[{i}]: "
                    f"{key[0]}:{key[1]} appears twice"
                )
            seen.add(key)
            old = existing.get(key)
            member_id = old["id"] if old else new_id()
            members.append(member_item(w, data, member_id))
            if old is None:
                doc.set_meta(member_id, ctx, data, project, subnet_id=data.get("subnet_id"))
            else:
                doc.update_meta(member_id, data)
        Quotas(svc, w, project).take("member", len(members) - len(existing))
        pool["members"] = members

    svc.change(mutate)
    return Response(status_code=202)


@router.get(
    "/pools/{pool_id}/members/{member_id}", response_model=s.wrap_out("member", s.MemberOut)
)
def show_member(pool_id: str, member_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, _, pool, _ = _child(ctx, w, w.members, member_id, "Member")
    if pool.uid != pool_id:
        raise NotFound.of("Member", member_id)
    return {"member": views(svc, w).member(member_id)}


@router.put(
    "/pools/{pool_id}/members/{member_id}", response_model=s.wrap_out("member", s.MemberOut)
)
def update_member(
    pool_id: str,
    member_id: str,
    body: s.wrap("member", s.MemberUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.member.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        _, _, pool, _ = _child_for_change(ctx, w, w.members, member_id, "Member")
        if pool.uid != pool_id:
            raise NotFound.of("Member", member_id)
        member_fields(doc.find("member", member_id), data)
        doc.update_meta(member_id, data)

    svc.change(mutate)
    return {"member": views(svc, svc.world()).member(member_id)}


@router.delete("/pools/{pool_id}/members/{member_id}", status_code=204)
def delete_member(pool_id: str, member_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _, _, pool, _ = _child_for_change(ctx, w, w.members, member_id, "Member")
        if pool.uid != pool_id:
            raise NotFound.of("Member", member_id)
        doc.remove("member", member_id)

    svc.change(mutate)
    return Response(status_code=204)


# --- health monitors ---------------------------------------------------------------------


MONITORS = octavia("healthmonitors", "Health Monitor", pool_id=ids_of("pools"))


@router.get(
    "/healthmonitors", response_model=s.wrap_out("healthmonitors", s.HealthMonitorOut, True)
)
def list_monitors(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    v = views(svc, w)
    return listing(request, ctx, w, MONITORS, lambda: [v.monitor(i) for i in w.monitors])


@router.post(
    "/healthmonitors",
    status_code=201,
    response_model=s.wrap_out("healthmonitor", s.HealthMonitorOut),
)
def create_monitor(
    body: s.wrap("healthmonitor", s.HealthMonitorCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.HealthMonitorCreate = body.healthmonitor  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> str:
        src, _, _ = _child_for_change(ctx, w, w.pools, req.pool_id, "Pool")
        quotas = Quotas(svc, w, w.project_of(src, req.pool_id))
        pool = doc.find("pool", req.pool_id)
        return str(add_monitor(ctx, doc, quotas, pool, req)["id"])

    hm_id = svc.change(mutate)
    return {"healthmonitor": views(svc, svc.world()).monitor(hm_id)}


@router.get(
    "/healthmonitors/{hm_id}", response_model=s.wrap_out("healthmonitor", s.HealthMonitorOut)
)
def show_monitor(hm_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _child(ctx, w, w.monitors, hm_id, "Health Monitor")
    return {"healthmonitor": views(svc, w).monitor(hm_id)}


def _find_monitor(doc: Doc, pool_id: str) -> dict[str, Any]:
    return doc.find("pool", pool_id)["healthmonitor"]


@router.put(
    "/healthmonitors/{hm_id}", response_model=s.wrap_out("healthmonitor", s.HealthMonitorOut)
)
def update_monitor(
    hm_id: str,
    body: s.wrap("healthmonitor", s.HealthMonitorUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.healthmonitor.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        _, _, pool, _ = _child_for_change(ctx, w, w.monitors, hm_id, "Health Monitor")
        monitor_fields(_find_monitor(doc, pool.uid), data)
        doc.update_meta(hm_id, data)

    svc.change(mutate)
    return {"healthmonitor": views(svc, svc.world()).monitor(hm_id)}


@router.delete("/healthmonitors/{hm_id}", status_code=204)
def delete_monitor(hm_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _child_for_change(ctx, w, w.monitors, hm_id, "Health Monitor")
        doc.remove("healthmonitor", hm_id)

    svc.change(mutate)
    return Response(status_code=204)


# --- L7 policies and rules ------------------------------------------------------------------


L7POLICIES = octavia("l7policies", "L7 Policy")


@router.get("/l7policies", response_model=s.wrap_out("l7policies", s.L7PolicyOut, True))
def list_l7policies(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    v = views(svc, w)
    return listing(request, ctx, w, L7POLICIES, lambda: [v.l7policy(i) for i in w.l7policies])


@router.post("/l7policies", status_code=201, response_model=s.wrap_out("l7policy", s.L7PolicyOut))
def create_l7policy(
    body: s.wrap("l7policy", s.L7PolicyCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.L7PolicyCreate = body.l7policy  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> str:
        src, lb, _ = _child_for_change(ctx, w, w.listeners, req.listener_id, "Listener")
        quotas = Quotas(svc, w, w.project_of(src, req.listener_id))
        listener = doc.find("listener", req.listener_id)
        return str(
            add_l7policy(ctx, doc, quotas, doc.find("loadbalancer", lb.uid), listener, req)["id"]
        )

    policy_id = svc.change(mutate)
    return {"l7policy": views(svc, svc.world()).l7policy(policy_id)}


@router.get("/l7policies/{policy_id}", response_model=s.wrap_out("l7policy", s.L7PolicyOut))
def show_l7policy(policy_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _child(ctx, w, w.l7policies, policy_id, "L7 Policy")
    return {"l7policy": views(svc, w).l7policy(policy_id)}


@router.put("/l7policies/{policy_id}", response_model=s.wrap_out("l7policy", s.L7PolicyOut))
def update_l7policy(
    policy_id: str,
    body: s.wrap("l7policy", s.L7PolicyUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.l7policy.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        _, lb, x, _ = _child_for_change(ctx, w, w.l7policies, policy_id, "L7 Policy")
        item = doc.find("l7policy", policy_id)
        policy_fields(item, data, doc.find("loadbalancer", lb.uid))
        if data.get("position") is not None:
            place(doc.find("listener", x.uid)["l7policies"], item, data["position"])
        doc.update_meta(policy_id, data)

    svc.change(mutate)
    return {"l7policy": views(svc, svc.world()).l7policy(policy_id)}


@router.delete("/l7policies/{policy_id}", status_code=204)
def delete_l7policy(policy_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _child_for_change(ctx, w, w.l7policies, policy_id, "L7 Policy")
        doc.remove("l7policy", policy_id)

    svc.change(mutate)
    return Response(status_code=204)


def _rule_of(ctx: Context, w: World, policy_id: str, rule_id: str, change: bool) -> Any:
    get = _child_for_change if change else _child
    entry = get(ctx, w, w.l7rules, rule_id, "L7 Rule")
    if entry[3].uid != policy_id:
        raise NotFound.of("L7 Rule", rule_id)
    return entry


@router.get("/l7policies/{policy_id}/rules", response_model=s.wrap_out("rules", s.L7RuleOut, True))
def list_l7rules(policy_id: str, request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, _, _, policy = _child(ctx, w, w.l7policies, policy_id, "L7 Policy")
    v = views(svc, w)
    rules = octavia("rules", "L7 Rule", l7policy_id=constant(policy_id))
    return listing(
        request, ctx, w, rules, lambda: [v.l7rule(r.uid) for r in policy.rules], scope=policy_id
    )


@router.post(
    "/l7policies/{policy_id}/rules", status_code=201, response_model=s.wrap_out("rule", s.L7RuleOut)
)
def create_l7rule(
    policy_id: str,
    body: s.wrap("rule", s.L7RuleCreate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    req: s.L7RuleCreate = body.rule  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> str:
        src, _, _, _ = _child_for_change(ctx, w, w.l7policies, policy_id, "L7 Policy")
        quotas = Quotas(svc, w, w.project_of(src, policy_id))
        return str(add_l7rule(ctx, doc, quotas, doc.find("l7policy", policy_id), req)["id"])

    rule_id = svc.change(mutate)
    return {"rule": views(svc, svc.world()).l7rule(rule_id)}


@router.get(
    "/l7policies/{policy_id}/rules/{rule_id}", response_model=s.wrap_out("rule", s.L7RuleOut)
)
def show_l7rule(policy_id: str, rule_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _rule_of(ctx, w, policy_id, rule_id, change=False)
    return {"rule": views(svc, w).l7rule(rule_id)}


@router.put(
    "/l7policies/{policy_id}/rules/{rule_id}", response_model=s.wrap_out("rule", s.L7RuleOut)
)
def update_l7rule(
    policy_id: str,
    rule_id: str,
    body: s.wrap("rule", s.L7RuleUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.rule.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        _rule_of(ctx, w, policy_id, rule_id, change=True)
        item = doc.find("l7rule", rule_id)
        for key in ("type", "compare_type", "value", "invert", "admin_state_up"):
            if data.get(key) is not None:
                item[key] = data[key]
        if "key" in data:
            put(item, "key", data["key"])
        doc.update_meta(rule_id, data)

    svc.change(mutate)
    return {"rule": views(svc, svc.world()).l7rule(rule_id)}


@router.delete("/l7policies/{policy_id}/rules/{rule_id}", status_code=204)
def delete_l7rule(policy_id: str, rule_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        _rule_of(ctx, w, policy_id, rule_id, change=True)
        doc.remove("l7rule", rule_id)

    svc.change(mutate)
    return Response(status_code=204)


# --- quotas and providers --------------------------------------------------------------------


def _quota_view(project: str, values: dict[str, int]) -> dict[str, Any]:
    body: dict[str, Any] = {k: values.get(k, -1) for k in QUOTA_KINDS}
    body["loadbalancer"] = body["load_balancer"]
    body["healthmonitor"] = body["health_monitor"]
    body["project_id"] = project
    return body


@router.get("/quotas")
def list_quotas(svc: Service = Svc, ctx: Context = Ctx) -> Any:
    rows = svc.quotas.all()
    if not ctx.is_admin:
        rows = {k: v for k, v in rows.items() if k == ctx.project_id}
    return {"quotas": [_quota_view(p, v) for p, v in sorted(rows.items())], "quotas_links": []}


@router.get("/quotas/defaults")
def default_quotas(svc: Service = Svc, ctx: Context = Ctx) -> Any:
    return {"quota": {k: v for k, v in _quota_view("", {}).items() if k != "project_id"}}


@router.get("/quotas/{project_id}")
def show_quota(project_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    if not ctx.may_see(project_id):
        raise Forbidden("a project may only read its own quota")
    view = _quota_view(project_id, svc.quotas.get(project_id))
    view.pop("project_id")
    return {"quota": view}


@router.put("/quotas/{project_id}", status_code=202)
def update_quota(
    project_id: str, body: s.QuotaUpdate, svc: Service = Svc, ctx: Context = Ctx
) -> Any:
    if not ctx.is_admin:
        raise Forbidden("only an admin may set quotas")
    try:
        PROJECT_ID.validate_python(project_id)
    except ValidationError:
        raise BadRequest(
            f"Invalid input for field/attribute project_id. Value: '{project_id}'"
        ) from None
    q = body.quota.model_dump(exclude_none=True)
    if "loadbalancer" in q:
        q.setdefault("load_balancer", q.pop("loadbalancer"))
    if "healthmonitor" in q:
        q.setdefault("health_monitor", q.pop("healthmonitor"))
    svc.quotas.set(project_id, {k: v for k, v in q.items() if k in QUOTA_KINDS})
    view = _quota_view(project_id, svc.quotas.get(project_id))
    view.pop("project_id")
    return {"quota": view}


@router.delete("/quotas/{project_id}", status_code=204)
def reset_quota(project_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    if not ctx.is_admin:
        raise Forbidden("only an admin may reset quotas")
    svc.quotas.delete(project_id)
    return Response(status_code=204)


@router.get("/providers")
def list_providers(ctx: Context = Ctx) -> Any:
    return {
        "providers": [
            {"name": "netnode", "description": "HAProxy in a namespace on this node (netnode)"}
        ]
    }


@router.get("/amphorae")
def list_amphorae(ctx: Context = Ctx) -> Any:
    return {"amphorae": [], "amphorae_links": []}
