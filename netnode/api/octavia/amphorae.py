"""Octavia's amphorae (``/v2/octavia/amphorae``, where openstacksdk and gophercloud look
for them) and failover (of an amphora, of a load balancer).

An amphora is an instance of a load balancer on a node. A node on its own runs one
STANDALONE amphora per load balancer (its id derived from the load balancer's). An
ACTIVE_STANDBY load balancer has two, MASTER and BACKUP (their VRRP priorities; which
one holds the VIP at a moment is VRRP's), each with its own ``vrrp_ip``. In a
cluster (``netnode serve --cluster``) each is a placement: the node it runs on is its
``compute_id``, and a failover drops it and places a new instance at once (on the least
loaded node that takes work: possibly the same one, as a new namespace), which that
node's agent builds while the old node's removes its leftovers.

As Octavia's default policy has it, amphorae and failovers are for admins only.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc
from netnode.api.errors import Conflict, Forbidden, NotFound
from netnode.api.listing import Prepared, Query, octavia, page
from netnode.api.octavia.lookups import find_lb
from netnode.api.service import Service
from netnode.cluster import nodes, scheduler
from netnode.model.ids import NETNODE_NAMESPACE
from netnode.model.topology import LoadBalancer
from netnode.store import placements as placement_rows

# Under /v2/octavia (amphorae) and with the load balancers (their failover).
router = APIRouter()
lbaas = APIRouter()

AMPHORAE = octavia("amphorae", "Amphora")


def _admin(ctx: Context, what: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(f"only an admin may {what}")


def _clustered(svc: Service) -> bool:
    return svc.store.scope != svc.store.node


def _view(
    amphora_id: str,
    lb: LoadBalancer,
    node: str,
    status: str,
    zone: str | None,
    created_at: str | None,
    role: str = "STANDALONE",
    slot: int = 0,
) -> dict[str, Any]:
    paired = role != "STANDALONE" and slot < len(lb.vrrp_addresses)
    return {
        "id": amphora_id,
        "loadbalancer_id": lb.uid,
        "compute_id": node,
        "compute_flavor": None,
        "image_id": None,
        "lb_network_ip": None,
        "vrrp_ip": str(lb.vrrp_addresses[slot]) if paired else None,
        "ha_ip": str(lb.vip.address),
        "vrrp_port_id": None,
        "ha_port_id": lb.uid,
        "cert_expiration": None,
        "cert_busy": False,
        "role": role,
        "status": status,
        "vrrp_interface": None,
        "vrrp_id": None,
        "vrrp_priority": (100 if role == "MASTER" else 90) if paired else None,
        "cached_zone": zone,
        "created_at": created_at,
        "updated_at": None,
    }


def _amphorae(svc: Service) -> list[dict[str, Any]]:
    w = svc.world()
    if not _clustered(svc):
        return [
            _view(
                standalone_id(svc.store.scope, lb_id), lb, svc.store.node, "ALLOCATED", None, None
            )
            for lb_id, (_src, lb) in w.lbs.items()
        ]
    known = {n.name: n for n in nodes.read(svc.store.engine)}
    found = []
    for row in placement_rows.read(svc.store.engine, svc.store.scope):
        if row["kind"] != "load_balancers" or row["holder"] not in w.lbs:
            continue
        node = known.get(row["node"])
        status = "ALLOCATED" if node is not None and node.alive else "ERROR"
        zone = None if node is None else node.row.availability_zone
        lb = w.lbs[row["holder"]][1]
        created = row["created_at"].strftime("%Y-%m-%dT%H:%M:%S")
        found.append(
            _view(row["id"], lb, row["node"], status, zone, created, row["role"], row["slot"])
        )
    return found


def standalone_id(scope: str, lb_id: str) -> str:
    """The amphora of a load balancer on a node on its own."""
    return str(uuid.uuid5(NETNODE_NAMESPACE, f"{scope}/amphora/{lb_id}"))


@router.get("/amphorae")
def list_amphorae(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    _admin(ctx, "list amphorae")
    query = Query.parse(AMPHORAE, request.query_params.multi_items(), ignored=frozenset())
    body = page(
        AMPHORAE,
        query,
        Prepared(AMPHORAE, _amphorae(svc)),
        None,
        str(request.url.replace(query="")),
    )
    return Response(body, media_type="application/json")


def _find(svc: Service, amphora_id: str) -> dict[str, Any]:
    for amphora in _amphorae(svc):
        if amphora["id"] == amphora_id:
            return amphora
    raise NotFound.of("Amphora", amphora_id)


@router.get("/amphorae/{amphora_id}")
def show_amphora(amphora_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    _admin(ctx, "see amphorae")
    return {"amphora": _find(svc, amphora_id)}


@router.put("/amphorae/{amphora_id}/failover", status_code=202)
def failover_amphora(amphora_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    _admin(ctx, "fail an amphora over")
    _find(svc, amphora_id)
    _rebuild(svc, [amphora_id])
    return Response(status_code=202)


@lbaas.put("/loadbalancers/{lb_id}/failover", status_code=202)
def failover_loadbalancer(lb_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    _admin(ctx, "fail a load balancer over")
    find_lb(ctx, svc.world(), lb_id)
    _rebuild(svc, [a["id"] for a in _amphorae(svc) if a["loadbalancer_id"] == lb_id])
    return Response(status_code=202)


def _rebuild(svc: Service, amphorae: list[str]) -> None:
    if not _clustered(svc):
        raise Conflict(
            "a node on its own has no other place for a load balancer's amphora: failover "
            "needs several nodes (netnode serve --cluster NAME, sharing a PostgreSQL store)"
        )
    engine, scope = svc.store.engine, svc.store.scope
    with engine.begin() as conn:
        held = {r["id"]: r for r in placement_rows.read(conn, scope)}
        placement_rows.write(conn, scope, (), amphorae)
        placement_rows.touch(conn, scope, {held[a]["topology"] for a in amphorae if a in held})
    scheduler.run_pass(engine, scope)
    svc.on_change()
