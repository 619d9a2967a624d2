"""Neutron's tag extension (``standard-attr-tag``): ``/v2.0/{resource}/{id}/tags`` on
networks, subnets, ports, routers and floating IPs. A resource's tags are its API
metadata's (what ``tags`` on create and update set, and what the listings' ``tags``,
``tags-any``, ``not-tags`` and ``not-tags-any`` filters read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Response

from netnode.api.auth import Context
from netnode.api.common import Ctx, Svc
from netnode.api.errors import BadRequest, NotFound
from netnode.api.neutron.lookups import (
    find_network,
    find_owned,
    find_subnet,
    network_for_change,
    owned_for_change,
    subnet_for_change,
)
from netnode.api.neutron.ports import find_port, port_for_change
from netnode.api.neutron.views import fip_view, network_view, port_view, router_view, subnet_view
from netnode.api.service import Doc, Service
from netnode.api.world import World, now

router = APIRouter()

MAX_TAG_LEN = 60  # Neutron's
MAX_TAGS = 50

Finder = Callable[[Context, World, str], Any]

# resource -> (find for reading, find for a change, the view showing its tags)
RESOURCES: dict[str, tuple[Finder, Finder, Callable[[World, str], dict[str, Any]]]] = {
    "networks": (find_network, network_for_change, network_view),
    "subnets": (find_subnet, subnet_for_change, subnet_view),
    "ports": (find_port, port_for_change, lambda w, i: port_view(w, w.ports[i])),
    "routers": (
        lambda c, w, i: find_owned(c, w, w.routers, i, "Router"),
        lambda c, w, i: owned_for_change(c, w, w.routers, i, "Router"),
        router_view,
    ),
    "floatingips": (
        lambda c, w, i: find_owned(c, w, w.fips, i, "Floating IP"),
        lambda c, w, i: owned_for_change(c, w, w.fips, i, "Floating IP"),
        fip_view,
    ),
}


def _resource(resource: str) -> tuple[Finder, Finder, Callable[[World, str], dict[str, Any]]]:
    found = RESOURCES.get(resource)
    if found is None:
        raise NotFound(f"The resource {resource} has no tags (tagged: {', '.join(RESOURCES)})")
    return found


def _tag(tag: str, field: str = "tags") -> str:
    if not tag or len(tag) > MAX_TAG_LEN or "," in tag or not tag.isprintable():
        raise BadRequest(
            f"Invalid input for field/attribute {field}: '{tag}' is not a valid tag "
            f"(1 to {MAX_TAG_LEN} printable characters, no comma)"
        )
    return tag


def _tags(svc: Service, ctx: Context, resource: str, object_id: str) -> list[str]:
    find, _, view = _resource(resource)
    w = svc.world()
    find(ctx, w, object_id)
    return list(view(w, object_id)["tags"])


def _set(
    svc: Service,
    ctx: Context,
    resource: str,
    object_id: str,
    edit: Callable[[list[str]], list[str]],
) -> list[str]:
    _, for_change, view = _resource(resource)

    def mutate(doc: Doc, w: World) -> list[str]:
        for_change(ctx, w, object_id)
        tags = edit(list(view(w, object_id)["tags"]))
        if len(tags) > MAX_TAGS:
            raise BadRequest(f"Invalid input for field/attribute tags: at most {MAX_TAGS} tags")
        meta = doc.meta(object_id)
        meta["tags"] = tags
        meta["updated_at"] = now()
        return tags

    return svc.change(mutate)


@router.get("/{resource}/{object_id}/tags")
def list_tags(resource: str, object_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Any:
    return {"tags": _tags(svc, ctx, resource, object_id)}


@router.get("/{resource}/{object_id}/tags/{tag}", status_code=204)
def check_tag(
    resource: str, object_id: str, tag: str, svc: Service = Svc, ctx: Context = Ctx
) -> Response:
    if tag not in _tags(svc, ctx, resource, object_id):
        raise NotFound(f"Tag {tag} could not be found.")
    return Response(status_code=204)


@router.put("/{resource}/{object_id}/tags")
def replace_tags(
    resource: str,
    object_id: str,
    body: dict[str, Any] = Body(...),  # noqa: B008 (FastAPI's way)
    svc: Service = Svc,
    ctx: Context = Ctx,
) -> Any:
    asked = body.get("tags")
    if not isinstance(asked, list) or set(body) != {"tags"}:
        raise BadRequest('Invalid input for field/attribute tags: send {"tags": [...]}')
    wanted = []
    for tag in asked:
        if not isinstance(tag, str):
            raise BadRequest(f"Invalid input for field/attribute tags: {tag!r} is not a string")
        if _tag(tag) not in wanted:
            wanted.append(tag)
    return {"tags": _set(svc, ctx, resource, object_id, lambda _: wanted)}


@router.put("/{resource}/{object_id}/tags/{tag}", status_code=201)
def add_tag(
    resource: str, object_id: str, tag: str, svc: Service = Svc, ctx: Context = Ctx
) -> Response:
    _tag(tag, "tag")
    _set(svc, ctx, resource, object_id, lambda tags: tags if tag in tags else [*tags, tag])
    return Response(status_code=201)


@router.delete("/{resource}/{object_id}/tags/{tag}", status_code=204)
def delete_tag(
    resource: str, object_id: str, tag: str, svc: Service = Svc, ctx: Context = Ctx
) -> Response:
    def edit(tags: list[str]) -> list[str]:
        if tag not in tags:
            raise NotFound(f"Tag {tag} could not be found.")
        return [t for t in tags if t != tag]

    _set(svc, ctx, resource, object_id, edit)
    return Response(status_code=204)


@router.delete("/{resource}/{object_id}/tags", status_code=204)
def delete_tags(resource: str, object_id: str, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    _set(svc, ctx, resource, object_id, lambda _: [])
    return Response(status_code=204)
