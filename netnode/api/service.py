"""The API's one way to change anything: a change edits the rows of the API's topology
it needs (``Doc``), the topology's rules judge the result, and the store lands the rows
it wrote only if none of the rows it read changed meanwhile (a compare-and-set per
object; ``netnode.store.desired``); then the reconcile loop is woken. A request either
lands whole or changes nothing, and changes to different objects proceed side by side.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, TypeVar

from netnode.api import kinds
from netnode.api.auth import Context
from netnode.api.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from netnode.api.snapshots import Snapshots
from netnode.api.status_cache import DEFAULT_INTERVAL, StatusCache, unobserved
from netnode.api.world import API_TOPOLOGY, SPREAD, Port, Source, World, now
from netnode.drivers.haproxy import HAProxyProcesses
from netnode.errors import CONFLICT, TopologyError
from netnode.model.loading import load_data
from netnode.model.topology import LoadBalancer, Topology
from netnode.reconcile.ledger import LedgerStore
from netnode.reconcile.live_rows import read_rows
from netnode.reconcile.sources import TopologyCache
from netnode.reconcile.status import LoadBalancerStatus, loadbalancer_status
from netnode.store import rows
from netnode.store.desired import Change, Collision, Snapshot, Stored, index_of, order_of
from netnode.store.quotas import QuotaStore

T = TypeVar("T")
ATTEMPTS = 20
BACK_OFF = 0.0015  # seconds: the first retry's longest wait
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


def new_id() -> str:
    return str(uuid.uuid4())


def asked_project(body: dict[str, Any]) -> str | None:
    """The project a create names (Neutron also takes its old name, tenant_id)."""
    return body.get("project_id") or body.get("tenant_id")


class Doc:
    """The API topology as one change sees and edits it: the rows of one snapshot of the
    store (``netnode.store.rows``), each copied the first time the change touches it.

    What the change touched is what it read: ``change()`` gives the store those rows
    with their revisions then, so the write lands only if none of them changed meanwhile,
    and writes only the rows that differ. Rows the change never touched are neither
    copied nor written."""

    def __init__(
        self,
        snapshot: Snapshot | None = None,
        index: dict[str, str] | None = None,
        integration_bridge: str = "br-int",
        order: dict[str, list[str]] | None = None,
    ) -> None:
        snapshot = snapshot or Snapshot(None, 0, {})
        self._base = snapshot.rows
        # Each list's row keys in document order (as the reader of the snapshot keeps it).
        self._order = order if order is not None else order_of(snapshot.rows)
        # object id -> key of the row holding it (in the snapshot).
        self._index = index if index is not None else index_of(snapshot.rows)
        self._original = snapshot.header or {"name": API_TOPOLOGY}
        self._header: dict[str, Any] | None = None  # copied when first touched
        self._integration_bridge = integration_bridge
        self._touched: dict[str, rows.Row] = {}
        self._deleted: set[str] = set()
        self._meta: dict[str, dict[str, Any]] = {}  # metadata set by this change

    @classmethod
    def of(cls, document: dict[str, Any], integration_bridge: str = "br-int") -> Doc:
        """A Doc over a whole document (tests; a topology outside the store)."""
        header, parts = rows.split(document)
        stored = {row.key: Stored(row, 1) for row in parts}
        return cls(Snapshot(header, 1, stored), None, integration_bridge)

    # --- rows -------------------------------------------------------------------------

    @property
    def header(self) -> dict[str, Any]:
        if self._header is None:
            self._header = self._normal(copy.deepcopy(self._original))
            self._header["integration_bridge"] = self._integration_bridge
        return self._header

    def _normal(self, header: dict[str, Any]) -> dict[str, Any]:
        """``header`` with the keys the API's topology always has."""
        header.setdefault("integration_bridge", self._integration_bridge)
        for field in rows.ROOTS:
            header.setdefault(field, [])
        header.setdefault("metadata", {})
        return header

    def _row(self, key: str) -> rows.Row:
        """Row ``key``, copied for this change (the caller checked it exists)."""
        row = self._touched.get(key)
        if row is None:
            base = self._base[key].row
            row = rows.Row(key, base.kind, base.position, copy.deepcopy(base.body), dict(base.meta))
            self._touched[key] = row
        return row

    def _keys(self, field: str, among: set[str] | None = None) -> list[str]:
        """The keys of the live rows of ``field`` ("load_balancers") in document order;
        with ``among``, only those rows."""
        keys = [k for k in self._order.get(field, ()) if k not in self._deleted]
        keys += [k for k, row in self._touched.items() if row.kind == field and k not in keys]
        if among is not None:
            keys = [k for k in keys if k in among]

        def place(key: str) -> tuple[int, str]:
            row = self._touched[key] if key in self._touched else self._base[key].row
            return row.position, key

        return sorted(keys, key=place)

    def replace(self, document: dict[str, Any]) -> None:
        """Make ``document`` the whole topology (what it does not hold goes)."""
        header, parts = rows.split(document)
        self._deleted = set(self._base)
        self._touched = {}
        self._header = self._normal(header)
        for row in parts:
            self._deleted.discard(row.key)
            self._touched[row.key] = row
            self._meta.update(row.meta)

    def index_of(self, field: str, key: str, world: World) -> int:
        """Where row ``key`` stands in its list of the document the change is judged on."""
        among = self._judged_keys(world) | self._touched.keys()
        return self._keys(field, among).index(key)

    def roots(self, field: str) -> list[dict[str, Any]]:
        """Every object of a top-level list ("floating_ips"), each copied for the change."""
        return [self._row(key).body for key in self._keys(field)]

    def add(self, field: str, item: dict[str, Any]) -> None:
        """A new object of a top-level list ("load_balancers")."""
        key = str(item["id"])
        if key in self._touched or (key in self._base and key not in self._deleted):
            raise Conflict(f"{key} exists already")
        positions = [self._base[keys[-1]].row.position for keys in self._order.values() if keys]
        positions += [r.position for r in self._touched.values()]
        self._deleted.discard(key)
        self._touched[key] = rows.Row(key, field, max(positions, default=-1) + 1, item, {})

    def _holder(self, object_id: str) -> str | None:
        """The key of the row holding ``object_id`` (None: none does)."""
        for key, row in self._touched.items():
            if object_id in rows.ids_within(row.body):
                return key
        key = self._index.get(object_id)
        if key is not None and key in self._base and key not in self._deleted:
            return key
        return None

    def document(self) -> dict[str, Any]:
        """The whole topology as the change leaves it."""
        return self._assembled(None)

    def _assembled(self, keys: set[str] | None) -> dict[str, Any]:
        """The topology as the change leaves it: every row it touched, and of the others
        those in ``keys`` (None: all)."""
        skip = self._touched.keys() | self._deleted
        live = [
            s.row for k, s in self._base.items() if k not in skip and (keys is None or k in keys)
        ]
        return rows.assemble(
            self.header, [*live, *(self._final(r) for r in self._touched.values())]
        )

    # What a change is judged on: the topology's rules over every row that a rule may
    # relate to a row the change touched. Addresses, VLAN tags, external bridges and MACs
    # held twice across rows are refused by the store's allocations; names are ids.
    # Networks are always in (every object is placed on one); routers and floating IPs
    # come all together when the change touches a network, a router or a floating IP
    # (the rules about which router serves which floating IP span them), with the rows
    # holding the floating IPs' fixed addresses.

    def judged(self, world: World) -> dict[str, Any]:
        """The part of the topology the change is judged on (the whole of it where a
        rule needs it: see above)."""
        return self._assembled(self._judged_keys(world))

    def _judged_keys(self, world: World) -> set[str]:
        kinds_touched = {r.kind for r in self._touched.values()}
        kinds_touched |= {self._base[k].row.kind for k in self._deleted}
        wanted = {"networks"}
        if kinds_touched & {"networks", "routers", "floating_ips"}:
            wanted |= {"routers", "floating_ips"}
        keys = {k for kind in wanted for k in self._order.get(kind, ())}
        if "floating_ips" in wanted:
            for fip in self._bodies("floating_ips"):
                for port in _fixed_ports(world, fip):
                    # A port of the topology is a row of its own; a derived one is held
                    # by its device's row (a load balancer's, the lab's).
                    holder = self._index.get(port.id) or self._index.get(port.device_id)
                    if holder is not None:
                        keys.add(holder)
        return keys

    def networks(self) -> list[dict[str, Any]]:
        return self._bodies("networks")

    def _final(self, row: rows.Row) -> rows.Row:
        """``row`` with the metadata of exactly the objects it now holds."""
        meta = {}
        for object_id in rows.ids_within(row.body):
            entry = self._meta.get(object_id, row.meta.get(object_id))
            if entry is not None:
                meta[object_id] = entry
        return rows.Row(row.key, row.kind, row.position, row.body, meta)

    def change(self) -> Change:
        """What this change writes, and the revision of every row it read."""
        change = Change()
        for key in self._deleted:
            change.expected[key] = self._base[key].revision
            change.deletes.add(key)
        for key, row in self._touched.items():
            base = self._base.get(key)
            change.expected[key] = base.revision if base is not None else None
            final = self._final(row)
            if base is None or (base.row.body, base.row.meta, base.row.position) != (
                final.body,
                final.meta,
                final.position,
            ):
                change.writes[key] = final
            change.deletes.discard(key)
        if self.header != self._original:
            change.header = self.header
        return change

    # --- objects (where each kind lives: api/kinds.py) ----------------------------------

    def find(self, kind: str, object_id: str) -> dict[str, Any]:
        """An object of the API's topology by kind and id (copied for the change)."""
        for item in self._scope(kinds.kind(kind), object_id):
            if item.get("id") == object_id:
                return item
        raise NotFound.of(kind, object_id)

    def _scope(self, found: kinds.Kind, object_id: str) -> list[dict[str, Any]]:
        """The objects of kind ``found`` in the row holding ``object_id`` (or the header)."""
        key = self._holder(object_id)
        if key is None:
            return found.items(self.header)
        row = self._row(key)
        return found.items({row.kind: [row.body]})

    def items(self, kind: str) -> list[dict[str, Any]]:
        """Every object of ``kind`` ("listener", "l7rule", ...): reads every row that may
        hold one."""
        found = kinds.kind(kind)
        field = _root(found).field
        if field not in rows.ROOTS:
            return found.items(self.header)
        return found.items({field: self.roots(field)})

    def remove(self, kind: str, object_id: str) -> None:
        """Take an object out of the document, with what it holds and their metadata."""
        found = kinds.kind(kind)
        key = self._holder(object_id)
        if key is None:
            removed = found.remove(self.header, object_id)
            for item in removed:
                for gone in found.ids_within(item):
                    self.header["metadata"].pop(gone, None)
            self.header["metadata"].pop(object_id, None)
            return
        row = self._row(key)
        if found.parent is None and row.body.get("id") == object_id:
            del self._touched[key]
            if key in self._base:
                self._deleted.add(key)
            return
        found.remove({row.kind: [row.body]}, object_id)

    def set_meta(
        self,
        object_id: str,
        ctx: Context,
        body: dict[str, Any],
        project_id: str | None = None,
        **extra: Any,
    ) -> None:
        meta = {
            "name": body.get("name") or "",
            "description": body.get("description") or "",
            "project_id": self.project_for(ctx, project_id or asked_project(body)),
            "created_at": now(),
            "tags": list(body.get("tags") or []),
            **{k: v for k, v in extra.items() if v is not None},
        }
        self._meta[object_id] = meta

    def meta(self, object_id: str) -> dict[str, Any]:
        """The metadata of ``object_id``, to change in place (created empty)."""
        entry = self._meta.get(object_id)
        if entry is not None:
            return entry
        key = self._holder(object_id)
        if key is None:
            held: dict[str, Any] = self.header["metadata"].setdefault(object_id, {})
            return held
        entry = copy.deepcopy(self._row(key).meta.get(object_id, {}))
        self._meta[object_id] = entry
        return entry

    def update_meta(self, object_id: str, body: dict[str, Any]) -> None:
        meta = self.meta(object_id)
        for key in ("name", "description", "tags"):
            if key in body and body[key] is not None:
                meta[key] = body[key]
        meta["updated_at"] = now()

    @staticmethod
    def project_for(ctx: Context, asked: str | None) -> str:
        if asked and asked != ctx.project_id:
            if not ctx.is_admin:
                raise Forbidden("only an admin may create objects for another project")
            return asked
        return ctx.project_id

    # --- networks of other topologies --------------------------------------------------

    def use_network(self, world: World, network_id: str) -> str:
        """The name (in this document) of network ``network_id``; a network of a
        topology file is copied in, so the API's topology is complete on its own."""
        if self._holder(network_id) == network_id:
            return str(self._row(network_id).body["name"])
        src, net = world.networks[network_id]
        if not net.external and src.topo.integration_bridge != self._integration_bridge:
            raise Conflict(
                f"network {network_id} of topology {src.name!r} is on integration bridge "
                f"{src.topo.integration_bridge!r}, the API's networks on "
                f"{self._integration_bridge!r} (netnode serve --integration-bridge)"
            )
        copied = net.model_dump(mode="json", exclude_none=True)
        copied["name"] = net.uid
        for subnet in copied["subnets"]:
            subnet["name"] = subnet["id"]
        self.add("networks", copied)
        return net.uid

    def subnet_name(self, world: World, subnet_id: str) -> str:
        _, net, _ = world.subnets[subnet_id]
        self.use_network(world, net.uid)
        for s in self._row(net.uid).body["subnets"]:
            if s["id"] == subnet_id:
                return str(s["name"])
        raise NotFound.of("subnet", subnet_id)

    def prune(self, world: World) -> None:
        """Drop copies of other topologies' networks that nothing here uses any more,
        and metadata of the header's objects that are gone."""
        # Only a copy that a row this change touched or deleted used may be unused now.
        subnet_net = {s["name"]: n["name"] for n in self.networks() for s in n.get("subnets", [])}
        before = [
            self._base[k].row.body for k in self._touched.keys() | self._deleted if k in self._base
        ]
        maybe = set().union(*(_networks_used(b, subnet_net) for b in before)) if before else set()
        copies = {
            uid
            for uid in maybe
            if uid in world.networks
            and not world.networks[uid][0].is_api
            and self._holder(uid) == uid
        }
        for body in (r.body for r in self._touched.values()):
            copies -= _networks_used(body, subnet_net)
        if copies:
            used: set[str] = set()
            for body in self._bodies("load_balancers", "routers", "floating_ips"):
                used |= _networks_used(body, subnet_net)
            for uid in copies - used:
                self.remove("network", uid)
        if self._header is not None:
            present = set(rows.ids_within(self._header))
            self._header["metadata"] = {
                k: v for k, v in self._header["metadata"].items() if k in present
            }

    def _bodies(self, *fields: str) -> list[dict[str, Any]]:
        """The objects of top-level lists as they stand, read without copying."""
        found = [
            self._base[k].row.body
            for field in fields
            for k in self._order.get(field, ())
            if k not in self._touched and k not in self._deleted
        ]
        return found + [row.body for row in self._touched.values() if row.kind in fields]


