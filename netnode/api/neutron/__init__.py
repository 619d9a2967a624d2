"""Neutron v2.0's L3 subset (``/v2.0``): one module per resource (networks, subnets,
routers with their gateway and interfaces, floating IPs and their port forwardings,
ports, tags), the agents (the nodes sharing the store) and their availability
zones, the extensions clients ask for, their views (``views.py``) and the
lookups they share (``lookups.py``). ``router`` holds them all, for ``app.py``."""

from fastapi import APIRouter

from netnode.api.neutron import (
    agents,
    availability_zones,
    extensions,
    floatingips,
    networks,
    port_forwardings,
    ports,
    routers,
    subnets,
    tags,
)

router = APIRouter()
for resource in (
    networks,
    subnets,
    routers,
    floatingips,
    ports,
    extensions,
    port_forwardings,
    agents,
    availability_zones,
    tags,
):
    router.include_router(resource.router)
