"""Everything the API can see, read once per request from the store: every topology
desired on the node (the API's own and those ``netnode apply`` wrote), indexed by id,
with each object's provisioning status. Pure apart from ``World.read``.

Objects are known by id across topologies. Those of the API's topology carry their
API metadata (free-text name, project, timestamps); those of a topology file belong to
the operator's project, and their networks are shared with every project (as an
operator's provider networks are in Neutron), so a project can put a load balancer or
a router on the lab's networks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address
from typing import Any

from netnode.errors import NetnodeError
from netnode.model import ids
from netnode.model.loading import load_data
from netnode.model.topology import (
    FloatingIP,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Network,
    Pool,
    Router,
    Subnet,
    Topology,
)
from netnode.reconcile import provisioning
from netnode.reconcile.ledger import LedgerStore, Record
from netnode.store import rows
from netnode.store.desired import Snapshot

API_TOPOLOGY = "api"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Source:
    """One desired topology and what the reconcile loop recorded of it."""

    name: str
    topo: Topology
    generation: int
    record: Record
    status: dict[str, str] = field(default_factory=dict)
    # The rows it was read from (a change of the API's topology edits those), and which
    # row holds each object id.
    snapshot: Snapshot | None = None
    index: dict[str, str] = field(default_factory=dict)

    @property
    def is_api(self) -> bool:
        return self.name == API_TOPOLOGY


@dataclass(frozen=True)
class Port:
    """A Neutron port, derived: a VIP, a router's interface or gateway, a lab host."""

    id: str
    network_id: str
    subnet_id: str | None
    address: IPv4Address
    device_owner: str
    device_id: str
    project_id: str
    mac: str | None = None
    name: str = ""


