"""Each desired topology as the API reads it: read and validated whole the first time,
then row by row as its rows change (``netnode.store.desired``), so that a write of one
object costs the API one object's parsing, not the topology's.

A topology read whole goes through the topology's rules (``load_data``); a row read
again alone is parsed by its model, as the writer's rules left it (the API writes
every row as the rules resolved it, ``netnode apply`` whole resolved topologies). A
change of the header or of a network (what every other object is placed on) reads the
topology whole again.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from netnode.errors import NetnodeError
from netnode.model.loading import load_data
from netnode.model.topology import ApiMeta, FloatingIP, LoadBalancer, Network, Router, Topology
from netnode.reconcile import provisioning
from netnode.reconcile.ledger import LedgerStore
from netnode.store import rows
from netnode.store.desired import Change, Changes, Snapshot, Stored, index_of, order_of

# The model of each kind of row.
MODELS: dict[str, type[BaseModel]] = {
    "networks": Network,
    "load_balancers": LoadBalancer,
    "routers": Router,
    "floating_ips": FloatingIP,
}
Item = Network | LoadBalancer | Router | FloatingIP
_serials = itertools.count(1)


@dataclass(frozen=True)
class Parsed:
    """One topology as read at one generation."""

    snapshot: Snapshot
    topo: Topology
    models: dict[str, Any]  # row key -> its object (Item)
    row_objects: dict[str, dict[str, provisioning.Object]]  # row key -> its objects
    objects: dict[str, provisioning.Object]  # every object, by id
    index: dict[str, str]  # object id -> key of the row holding it
    # Which read this is, and what it was read from: the read before it (None: read
    # whole) and the rows read again since.
    serial: int = 0
    base: int | None = None
    changed: frozenset[str] = frozenset()
    # Each list's row keys in document order.
    order: dict[str, list[str]] = field(default_factory=dict)

    @property
    def generation(self) -> int:
        return self.snapshot.generation


class TopologyCache:
    """The last Parsed of each topology, by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topologies: dict[str, tuple[int, Parsed | None]] = {}

    def get(self, store: LedgerStore, name: str, generation: int, node: str) -> Parsed | None:
        """Topology ``name`` at ``generation`` (or newer); None: it does not load."""
        with self._lock:
            cached = self._topologies.get(name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        parsed = None
        if cached is not None and cached[1] is not None:
            parsed = _update(store, name, cached[1])
        if parsed is None:
            snapshot = store.desired.snapshot(name)
            parsed = _whole(snapshot, node, name)
            generation = snapshot.generation
        else:
            generation = parsed.generation
        with self._lock:
            self._topologies[name] = (generation, parsed)
        return parsed

    def landed(self, name: str, read: int, change: Change, generation: int) -> None:
        """``change``, decided on the topology as read at ``read`` (a Parsed's serial),
        landed as ``generation``: when that is the next generation after the one kept,
        the kept topology takes the change without reading the store again."""
        with self._lock:
            cached = self._topologies.get(name)
        if cached is None or cached[1] is None:
            return
        kept = cached[1]
        if kept.serial != read or kept.generation + 1 != generation:
            return  # another write came between: the next read reads the store
        parsed = _apply(kept, landed(kept, change, generation))
        if parsed is None:
            return
        with self._lock:
            if self._topologies.get(name) == cached:
                self._topologies[name] = (generation, parsed)


def _whole(snapshot: Snapshot, node: str, name: str) -> Parsed | None:
    document = snapshot.document()
    if document is None:
        return None
    try:
        topo = load_data(document, node, f"topology {name}")
    except NetnodeError:
        return None  # the agent reports it; the API shows what it can
    models: dict[str, Any] = {}
    order = order_of(snapshot.rows)
    for kind in rows.ROOTS:
        models.update(zip(order[kind], getattr(topo, kind), strict=True))
    row_objects = {key: provisioning.objects_of(m, {}) for key, m in models.items()}
    index = index_of(snapshot.rows)
    objects = _merged(row_objects)
    return Parsed(snapshot, topo, models, row_objects, objects, index, next(_serials), order=order)


def _update(store: LedgerStore, name: str, kept: Parsed) -> Parsed | None:
    """``kept`` brought up to date by reading again only the rows that changed; None
    when it must be read whole."""
    known = {k: s.revision for k, s in kept.snapshot.rows.items()}
    changes = store.desired.changes(name, known)
    return None if changes is None else _apply(kept, changes)


def _apply(kept: Parsed, changes: Changes) -> Parsed | None:
    """``kept`` with ``changes``; None when it must be read whole (the header or a
    network changed, or a row does not parse alone)."""
    if changes.header != kept.snapshot.header:
        return None
    before = kept.snapshot.rows
    gone = changes.gone
    if any(s.row.kind == "networks" for s in changes.fresh.values()) or any(
        before[k].row.kind == "networks" for k in gone
    ):
        return None
    models = dict(kept.models)
    row_objects = dict(kept.row_objects)
    objects = dict(kept.objects)
    index = dict(kept.index)
    metadata = dict(kept.topo.metadata)
    for key in gone | (changes.fresh.keys() & before.keys()):
        models.pop(key, None)
        for object_id in row_objects.pop(key, {}):
            objects.pop(object_id, None)
        for object_id in rows.ids_within(before[key].row.body):
            metadata.pop(object_id, None)
            if index.get(object_id) == key:
                del index[object_id]
    try:
        for key, stored in changes.fresh.items():
            model: Any = MODELS[stored.row.kind].model_validate(stored.row.body)
            row_objects[key] = provisioning.objects_of(model, {})  # every id given
            objects.update(row_objects[key])
            models[key] = model
            for object_id in rows.ids_within(stored.row.body):
                index[object_id] = key
            for object_id, meta in stored.row.meta.items():
                metadata[object_id] = ApiMeta.model_validate(meta)
    except (ValidationError, RuntimeError, KeyError):
        return None
    stored_rows = dict(before)
    for key in gone:
        del stored_rows[key]
    stored_rows.update(changes.fresh)
    order = _reordered(kept, stored_rows, changes, gone)
    lists = {kind: list(map(models.__getitem__, keys)) for kind, keys in order.items()}
    topo = kept.topo.model_copy(update={**lists, "metadata": metadata})
    return Parsed(
        Snapshot(changes.header, changes.generation, stored_rows),
        topo,
        models,
        row_objects,
        objects,
        index,
        next(_serials),
        kept.serial,
        frozenset(gone | changes.fresh.keys()),
        order,
    )


def landed(kept: Parsed, change: Change, generation: int) -> Changes:
    """What the store holds after ``change`` landed on ``kept`` as ``generation`` (the
    next after ``kept``'s: nobody else wrote between), without reading it again."""
    before = kept.snapshot.rows
    fresh = {}
    for key, row in change.writes.items():
        fresh[key] = Stored(row, before[key].revision + 1 if key in before else 1)
    gone = (change.deletes & before.keys()) - fresh.keys()
    header = change.header if change.header is not None else kept.snapshot.header
    return Changes(header or {}, generation, fresh, gone)


def _reordered(
    kept: Parsed, stored: dict[str, Stored], changes: Changes, gone: set[str]
) -> dict[str, list[str]]:
    """Each list's row keys in document order: ``kept``'s, less what went, plus new rows
    (at the end, where the API puts them; sorted again only when one is not)."""
    order: dict[str, list[str]] = {}
    moved = {
        k
        for k, s in changes.fresh.items()
        if k not in kept.snapshot.rows or (kept.snapshot.rows[k].row.position != s.row.position)
    }
    # Rows of the kept order that leave it: gone, or moved elsewhere.
    leaving = {kept.snapshot.rows[k].row.kind for k in (gone | moved) & kept.snapshot.rows.keys()}
    for name in rows.ROOTS:
        keys = list(kept.order.get(name, ()))
        if name in leaving:
            keys = [k for k in keys if k not in gone and k not in moved]
        for key in sorted(
            (k for k in moved if stored[k].row.kind == name),
            key=lambda k: (stored[k].row.position, k),
        ):
            if keys and (stored[keys[-1]].row.position, keys[-1]) > (stored[key].row.position, key):
                return order_of(stored)
            keys.append(key)
        order[name] = keys
    return order


def _merged(row_objects: dict[str, dict[str, provisioning.Object]]) -> dict[str, Any]:
    merged: dict[str, provisioning.Object] = {}
    for found in row_objects.values():
        merged.update(found)
    return merged
