"""Octavia's providers and amphorae: what clients list before they choose (one
provider, netnode; no amphorae)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from netnode.api.auth import Context
from netnode.api.common import Ctx

router = APIRouter()

# Octavia's default provider, amphora, is what Terraform, Kubernetes' cloud provider and
# the CLI's defaults say; here it names the same thing as "netnode": HAProxy in a
# namespace of a netnode node (no VM).
PROVIDERS = {
    "amphora": "The Octavia Amphora driver, as netnode runs it: HAProxy in a namespace of "
    "a netnode node (an alias of netnode)",
    "netnode": "HAProxy in a namespace on this node (netnode)",
}
DEFAULT_PROVIDER = "amphora"


@router.get("/providers")
def list_providers(ctx: Context = Ctx) -> Any:
    return {"providers": [{"name": n, "description": d} for n, d in PROVIDERS.items()]}


@router.get("/amphorae")
def list_amphorae(ctx: Context = Ctx) -> Any:
    return {"amphorae": [], "amphorae_links": []}
