"""Octavia's L7 policies and their rules: ``/l7policies[/{policy_id}/rules]``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import Quotas, add_l7policy, add_l7rule, place, policy_fields, put
from netnode.api.common import Ctx, Svc, listing
from netnode.api.listing import constant, octavia
from netnode.api.octavia.lookups import child_for_change, find_child, find_in
from netnode.api.octavia.views import views
from netnode.api.service import Doc, Service
from netnode.api.world import World

router = APIRouter()

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
        src, lb, _ = child_for_change(ctx, w, w.listeners, req.listener_id, "Listener")
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
    find_child(ctx, w, w.l7policies, policy_id, "L7 Policy")
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
        _, lb, x, _ = child_for_change(ctx, w, w.l7policies, policy_id, "L7 Policy")
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
        child_for_change(ctx, w, w.l7policies, policy_id, "L7 Policy")
        doc.remove("l7policy", policy_id)

    svc.change(mutate)
    return Response(status_code=204)


@router.get("/l7policies/{policy_id}/rules", response_model=s.wrap_out("rules", s.L7RuleOut, True))
def list_l7rules(policy_id: str, request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    _, _, _, policy = find_child(ctx, w, w.l7policies, policy_id, "L7 Policy")
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
        src, _, _, _ = child_for_change(ctx, w, w.l7policies, policy_id, "L7 Policy")
        quotas = Quotas(svc, w, w.project_of(src, policy_id))
        return str(add_l7rule(ctx, doc, quotas, doc.find("l7policy", policy_id), req)["id"])

    rule_id = svc.change(mutate)
    return {"rule": views(svc, svc.world()).l7rule(rule_id)}


@router.get(
    "/l7policies/{policy_id}/rules/{rule_id}", response_model=s.wrap_out("rule", s.L7RuleOut)
)
def show_l7rule(policy_id: str, rule_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    find_in(ctx, w, w.l7rules, rule_id, "L7 Rule", policy_id)
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
        find_in(ctx, w, w.l7rules, rule_id, "L7 Rule", policy_id, change=True)
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
        find_in(ctx, w, w.l7rules, rule_id, "L7 Rule", policy_id, change=True)
        doc.remove("l7rule", rule_id)

    svc.change(mutate)
    return Response(status_code=204)
