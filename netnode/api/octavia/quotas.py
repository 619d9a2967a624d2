"""Octavia's quotas: ``/quotas`` (read by every project, set by an admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import TypeAdapter, ValidationError

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc
from netnode.api.errors import BadRequest, Forbidden
from netnode.api.service import Service
from netnode.model.topology import ProjectId

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


def _quota_view(project: str, values: dict[str, int]) -> dict[str, Any]:
    body: dict[str, Any] = {k: values.get(k, -1) for k in QUOTA_KINDS}
    body["loadbalancer"] = body["load_balancer"]
    body["healthmonitor"] = body["health_monitor"]
    body["project_id"] = project
    return body


@router.get("/quotas")
def list_quotas(svc: Service = Svc, ctx: Context = Ctx) -> Any:
    rows = svc.quotas.all()
    rows = {k: v for k, v in rows.items() if ctx.may_see_quota(k)}
    return {"quotas": [_quota_view(p, v) for p, v in sorted(rows.items())], "quotas_links": []}


@router.get("/quotas/defaults")
def default_quotas(svc: Service = Svc, ctx: Context = Ctx) -> Any:
    return {"quota": {k: v for k, v in _quota_view("", {}).items() if k != "project_id"}}


@router.get("/quotas/{project_id}")
def show_quota(project_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    if not ctx.may_see_quota(project_id):
        raise Forbidden("a project may only read its own quota")
    view = _quota_view(project_id, svc.quotas.get(project_id))
    view.pop("project_id")
    return {"quota": view}


@router.put("/quotas/{project_id}", status_code=202)
def update_quota(
    project_id: str, body: s.QuotaUpdate, svc: Service = Svc, ctx: Context = Ctx
) -> Any:
    if not ctx.sets_quotas:
        raise Forbidden("only an admin or a quota admin may set quotas")
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
    if not ctx.sets_quotas:
        raise Forbidden("only an admin or a quota admin may reset quotas")
    svc.quotas.delete(project_id)
    return Response(status_code=204)
