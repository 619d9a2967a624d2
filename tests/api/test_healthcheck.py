"""``GET /healthcheck`` (``netnode/api/health.py``): 200 while the store answers and the
reconcile loop completes its passes; 503 naming the reason when its thread is dead or
its last pass is too old. Unauthenticated, and it says nothing of any tenant. (The
store stopped under a running ``netnode serve``: tests/functional/test_health_logs.py.)"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from netnode.api.health import MIN_AGE, Loop
from netnode.reconcile.agent import Health
from tests.api.conftest import Api


def age(reason: str) -> int:
    """The seconds a reason says the loop went without a pass."""
    found = re.match(r"no pass completed for (\d+) s ", reason)
    assert found is not None, reason
    return int(found[1])


@pytest.fixture
def running() -> Iterator[threading.Thread]:
    """A live thread standing where the loop's would be."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join()


def test_healthy_without_a_loop_and_without_a_token(api: Api) -> None:
    r = api.get("/healthcheck", who=None)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "OK", "loop": "none"}


def test_healthy_while_the_loop_completes_passes(api: Api, running: threading.Thread) -> None:
    health = Health(rounds=3, last_round_at=time.monotonic())
    api.client.app.state.loop = Loop(running, lambda: health, 30.0, time.monotonic())  # type: ignore[attr-defined]
    r = api.get("/healthcheck", who=None)
    assert (r.status_code, r.json()["loop"]) == (200, "running")


def test_a_stuck_loop_is_503_saying_how_long(api: Api, running: threading.Thread) -> None:
    now = time.monotonic()
    health = Health(rounds=3, failing=4, last_round_at=now - 95, last_error="StoreUnavailable: x")
    api.client.app.state.loop = Loop(running, lambda: health, 30.0, now - 200)  # type: ignore[attr-defined]
    r = api.get("/healthcheck", who=None)
    assert r.status_code == 503
    (reason,) = r.json()["reasons"]
    assert age(reason) >= 95
    assert reason.endswith(" s (at most 30 s expected); last error: StoreUnavailable: x")


def test_a_loop_that_never_completed_a_pass_counts_from_its_start(
    api: Api, running: threading.Thread
) -> None:
    api.client.app.state.loop = Loop(running, lambda: None, 30.0, time.monotonic() - 40)  # type: ignore[attr-defined]
    r = api.get("/healthcheck", who=None)
    assert r.status_code == 503
    assert age(r.json()["reasons"][0]) >= 40


def test_a_dead_loop_thread_is_503(api: Api) -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    health = Health(rounds=1, last_round_at=time.monotonic())
    api.client.app.state.loop = Loop(thread, lambda: health, 30.0, time.monotonic())  # type: ignore[attr-defined]
    r = api.get("/healthcheck", who=None)
    assert r.status_code == 503
    assert r.json()["reasons"] == ["the reconcile loop's thread is dead"]


def test_the_age_allowed_follows_the_period_above_a_floor() -> None:
    assert Loop.max_age_for(2.0) == MIN_AGE
    assert Loop.max_age_for(60.0) == 180.0
