"""The desired state of each topology on a node, one row per object (``rows.py`` says
how a document splits), with the addresses those objects hold in ``allocations``.

Two ways in:

- ``replace`` takes a whole document (``netnode apply``, a watched file) and writes the
  rows that differ from the stored ones, nothing else;
- ``commit`` takes the rows one change wrote (the API's) with the revision of every row
  it read, and lands them only if none of those rows changed meanwhile: a compare-and-set
  per row, not per topology, so changes to different objects never undo each other.

Every write counts the topology's ``generation`` as the first statement of its
transaction: that one row update orders the writers of a topology at commit time
(SQLite has one writer anyway; PostgreSQL locks the row until commit), so the checks
that follow it in the same transaction (the revisions read, the addresses released, the
networks changed) see every commit before them. The work of a change (reading,
deciding, validating) happens before, in parallel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from netnode.errors import NetnodeError
from netnode.store import notify, schema
from netnode.store import rows as r

Json = dict[str, Any]


@dataclass(frozen=True)
class Stored:
    """A row as the store holds it."""

    row: r.Row
    revision: int


@dataclass(frozen=True)
class Snapshot:
    """One topology's desired state as read: header, generation and rows by key."""

    header: Json | None
    generation: int
    rows: dict[str, Stored]

    def document(self) -> Json | None:
        if self.header is None:
            return None
        return r.assemble(self.header, (s.row for s in self.rows.values()))


@dataclass(frozen=True)
class Changes:
    """A topology as it is now, for a reader who holds an earlier read of it: the rows
    whose revision the reader did not hold, read now, and the keys of those gone."""

    header: Json
    generation: int
    fresh: dict[str, Stored]
    gone: set[str]


@dataclass
class Change:
    """What one change of a topology writes, and what it read to decide it."""

    # New or changed rows, by key.
    writes: dict[str, r.Row] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    # Every row the change read or writes -> its revision then (None: it did not exist).
    expected: dict[str, int | None] = field(default_factory=dict)
    header: Json | None = None  # the new header; None: unchanged

    @property
    def empty(self) -> bool:
        return not self.writes and not self.deletes and self.header is None


class Collision(NetnodeError):
    """A write the store's own keys refuse (an address held twice, a network still in
    use): it was decided on a state that is gone, or is wrong. (Not ``errors.Refused``:
    that is the host refusing a desired state.)"""


