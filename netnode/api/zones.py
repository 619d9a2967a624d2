"""The availability zones a request may name: the zones of the nodes sharing the store
(``netnode.cluster.zones``). On a node on its own, only that node's zone: nothing else
can build what the request asks for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request

from netnode.api.errors import BadRequest
from netnode.api.service import Service
from netnode.cluster import nodes
from netnode.cluster.zones import Zone, unknown, zones


def known(svc: Service) -> list[Zone]:
    """The zones of this API's nodes, read each time (nodes come and go)."""
    found = nodes.read(svc.store.engine)
    if svc.store.scope == svc.store.node:
        found = [n for n in found if n.name == svc.store.node]
    return zones(found)


def check(svc: Service, field: str, asked: Iterable[str]) -> None:
    """BadRequest naming ``field`` when a name in ``asked`` is no zone of this API's."""
    asked = list(asked)
    if not asked:
        return
    have = known(svc)
    missing = unknown(asked, have)
    if missing:
        names = ", ".join(z.name for z in have) or "none: no node has joined"
        raise BadRequest(
            f"Invalid input for field/attribute {field}: no node is in availability zone "
            f"{', '.join(missing)} (the zones are the nodes' --zone; here: {names})"
        )


def filtered(request: Request, items: list[dict[str, Any]], fields: tuple[str, ...]) -> list[Any]:
    """``items`` kept by the query's filters (an attribute equal to one of the values
    given; booleans as ``true``/``false``); an unknown one is a 400 naming it."""
    wanted: dict[str, set[str]] = {}
    for key, value in request.query_params.multi_items():
        if key not in fields:
            raise BadRequest(f"Invalid input for field/attribute {key}: not a filter here")
        wanted.setdefault(key, set()).add(value.lower() if value in ("True", "False") else value)
    return [item for item in items if all(_text(item[k]) in values for k, values in wanted.items())]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
