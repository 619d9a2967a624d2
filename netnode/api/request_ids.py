"""Request ids, as OpenStack's services give them: every answer carries
``x-openstack-request-id: req-<uuid4>``, and every log line written while the request
is served carries the same id (``request_id`` on the log record, which the command
line's formatters print: ``cli/log_formats.py``).

``RequestIds`` is plain ASGI middleware: it makes the id, holds it in a context
variable for the request's task (and the worker threads FastAPI runs sync routes in,
which copy the context), and adds the header to whatever answer goes out. An answer
made outside it (an unexpected exception, which Starlette's outermost middleware turns
into a 500) takes the id from ``of(request)``. It also logs each request once it is
answered, as OpenStack's services do (logger ``netnode.api.access``, INFO: method, path,
status and duration, with the request's id; never a header, so never a token)."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-openstack-request-id"
access = logging.getLogger("netnode.api.access")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "netnode_request_id", default=None
)


def new_id() -> str:
    return f"req-{uuid.uuid4()}"


def current() -> str | None:
    """The id of the request being served, None outside a request."""
    return _current.get()


def of(request: Request) -> str | None:
    """The id ``RequestIds`` gave ``request``."""
    state = request.scope.get("state") or {}
    found = state.get("request_id")
    return found if isinstance(found, str) else None


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        _stamp_log_records()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_id()
        scope.setdefault("state", {})["request_id"] = rid
        token = _current.set(rid)
        started = time.perf_counter()
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = list(message.get("headers", []))
                if not any(name.lower() == HEADER.encode() for name, _ in headers):
                    headers.append((HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
        if status:
            seconds = time.perf_counter() - started
            action = f"{scope.get('method', '')} {scope.get('path', '')}"
            access.info(
                "%s %d %.1f ms",
                action,
                status[0],
                1000 * seconds,
                extra={"action": action, "outcome": str(status[0]), "duration": round(seconds, 4)},
            )
        # Not reset when the app raised: the 500 and its log line are made after this,
        # by Starlette's outermost middleware, in the same task, for the same request.
        _current.reset(token)


_installed = False


def _stamp_log_records() -> None:
    """Every log record made from now on carries ``request_id`` (None outside a
    request): installed once per process, around whatever record factory is there."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
