"""The lookups Octavia's routes share: find an object the caller may see (404 otherwise),
or one it may change (a writer, an object the API made, its load balancer not pending)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netnode.api.auth import Context
from netnode.api.errors import NotFound
from netnode.api.service import may_write, not_pending, visible, writable
from netnode.api.world import Source, World
from netnode.model.topology import LoadBalancer


def find_lb(ctx: Context, w: World, lb_id: str) -> tuple[Source, LoadBalancer]:
    if lb_id not in w.lbs:
        raise NotFound.of("Load Balancer", lb_id)
    src, lb = w.lbs[lb_id]
    visible(ctx, w, src, lb_id, "Load Balancer")
    return src, lb


def lb_for_change(ctx: Context, w: World, lb_id: str) -> Source:
    may_write(ctx)
    src, _ = find_lb(ctx, w, lb_id)
    writable(src, "load balancer", lb_id)
    not_pending(w, src, lb_id)
    return src


def find_child(ctx: Context, w: World, table: Mapping[str, Any], object_id: str, kind: str) -> Any:
    if object_id not in table:
        raise NotFound.of(kind, object_id)
    entry = table[object_id]
    visible(ctx, w, entry[0], object_id, kind)
    return entry


def child_for_change(
    ctx: Context, w: World, table: Mapping[str, Any], object_id: str, kind: str
) -> Any:
    may_write(ctx)
    entry = find_child(ctx, w, table, object_id, kind)
    src, lb = entry[0], entry[1]
    writable(src, kind.lower(), object_id)
    not_pending(w, src, lb.uid)
    return entry


def find_in(
    ctx: Context,
    w: World,
    table: Mapping[str, Any],
    object_id: str,
    kind: str,
    parent_id: str,
    *,
    change: bool = False,
) -> Any:
    """``find_child`` (``child_for_change`` with ``change``) of an object in a path under
    its parent (a pool's member, a policy's rule): one under another parent is not found."""
    entry = (child_for_change if change else find_child)(ctx, w, table, object_id, kind)
    if entry[-2].uid != parent_id:  # the parent stands just before the object
        raise NotFound.of(kind, object_id)
    return entry
