"""What the routes of both APIs share: the service and caller of a request, listings."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from netnode.api.auth import Context
from netnode.api.service import Service


def service(request: Request) -> Service:
    return request.app.state.service


def context(request: Request) -> Context:
    return request.state.context


Svc = Depends(service)
Ctx = Depends(context)


# Query parameters that page or shape a listing rather than filter it.
NOT_FILTERS = {"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields",
               "cascade"}


def listing(
    request: Request, ctx: Context, items: list[dict[str, Any]], shared: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Only what the caller may see (its project's, or shared: a shared network or one
    of the ids in ``shared``), filtered by the query's ``field=value`` pairs. ``fields``
    is not applied: every object comes whole."""
    result = [
        i for i in items
        if ctx.may_see(i.get("project_id"), i.get("shared") is True or i.get("id") in shared)
    ]
    for key, value in request.query_params.multi_items():
        if key in NOT_FILTERS or (key == "project_id" and ctx.is_admin is False):
            continue
        result = [i for i in result if key in i and _matches(i[key], value)]
    return result


def _matches(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if isinstance(actual, list):
        return any(_matches(a, wanted) for a in actual)
    if isinstance(actual, dict):
        return wanted in (str(v) for v in actual.values())
    return str(actual) == wanted


