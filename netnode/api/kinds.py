"""Every kind of object a topology holds (a network, a listener, a port forwarding...)
and where it lives in a topology document, derived once from the model's fields.

A kind is a model class with an id (``Identified`` or ``Named``). Walking the
``Topology`` model from the top, each field that holds such objects (a list of them,
or one that may be left out, as a pool's health monitor) makes a kind: its parent
kind (None at the top of the document), the fields from the parent to it (a lab
instance sits under ``lab.instances``, ``lab`` being no object of its own) and
whether it is a list. A kind is named as the API and ``ids.stable_id`` name it: its
class name in lower case (``LoadBalancer``: ``loadbalancer``).

``Doc`` (api/service.py) finds, removes and lists objects through this table only, so a
kind added to the model is found, removed and keeps its metadata without another list
to extend.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from netnode.model.topology import Identified, Named, Topology

Item = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """One kind of object and where the document holds it."""

    name: str
    model: type[BaseModel]
    # The kind holding it; None: the document itself.
    parent: Kind | None
    # Field names from the parent to the objects ("lab", "instances"); the last holds them.
    path: tuple[str, ...]
    # A list of them (a pool's members) or one that may be absent (a pool's health monitor).
    many: bool

    @property
    def field(self) -> str:
        return self.path[-1]

    def _holder(self, parent: Item) -> Item | None:
        """The mapping of ``parent`` with this kind's field (``parent`` itself, or a plain
        container such as the document's ``lab``)."""
        holder: Item | None = parent
        for step in self.path[:-1]:
            holder = holder.get(step) if holder is not None else None
        return holder

    def held_by(self, parent: Item) -> list[Item]:
        """The objects of this kind that ``parent`` (an object of the parent kind, or the
        document) holds itself."""
        holder = self._holder(parent)
        held = holder.get(self.field) if holder is not None else None
        if self.many:
            return list(held or [])
        return [held] if held is not None else []

    def parents(self, document: Item) -> list[Item]:
        return [document] if self.parent is None else self.parent.items(document)

    def items(self, document: Item) -> list[Item]:
        """Every object of this kind in ``document``, in document order."""
        return [x for parent in self.parents(document) for x in self.held_by(parent)]

    def remove(self, document: Item, object_id: str) -> list[Item]:
        """Take the object with id ``object_id`` out of ``document``; return what was
        taken (nothing: there was none)."""
        removed: list[Item] = []
        for parent in self.parents(document):
            holder = self._holder(parent)
            held = holder.get(self.field) if holder is not None else None
            if holder is None or held is None:
                continue
            if self.many:
                removed += [x for x in held if x.get("id") == object_id]
                holder[self.field] = [x for x in held if x.get("id") != object_id]
            elif held.get("id") == object_id:
                removed.append(holder.pop(self.field))
        return removed

    def children(self) -> list[Kind]:
        """The kinds an object of this one holds (a pool: members, its health monitor)."""
        return [k for k in KINDS.values() if k.parent is self]

    def ids_within(self, item: Item) -> list[str]:
        """The id of ``item`` (an object of this kind) and of every object it holds."""
        found = [item["id"]] if item.get("id") else []
        for child in self.children():
            for x in child.held_by(item):
                found += child.ids_within(x)
        return found


def _held(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The model a field holds and whether in a list: ``list[Pool]`` is (Pool, True),
    ``HealthMonitor | None`` (HealthMonitor, False); None for anything else."""
    origin = get_origin(annotation)
    if origin is list:
        (inner,) = get_args(annotation)
        found = _held(inner)
        return (found[0], True) if found is not None and not found[1] else None
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _held(options[0]) if len(options) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None


def _has_id(model: type[BaseModel]) -> bool:
    return issubclass(model, (Identified, Named))


def _walk(model: type[BaseModel], parent: Kind | None, path: tuple[str, ...]) -> Iterator[Kind]:
    for field_name, info in model.model_fields.items():
        held = _held(info.annotation)
        if held is None:
            continue
        child, many = held
        if _has_id(child):
            kind = Kind(child.__name__.lower(), child, parent, (*path, field_name), many)
            yield kind
            yield from _walk(child, kind, ())
        elif not many:
            # A plain container (the lab): its fields belong to the same parent.
            yield from _walk(child, parent, (*path, field_name))


def _registry() -> dict[str, Kind]:
    kinds: dict[str, Kind] = {}
    for kind in _walk(Topology, None, ()):
        if kind.name in kinds:
            raise RuntimeError(f"two places hold {kind.model.__name__}: kinds must be unique")
        kinds[kind.name] = kind
    return kinds


# Kind name -> kind, parents before their children.
KINDS: dict[str, Kind] = _registry()


def kind(name: str) -> Kind:
    """The kind called ``name`` ("loadbalancer", "l7rule", "portforwarding")."""
    return KINDS[name]
