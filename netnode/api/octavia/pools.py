"""Octavia's pools: ``/pools``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import Quotas, add_pool, check_pool_protocol, pool_fields
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest, Conflict, NotFound
from netnode.api.listing import ids_of, octavia
from netnode.api.octavia.lookups import child_for_change, find_child, lb_for_change
from netnode.api.octavia.views import views
from netnode.api.service import Doc, Service
from netnode.api.world import World

router = APIRouter()

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
            _, lb_obj, listener = find_child(ctx, w, w.listeners, req.listener_id, "Listener")
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
        src = lb_for_change(ctx, w, lb_id)
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
    find_child(ctx, w, w.pools, pool_id, "Pool")
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
        src, _, _ = child_for_change(ctx, w, w.pools, pool_id, "Pool")
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
        child_for_change(ctx, w, w.pools, pool_id, "Pool")
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
