"""The status page's routes and its sign-in.

A browser cannot send ``X-Auth-Token`` when it opens a page, so the page signs in once
(``POST /ui/login`` with a token of the tokens file) and keeps the token in a cookie,
HttpOnly and SameSite=Strict, sent back only to ``/ui/`` paths: the API's routes read
the header alone, so the cookie can change nothing. ``token`` and ``unauthenticated``
are what the app's authentication asks of this module; ``--noauth`` needs no sign-in.
"""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from netnode.api.auth import Context, Tokens
from netnode.api.common import Ctx, Svc
from netnode.api.service import Service
from netnode.api.ui import page, state
from netnode.render.topology_svg import draw

PREFIX = "/ui"
COOKIE = "netnode_ui_token"
# Paths that answer without a token: signing in and out, and the script (no data in it).
OPEN = frozenset({"/ui/login", "/ui/logout", "/ui/ui.js"})
NO_STORE = {"Cache-Control": "no-store"}
MAX_FORM = 4096

router = APIRouter(include_in_schema=False)


def is_open(path: str) -> bool:
    return path in OPEN


def token(request: Request) -> str | None:
    """The caller's token: the header, or on the page's paths the sign-in cookie."""
    header = request.headers.get("x-auth-token")
    if header or not _page_path(request.url.path):
        return header
    return request.cookies.get(COOKIE)


def unauthenticated(request: Request) -> Response | None:
    """What a page path answers a caller without a valid token: the sign-in page for
    the page itself; None (the API's 401) elsewhere."""
    if request.method == "GET" and request.url.path in ("/ui", "/ui/"):
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response
    return None


def _page_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@router.get("/ui")
def to_page() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
def status_page(request: Request, svc: Service = Svc, ctx: Context = Ctx) -> Response:
    text = page.page(state.read(svc, ctx), node=svc.node, authenticated=_tokens(request))
    return HTMLResponse(text, headers=NO_STORE)


@router.get("/ui/state")
def status_state(svc: Service = Svc, ctx: Context = Ctx) -> Response:
    """The page's sections, rendered, and what changes between them: each load
    balancer's statistics (for the request rate) and each object's status."""
    now = state.read(svc, ctx)
    body: dict[str, Any] = {
        "sections": page.fragments(now),
        "stats": {lb.view["id"]: lb.stats for lb in now.loadbalancers},
        "statuses": now.statuses,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.get("/ui/topology.svg")
def topology_svg(svc: Service = Svc, ctx: Context = Ctx) -> Response:
    now = state.read(svc, ctx)
    return Response(
        draw(now.topologies, now.statuses), media_type="image/svg+xml", headers=NO_STORE
    )


@router.get("/ui/ui.js")
def script() -> Response:
    text = resources.files("netnode.api.ui").joinpath("ui.js").read_text()
    return Response(text, media_type="text/javascript")


@router.get("/ui/login")
def login_form(request: Request) -> Response:
    if not _tokens(request):
        return RedirectResponse("/ui/", status_code=303)
    return HTMLResponse(page.login(), headers=NO_STORE)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    tokens = request.app.state.tokens
    if tokens is None:
        return RedirectResponse("/ui/", status_code=303)
    body = await request.body()
    given = parse_qs(body[:MAX_FORM].decode("utf-8", "replace")).get("token", [""])[0].strip()
    # Keystone (api.keystone) may take a while to answer: not on the event loop.
    if await anyio.to_thread.run_sync(tokens.context, given) is None:
        return HTMLResponse(
            page.login(
                "That token is not in this node's tokens file."
                if isinstance(tokens, Tokens)
                else "Keystone does not take that token."
            ),
            status_code=401,
            headers=NO_STORE,
        )
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(COOKIE, given, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.post("/ui/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


def _tokens(request: Request) -> bool:
    """Whether this server checks tokens (not ``--noauth``)."""
    return request.app.state.tokens is not None
