"""Rise and fall: when consecutive check results change a member's state. Pure."""

from __future__ import annotations

from dataclasses import dataclass

UP, DOWN = "UP", "DOWN"


@dataclass
class MemberHealth:
    """A member's state and how many checks in a row said otherwise.

    A member starts UP (as HAProxy's servers and keepalived's real servers do); ``fall``
    failed checks in a row take it down, ``rise`` passed checks in a row bring it back.
    """

    up: bool = True
    streak: int = 0

    def record(self, ok: bool, rise: int, fall: int) -> bool:
        """Count one check result; True when the state changed."""
        if ok == self.up:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak >= (rise if ok else fall):
            self.up = ok
            self.streak = 0
            return True
        return False

    @property
    def state(self) -> str:
        return UP if self.up else DOWN
