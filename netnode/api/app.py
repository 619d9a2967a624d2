"""The ASGI application: Octavia v2 under ``/v2/lbaas`` and ``/v2.0/lbaas``, Neutron
v2.0 under ``/v2.0``, the version documents clients discover, the OpenAPI document,
and the translation of every failure into the error shapes OpenStack clients read."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from netnode.api import neutron, octavia
from netnode.api.auth import Context, Tokens
from netnode.api.errors import (
    ApiError,
    BadRequest,
    NotFound,
    Unauthorized,
    neutron_body,
    octavia_body,
)
from netnode.api.service import Service

log = logging.getLogger("netnode.api")

# Paths that answer without a token: version discovery and the API's own description.
OPEN_PATHS = {"/", "/v2", "/v2/", "/v2.0", "/v2.0/", "/openapi.json", "/docs"}


def create_app(svc: Service, tokens: Tokens | None, noauth_project: str = "admin") -> FastAPI:
    """``tokens`` None: no authentication (``--noauth``), every caller an admin."""
    app = FastAPI(
        title="netnode",
        version="2.0",
        description="Octavia v2 and Neutron v2.0 (L3 subset) for one network node",
        redoc_url=None,
    )
    app.state.service = svc
    anonymous = Context(noauth_project, "admin")

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        if request.url.path not in OPEN_PATHS:
            if tokens is None:
                request.state.context = anonymous
            else:
                context = tokens.context(request.headers.get("x-auth-token"))
                if context is None:
                    return _error(request, Unauthorized(
                        "The request you have made requires authentication."))
                request.state.context = context
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, BadRequest(_validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(request, NotFound(f"The resource could not be found: "
                                            f"{request.method} {request.url.path}"))
        error = ApiError(str(exc.detail))
        error.status = exc.status_code
        return _error(request, error)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(request, ApiError(f"netnode failed to answer: {type(exc).__name__}"))

    @app.get("/", include_in_schema=True)
    def versions(request: Request) -> Any:
        return {"versions": [_version(request, "v2.0", "/v2.0/", "CURRENT"),
                             _version(request, "v2", "/v2/", "SUPPORTED")]}

    @app.get("/v2.0")
    @app.get("/v2.0/")
    def v20(request: Request) -> Any:
        return {"version": _version(request, "v2.0", "/v2.0/", "CURRENT"),
                "resources": [{"name": n, "collection": n,
                               "links": [{"href": str(request.base_url) + f"v2.0/{n}",
                                          "rel": "self"}]}
                              for n in ("networks", "subnets", "routers", "floatingips",
                                        "ports")]}

    @app.get("/v2")
    @app.get("/v2/")
    def v2(request: Request) -> Any:
        return {"version": _version(request, "v2", "/v2/", "CURRENT")}

    for prefix in ("/v2/lbaas", "/v2.0/lbaas"):
        app.include_router(octavia.router, prefix=prefix, tags=["octavia"])
    app.include_router(neutron.router, prefix="/v2.0", tags=["neutron"])
    return app


def _version(request: Request, version: str, path: str, status: str) -> dict[str, Any]:
    return {"id": version, "status": status, "updated": "2026-11-26T00:00:00Z",
            "min_version": "2.0" if version == "v2" else "",
            "version": "2.27" if version == "v2" else "",
            "links": [{"href": str(request.base_url).rstrip("/") + path, "rel": "self"}]}


def _error(request: Request, error: ApiError) -> JSONResponse:
    path = request.url.path
    neutron_api = path.startswith("/v2.0/") and not path.startswith("/v2.0/lbaas")
    body = neutron_body(error) if neutron_api else octavia_body(error)
    return JSONResponse(body, status_code=error.status)


def _validation_message(exc: RequestValidationError) -> str:
    """Octavia's wording, naming the field: "Invalid input for field/attribute X.
    Value: 'Y'. <why>"."""
    errors = exc.errors()
    if not errors:
        return "Invalid input"
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
    field = loc[-1] if loc else "body"
    if err.get("type") == "extra_forbidden":
        return f"Invalid input for field/attribute {field}. Value: " \
               f"'{_short(err.get('input'))}'. Unknown attribute for argument {'.'.join(loc[:-1]) or 'body'}"
    if err.get("type") == "missing":
        return f"Invalid input for field/attribute {field}. Value: 'None'. Mandatory field missing."
    return f"Invalid input for field/attribute {field}. Value: '{_short(err.get('input'))}'. " \
           f"{err.get('msg', 'invalid')}"


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 80 else text[:77] + "..."
