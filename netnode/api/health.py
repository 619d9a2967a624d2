"""``GET /healthcheck``: whether this node works, for a load balancer in front of the
API or a supervisor. Unauthenticated, as the healthcheck middleware of Octavia and
Neutron is, and so it says nothing of any tenant.

200 ``{"status": "OK", ...}`` when a trivial query of the store answers and the
reconcile loop (when this process runs one) completed a pass recently: within
``Loop.max_age`` seconds, ``max(3 x period, MIN_AGE)``. Otherwise 503 with the reasons:
the store's error, "no pass completed for N s", "the reconcile loop's thread is dead".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from netnode.errors import StoreUnavailable
from netnode.reconcile.agent import Health

PATH = "/healthcheck"
# The longest a pass may be overdue by default, whatever the period: a short period
# must not turn one slow pass (a first full pass, a reload) into an alarm.
MIN_AGE = 30.0

router = APIRouter()


@dataclass
class Loop:
    """What the health check reads of the reconcile loop beside the API."""

    thread: threading.Thread
    # The loop's health once its agent exists (None before).
    health: Callable[[], Health | None]
    max_age: float
    # time.monotonic() when the loop started: the age of "no pass yet".
    started: float

    @staticmethod
    def max_age_for(period: float) -> float:
        return max(3 * period, MIN_AGE)


def loop_problems(loop: Loop, now: float) -> list[str]:
    """Why the loop is not healthy (empty: it is)."""
    if not loop.thread.is_alive():
        return ["the reconcile loop's thread is dead"]
    health = loop.health()
    last = None if health is None else health.last_round_at
    age = now - (loop.started if last is None else last)
    if age <= loop.max_age:
        return []
    problem = f"no pass completed for {age:.0f} s (at most {loop.max_age:g} s expected)"
    if health is not None and health.last_error:
        problem += f"; last error: {health.last_error}"
    return [problem]


def store_problems(engine: sa.Engine) -> list[str]:
    try:
        with engine.connect() as db:
            db.execute(sa.text("SELECT 1"))
    except StoreUnavailable as exc:
        return [" ".join(str(exc).split())]
    except Exception as exc:  # whatever it is, the store did not answer
        return [f"store: {type(exc).__name__}"]
    return []


@router.get(PATH, include_in_schema=True, tags=["health"])
def healthcheck(request: Request) -> Any:
    svc = request.app.state.service
    loop: Loop | None = getattr(request.app.state, "loop", None)
    problems = store_problems(svc.store.engine)
    if loop is not None:
        problems += loop_problems(loop, time.monotonic())
    if problems:
        return JSONResponse({"status": "UNAVAILABLE", "reasons": problems}, status_code=503)
    return {"status": "OK", "loop": "none" if loop is None else "running"}
