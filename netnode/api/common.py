"""What the routes of both APIs share: the service and caller of a request, listings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Depends, Request, Response

from netnode.api.auth import Context
from netnode.api.listing import Collection, Prepared, Query, page
from netnode.api.service import Service
from netnode.api.world import World


def service(request: Request) -> Service:
    return request.app.state.service


def context(request: Request) -> Context:
    return request.state.context


Svc = Depends(service)
Ctx = Depends(context)


def listing(
    request: Request,
    ctx: Context,
    world: World,
    collection: Collection,
    build: Callable[[], Iterable[dict[str, Any]]],
    *,
    scope: str = "",
    shared: Callable[[dict[str, Any]], bool] | None = None,
) -> Response:
    """The answer to a list request: of the views ``build()`` makes of ``world``, only
    what the caller may see (its project's, or shared: a shared network, or what
    ``shared`` says), filtered, sorted, paged and cut to ``fields`` as the query asks
    (netnode.api.listing). A project's caller filtering on ``project_id`` sees its own
    objects still. ``scope`` tells listings of one collection apart (a pool's members
    from another's).

    The views are built once for a world and statuses (``Service.snapshots``), not per
    request. The body is answered as it is, not through the route's response model:
    with ``fields`` an object lacks attributes the model requires."""
    # Parsed first: a bad query is refused before any view is built.
    query = Query.parse(
        collection,
        request.query_params.multi_items(),
        ignored=frozenset() if ctx.sees_all else frozenset({"project_id"}),
    )
    svc = service(request)
    prepared = svc.snapshots.derived(
        (collection.name, scope),
        world,
        svc.statuses.version,
        lambda: Prepared(collection, build(), shared),
    )
    url = str(request.url.replace(query=""))
    body = page(collection, query, prepared, None if ctx.sees_all else ctx.project_id, url)
    return Response(body, media_type="application/json")