def _networks_used(body: dict[str, Any], subnet_net: dict[str, str]) -> set[str]:
    """The networks (names) a load balancer, router or floating IP is placed on or
    reaches (nothing for a network)."""
    used: set[str | None] = set()
    if "vip" in body:
        used.add(body["vip"].get("network"))
    gateway = body.get("external_gateway")
    if gateway:
        used.add(gateway.get("network"))
    used.update(subnet_net.get(s) for s in body.get("interfaces") or [])
    if "floating_ip_address" in body:
        used.update((body.get("network"), body.get("fixed_network")))
    return {name for name in used if name}


def _fixed_ports(world: World, fip: dict[str, Any]) -> list[Port]:
    """The ports holding the addresses a floating IP maps to: its fixed address, and
    the internal addresses of its port forwardings."""
    addresses = [fip.get("fixed_ip_address")]
    addresses += [pf.get("internal_ip_address") for pf in fip.get("port_forwardings") or []]
    found: list[Port] = []
    for address in addresses:
        try:
            found += world.ports_at(IPv4Address(address)) if address else []
        except ValueError:
            continue
    return found


def _root(found: kinds.Kind) -> kinds.Kind:
    while found.parent is not None:
        found = found.parent
    return found


class Service:
    def __init__(
        self,
        store: LedgerStore,
        node: str,
        *,
        quotas: QuotaStore,
        haproxy: HAProxyProcesses | None = None,
        operator_project: str = "admin",
        integration_bridge: str = "br-int",
        on_change: Callable[[], None] = lambda: None,
        certificates_dir: Path | None = None,
        status_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        # Where TLS containers (PEM files) referenced through the API must live.
        self.certificates_dir = certificates_dir
        self.integration_bridge = integration_bridge
        self.store = store
        self.node = node
        self.quotas = quotas
        self.haproxy = haproxy
        self.operator_project = operator_project
        self.on_change = on_change
        self.cache = TopologyCache()
        self.statuses = StatusCache(self.live_rows, status_interval)
        self.snapshots = Snapshots(store, self._read_world)

    def live_rows(self, lb: LoadBalancer) -> list[dict[str, str]] | None:
        """The load balancer's HAProxy ``show stat`` rows and its UDP checker's, read now
        (None: not running)."""
        return None if self.haproxy is None else read_rows(self.haproxy, lb)

    def stats_rows(self, lb: LoadBalancer) -> list[dict[str, str]] | None:
        """One load balancer's rows for its statistics: read live."""
        return self.live_rows(lb)

    def operating(self, lb: LoadBalancer, status: dict[str, str]) -> LoadBalancerStatus:
        """The load balancer's status tree from the status cache, never from a stats
        socket: what views and listings show (OFFLINE until the watcher saw it)."""
        observed, rows = self.statuses.get(lb.uid)
        tree = loadbalancer_status(lb, rows, status)
        return tree if observed else unobserved(tree)

    def watch_statuses(self) -> None:
        """Start the status watcher (``netnode serve``); ``statuses.stop()`` ends it."""
        self.statuses.start(lambda: [lb for _, lb in self.world().lbs.values()])

    def world(self) -> World:
        """Everything the API sees, as the store holds it now (kept while unchanged)."""
        return self.snapshots.world()

    def _read_world(self, previous: World | None) -> World:
        return World.read(self.store, self.node, self.operator_project, self.cache, previous)

    def change(self, mutate: Callable[[Doc, World], T]) -> T:
        """Apply ``mutate`` to the API's topology and write it, all or nothing."""
        refused: Collision | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                _back_off(attempt)
            world = self.world()
            # After a lost race, free addresses and tags are chosen among the first few.
            SPREAD.set(1 if attempt == 0 else 16)
            src = world.sources.get(API_TOPOLOGY)
            if src is None:
                doc = Doc(None, {}, self.integration_bridge)
            else:
                parsed = src.parsed
                doc = Doc(parsed.snapshot, parsed.index, self.integration_bridge, parsed.order)
            result = mutate(doc, world)
            doc.prune(world)
            change = doc.change()
            if change.empty:
                return result
            try:
                judged = load_data(doc.judged(world), self.node, "api")
            except TopologyError as exc:
                raise _refusal(exc) from exc
            _canonical(change, judged)
            try:
                landed = self.store.desired.commit(
                    API_TOPOLOGY, change, rows.gateways(doc.networks())
                )
            except Collision as exc:
                # Decided on a state that is gone (what it read still holds, but another
                # change took an address or a network meanwhile): decide again.
                refused = exc
                continue
            if landed is not None:
                if src is not None:
                    self.cache.landed(API_TOPOLOGY, src.parsed.serial, change, landed)
                self.on_change()
                return result
        if refused is not None:
            raise Conflict(f"{refused}; try again")
        raise Conflict("the store kept changing under this request; try again")


def _back_off(attempt: int) -> None:
    """Wait before deciding a change again: a random while, longer after each lost
    race (at most about 0.1 s), so that changes racing for the same first free
    address or tag do not all meet again at once."""
    time.sleep(random.uniform(0, BACK_OFF * 2 ** min(attempt, 6)))


def _canonical(change: Change, judged: Topology) -> None:
    """The rows ``change`` writes as the topology's rules left them (ids given, defaults
    filled in): so each row read back parses alone to the same objects."""
    dumped = rows.split(judged.model_dump(mode="json", exclude_none=True))[1]
    canon = {row.key: row for row in dumped}
    for key, row in change.writes.items():
        found = canon.get(key)
        if found is not None and found.kind == row.kind:
            change.writes[key] = rows.Row(key, row.kind, row.position, found.body, found.meta)


def _refusal(exc: TopologyError) -> ApiError:
    """A change the topology's own rules refuse: 409 when a problem is a conflict (it
    collides with something that exists), 400 otherwise."""
    text = "; ".join(str(p) for p in exc.problems)
    if any(p.code == CONFLICT for p in exc.problems):
        return Conflict(text)
    return BadRequest(text)


# --- checks every route shares ------------------------------------------------------------


# Octavia's PolicyForbidden.
POLICY_FORBIDS = "Policy does not allow this request to be performed."


def visible(ctx: Context, world: World, src: Source, object_id: str, kind: str) -> None:
    """An Octavia object of another project is forbidden (403), as Octavia's policy
    check on the object's project answers, not hidden (Neutron's 404)."""
    if not ctx.may_see(world.project_of(src, object_id)):
        raise Forbidden(POLICY_FORBIDS)


def writable(src: Source, kind: str, object_id: str) -> None:
    if not src.is_api:
        raise Conflict(
            f"{kind} {object_id} belongs to topology file {src.name!r}; "
            "change it with netnode apply"
        )


def not_pending(world: World, src: Source, lb_id: str) -> None:
    status = world.status(src, lb_id)
    if status in PENDING:
        raise Conflict(f"Load Balancer {lb_id} is immutable and cannot be updated: it is {status}")


def may_write(ctx: Context) -> None:
    if not ctx.writes:
        raise Forbidden(f"this token may only read (role {ctx.role})")
