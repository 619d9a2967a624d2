"""One endpoint per service, as a Keystone catalog wants them: ``/load-balancer`` for
Octavia's API and ``/networking`` for Neutron's (devstack's paths), beside the bare root
that serves both for a client given one ``--os-endpoint``.

Why: a client that discovers versions reads its endpoint's root and takes the highest
entry. Octavia's list (``v2.0`` to ``v2.27``, all at ``/v2``) would send a Neutron client
to ``/v2/networks``; Neutron's (``v2.0`` only) hides Octavia's minor versions. Under its
own prefix each service shows its own list; the API behind both is the same.

The middleware only sets the ASGI ``root_path`` to the prefix: routing strips it (Starlette
matches the path without it), ``request.base_url`` carries it (so the version documents
link under the prefix), ``request.url`` is the whole path (so pagination links too).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

LOAD_BALANCER = "/load-balancer"
NETWORKING = "/networking"
PREFIXES = (LOAD_BALANCER, NETWORKING)


class ServicePrefixes:
    """ASGI middleware: a request under a service's prefix gets it as its root_path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix in PREFIXES:
                if path == prefix or path.startswith(prefix + "/"):
                    scope = {**scope, "root_path": scope.get("root_path", "") + prefix}
                    break
        await self.app(scope, receive, send)


def route_path(scope: Any) -> str:
    """The path the routes see: the request's, without its service prefix."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def service(request: HTTPConnection) -> str | None:
    """The prefix the request came under (LOAD_BALANCER, NETWORKING), None: the root."""
    root = request.scope.get("root_path", "")
    return root if root in PREFIXES else None