class DesiredStore:
    def __init__(self, engine: Engine, node: str) -> None:
        self.engine = engine
        self.node = node

    # --- reading ---------------------------------------------------------------------

    def snapshot(self, topology: str) -> Snapshot:
        t = schema.topologies
        with self.engine.connect() as db:
            head = db.execute(
                sa.select(t.c.header, t.c.generation).where(
                    (t.c.node == self.node) & (t.c.name == topology)
                )
            ).first()
            if head is None:
                return Snapshot(None, 0, {})
            return Snapshot(head.header, head.generation, self._rows(db, topology))

    def changes(self, topology: str, known: dict[str, int]) -> Changes | None:
        """The topology as it is now, reading again only the rows whose revision is not
        the one in ``known`` (row key -> revision, as the reader last read them). None:
        the topology is not desired (or kept changing while read)."""
        t, o = schema.topologies, schema.objects
        head_query = sa.select(t.c.header, t.c.generation).where(
            (t.c.node == self.node) & (t.c.name == topology)
        )
        mine = (o.c.node == self.node) & (o.c.topology == topology)
        for _ in range(5):
            with self.engine.connect() as db:
                head = db.execute(head_query).first()
                if head is None or head.header is None:
                    return None
                revisions = {
                    x.key: x.revision
                    for x in db.execute(sa.select(o.c.key, o.c.revision).where(mine))
                }
                stale = [k for k, rev in revisions.items() if known.get(k) != rev]
                fresh = self._rows(db, topology, stale)
                # PostgreSQL reads each statement at its own moment: a write between
                # them shows as a new generation, and the whole is read again.
                again = db.execute(head_query).first()
            if (
                again is not None
                and again.generation == head.generation
                and all(k in fresh and fresh[k].revision == revisions[k] for k in stale)
            ):
                gone = set(known) - set(revisions)
                return Changes(head.header, head.generation, fresh, gone)
        return None

    def document(self, topology: str) -> tuple[Json | None, int]:
        snapshot = self.snapshot(topology)
        return snapshot.document(), snapshot.generation

    # --- writing ---------------------------------------------------------------------

    def replace(self, topology: str, document: Json, generation: int | None = None) -> bool:
        """Make ``document`` the topology's desired state, writing only the rows that
        differ. With ``generation``: only if nobody wrote since that generation was read
        (0: the topology must not exist yet); False when somebody did."""
        header, parts = r.split(document)
        subnets = r.gateways(document.get("networks") or [])
        with self.engine.begin() as db:
            exists = None if generation is None else generation != 0
            counted = self._count(db, topology, header, exists=exists)
            if counted is None or (generation not in (None, 0) and counted != generation + 1):
                db.rollback()
                return False
            stored = self._rows(db, topology)
            wanted = {row.key: row for row in parts}
            changed = [
                row for row in parts if row.key not in stored or not _same(stored[row.key].row, row)
            ]
            gone = set(stored) - set(wanted)
            self._write(db, topology, changed, gone, stored)
            self._allocate(db, topology, changed, gone, subnets)
        return True

    def commit(
        self, topology: str, change: Change, subnets: dict[str, tuple[str, str]]
    ) -> int | None:
        """Land ``change`` if no row it read or writes changed since, and return the
        topology's new generation (None: read again and decide again). ``Collision`` when
        the store's keys refuse it (an address another object holds, a network with
        objects still on it)."""
        with self.engine.begin() as db:
            generation = self._count(db, topology, change.header, exists=None)
            if generation is None:
                db.rollback()
                return None
            stored = self._rows(db, topology, change.expected.keys())
            for key, revision in change.expected.items():
                now = stored.get(key)
                if (now.revision if now is not None else None) != revision:
                    db.rollback()
                    return None
            written = list(change.writes.values())
            try:
                self._write(db, topology, written, change.deletes, stored)
                released = self._allocate(db, topology, written, change.deletes, subnets)
                self._still_placed(db, topology, change, stored, released)
            except Collision:
                db.rollback()
                raise
        return generation

    def forget(self, topology: str) -> None:
        where_o = (schema.objects.c.node == self.node) & (schema.objects.c.topology == topology)
        a, r = schema.allocations, schema.records
        with self.engine.begin() as db:
            db.execute(r.delete().where((r.c.node == self.node) & (r.c.name == topology)))
            db.execute(schema.objects.delete().where(where_o))
            db.execute(a.delete().where((a.c.node == self.node) & (a.c.topology == topology)))
            t = schema.topologies
            db.execute(t.delete().where((t.c.node == self.node) & (t.c.name == topology)))
            notify.changed(db, self.node)

    # --- inside a transaction --------------------------------------------------------

    def _count(
        self, db: Connection, topology: str, header: Json | None, exists: bool | None
    ) -> int | None:
        """Count a write of the topology (its first statement: the writers' order) and
        return the new generation; None when ``exists`` says otherwise than the store."""
        t = schema.topologies
        # The scope's agents are woken when (if) this transaction commits.
        notify.changed(db, self.node)
        values: Json = {"generation": t.c.generation + 1, "updated_at": _now()}
        if header is not None:
            values["header"] = header
        if exists is not False:
            updated = db.execute(
                t.update()
                .where((t.c.node == self.node) & (t.c.name == topology))
                .values(**values)
                .returning(t.c.generation)
            ).first()
            if updated is not None:
                return int(updated.generation)
            if exists:
                return None
        try:
            with db.begin_nested():
                db.execute(
                    t.insert().values(
                        node=self.node,
                        name=topology,
                        header=header if header is not None else {"name": topology},
                        generation=1,
                        updated_at=_now(),
                    )
                )
        except sa.exc.IntegrityError:
            return None  # written meanwhile by another process
        return 1

    def _rows(
        self, db: Connection, topology: str, keys: Iterable[str] | None = None
    ) -> dict[str, Stored]:
        o = schema.objects
        where = (o.c.node == self.node) & (o.c.topology == topology)
        if keys is not None:
            wanted = list(keys)
            if not wanted:
                return {}
            where = where & o.c.key.in_(wanted)
        found = db.execute(
            sa.select(o.c.key, o.c.kind, o.c.position, o.c.revision, o.c.body, o.c.meta).where(
                where
            )
        )
        return {
            x.key: Stored(r.Row(x.key, x.kind, x.position, x.body, x.meta or {}), x.revision)
            for x in found
        }

    def _write(
        self,
        db: Connection,
        topology: str,
        changed: list[r.Row],
        gone: Iterable[str],
        stored: dict[str, Stored],
    ) -> None:
        o = schema.objects
        mine = (o.c.node == self.node) & (o.c.topology == topology)
        gone = list(gone)
        if gone:
            db.execute(o.delete().where(mine & o.c.key.in_(gone)))
        now = _now()
        for row in changed:
            values = {
                "kind": row.kind,
                "position": row.position,
                "body": row.body,
                "meta": row.meta,
                "updated_at": now,
            }
            if row.key in stored:
                db.execute(
                    o.update()
                    .where(mine & (o.c.key == row.key))
                    .values(revision=o.c.revision + 1, **values)
                )
            else:
                db.execute(
                    o.insert().values(
                        node=self.node, topology=topology, key=row.key, revision=1, **values
                    )
                )

    def _allocate(
        self,
        db: Connection,
        topology: str,
        changed: list[r.Row],
        gone: Iterable[str],
        subnets: dict[str, tuple[str, str]],
    ) -> set[tuple[str, str]]:
        """The allocations of the rows written become theirs alone; an address another
        row holds (or binds) refuses the write. Returns the addresses (network, address)
        these rows held before and hold no more."""
        a = schema.allocations
        mine = (a.c.node == self.node) & (a.c.topology == topology)
        holders = [row.key for row in changed] + list(gone)
        before: set[tuple[str, str]] = set()
        if holders:
            before = {
                (x.scope, x.value)
                for x in db.execute(
                    sa.select(a.c.scope, a.c.value).where(
                        mine & a.c.holder.in_(holders) & (a.c.role == r.HOLDS)
                    )
                )
            }
            db.execute(a.delete().where(mine & a.c.holder.in_(holders)))
        wanted = [
            {
                "node": self.node,
                "topology": topology,
                "scope": alloc.scope,
                "value": alloc.value,
                "role": alloc.role,
                "holder": row.key,
            }
            for row in changed
            for alloc in sorted(r.allocations(row, subnets))
        ]
        if wanted:
            try:
                with db.begin_nested():
                    db.execute(a.insert(), wanted)
            except sa.exc.IntegrityError as exc:
                raise self._collision(db, topology, wanted) from exc
        after = {(x["scope"], x["value"]) for x in wanted if x["role"] == r.HOLDS}
        return before - after

    def _collision(self, db: Connection, topology: str, wanted: list[Json]) -> Collision:
        """What refused inserting ``wanted``: the first value another row holds (or
        binds), or two of the rows written themselves."""
        a = schema.allocations
        mine = (a.c.node == self.node) & (a.c.topology == topology)
        seen: dict[tuple[str, str, str], str] = {}
        for x in wanted:
            key = (x["scope"], x["value"], x["role"])
            other = (
                seen.get(key)
                or db.execute(
                    sa.select(a.c.holder).where(
                        mine & (a.c.scope == key[0]) & (a.c.value == key[1]) & (a.c.role == key[2])
                    )
                ).scalar()
            )
            if other is not None:
                alloc = r.Allocation(*key)
                verb = "holds" if alloc.role == r.HOLDS else "is bound to"
                return Collision(f"{alloc}: {other} {verb} it already")
            seen[key] = x["holder"]
        return Collision("an address, VLAN tag, bridge or MAC is held twice")

    def _still_placed(
        self,
        db: Connection,
        topology: str,
        change: Change,
        stored: dict[str, Stored],
        released: set[tuple[str, str]],
    ) -> None:
        """What the change takes away is used by no row it did not read: an address it
        releases is bound by no other row, a network it deletes holds nothing, and every
        address on a network it changes is still inside one of its subnets."""
        a = schema.allocations
        mine = (a.c.node == self.node) & (a.c.topology == topology)
        touched = list(set(change.writes) | change.deletes)
        others = mine & a.c.holder.not_in(touched) if touched else mine
        changed = {
            row.body.get("name", key): row.body
            for key, row in change.writes.items()
            if row.kind == "networks"
        }
        deleted = {
            stored[key].row.body.get("name", key)
            for key in change.deletes
            if key in stored and stored[key].row.kind == "networks"
        }
        deleted -= set(changed)
        if not (changed or deleted or released):
            return
        watched = set(changed) | deleted | {network for network, _ in released}
        found = db.execute(
            sa.select(a.c.scope, a.c.value, a.c.role, a.c.holder).where(
                others & a.c.scope.in_(sorted(watched))
            )
        )
        for network, address, role, holder in found:
            if network in deleted:
                raise Collision(f"{holder} still uses network {network}")
            if network in changed and not r.within(address, changed[network]):
                raise Collision(
                    f"{holder} still uses {address}, outside every subnet left on network {network}"
                )
            if role == r.BINDS and (network, address) in released:
                raise Collision(f"{holder} is bound to {address} on network {network}")


def order_of(stored: dict[str, Stored]) -> dict[str, list[str]]:
    """Each list's row keys ("load_balancers": [...]) in document order."""
    ordered = sorted((s.row for s in stored.values()), key=lambda x: (x.position, x.key))
    found: dict[str, list[str]] = {kind: [] for kind in r.ROOTS}
    for row in ordered:
        found.setdefault(row.kind, []).append(row.key)
    return found


def index_of(stored: dict[str, Stored]) -> dict[str, str]:
    """Object id -> key of the row holding it."""
    return {i: key for key, s in stored.items() for i in r.ids_within(s.row.body)}


def _same(a: r.Row, b: r.Row) -> bool:
    return (a.kind, a.position, a.body, a.meta) == (b.kind, b.position, b.body, b.meta)


def _now() -> datetime:
    return datetime.now(UTC)
