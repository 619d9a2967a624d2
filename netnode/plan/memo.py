"""What the last pass made, per topology, by the key of what each piece was made from.
Pure.

A pass asks for each piece (a unit of the desired host, a load balancer's provisioning
fingerprints...) by a key that holds everything the piece is made from; a key the last
pass of that topology used gives the piece that pass made, unchanged, instead of making
it again. Only the pieces of the last pass of each topology are kept.

A key holds a model as its JSON. Making that JSON is most of a pass's cost when little
changed (about 45 microseconds a load balancer, twice a pass: 1,000 load balancers
cost 90 ms a pass to say they are unchanged), so a pass also keeps each model's JSON
by the model object: the agent's topology cache hands a pass the same objects as the
last one for every row that did not change. Models are never changed in place once
loaded (``model.loading`` finishes them before anyone sees them), and a kept JSON is
used only for the very object it was made from.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Dumpable(Protocol):
    def model_dump_json(self) -> str: ...


# Per model object (by id, with the object itself: an id is not reused while it is held).
Dumps = dict[int, tuple[Dumpable, str]]


class Memo(Generic[T]):
    def __init__(self) -> None:
        self._last: dict[str, dict[Hashable, T]] = {}
        self._dumps: dict[str, Dumps] = {}

    def last(self, topology: str) -> dict[Hashable, T]:
        """The pieces the last pass of ``topology`` made, by key."""
        return self._last.get(topology, {})

    def dumps(self, topology: str) -> Dumps:
        """The JSON of the models the last pass of ``topology`` keyed pieces by."""
        return self._dumps.get(topology, {})

    def keep(self, topology: str, pieces: dict[Hashable, T], dumps: Dumps | None = None) -> None:
        self._last[topology] = pieces
        self._dumps[topology] = dumps or {}


class Pass(Generic[T]):
    """One pass's use of a memo (or of none: everything is made)."""

    def __init__(self, memo: Memo[T] | None, topology: str) -> None:
        self.memo = memo
        self.topology = topology
        self._before = memo.last(topology) if memo is not None else {}
        self._now: dict[Hashable, T] = {}
        self._dumps_before = memo.dumps(topology) if memo is not None else {}
        self._dumps_now: Dumps = {}

    def json(self, model: Dumpable) -> str:
        """``model.model_dump_json()``, made once per model object while passes use it."""
        if self.memo is None:
            return model.model_dump_json()
        kept = self._dumps_before.get(id(model)) or self._dumps_now.get(id(model))
        text = kept[1] if kept is not None and kept[0] is model else model.model_dump_json()
        self._dumps_now[id(model)] = (model, text)
        return text

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
            self.memo.keep(self.topology, self._now, self._dumps_now)
