"""Octavia's availability zones (``/availabilityzones``), read only: the zones the
nodes declare (``netnode agent --zone``; ``netnode.cluster.zones``), each enabled while
one of its nodes is alive and up. Octavia's admin makes zones and their profiles
(``/availabilityzoneprofiles``); here a zone exists because a node is in it, so there is
nothing to create, and no profile (``availability_zone_profile_id`` is null). A load
balancer's ``availability_zone`` names one; its instances go only to that zone's nodes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from netnode.api import zones
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc
from netnode.api.errors import NotFound
from netnode.api.service import Service
from netnode.cluster.zones import Zone

router = APIRouter()

FIELDS = ("name", "description", "enabled", "availability_zone_profile_id")


def view(zone: Zone) -> dict[str, Any]:
    return {
        "name": zone.name,
        "description": f"nodes {', '.join(zone.nodes)}",
        "enabled": zone.available,
        "availability_zone_profile_id": None,
    }


@router.get("/availabilityzones")
def list_zones(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    items = zones.filtered(request, [view(z) for z in zones.known(svc)], FIELDS)
    return {"availability_zones": items, "availability_zones_links": []}


@router.get("/availabilityzones/{name}")
def show_zone(name: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    for zone in zones.known(svc):
        if zone.name == name:
            return {"availability_zone": view(zone)}
    raise NotFound.of("Availability Zone", name)
