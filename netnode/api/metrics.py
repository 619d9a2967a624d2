"""``GET /metrics`` of ``netnode serve``, and the API's own request metrics.

- ``netnode_api_request_duration_seconds{method,route,status}``: a histogram of every
  request, by route template (``/v2/lbaas/members/{member_id}``, never the raw path:
  ids would make a series per object), ``(unmatched)`` for paths no route has;
- ``/metrics`` answers the process's registry (``netnode.reconcile.metrics``), its load
  balancers read at scrape time. It wants an admin's token: the page names every
  project's objects. Prometheus sends one as ``Authorization: Bearer <token>`` (its
  ``authorization`` scrape option), which the API takes as it takes ``X-Auth-Token``;
  with ``--noauth`` every caller is an admin.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest

from netnode.api import endpoints
from netnode.api.errors import Forbidden
from netnode.api.service import Service
from netnode.model.topology import LoadBalancer
from netnode.reconcile.metrics import LoadBalancers, Metrics, Rows, Target
from netnode.reconcile.status import LoadBalancerStatus

PATH = "/metrics"
UNMATCHED = "(unmatched)"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def install(app: FastAPI, svc: Service, metrics: Metrics) -> None:
    """Time every request of ``app`` and serve ``metrics`` (with ``svc``'s load
    balancers) on ``/metrics``."""
    seconds = Histogram(
        "netnode_api_request_duration_seconds",
        "API requests by method, route template and status",
        ["method", "route", "status"],
        buckets=BUCKETS,
        registry=metrics.registry,
    )

    def rows(lb: LoadBalancer) -> Rows | None:
        return svc.statuses.get(lb.uid)[1]

    def targets() -> list[Target]:
        world = svc.world()
        return [
            Target(lb, world.project_of(src, lb.uid), src.status) for src, lb in world.lbs.values()
        ]

    def status(target: Target, _rows: Rows | None) -> LoadBalancerStatus:
        return svc.operating(target.lb, dict(target.provisioning))

    metrics.registry.register(LoadBalancers(svc.haproxy, targets, rows, status))

    @app.middleware("http")
    async def timed(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            seconds.labels(request.method, template(request.scope), str(status)).observe(
                time.perf_counter() - started
            )

    @app.get(PATH, include_in_schema=False)
    def scrape(request: Request) -> Response:
        if not request.state.context.is_admin:
            raise Forbidden("metrics name every project's objects: an admin's token is needed")
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def template(scope: Mapping[str, Any]) -> str:
    """The route template a request matched: its path with each path parameter's
    value put back as ``{name}`` (an included router's route knows only its own part
    of the path); ``(unmatched)`` when no route matched."""
    if scope.get("route") is None:
        return UNMATCHED
    names = {str(v): k for k, v in scope.get("path_params", {}).items()}
    return "/".join(
        f"{{{names[part]}}}" if part in names else part
        for part in endpoints.route_path(scope).split("/")
    )
