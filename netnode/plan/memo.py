"""What the last pass made, per topology, by the key of what each piece was made from.
Pure.

A pass asks for each piece (a unit of the desired host, a load balancer's provisioning
fingerprints...) by a key that holds everything the piece is made from; a key the last
pass of that topology used gives the piece that pass made, unchanged, instead of making
it again. Only the pieces of the last pass of each topology are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    def __init__(self) -> None:
        self._last: dict[str, dict[Hashable, T]] = {}

    def last(self, topology: str) -> dict[Hashable, T]:
        """The pieces the last pass of ``topology`` made, by key."""
        return self._last.get(topology, {})

    def keep(self, topology: str, pieces: dict[Hashable, T]) -> None:
        self._last[topology] = pieces


class Pass(Generic[T]):
    """One pass's use of a memo (or of none: everything is made)."""

    def __init__(self, memo: Memo[T] | None, topology: str) -> None:
        self.memo = memo
        self.topology = topology
        self._before = memo.last(topology) if memo is not None else {}
        self._now: dict[Hashable, T] = {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The piece made from what ``key`` holds: the last pass's, or ``make()``."""
        if self.memo is None:
            return make()
        found = self._before.get(key)
        if found is None:
            found = self._now.get(key)
        if found is None:
            found = make()
        self._now[key] = found
        return found

    def done(self) -> None:
        """Keep this pass's pieces for the next pass (those it did not ask for go)."""
        if self.memo is not None:
            self.memo.keep(self.topology, self._now)
