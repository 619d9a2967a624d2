"""Octavia v2 (``/v2/lbaas`` and ``/v2.0/lbaas``): one module per resource (load
balancers with their status tree and statistics, listeners, pools, members with the
batch update, health monitors, L7 policies and rules, quotas, providers, flavors,
availability zones, failover),
their views
(``views.py``) and the lookups they share (``lookups.py``). ``router`` holds them all,
for ``app.py`` to mount under both prefixes."""

from fastapi import APIRouter

from netnode.api.octavia import (
    amphorae,
    availabilityzones,
    flavors,
    healthmonitors,
    l7policies,
    listeners,
    loadbalancers,
    members,
    pools,
    providers,
    quotas,
)

router = APIRouter()
for resource in (
    loadbalancers,
    listeners,
    pools,
    members,
    healthmonitors,
    l7policies,
    quotas,
    providers,
    flavors,
    availabilityzones,
):
    router.include_router(resource.router)
router.include_router(amphorae.lbaas)
# Amphorae live under /v2/octavia, apart from /v2/lbaas.
admin = amphorae.router