class World:
    def __init__(self, sources: dict[str, Source], node: str, operator_project: str) -> None:
        self.sources = sources
        self.node = node
        self.operator_project = operator_project
        self.networks: dict[str, tuple[Source, Network]] = {}
        self.subnets: dict[str, tuple[Source, Network, Subnet]] = {}
        self.lbs: dict[str, tuple[Source, LoadBalancer]] = {}
        self.listeners: dict[str, tuple[Source, LoadBalancer, Listener]] = {}
        self.pools: dict[str, tuple[Source, LoadBalancer, Pool]] = {}
        self.members: dict[str, tuple[Source, LoadBalancer, Pool, Member]] = {}
        self.monitors: dict[str, tuple[Source, LoadBalancer, Pool, HealthMonitor]] = {}
        self.l7policies: dict[str, tuple[Source, LoadBalancer, Listener, L7Policy]] = {}
        self.l7rules: dict[str, tuple[Source, LoadBalancer, Listener, L7Policy, L7Rule]] = {}
        self.routers: dict[str, tuple[Source, Router]] = {}
        self.fips: dict[str, tuple[Source, FloatingIP]] = {}
        self.ports: dict[str, Port] = {}
        # network id -> addresses held on it (by anything, in any topology).
        self.used: dict[str, set[IPv4Address]] = {}
        # subnet id -> the router serving it.
        self.served: dict[str, str] = {}
        self._port_at: dict[tuple[str, IPv4Address], Port] = {}
        self._ports_at: dict[IPv4Address, list[Port]] = {}
        # Files first: a network a file defines is the file's, even when the API's
        # topology carries a copy of it.
        for source in sorted(sources.values(), key=lambda s: s.is_api):
            self._index(source)

    # --- reading -------------------------------------------------------------------

    @classmethod
    def read(
        cls, store: LedgerStore, node: str, operator_project: str, cache: TopologyCache
    ) -> World:
        sources = {}
        for name, generation in store.generations().items():
            parsed = cache.get(store, name, generation, node)
            if parsed is None:
                continue
            topo, objects, snapshot, index = parsed
            record = store.read_record(name)
            status = provisioning.pending(record.objects, record.status, objects)
            sources[name] = Source(name, topo, snapshot.generation, record, status, snapshot, index)
        return cls(sources, node, operator_project)

    def _index(self, src: Source) -> None:
        topo = src.topo
        for net in topo.networks:
            if net.uid not in self.networks:
                self.networks[net.uid] = (src, net)
                for subnet in net.subnets:
                    self.subnets[subnet.uid] = (src, net, subnet)
        by_name = {n.name: n.uid for n in topo.networks}
        subnet_by_name = {s.name: s.uid for n in topo.networks for s in n.subnets}
        for lb in topo.load_balancers:
            self.lbs[lb.uid] = (src, lb)
            net_id = by_name[lb.vip.network]
            self._port(
                src,
                f"vip/{lb.uid}",
                net_id,
                lb.vip.address,
                "Octavia",
                lb.uid,
                lb.vip.mac,
                f"octavia-lb-{lb.uid}",
            )
            for listener in lb.listeners:
                self.listeners[listener.uid] = (src, lb, listener)
                for policy in listener.l7policies:
                    self.l7policies[policy.uid] = (src, lb, listener, policy)
                    for rule in policy.rules:
                        self.l7rules[rule.uid] = (src, lb, listener, policy, rule)
            for pool in lb.pools:
                self.pools[pool.uid] = (src, lb, pool)
                for member in pool.members:
                    self.members[member.uid] = (src, lb, pool, member)
                if pool.healthmonitor is not None:
                    self.monitors[pool.healthmonitor.uid] = (src, lb, pool, pool.healthmonitor)
        for router in topo.routers:
            self.routers[router.uid] = (src, router)
            for name in router.interfaces:
                subnet_id = subnet_by_name[name]
                self.served[subnet_id] = router.uid
                _, net, subnet = self.subnets[subnet_id]
                if subnet.gateway_ip is not None:
                    self._port(
                        src,
                        f"routerport/{router.uid}/{subnet_id}",
                        net.uid,
                        subnet.gateway_ip,
                        "network:router_interface",
                        router.uid,
                    )
            gw = router.external_gateway
            if gw is not None:
                self._port(
                    src,
                    f"gateway/{router.uid}",
                    by_name[gw.network],
                    gw.ip_address,
                    "network:router_gateway",
                    router.uid,
                )
        for fip in topo.floating_ips:
            self.fips[fip.uid] = (src, fip)
            if fip.network is not None:
                self._port(
                    src,
                    f"fip/{fip.uid}",
                    by_name[fip.network],
                    fip.floating_ip_address,
                    "network:floatingip",
                    fip.uid,
                )
        for inst in topo.lab.instances:
            self._port(
                src,
                f"instance/{inst.uid}",
                by_name[inst.network],
                inst.address,
                "compute:nova",
                inst.uid,
                inst.mac,
                inst.name,
            )
        for client in topo.lab.clients:
            self._port(
                src,
                f"client/{client.uid}",
                by_name[client.network],
                client.address,
                "compute:nova",
                client.uid,
                None,
                client.name,
            )
        for net in topo.networks:
            for subnet in net.subnets:
                if subnet.gateway_ip is not None:
                    self.used.setdefault(net.uid, set()).add(subnet.gateway_ip)

    def _port(
        self,
        src: Source,
        key: str,
        network_id: str,
        address: IPv4Address,
        owner: str,
        device: str,
        mac: str | None = None,
        name: str = "",
    ) -> None:
        port_id = ids.stable_id(self.node, "port", key)
        subnet_id = self.subnet_holding(network_id, address)
        port = Port(
            port_id,
            network_id,
            subnet_id,
            address,
            owner,
            device,
            self.project_of(src, device),
            mac,
            name,
        )
        self.ports[port_id] = port
        self._port_at.setdefault((network_id, address), port)
        self._ports_at.setdefault(address, []).append(port)
        self.used.setdefault(network_id, set()).add(address)

    # --- questions -----------------------------------------------------------------

    def project_of(self, src: Source, object_id: str) -> str:
        meta = src.topo.metadata.get(object_id)
        return meta.project_id if meta is not None else self.operator_project

    def name_of(self, src: Source, obj: Any) -> str:
        meta = src.topo.metadata.get(obj.uid)
        # Objects without a name of their own (L7 rules) have none to fall back on.
        return meta.name if meta is not None else getattr(obj, "name", "")

    def shared(self, src: Source, net: Network) -> bool:
        meta = src.topo.metadata.get(net.uid)
        return meta.shared if meta is not None else True

    def status(self, src: Source, object_id: str) -> str:
        return src.status.get(object_id, provisioning.ACTIVE)

    def subnet_holding(self, network_id: str, address: IPv4Address) -> str | None:
        entry = self.networks.get(network_id)
        if entry is None:
            return None
        for subnet in entry[1].subnets:
            if address in subnet.cidr:
                return subnet.uid
        return None

    def port_of_address(self, network_id: str, address: IPv4Address) -> Port | None:
        return self._port_at.get((network_id, address))

    def ports_at(self, address: IPv4Address) -> list[Port]:
        """The ports holding ``address``, on any network."""
        return self._ports_at.get(address, [])

    def free_address(self, subnet_id: str) -> IPv4Address | None:
        _, net, subnet = self.subnets[subnet_id]
        used = self.used.get(net.uid, set())
        for address in subnet.cidr.hosts():
            if address not in used:
                return address
        return None

    def used_tags(self) -> set[int]:
        return {n.segmentation_id for _, n in self.networks.values() if n.segmentation_id}


Parsed = tuple[Topology, dict[str, provisioning.Object], Snapshot, dict[str, str]]


class TopologyCache:
    """Parsed topologies, their objects' fingerprints and the rows they were read from,
    by (name, generation): a topology is read, validated and hashed once per write, not
    per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topologies: dict[str, tuple[int, Parsed | None]] = {}

    def get(self, store: LedgerStore, name: str, generation: int, node: str) -> Parsed | None:
        with self._lock:
            cached = self._topologies.get(name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        snapshot = store.desired.snapshot(name)
        document = snapshot.document()
        parsed = None
        if document is not None:
            try:
                topo = load_data(document, node, f"topology {name}")
                index = {
                    i: key
                    for key, stored in snapshot.rows.items()
                    for i in rows.ids_within(stored.row.body)
                }
                parsed = (topo, provisioning.objects(topo, {}), snapshot, index)
            except NetnodeError:
                parsed = None  # the agent reports it; the API shows what it can
        with self._lock:
            self._topologies[name] = (snapshot.generation, parsed)
        return parsed
