"""Neutron's availability zones (``/availability_zones``): the zones the nodes declare
(``netnode.cluster.zones``), each once per resource it holds, as Neutron lists an L3
agent's zone for ``router`` and a DHCP agent's for ``network``: here every node holds
both (a node builds the networks its routers and load balancers sit on). A zone is
``available`` while one of its nodes is alive and up. A router's
``availability_zone_hints`` names some."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from netnode.api import zones
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc
from netnode.api.service import Service

router = APIRouter()

RESOURCES = ("network", "router")
FIELDS = ("name", "resource", "state")


@router.get("/availability_zones")
def list_zones(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    items = [
        {
            "name": zone.name,
            "resource": resource,
            "state": "available" if zone.available else "unavailable",
        }
        for zone in zones.known(svc)
        for resource in RESOURCES
    ]
    return {"availability_zones": zones.filtered(request, items, FIELDS)}
