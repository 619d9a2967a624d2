"""What the API reads, kept while the store has not changed: the World (every
topology, indexed, with each object's provisioning status) and what is derived from it
(a listing's prepared views).

Every write to a topology's row, its document (the API, ``netnode apply``) or its
record (a reconcile pass, in this process or another), sets the row's ``updated_at``;
a document write also counts its ``generation``. So one small query, each row's
(name, generation, updated_at), tells whether the World read last is still the
store's: a request pays for that query, not for reading and indexing every topology.
The token is read before the World it stands for, so a write between the two can
only make the kept World newer than its token: the next request reads again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa

from netnode.api.world import World
from netnode.reconcile.ledger import LedgerStore
from netnode.store import schema

T = TypeVar("T")
# Derived values kept (a listing per collection, and per pool for members...).
MAX_DERIVED = 64


class Snapshots:
    def __init__(self, store: LedgerStore, read: Callable[[World | None], World]) -> None:
        self.store = store
        self.read = read
        t = schema.topologies
        self._query = (
            sa.select(t.c.name, t.c.generation, t.c.updated_at)
            .where(t.c.node == store.scope)
            .order_by(t.c.name)
        )
        self._lock = threading.Lock()
        self._world: tuple[Any, World] | None = None
        self._derived: OrderedDict[Hashable, tuple[World, Hashable, Any]] = OrderedDict()

    def token(self) -> tuple[tuple[Any, ...], ...]:
        with self.store.engine.connect() as db:
            return tuple(tuple(row) for row in db.execute(self._query))

    def world(self) -> World:
        """The World as the store holds it now (the same object while nothing changed;
        nobody changes a World)."""
        token = self.token()
        with self._lock:
            kept = self._world
        if kept is not None and kept[0] == token:
            return kept[1]
        # Built from the World kept: only what changed since is indexed again.
        world = self.read(kept[1] if kept is not None else None)
        with self._lock:
            self._world = (token, world)
        return world

    def derived(self, key: Hashable, world: World, version: Hashable, build: Callable[[], T]) -> T:
        """``build()``'s value, kept for ``key`` while ``world`` is the one read and
        ``version`` (of what else it depends on: the operating statuses) is the same."""
        with self._lock:
            kept = self._derived.get(key)
            if kept is not None and kept[0] is world and kept[1] == version:
                self._derived.move_to_end(key)
                value: T = kept[2]
                return value
        value = build()
        with self._lock:
            self._derived[key] = (world, version, value)
            self._derived.move_to_end(key)
            while len(self._derived) > MAX_DERIVED:
                self._derived.popitem(last=False)
        return value
