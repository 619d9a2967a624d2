"""Whether a node is alive: a pure judgement of what its row and the store say.

A node is
- **left** when it stopped cleanly (it said so, and has not beaten since);
- **dead** when its session-level advisory lock is gone (PostgreSQL: the server ended
  its session, so its process or its host is gone or cut off), or when its last
  heartbeat is older than its timeout;
- **alive** otherwise.

The lock is the fast signal (a killed process is dead at once), the heartbeat the slow
one that also covers a node whose process hangs with its session open, and SQLite,
which has no such locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# A node's defaults, here (pure, light) so that the command line can show them in its
# options without importing the store. Neutron's agent_down_time is 75 s, Octavia's
# amphora heartbeat stale after 60 s.
DEFAULT_TIMEOUT = 10.0
DEFAULT_ZONE = "nova"

State = Literal["alive", "dead", "left"]
ALIVE: State = "alive"
DEAD: State = "dead"
LEFT: State = "left"


@dataclass(frozen=True)
class Verdict:
    state: State
    # Why, in words for an operator: "heartbeat 0.4 s ago", "no heartbeat for 12.1 s".
    reason: str
    # Seconds since the last heartbeat, by the store's clock.
    age: float
    # Seconds since it stopped cleanly (LEFT only).
    left_age: float = 0.0

    @property
    def alive(self) -> bool:
        return self.state == ALIVE


def judge(
    *,
    heartbeat_at: datetime,
    left_at: datetime | None,
    timeout: float,
    now: datetime,
    lock_held: bool | None,
) -> Verdict:
    """``lock_held``: whether the node's advisory lock is held (None: the store has no
    such locks)."""
    age = max((now - heartbeat_at).total_seconds(), 0.0)
    if left_at is not None and left_at >= heartbeat_at:
        since = max((now - left_at).total_seconds(), 0.0)
        return Verdict(LEFT, f"stopped cleanly {_ago(since)}", age, since)
    if lock_held is False:
        return Verdict(DEAD, "its store session is gone (its advisory lock was released)", age)
    if age > timeout:
        return Verdict(DEAD, f"no heartbeat for {age:.1f} s (timeout {timeout:g} s)", age)
    return Verdict(ALIVE, f"heartbeat {_ago(age)}", age)


def _ago(seconds: float) -> str:
    return f"{max(seconds, 0.0):.1f} s ago"
