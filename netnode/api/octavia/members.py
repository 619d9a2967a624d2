"""Octavia's members: ``/pools/{pool_id}/members``, with the batch update."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import Quotas, add_member, member_fields, member_item
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import BadRequest
from netnode.api.listing import constant, octavia
from netnode.api.octavia.lookups import child_for_change, find_child, find_in
from netnode.api.octavia.views import views
from netnode.api.service import Doc, Service, new_id
from netnode.api.world import World

router = APIRouter()


@router.get("/pools/{pool_id}/members", response_model=s.wrap_out("members", s.MemberOut, True))
def list_members(pool_id: str, request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, _, pool = find_child(ctx, w, w.pools, pool_id, "Pool")
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
        src, _, _ = child_for_change(ctx, w, w.pools, pool_id, "Pool")
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
        src, _, _ = child_for_change(ctx, w, w.pools, pool_id, "Pool")
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
    find_in(ctx, w, w.members, member_id, "Member", pool_id)
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
        find_in(ctx, w, w.members, member_id, "Member", pool_id, change=True)
        member_fields(doc.find("member", member_id), data)
        doc.update_meta(member_id, data)

    svc.change(mutate)
    return {"member": views(svc, svc.world()).member(member_id)}


@router.delete("/pools/{pool_id}/members/{member_id}", status_code=204)
def delete_member(pool_id: str, member_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    def mutate(doc: Doc, w: World) -> None:
        find_in(ctx, w, w.members, member_id, "Member", pool_id, change=True)
        doc.remove("member", member_id)

    svc.change(mutate)
    return Response(status_code=204)
