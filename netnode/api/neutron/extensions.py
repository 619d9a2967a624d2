"""Neutron's extensions: what clients look up before using a feature."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from netnode.api.auth import Context
from netnode.api.common import Ctx
from netnode.api.errors import NotFound

router = APIRouter()

# What clients look up before using a feature (the openstack CLI asks for
# external-gateway-multihoming before it sets a router's gateway, for example).
EXTENSIONS = {
    "router": ("Neutron L3 Router", "Router abstraction for layer 3 forwarding"),
    "external-net": ("Neutron external network", "Networks marked router:external"),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "enable_snat"),
    "provider": ("Provider Network", "provider:network_type and provider:segmentation_id"),
    "agent": ("agent", "The nodes sharing the store, as L3 and load-balancer agents"),
    "availability_zone": ("Availability Zone", "The zone each node (agent) is in"),
    "router_availability_zone": (
        "Router Availability Zone",
        "availability_zone_hints of a router: only nodes of those zones take it",
    ),
    "l3-ha": ("HA Router extension", "Adds HA capability to routers."),
    "standard-attr-description": (
        "standard-attr-description",
        "A description on networks, subnets, ports, routers and floating IPs",
    ),
    "extraroute": ("Neutron Extra Route", "Static routes of a router (its routes attribute)"),
    "extraroute-atomic": (
        "Atomically add/remove extra routes",
        "add_extraroutes and remove_extraroutes of a router",
    ),
    "floating-ip-port-forwarding": (
        "Floating IP Port Forwarding",
        "port_forwardings of a floating IP: TCP/UDP ports forwarded to internal addresses",
    ),
    "standard-attr-tag": (
        "Tag support for resources with standard attribute",
        "/tags on networks, subnets, ports, routers and floating IPs, and the tags, "
        "tags-any, not-tags and not-tags-any list filters",
    ),
    "allowed-address-pairs": (
        "Allowed Address Pairs",
        "allowed_address_pairs of a port (recorded; netnode enforces no port security)",
    ),
    "binding": ("Port Binding", "binding:host_id of a port"),
}


def _extension(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "links": [],
        "updated": "2026-11-26T00:00:00-00:00",
    }


@router.get("/extensions")
def list_extensions(ctx: Context = Ctx) -> Any:
    return {"extensions": [_extension(a) for a in EXTENSIONS]}


@router.get("/extensions/{alias}")
def show_extension(alias: str, ctx: Context = Ctx) -> Any:
    if alias not in EXTENSIONS:
        raise NotFound(f"Extension with alias {alias} does not exist")
    return {"extension": _extension(alias)}
