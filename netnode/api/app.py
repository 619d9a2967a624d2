"""The ASGI application: Octavia v2 under ``/v2/lbaas`` and ``/v2.0/lbaas``, Neutron
v2.0 under ``/v2.0``, the version documents clients discover, the OpenAPI document,
and the translation of every failure into the error shapes OpenStack clients read."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from netnode.api import endpoints, health, neutron, octavia, request_ids, versions
from netnode.api import schemas as s
from netnode.api.auth import Context, Tokens
from netnode.api.errors import (
    ApiError,
    BadRequest,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    neutron_body,
    octavia_body,
)
from netnode.api.service import Service
from netnode.api.ui import routes as ui
from netnode.errors import StoreUnavailable

log = logging.getLogger("netnode.api")

# Paths that answer without a token: version discovery and the API's own description.
OPEN_PATHS = {"/", "/v2", "/v2/", "/v2.0", "/v2.0/", "/openapi.json", "/docs", health.PATH}

# What any route of either API may answer besides its success, declared once for the
# OpenAPI document (in the API's own error shape). Bad input is 400, never 422.
ERRORS = {
    400: "Bad input: the message names the field",
    401: "No token, or one the tokens file or Keystone does not take",
    403: "The token's role or the project's quota forbids it",
    404: "No such object, or one of another project",
    409: "It conflicts with what exists, or the load balancer is PENDING_*",
    500: "netnode failed to answer",
    503: "The store or Keystone did not answer; nothing was changed, try again (Retry-After)",
}
TOKEN_SCHEME = "token"


class Authenticator(Protocol):
    """Who a token is: the tokens file (``auth.Tokens``) or Keystone
    (``keystone.Keystone``, which may block on Keystone: called in a worker thread, and
    may raise an ApiError, 403 or 503)."""

    def context(self, token: str | None) -> Context | None: ...


UNION_TAGS = {"bool", "int", "str", "float", "none", "dict", "list"}


def error_responses(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": model, "description": text} for code, text in ERRORS.items()}


def create_app(
    svc: Service, tokens: Authenticator | None, noauth_project: str = "admin"
) -> FastAPI:
    """``tokens`` None: no authentication (``--noauth``), every caller an admin."""
    app = FastAPI(
        title="netnode",
        version="2.0",
        description="Octavia v2 and Neutron v2.0 (L3 subset) for one network node",
        redoc_url=None,
    )
    app.state.service = svc
    app.state.tokens = tokens
    anonymous = Context(noauth_project, "admin")

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        path = endpoints.route_path(request.scope)
        if path not in OPEN_PATHS and not ui.is_open(path):
            if tokens is None:
                request.state.context = anonymous
            else:
                # The header, or on the status page's paths its sign-in cookie (api.ui);
                # Prometheus sends its token as "Authorization: Bearer" (api.metrics).
                bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
                given = ui.token(request) or bearer
                try:
                    if isinstance(tokens, Tokens):
                        context = tokens.context(given)
                    else:
                        context = await anyio.to_thread.run_sync(tokens.context, given)
                except ApiError as exc:
                    if isinstance(exc, ServiceUnavailable):
                        log.warning("%s %s: %s", request.method, request.url.path, exc)
                    return _error(request, exc)
                if context is None:
                    return ui.unauthenticated(request) or _unauthenticated(request, tokens)
                request.state.context = context
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(request, exc)

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # A write that met the outage was not committed: it is not acknowledged, and
        # the client (openstacksdk, Terraform) retries a 503.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error(
            request,
            ServiceUnavailable(
                "netnode's store is unreachable, nothing was changed; try again: "
                + " ".join(str(exc).split())
            ),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, BadRequest(_validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(
                request,
                NotFound(f"The resource could not be found: {request.method} {request.url.path}"),
            )
        error = ApiError(str(exc.detail))
        error.status = exc.status_code
        return _error(request, error)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(request, ApiError(f"netnode failed to answer: {type(exc).__name__}"))

    @app.get("/", include_in_schema=True)
    def root(request: Request) -> Any:
        base = str(request.base_url)
        where = endpoints.service(request)
        if where == endpoints.LOAD_BALANCER:
            return {"versions": versions.octavia_versions(base)}
        if where == endpoints.NETWORKING:
            return {"versions": [versions.neutron_v20(base)]}
        return {"versions": versions.both(base)}

    @app.get("/v2.0")
    @app.get("/v2.0/")
    def v20(request: Request) -> Any:
        return {
            "version": versions.neutron_v20(str(request.base_url)),
            "resources": [
                {
                    "name": n,
                    "collection": n,
                    "links": [{"href": str(request.base_url) + f"v2.0/{n}", "rel": "self"}],
                }
                for n in ("networks", "subnets", "routers", "floatingips", "ports")
            ],
        }

    @app.get("/v2")
    @app.get("/v2/")
    def v2(request: Request) -> Any:
        return {"version": versions.octavia_v2(str(request.base_url))}

    for prefix in ("/v2/lbaas", "/v2.0/lbaas"):
        app.include_router(
            octavia.router,
            prefix=prefix,
            tags=["octavia"],
            responses=error_responses(s.OctaviaFault),
        )
    app.include_router(
        octavia.admin,
        prefix="/v2/octavia",
        tags=["octavia"],
        responses=error_responses(s.OctaviaFault),
    )
    app.include_router(health.router)
    app.include_router(
        neutron.router, prefix="/v2.0", tags=["neutron"], responses=error_responses(s.NeutronFault)
    )
    app.include_router(ui.router)  # the status page, /ui/ (not in the OpenAPI document)

    # Every answer carries x-openstack-request-id, every log line of it the same id:
    # added last, the outermost of the middleware (authentication's 401s included).
    app.add_middleware(request_ids.RequestIds)
    # Outermost: /load-balancer/... and /networking/... are the same API (api.endpoints).
    app.add_middleware(endpoints.ServicePrefixes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _described(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _described(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document, told the truth: no route answers 422 (bad input is 400, see
    ``ERRORS``), every route outside ``OPEN_PATHS`` wants an X-Auth-Token, and each
    create links to what can be done with what it made (``_link_creates``)."""
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
            if path not in OPEN_PATHS:
                operation["security"] = [{TOKEN_SCHEME: []}]
    components = document.setdefault("components", {})
    schemas = components.get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        TOKEN_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "X-Auth-Token",
            "description": "A token of the tokens file (netnode serve --tokens) "
            "or one Keystone issued (netnode serve --keystone-url)",
        }
    }
    _link_creates(document)
    return document


