"""The API's one way to change anything: read every topology, apply a change to the
API's topology document, validate the whole of it, and write it only if nobody wrote
since it was read (compare-and-set on the topology's generation); then wake the
reconcile loop. A request either lands whole or changes nothing.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from netnode.api import kinds
from netnode.api.auth import Context
from netnode.api.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from netnode.api.snapshots import Snapshots
from netnode.api.status_cache import DEFAULT_INTERVAL, StatusCache, unobserved
from netnode.api.world import API_TOPOLOGY, Source, TopologyCache, World, now
from netnode.drivers.haproxy import HAProxyProcesses
from netnode.drivers.nftables import UdpTables
from netnode.errors import CONFLICT, NetnodeError, TopologyError
from netnode.model.ids import lb_namespace
from netnode.model.loading import load_data
from netnode.model.topology import LoadBalancer
from netnode.plan.desired import process_name, udp_root
from netnode.reconcile.ledger import LedgerStore
from netnode.reconcile.status import LoadBalancerStatus, loadbalancer_status, udp_rows
from netnode.store.quotas import QuotaStore

T = TypeVar("T")
ATTEMPTS = 20
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


def new_id() -> str:
    return str(uuid.uuid4())


def asked_project(body: dict[str, Any]) -> str | None:
    """The project a create names (Neutron also takes its old name, tenant_id)."""
    return body.get("project_id") or body.get("tenant_id")


class Doc:
    """The API topology's document being changed (plain JSON data)."""

    def __init__(self, data: dict[str, Any] | None, integration_bridge: str = "br-int") -> None:
        self.data: dict[str, Any] = copy.deepcopy(data) if data else {"name": API_TOPOLOGY}
        self.data["integration_bridge"] = integration_bridge
        for kind in kinds.KINDS.values():
            if kind.parent is None and kind.many and len(kind.path) == 1:
                self.data.setdefault(kind.field, [])  # networks, load_balancers, ...
        self.data.setdefault("metadata", {})

    # --- objects (where each kind lives: api/kinds.py) ----------------------------------

    def find(self, kind: str, object_id: str) -> dict[str, Any]:
        """An object of the API's topology by kind and id (the caller checked it exists)."""
        for item in self.items(kind):
            if item.get("id") == object_id:
                return item
        raise NotFound.of(kind, object_id)

    def items(self, kind: str) -> list[dict[str, Any]]:
        """Every object of ``kind`` ("listener", "l7rule", ...) in the document."""
        return kinds.kind(kind).items(self.data)

    def remove(self, kind: str, object_id: str) -> None:
        """Take an object out of the document, with what it holds and their metadata."""
        found = kinds.kind(kind)
        for item in found.remove(self.data, object_id):
            for gone in found.ids_within(item):
                self.data["metadata"].pop(gone, None)
        self.data["metadata"].pop(object_id, None)

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
        self.data["metadata"][object_id] = meta

    def update_meta(self, object_id: str, body: dict[str, Any]) -> None:
        meta = self.data["metadata"].setdefault(object_id, {})
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
        for net in self.data["networks"]:
            if net["id"] == network_id:
                return net["name"]
        src, net = world.networks[network_id]
        if not net.external and src.topo.integration_bridge != self.data["integration_bridge"]:
            raise Conflict(
                f"network {network_id} of topology {src.name!r} is on integration bridge "
                f"{src.topo.integration_bridge!r}, the API's networks on "
                f"{self.data['integration_bridge']!r} (netnode serve --integration-bridge)"
            )
        copied = net.model_dump(mode="json", exclude_none=True)
        copied["name"] = net.uid
        for subnet in copied["subnets"]:
            subnet["name"] = subnet["id"]
        self.data["networks"].append(copied)
        return net.uid

    def subnet_name(self, world: World, subnet_id: str) -> str:
        _, net, _ = world.subnets[subnet_id]
        self.use_network(world, net.uid)
        for n in self.data["networks"]:
            for s in n["subnets"]:
                if s["id"] == subnet_id:
                    return s["name"]
        raise NotFound.of("subnet", subnet_id)

    def prune(self, world: World) -> None:
        """Drop copies of other topologies' networks that nothing here uses any more,
        and metadata of objects that are gone."""
        used: set[str] = set()
        subnet_net = {s["name"]: n["name"] for n in self.data["networks"] for s in n["subnets"]}
        for lb in self.data["load_balancers"]:
            used.add(lb["vip"]["network"])
        for r in self.data["routers"]:
            if r.get("external_gateway"):
                used.add(r["external_gateway"]["network"])
            used.update(subnet_net.get(s, "") for s in r.get("interfaces", []))
        for f in self.data["floating_ips"]:
            used.update(x for x in (f.get("network"), f.get("fixed_network")) if x)
        copies = {uid for uid, (src, _) in world.networks.items() if not src.is_api}
        self.data["networks"] = [
            n for n in self.data["networks"] if n["id"] not in copies or n["name"] in used
        ]
        present = {
            x["id"] for kind in kinds.KINDS.values() for x in kind.items(self.data) if x.get("id")
        }
        self.data["metadata"] = {k: v for k, v in self.data["metadata"].items() if k in present}


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
        self._lock = threading.Lock()
        self.statuses = StatusCache(self.live_rows, status_interval)
        self.snapshots = Snapshots(store, self._read_world)

    def live_rows(self, lb: LoadBalancer) -> list[dict[str, str]] | None:
        """The load balancer's HAProxy ``show stat`` rows and its UDP checker's, read now
        (None: not running)."""
        if self.haproxy is None:
            return None
        name = process_name("lb", lb.uid)
        try:
            rows = self.haproxy.stats(name) if self.haproxy.running_pid(name) else None
        except (NetnodeError, OSError):
            rows = None
        if rows is not None:
            # UDP listeners and pools: the UDP checker's health, beside HAProxy's run dir.
            udp = UdpTables(Path(udp_root(self.haproxy.run_dir)))
            rows += udp_rows(lb, udp.health(lb_namespace(lb.uid)))
        return rows

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

    def _read_world(self) -> World:
        return World.read(self.store, self.node, self.operator_project, self.cache)

    def change(self, mutate: Callable[[Doc, World], T]) -> T:
        """Apply ``mutate`` to the API's topology and write it, all or nothing."""
        with self._lock:
            for _ in range(ATTEMPTS):
                world = self.world()
                document, generation = self.store.document(API_TOPOLOGY)
                if not self._reads(world, document, generation):
                    continue  # written since the world was read: read both again
                doc = Doc(document, self.integration_bridge)
                result = mutate(doc, world)
                doc.prune(world)
                try:
                    topo = load_data(doc.data, self.node, "api")
                except TopologyError as exc:
                    raise _refusal(exc) from exc
                data = topo.model_dump(mode="json", exclude_none=True)
                if self.store.replace_desired(API_TOPOLOGY, data, generation):
                    self.cache.put(API_TOPOLOGY, generation + 1, topo)
                    self.on_change()
                    return result
        raise Conflict("the store kept changing under this request; try again")

    def _reads(self, world: World, document: dict[str, Any] | None, generation: int) -> bool:
        """Whether ``world`` holds the API's topology at ``generation``, the document a
        change edits: a change checks against the world (free addresses, what is in use,
        what a network copy comes from), so the two must be one state of the store."""
        seen = world.sources.get(API_TOPOLOGY)
        if seen is not None:
            return seen.generation == generation
        if document is None:
            return True
        try:  # absent from the world: not yet written when it was read, or unreadable
            load_data(document, self.node, "api")
        except NetnodeError:
            return True  # the change's own validation says what is wrong with it
        return False


def _refusal(exc: TopologyError) -> ApiError:
    """A change the topology's own rules refuse: 409 when a problem is a conflict (it
    collides with something that exists), 400 otherwise."""
    text = "; ".join(str(p) for p in exc.problems)
    if any(p.code == CONFLICT for p in exc.problems):
        return Conflict(text)
    return BadRequest(text)


# --- checks every route shares ------------------------------------------------------------


def visible(ctx: Context, world: World, src: Source, object_id: str, kind: str) -> None:
    if not ctx.may_see(world.project_of(src, object_id)):
        raise NotFound.of(kind, object_id)


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
    if ctx.role == "reader":
        raise Forbidden("this token may only read")
