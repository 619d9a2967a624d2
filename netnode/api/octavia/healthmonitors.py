"""Octavia's health monitors: ``/healthmonitors``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import Quotas, add_monitor, monitor_fields
from netnode.api.common import Ctx, Svc, listing
from netnode.api.listing import ids_of, octavia
from netnode.api.octavia.lookups import child_for_change, find_child
from netnode.api.octavia.views import views
from netnode.api.service import Doc, Service
from netnode.api.world import World

router = APIRouter()

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
        src, _, _ = child_for_change(ctx, w, w.pools, req.pool_id, "Pool")
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
    find_child(ctx, w, w.monitors, hm_id, "Health Monitor")
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
        _, _, pool, _ = child_for_change(ctx, w, w.monitors, hm_id, "Health Monitor")
        monitor_fields(_find_monitor(doc, pool.uid), data)
        doc.update_meta(hm_id, data)

    svc.change(mutate)
    return {"healthmonitor": views(svc, svc.world()).monitor(hm_id)}


@router.delete("/healthmonitors/{hm_id}", status_code=204)
def delete_monitor(hm_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        child_for_change(ctx, w, w.monitors, hm_id, "Health Monitor")
        doc.remove("healthmonitor", hm_id)

    svc.change(mutate)
    return Response(status_code=204)
