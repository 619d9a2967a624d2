"""netnode.cluster.liveness: alive, dead or left, and why, from a node's row alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from netnode.cluster.liveness import judge

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_a_recent_heartbeat_is_alive() -> None:
    v = judge(heartbeat_at=ago(2), left_at=None, timeout=10, now=NOW, lock_held=True)
    assert (v.state, v.reason, v.age) == ("alive", "heartbeat 2.0 s ago", 2.0)
    assert v.alive


def test_a_heartbeat_older_than_the_timeout_is_dead() -> None:
    v = judge(heartbeat_at=ago(10.5), left_at=None, timeout=10, now=NOW, lock_held=None)
    assert (v.state, v.reason) == ("dead", "no heartbeat for 10.5 s (timeout 10 s)")
    # Exactly the timeout is not yet past it.
    assert judge(heartbeat_at=ago(10), left_at=None, timeout=10, now=NOW, lock_held=None).alive


def test_a_released_lock_is_dead_whatever_the_heartbeat() -> None:
    v = judge(heartbeat_at=ago(0.1), left_at=None, timeout=10, now=NOW, lock_held=False)
    assert v.state == "dead"
    assert "advisory lock" in v.reason


def test_a_clean_stop_is_left_not_dead() -> None:
    v = judge(heartbeat_at=ago(60), left_at=ago(59), timeout=10, now=NOW, lock_held=False)
    assert (v.state, v.reason) == ("left", "stopped cleanly 59.0 s ago")
    assert not v.alive


def test_a_heartbeat_after_leaving_is_a_node_back() -> None:
    v = judge(heartbeat_at=ago(1), left_at=ago(5), timeout=10, now=NOW, lock_held=True)
    assert v.state == "alive"


def test_a_store_clock_behind_the_heartbeat_counts_as_no_age() -> None:
    v = judge(heartbeat_at=NOW + timedelta(seconds=1), left_at=None, timeout=10, now=NOW,
              lock_held=None)  # fmt: skip
    assert (v.state, v.age) == ("alive", 0.0)
