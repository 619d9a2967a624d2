"""Neutron's agents (``/v2.0/agents``): the nodes sharing this store, each shown as
the two agents a network node runs, an L3 agent and a load-balancer agent.

As Neutron's default policy has it, only an admin sees agents (a project's listing is
empty, a show is 404) and only an admin sets one's ``admin_state_up`` or deletes it. A
node is one process: setting either of its agents down sets the node down, and deleting
one deletes the node's row, which only a node that is not alive may lose (a live one
would join again with its next heartbeat).

A router's L3 agents (``/v2.0/routers/{id}/l3-agents``, Neutron's
``l3_agent_scheduler``) are the nodes holding its instances: in a cluster its
placements, each with the ``ha_state`` of an HA router's instance (MASTER is active,
BACKUP standby: the roles the scheduler keeps, swapped when the standby takes over); on
a node on its own, that node."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc
from netnode.api.errors import Conflict, Forbidden, NotFound
from netnode.api.listing import Prepared, Query, neutron, page
from netnode.api.neutron.lookups import find_owned
from netnode.api.service import Service
from netnode.cluster import nodes
from netnode.model.ids import NETNODE_NAMESPACE
from netnode.store import nodes as node_rows
from netnode.store import placements as placement_rows

router = APIRouter()

AGENTS = neutron("agents", "Agent")
BINARY = "netnode-agent"
# agent_type -> topic, as Neutron's agents report them.
L3 = "L3 agent"
KINDS = {L3: "l3_agent", "Loadbalancerv2 agent": "n-lbaasv2-plugin"}
# An HA router's instance's role (placements) -> its ha_state, as Neutron shows it.
HA_STATES = {"MASTER": "active", "BACKUP": "standby"}


class AgentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    admin_state_up: bool


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: AgentChange


def agent_id(node: str, agent_type: str) -> str:
    return str(uuid.uuid5(NETNODE_NAMESPACE, f"{node}/agent/{agent_type}"))


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def agent_views(node: nodes.Node) -> list[dict[str, Any]]:
    r = node.row
    views = []
    for agent_type, topic in KINDS.items():
        held = (
            {"routers": node.routers}
            if topic == "l3_agent"
            else {"loadbalancers": node.load_balancers}
        )
        views.append(
            {
                "id": agent_id(r.name, agent_type),
                "agent_type": agent_type,
                "binary": BINARY,
                "host": r.name,
                "topic": topic,
                "alive": node.alive,
                "admin_state_up": r.admin_state_up,
                "availability_zone": r.availability_zone,
                "created_at": _time(r.created_at),
                "started_at": _time(r.started_at),
                "heartbeat_timestamp": _time(r.heartbeat_at),
                "description": None,
                "resources_synced": None,
                "configurations": {
                    **held,
                    "state": node.verdict.state,
                    "state_reason": node.verdict.reason,
                    "hostname": r.hostname,
                    "pid": r.pid,
                    "version": r.version,
                    "heartbeat_timeout": r.timeout,
                    **r.report,
                },
            }
        )
    return views


def _all(svc: Service) -> list[tuple[nodes.Node, dict[str, Any]]]:
    return [(n, view) for n in nodes.read(svc.store.engine) for view in agent_views(n)]


def _find(svc: Service, ctx: Context, id: str) -> tuple[nodes.Node, dict[str, Any]]:
    if ctx.is_admin:
        for node, view in _all(svc):
            if view["id"] == id:
                return node, view
    raise NotFound.of("Agent", id)


@router.get("/agents")
def list_agents(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    # Read every time: liveness moves with the clock, not with the desired state.
    query = Query.parse(AGENTS, request.query_params.multi_items(), ignored=frozenset())
    views = [view for _node, view in _all(svc)] if ctx.is_admin else []
    body = page(AGENTS, query, Prepared(AGENTS, views), None, str(request.url.replace(query="")))
    return Response(body, media_type="application/json")


@router.get("/agents/{agent_id}")
def show_agent(agent_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    return {"agent": _find(svc, ctx, agent_id)[1]}


@router.put("/agents/{agent_id}")
def update_agent(agent_id: str, body: AgentUpdate, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    if not ctx.is_admin:
        raise Forbidden("only an admin may change an agent")
    node, _view = _find(svc, ctx, agent_id)
    with svc.store.engine.begin() as conn:
        node_rows.set_admin_state(conn, node.name, body.agent.admin_state_up)
    return {"agent": _find(svc, ctx, agent_id)[1]}


@router.delete("/agents/{agent_id}", status_code=204)
def delete_agent(agent_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    if not ctx.is_admin:
        raise Forbidden("only an admin may delete an agent")
    node, _view = _find(svc, ctx, agent_id)
    if node.alive:
        raise Conflict(
            f"Agent {agent_id} is on node {node.name!r}, which is alive "
            f"({node.verdict.reason}): stop that node first, or set it down "
            "(admin_state_up false)"
        )
    with svc.store.engine.begin() as conn:
        node_rows.delete(conn, node.name)
    return Response(status_code=204)


@router.get("/routers/{router_id}/l3-agents")
def router_l3_agents(
    router_id: str, request: Request, svc: Service = Svc, ctx: Context = Ctx
) -> Any:
    """The L3 agents of the nodes holding ``router_id``'s instances (an admin's, as
    Neutron's policy has it), an HA router's with their ``ha_state``."""
    if not ctx.is_admin:
        raise Forbidden("only an admin may list a router's L3 agents")
    w = svc.world()
    _src, r = find_owned(ctx, w, w.routers, router_id, "Router")
    known = {n.name: n for n in nodes.read(svc.store.engine)}
    if svc.store.scope == svc.store.node:
        held = [(svc.store.node, None)]
    else:
        held = [
            (row["node"], HA_STATES.get(row["role"]) if r.ha else None)
            for row in placement_rows.read(svc.store.engine, svc.store.scope)
            if row["kind"] == "routers" and row["holder"] == router_id
        ]
    views = [
        {**view, "ha_state": state}
        for name, state in held
        if name in known
        for view in agent_views(known[name])
        if view["agent_type"] == L3
    ]
    query = Query.parse(AGENTS, request.query_params.multi_items(), ignored=frozenset())
    url = str(request.url.replace(query=""))
    body = page(AGENTS, query, Prepared(AGENTS, views), None, url)
    return Response(body, media_type="application/json")