def _link_creates(document: dict[str, Any]) -> None:
    """OpenAPI links from each ``POST <collection>`` to the GET, PUT and DELETE of
    ``<collection>/{id}``, the id taken from the created object (``$response.body#/
    <kind>/id``) and the parents' ids from the create's own path: what a client does
    next, and what a stateful test (schemathesis) follows from create to show,
    update and delete."""
    paths = document.get("paths", {})
    schemas = document.get("components", {}).get("schemas", {})
    for path, item in paths.items():
        create = item.get("post")
        created = (create or {}).get("responses", {}).get("201")
        if create is None or created is None:
            continue
        ref = created.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        wrapper = list(schemas.get(str(ref).rsplit("/", 1)[-1], {}).get("properties", {}))
        if len(wrapper) != 1:
            continue
        for target, target_item in paths.items():
            head, _, leaf = target.rpartition("/")
            if head != path or not (leaf.startswith("{") and leaf.endswith("}")):
                continue
            own = leaf[1:-1]
            parents = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
            links = created.setdefault("links", {})
            for method in ("get", "put", "delete"):
                operation = target_item.get(method)
                if operation is None:
                    continue
                parameters = {own: f"$response.body#/{wrapper[0]}/id"}
                parameters |= {p: f"$request.path.{p}" for p in parents}
                links[f"{method}-{wrapper[0]}"] = {
                    "operationId": operation["operationId"],
                    "parameters": parameters,
                }


def _unauthenticated(request: Request, tokens: Authenticator) -> JSONResponse:
    """401; with Keystone, its ``WWW-Authenticate`` as keystonemiddleware sends it."""
    response = _error(request, Unauthorized("The request you have made requires authentication."))
    challenge = getattr(tokens, "www_authenticate", None)
    if challenge:
        response.headers["WWW-Authenticate"] = challenge
    return response


def _error(request: Request, error: ApiError) -> JSONResponse:
    path = endpoints.route_path(request.scope)
    neutron_api = path.startswith("/v2.0/") and not path.startswith("/v2.0/lbaas")
    body = neutron_body(error) if neutron_api else octavia_body(error)
    headers = (
        {"Retry-After": str(error.retry_after)} if isinstance(error, ServiceUnavailable) else {}
    )
    rid = request_ids.of(request)
    if rid is not None:  # a 500 goes out past the middleware that adds it
        headers[request_ids.HEADER] = rid
    return JSONResponse(body, status_code=error.status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    """Octavia's wording, naming the field: "Invalid input for field/attribute X.
    Value: 'Y'. <why>"."""
    errors = exc.errors()
    if not errors:
        return "Invalid input"
    err = errors[0]
    if err.get("type") == "json_invalid":
        position = err["loc"][-1] if err.get("loc") else "?"
        why = (err.get("ctx") or {}).get("error", "not JSON")
        return f"Invalid input: the body is not valid JSON ({why} at character {position})"
    loc = _where(err.get("loc", ()))
    field = _field(loc)
    if err.get("type") == "extra_forbidden":
        return (
            f"Invalid input for field/attribute {field}. Value: "
            f"'{_short(err.get('input'))}'. Unknown attribute for argument {'.'.join(loc[:-1]) or 'body'}"
        )
    if err.get("type") == "missing":
        return f"Invalid input for field/attribute {field}. Value: 'None'. Mandatory field missing."
    return (
        f"Invalid input for field/attribute {field}. Value: '{_short(err.get('input'))}'. "
        f"{err.get('msg', 'invalid')}"
    )


def _field(loc: list[str]) -> str:
    """The field a path ends in, with the list indexes after it: ``allowed_cidrs[0]``;
    a field of a list's item, by its path from the request's object (below the kind
    it is wrapped in): ``listeners[0].default_pool.members[1].address``."""
    last = max((i for i, part in enumerate(loc) if not part.isdigit()), default=-1)
    if any(part.isdigit() for part in loc[:last]):
        start = 0 if len(loc) > 1 and loc[1].isdigit() else 1
        return "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[start:]).lstrip(".")
    indexes = ""
    for part in reversed(loc):
        if not part.isdigit():
            return part + indexes
        indexes = f"[{part}]" + indexes
    return "body" + indexes


def _where(loc: Any) -> list[str]:
    """The field path of a validation error: without where FastAPI found it (body,
    query, path) nor the tags pydantic adds for a union's members ("bool",
    "literal['true','false']", "GatewayInfo"), which name a type, not a field (the
    APIs' fields are lower case)."""
    return [
        str(p)
        for i, p in enumerate(loc)
        if not (i == 0 and p in ("body", "query", "path")) and not _type_tag(p)
    ]


def _type_tag(part: Any) -> bool:
    return isinstance(part, str) and (
        part in UNION_TAGS or "[" in part or (part.isidentifier() and part[0].isupper())
    )


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 80 else text[:77] + "..."
