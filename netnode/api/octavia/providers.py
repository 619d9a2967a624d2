"""Octavia's providers and amphorae: what clients list before they choose (one
provider, netnode; no amphorae)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from netnode.api.auth import Context
from netnode.api.common import Ctx

router = APIRouter()


@router.get("/providers")
def list_providers(ctx: Context = Ctx) -> Any:
    return {
        "providers": [
            {"name": "netnode", "description": "HAProxy in a namespace on this node (netnode)"}
        ]
    }


@router.get("/amphorae")
def list_amphorae(ctx: Context = Ctx) -> Any:
    return {"amphorae": [], "amphorae_links": []}
