"""The lookups Neutron's routes share: find an object the caller may see (404 otherwise),
or one it may change (a writer, an object the API made)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netnode.api.auth import Context
from netnode.api.errors import NotFound
from netnode.api.service import may_write, writable
from netnode.api.world import DHCP_OWNER, Port, Source, World
from netnode.model.topology import Network


def find_network(ctx: Context, w: World, net_id: str) -> tuple[Source, Network]:
    entry = w.networks.get(net_id)
    if entry is None or not ctx.may_see(w.project_of(entry[0], net_id), w.shared(*entry)):
        raise NotFound.of("Network", net_id)
    return entry


def find_subnet(ctx: Context, w: World, subnet_id: str) -> Any:
    entry = w.subnets.get(subnet_id)
    if entry is None or not ctx.may_see(
        w.project_of(entry[0], entry[1].uid), w.shared(entry[0], entry[1])
    ):
        raise NotFound.of("Subnet", subnet_id)
    return entry


def find_owned(ctx: Context, w: World, table: Mapping[str, Any], object_id: str, kind: str) -> Any:
    entry = table.get(object_id)
    if entry is None or not ctx.may_see(w.project_of(entry[0], object_id)):
        raise NotFound.of(kind, object_id)
    return entry


def owned_for_change(
    ctx: Context, w: World, table: Mapping[str, Any], object_id: str, kind: str
) -> Any:
    """``find_owned``, for a caller that may write, of an object the API made."""
    may_write(ctx)
    entry = find_owned(ctx, w, table, object_id, kind)
    writable(entry[0], kind.lower(), object_id)
    return entry


def shared_subnets(w: World) -> frozenset[str]:
    return frozenset(sid for sid, (src, net, _) in w.subnets.items() if w.shared(src, net))


def network_for_change(ctx: Context, w: World, net_id: str) -> tuple[Source, Network]:
    """``find_network``, for a caller that may write, of its own network the API made."""
    may_write(ctx)
    entry = find_network(ctx, w, net_id)
    _mine(ctx, w, entry[0], net_id, "network")
    return entry


def subnet_for_change(ctx: Context, w: World, subnet_id: str) -> Any:
    """``find_subnet``, for a caller that may write, of its own subnet the API made."""
    may_write(ctx)
    entry = find_subnet(ctx, w, subnet_id)
    _mine(ctx, w, entry[0], subnet_id, "subnet")
    return entry


def _mine(ctx: Context, w: World, src: Source, object_id: str, kind: str) -> None:
    writable(src, kind, object_id)
    if not ctx.may_see(w.project_of(src, object_id)):
        raise NotFound.of(kind.title(), object_id)


def in_use(w: World, network_id: str, subnet_id: str | None = None) -> Port | None:
    """A port that keeps the network (or its subnet) from being deleted: any but the
    network's DHCP port, which goes with it (as in Neutron)."""
    for port in w.ports.values():
        if port.device_owner == DHCP_OWNER:
            continue
        if port.network_id == network_id and (subnet_id is None or subnet_id in port.subnet_ids):
            return port
    return None
