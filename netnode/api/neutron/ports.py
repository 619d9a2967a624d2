"""Neutron's ports, read only: a VIP, a router's interface or gateway, a lab host."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc, listing
from netnode.api.errors import NotFound
from netnode.api.listing import neutron
from netnode.api.neutron.views import port_view
from netnode.api.service import Service

router = APIRouter()

PORTS = neutron("ports", "Port")


@router.get("/ports", response_model=s.wrap_out("ports", s.PortOut, True))
def list_ports(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    return listing(request, ctx, w, PORTS, lambda: [port_view(p) for p in w.ports.values()])


@router.get("/ports/{port_id}", response_model=s.wrap_out("port", s.PortOut))
def show_port(port_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    w = svc.world()
    port = w.ports.get(port_id)
    if port is None or not ctx.may_see(port.project_id):
        raise NotFound.of("Port", port_id)
    return {"port": port_view(port)}
