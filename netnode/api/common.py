"""What the routes of both APIs share: the service and caller of a request, listings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from netnode.api.auth import Context
from netnode.api.listing import Collection, Query, page
from netnode.api.service import Service


def service(request: Request) -> Service:
    return request.app.state.service


def context(request: Request) -> Context:
    return request.state.context


Svc = Depends(service)
Ctx = Depends(context)


def listing(
    request: Request,
    ctx: Context,
    collection: Collection,
    items: Iterable[dict[str, Any]],
    shared: frozenset[str] = frozenset(),
) -> JSONResponse:
    """The answer to a list request: only what the caller may see (its project's, or
    shared: a shared network or one of the ids in ``shared``), filtered, sorted, paged
    and cut to ``fields`` as the query asks (netnode.api.listing). A project's caller
    filtering on ``project_id`` sees its own objects still.

    The body is answered as it is, not through the route's response model: with
    ``fields`` an object lacks attributes the model requires."""
    # Parsed first: a bad query is refused before any view is built.
    query = Query.parse(collection, request.query_params.multi_items(),
                        ignored=frozenset() if ctx.is_admin else frozenset({"project_id"}))
    visible = [
        i for i in items
        if ctx.may_see(i.get("project_id"), i.get("shared") is True or i.get("id") in shared)
    ]
    url = str(request.url.replace(query=""))
    return JSONResponse(page(collection, query, visible, url))
