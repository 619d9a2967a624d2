"""Octavia's listeners: ``/listeners`` and their statistics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import Quotas, add_listener, listener_fields
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import NotFound
from netnode.api.listing import ids_of, octavia
from netnode.api.octavia.lookups import child_for_change, find_child, lb_for_change
from netnode.api.octavia.views import views
from netnode.api.service import Doc, Service
from netnode.api.world import World
from netnode.reconcile.status import loadbalancer_stats

router = APIRouter()

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
        src = lb_for_change(ctx, w, req.loadbalancer_id)
        quotas = Quotas(svc, w, w.project_of(src, req.loadbalancer_id))
        lb = doc.find("loadbalancer", req.loadbalancer_id)
        return str(add_listener(svc, ctx, doc, quotas, lb, req)["id"])

    listener_id = svc.change(mutate)
    return {"listener": views(svc, svc.world()).listener(listener_id)}


@router.get("/listeners/{listener_id}", response_model=s.wrap_out("listener", s.ListenerOut))
def show_listener(listener_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    find_child(ctx, w, w.listeners, listener_id, "Listener")
    return {"listener": views(svc, w).listener(listener_id)}


@router.put("/listeners/{listener_id}", response_model=s.wrap_out("listener", s.ListenerOut))
def update_listener(
    listener_id: str,
    body: s.wrap("listener", s.ListenerUpdate),  # type: ignore[valid-type]
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    data = body.listener.model_dump(exclude_unset=True)  # type: ignore[attr-defined]

    def mutate(doc: Doc, w: World) -> None:
        src, lb, _ = child_for_change(ctx, w, w.listeners, listener_id, "Listener")
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
        child_for_change(ctx, w, w.listeners, listener_id, "Listener")
        doc.remove("listener", listener_id)

    svc.change(mutate)
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats")
def listener_statistics(listener_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, lb, x = find_child(ctx, w, w.listeners, listener_id, "Listener")
    only = lb.model_copy(update={"listeners": [x]})
    return {"stats": loadbalancer_stats(only, svc.stats_rows(lb))}
