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

import functools
import random
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Any

from netnode.model import ids
from netnode.model.topology import (
    FloatingIP,
    HaNetwork,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Network,
    NetworkPort,
    Pool,
    Router,
    Subnet,
    Topology,
)
from netnode.reconcile import provisioning
from netnode.reconcile.ledger import LedgerStore, Record

if TYPE_CHECKING:
    from netnode.reconcile.sources import Parsed, TopologyCache

API_TOPOLOGY = "api"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Source:
    """One desired topology and what the reconcile loop recorded of it."""

    name: str
    # As read from the store (``reconcile.sources``): the topology, its rows (a change
    # of the API's topology edits those) and which row holds each object.
    parsed: Parsed
    record: Record
    record_revision: int
    status: dict[str, str] = field(default_factory=dict)

    @property
    def topo(self) -> Topology:
        return self.parsed.topo

    @property
    def generation(self) -> int:
        return self.parsed.generation

    @property
    def is_api(self) -> bool:
        return self.name == API_TOPOLOGY


@dataclass(frozen=True)
class Port:
    """A Neutron port: derived (a VIP, a router's interface or gateway, a lab host), or
    a port of the topology (``spec``: made through the API or written in a file)."""

    id: str
    network_id: str
    subnet_id: str | None
    # Its first address (None: a port of the topology without any).
    address: IPv4Address | None
    device_owner: str
    device_id: str
    project_id: str
    mac: str | None = None
    name: str = ""
    # Every address: (subnet id, address); a derived port's one.
    fixed: tuple[tuple[str | None, IPv4Address], ...] = ()
    # A port of the topology: the model's port and the topology holding it.
    spec: NetworkPort | None = None
    source: str = ""

    @property
    def addresses(self) -> tuple[IPv4Address, ...]:
        return tuple(a for _, a in self.fixed) or (
            (self.address,) if self.address is not None else ()
        )

    @property
    def subnet_ids(self) -> set[str | None]:
        return {s for s, _ in self.fixed} or {self.subnet_id}


class Entries(Mapping[str, tuple[Any, ...]]):
    """A table of the World: object id -> (its Source, what holds it..., the object),
    kept as (source name, the rest) so that a World built from the one before shares
    the entries of what did not change, each shown with its Source as it is now."""

    def __init__(self, world: World, table: dict[str, tuple[str, tuple[Any, ...]]]) -> None:
        self._world = world
        self._table = table

    def __getitem__(self, key: str) -> tuple[Any, ...]:
        name, rest = self._table[key]
        return (self._world.sources[name], *rest)

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


@dataclass
class Part:
    """What one row of the API's topology (or a topology file whole) adds to the World."""

    entries: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    served: list[tuple[str, str]] = field(default_factory=list)  # (subnet id, router id)
    used: list[tuple[str, IPv4Address]] = field(default_factory=list)
    owners: list[tuple[str, str]] = field(default_factory=list)  # (table, project) per entry


TABLES = (
    "networks",
    "subnets",
    "lbs",
    "listeners",
    "pools",
    "members",
    "monitors",
    "l7policies",
    "l7rules",
    "routers",
    "fips",
)
# The key of a Part that is not a row: the lab of the API's topology, a file whole.
WHOLE = ""


class World:
    networks: Mapping[str, tuple[Source, Network]]
    subnets: Mapping[str, tuple[Source, Network, Subnet]]
    lbs: Mapping[str, tuple[Source, LoadBalancer]]
    listeners: Mapping[str, tuple[Source, LoadBalancer, Listener]]
    pools: Mapping[str, tuple[Source, LoadBalancer, Pool]]
    members: Mapping[str, tuple[Source, LoadBalancer, Pool, Member]]
    monitors: Mapping[str, tuple[Source, LoadBalancer, Pool, HealthMonitor]]
    l7policies: Mapping[str, tuple[Source, LoadBalancer, Listener, L7Policy]]
    l7rules: Mapping[str, tuple[Source, LoadBalancer, Listener, L7Policy, L7Rule]]
    routers: Mapping[str, tuple[Source, Router]]
    fips: Mapping[str, tuple[Source, FloatingIP]]

    def __init__(
        self,
        sources: dict[str, Source],
        node: str,
        operator_project: str,
        previous: World | None = None,
    ) -> None:
        """Index ``sources``; with ``previous`` (the World read before), only the rows
        that changed since are indexed again, when nothing else did."""
        self.sources = sources
        self.node = node
        self.operator_project = operator_project
        self._tables: dict[str, dict[str, tuple[str, tuple[Any, ...]]]] = {}
        # source name -> row key -> what it added.
        self._parts: dict[str, dict[str, Part]] = {}
        self.ports: dict[str, Port] = {}
        # network id -> addresses held on it (by anything, in any topology).
        self.used: dict[str, set[IPv4Address]] = {}
        self._held: dict[tuple[str, IPv4Address], int] = {}
        self._used_ints: dict[str, set[int]] = {}  # ``used`` as integers
        # (table, project) -> how many objects of that table the project holds.
        self._owned: dict[tuple[str, str], int] = {}
        # subnet id -> the router serving it.
        self.served: dict[str, str] = {}
        self._port_at: dict[tuple[str, IPv4Address], Port] = {}
        self._ports_at: dict[IPv4Address, list[Port]] = {}
        changed = self._changed_since(previous)
        if previous is not None and changed is not None:
            self._evolve(previous, changed)
        else:
            self._build()
        for table in TABLES:
            setattr(self, table, Entries(self, self._tables[table]))

    # --- reading -------------------------------------------------------------------

    @classmethod
    def read(
        cls,
        store: LedgerStore,
        node: str,
        operator_project: str,
        cache: TopologyCache,
        previous: World | None = None,
    ) -> World:
        sources = {}
        for name, generation in store.generations().items():
            parsed = cache.get(store, name, generation, node)
            if parsed is None:
                continue
            before = previous.sources.get(name) if previous is not None else None
            known = before.record_revision if before is not None else None
            record, revision = store.read_merged_at(name, known)
            if record is None:  # unchanged since the World before
                assert before is not None
                record = before.record
                status = _statuses(record, parsed, before)
            else:
                status = _statuses(record, parsed, None)
            sources[name] = Source(name, parsed, record, revision, status)
        return cls(sources, node, operator_project, previous)

    # --- building -------------------------------------------------------------------

    def _changed_since(self, previous: World | None) -> dict[str, frozenset[str]] | None:
        """Per source, the rows read again since ``previous`` was built; None when the
        World must be built whole (a source came or went, or was read whole)."""
        if previous is None or previous.sources.keys() != self.sources.keys():
            return None
        changed: dict[str, frozenset[str]] = {}
        for name, src in self.sources.items():
            now, then = src.parsed, previous.sources[name].parsed
            if not src.is_api:
                if now is not then:
                    return None
                continue
            if now.serial == then.serial:
                continue
            if now.base != then.serial:
                return None
            changed[name] = now.changed
        return changed

    def _build(self) -> None:
        self._tables = {table: {} for table in TABLES}
        # Files first: a network a file defines is the file's, even when the API's
        # topology carries a copy of it.
        ordered = sorted(self.sources.values(), key=lambda s: s.is_api)
        for src in ordered:
            for net in src.topo.networks:
                if net.uid not in self._tables["networks"]:
                    self._tables["networks"][net.uid] = (src.name, (net,))
                    for subnet in net.subnets:
                        self._tables["subnets"][subnet.uid] = (src.name, (net, subnet))
        for src in ordered:
            parts: dict[str, Part] = {}
            if src.is_api:
                for key, item in src.parsed.models.items():
                    parts[key] = self._part(src, [item])
                parts[WHOLE] = self._part(src, [src.topo.lab])
            else:
                topo = src.topo
                everything = [*topo.networks, *topo.load_balancers, *topo.routers, *topo.ports]
                parts[WHOLE] = self._part(src, [*everything, *topo.floating_ips, topo.lab])
            self._parts[src.name] = parts
            for part in parts.values():
                self._add(src.name, part)

    def _evolve(self, previous: World, changed: dict[str, frozenset[str]]) -> None:
        """This World as ``previous`` plus the rows in ``changed`` read again (tables
        copied, not rebuilt: what did not change is shared)."""
        self._tables = {table: dict(entries) for table, entries in previous._tables.items()}
        self._parts = {name: dict(parts) for name, parts in previous._parts.items()}
        self.ports = dict(previous.ports)
        self.used = dict(previous.used)
        self._held = dict(previous._held)
        self._used_ints = dict(previous._used_ints)
        self._owned = dict(previous._owned)
        self.served = dict(previous.served)
        self._port_at = dict(previous._port_at)
        self._ports_at = dict(previous._ports_at)
        for name, keys in changed.items():
            src = self.sources[name]
            parts = self._parts[name]
            for key in keys:
                old = parts.pop(key, None)
                if old is not None:
                    self._remove(old)
                item = src.parsed.models.get(key)
                if item is not None:
                    parts[key] = self._part(src, [item])
                    self._add(name, parts[key])

    def _add(self, name: str, part: Part) -> None:
        for table, key, rest in part.entries:
            self._tables[table][key] = (name, rest)
        for owner in part.owners:
            self._owned[owner] = self._owned.get(owner, 0) + 1
        for port in part.ports:
            self.ports[port.id] = port
            for address in port.addresses:
                self._port_at.setdefault((port.network_id, address), port)
                self._ports_at[address] = [*self._ports_at.get(address, ()), port]
        for subnet_id, router_id in part.served:
            self.served[subnet_id] = router_id
        for network_id, address in part.used:
            count = self._held.get((network_id, address), 0)
            self._held[(network_id, address)] = count + 1
            if count == 0:
                self.used[network_id] = {*self.used.get(network_id, ()), address}
                self._used_ints[network_id] = {*self._used_ints.get(network_id, ()), int(address)}

    def _remove(self, part: Part) -> None:
        for table, key, _ in part.entries:
            self._tables[table].pop(key, None)
        for owner in part.owners:
            self._owned[owner] -= 1
        for port in part.ports:
            if self.ports.get(port.id) is port:
                del self.ports[port.id]
            for address in port.addresses:
                left = [p for p in self._ports_at.get(address, ()) if p is not port]
                if self._port_at.get((port.network_id, address)) is port:
                    # Another port may hold it now (a user's port that became a VIP:
                    # both rows change at once, in either order).
                    heir = next((p for p in left if p.network_id == port.network_id), None)
                    if heir is None:
                        del self._port_at[(port.network_id, address)]
                    else:
                        self._port_at[(port.network_id, address)] = heir
                if left:
                    self._ports_at[address] = left
                else:
                    self._ports_at.pop(address, None)
        for subnet_id, router_id in part.served:
            if self.served.get(subnet_id) == router_id:
                del self.served[subnet_id]
        for network_id, address in part.used:
            count = self._held.get((network_id, address), 0) - 1
            if count > 0:
                self._held[(network_id, address)] = count
                continue
            self._held.pop((network_id, address), None)
            self.used[network_id] = self.used.get(network_id, set()) - {address}
            self._used_ints[network_id] = self._used_ints.get(network_id, set()) - {int(address)}

    # --- what each object adds ------------------------------------------------------

    def _part(self, src: Source, items: list[Any]) -> Part:
        part = Part()
        by_name = {n.name: n.uid for n in src.topo.networks}
        for item in items:
            if isinstance(item, Network):
                for subnet in item.subnets:
                    if subnet.gateway_ip is not None:
                        part.used.append((item.uid, subnet.gateway_ip))
                self._dhcp_port(part, src, item)
            elif isinstance(item, LoadBalancer):
                self._load_balancer(part, src, item, by_name[item.vip.network])
            elif isinstance(item, Router):
                self._router(part, src, item, by_name)
            elif isinstance(item, NetworkPort):
                self._network_port(part, src, item, by_name[item.network])
            elif isinstance(item, FloatingIP):
                part.entries.append(("fips", item.uid, (item,)))
                if item.network is not None:
                    net_id = by_name[item.network]
                    address = item.floating_ip_address
                    self._port(
                        part,
                        src,
                        f"fip/{item.uid}",
                        net_id,
                        address,
                        "network:floatingip",
                        item.uid,
                    )
            else:  # the lab: its instances and clients
                hosts = [("instance", x, x.mac) for x in item.instances]
                hosts += [("client", x, None) for x in item.clients]
                for kind, host, mac in hosts:
                    net_id = by_name[host.network]
                    key = f"{kind}/{host.uid}"
                    self._port(
                        part,
                        src,
                        key,
                        net_id,
                        host.address,
                        "compute:nova",
                        host.uid,
                        mac,
                        host.name,
                    )
        part.owners = [(table, self.project_of(src, key)) for table, key, _ in part.entries]
        return part

    def _load_balancer(self, part: Part, src: Source, lb: LoadBalancer, net_id: str) -> None:
        part.entries.append(("lbs", lb.uid, (lb,)))
        self._port(
            part,
            src,
            f"vip/{lb.uid}",
            net_id,
            lb.vip.address,
            "Octavia",
            lb.uid,
            lb.vip.mac,
            f"octavia-lb-{lb.uid}",
            lb.vip.port_id,
        )
        for slot, vrrp in enumerate(lb.vrrp_addresses):
            # An ACTIVE_STANDBY pair's own addresses (Octavia's amphora VRRP ports).
            self._port(
                part,
                src,
                f"vrrp/{lb.uid}/{slot}",
                net_id,
                vrrp,
                "Octavia",
                lb.uid,
                None,
                f"octavia-lb-vrrp-{lb.uid}-{slot}",
            )
        for listener in lb.listeners:
            part.entries.append(("listeners", listener.uid, (lb, listener)))
            for policy in listener.l7policies:
                part.entries.append(("l7policies", policy.uid, (lb, listener, policy)))
                for rule in policy.rules:
                    part.entries.append(("l7rules", rule.uid, (lb, listener, policy, rule)))
        for pool in lb.pools:
            part.entries.append(("pools", pool.uid, (lb, pool)))
            for member in pool.members:
                part.entries.append(("members", member.uid, (lb, pool, member)))
            if pool.healthmonitor is not None:
                hm = pool.healthmonitor
                part.entries.append(("monitors", hm.uid, (lb, pool, hm)))

    def _router(self, part: Part, src: Source, router: Router, by_name: dict[str, str]) -> None:
        part.entries.append(("routers", router.uid, (router,)))
        subnet_by_name = {s.name: s.uid for n in src.topo.networks for s in n.subnets}
        for name in router.interfaces:
            subnet_id = subnet_by_name[name]
            part.served.append((subnet_id, router.uid))
            _, (net, subnet) = self._tables["subnets"][subnet_id]
            if subnet.gateway_ip is not None:
                key = f"routerport/{router.uid}/{subnet_id}"
                self._port(
                    part,
                    src,
                    key,
                    net.uid,
                    subnet.gateway_ip,
                    "network:router_interface",
                    router.uid,
                )
        gw = router.external_gateway
        if gw is not None:
            self._port(
                part,
                src,
                f"gateway/{router.uid}",
                by_name[gw.network],
                gw.ip_address,
                "network:router_gateway",
                router.uid,
            )

    def _dhcp_port(self, part: Part, src: Source, net: Network) -> None:
        """The network's DHCP port (Neutron's ``network:dhcp``), holding each DHCP
        subnet's ``dhcp_address``: shown as Neutron shows it, and never allocated."""
        if net.external:
            return
        fixed = tuple((s.uid, s.dhcp_address) for s in net.subnets if s.dhcp_address is not None)
        if not fixed:
            return
        port_id = ids.dhcp_port_id(net.uid)
        part.ports.append(
            Port(
                port_id,
                net.uid,
                fixed[0][0],
                fixed[0][1],
                DHCP_OWNER,
                f"dhcp-{net.uid}",
                self.project_of(src, net.uid),
                ids.port_mac(port_id),
                "",
                fixed,
            )
        )
        part.used += [(net.uid, address) for _, address in fixed]

    def _network_port(self, part: Part, src: Source, spec: NetworkPort, net_id: str) -> None:
        fixed = tuple(
            (self.subnet_holding(net_id, f.ip_address), f.ip_address) for f in spec.fixed_ips
        )
        port = Port(
            spec.uid,
            net_id,
            fixed[0][0] if fixed else None,
            fixed[0][1] if fixed else None,
            spec.device_owner,
            spec.device_id,
            self.project_of(src, spec.uid),
            spec.mac_address,
            self.name_of(src, spec),
            fixed,
            spec,
            src.name,
        )
        part.ports.append(port)
        part.used += [(net_id, address) for _, address in fixed]

    def _port(
        self,
        part: Part,
        src: Source,
        key: str,
        network_id: str,
        address: IPv4Address,
        owner: str,
        device: str,
        mac: str | None = None,
        name: str = "",
        port_id: str | None = None,
    ) -> None:
        """A derived port; its id derives from ``key`` unless given (``port_id``)."""
        subnet_id = self.subnet_holding(network_id, address)
        project = self.project_of(src, device)
        port = Port(
            port_id or _port_id(self.node, key),
            network_id,
            subnet_id,
            address,
            owner,
            device,
            project,
            mac,
            name,
            ((subnet_id, address),),
        )
        part.ports.append(port)
        part.used.append((network_id, address))

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

    def held(self, table: str, project: str) -> int:
        """How many objects of ``table`` ("lbs", "members", ...) ``project`` holds."""
        return self._owned.get((table, project), 0)

    def subnet_holding(self, network_id: str, address: IPv4Address) -> str | None:
        entry = self._tables["networks"].get(network_id)
        if entry is None:
            return None
        for subnet in entry[1][0].subnets:
            if address in subnet.cidr:
                return subnet.uid
        return None

    def port_of_address(self, network_id: str, address: IPv4Address) -> Port | None:
        return self._port_at.get((network_id, address))

    def ports_at(self, address: IPv4Address) -> list[Port]:
        """The ports holding ``address``, on any network."""
        return self._ports_at.get(address, [])

    def free_address(self, subnet_id: str, taken: Iterable[IPv4Address] = ()) -> IPv4Address | None:
        """A free address of the subnet: the first, or one of the first few after a
        lost race (``spread``); ``taken``: addresses this change already took."""
        _, net, subnet = self.subnets[subnet_id]
        used = self._used_ints.get(net.uid, set()) | {int(a) for a in taken}
        for pool in _pools(subnet):
            free = _first_free(pool, used, SPREAD.get())
            if free is not None:
                return IPv4Address(free)
        return None

    def macs(self) -> set[str]:
        """Every MAC a port of any topology holds (lower case)."""
        return {p.mac.lower() for p in self.ports.values() if p.mac}

    def ha_network(self) -> HaNetwork:
        """The HA network of the API's topology, where its HA routers' instances talk
        VRRP (the default one until the topology has a header that says otherwise)."""
        src = self.sources.get(API_TOPOLOGY)
        return src.topo.ha_network if src is not None else HaNetwork()

    def free_ha_address(self, taken: Iterable[IPv4Address] = ()) -> IPv4Address | None:
        """A free host address of the API's HA network, for an HA router's instance (its
        ha- port): as ``free_address`` chooses, among the addresses no router of any
        topology holds (the topologies of a node share the HA VLAN on the integration
        bridge, so one address must not serve two routers)."""
        used = {int(a) for _, r in self.routers.values() for a in r.vrrp_addresses}
        used |= {int(a) for a in taken}
        free = _first_free(_hosts(self.ha_network().cidr), used, SPREAD.get())
        return IPv4Address(free) if free is not None else None

    def free_tag(self) -> int | None:
        """A free VLAN tag: the first, or one of the first few after a lost race."""
        return _first_free(range(1, 4095), self.used_tags(), SPREAD.get())

    def used_tags(self) -> set[int]:
        return {n.segmentation_id for _, n in self.networks.values() if n.segmentation_id}


# How many of the first free addresses or tags a change chooses among at random: 1 (the
# first) until it lost a race for one; then more, so racing changes part ways
# (Neutron's IPAM, too, picks at random among the first free addresses).
SPREAD: ContextVar[int] = ContextVar("spread", default=1)


def _hosts(cidr: IPv4Network) -> range:
    """The host addresses of ``cidr`` as integers (all of a /31 or /32)."""
    first, last = int(cidr.network_address) + 1, int(cidr.broadcast_address)
    if cidr.prefixlen >= 31:
        first, last = int(cidr.network_address), last + 1
    return range(first, last)


def _pools(subnet: Subnet) -> list[range]:
    """Where a port's address is allocated from: the subnet's allocation pools, or its
    host addresses (the gateway is held, so never chosen)."""
    if not subnet.allocation_pools:
        return [_hosts(subnet.cidr)]
    return [range(int(p.start), int(p.end) + 1) for p in subnet.allocation_pools]


def _first_free(candidates: range, used: set[int], spread: int) -> int | None:
    found: list[int] = []
    for value in candidates:
        if value not in used:
            found.append(value)
            if len(found) >= spread:
                break
    return random.choice(found) if found else None


def _statuses(record: Record, parsed: Parsed, before: Source | None) -> dict[str, str]:
    """Each object's provisioning status: the record's, or pending where the desired
    state moved on. With ``before`` (the same topology read with the same record), only
    the rows read again since are judged again (an object's parents are in its row)."""
    if before is None:
        return provisioning.pending(record.objects, record.status, parsed.objects)
    then = before.parsed
    if then.serial == parsed.serial:
        return before.status
    if parsed.base != then.serial:
        return provisioning.pending(record.objects, record.status, parsed.objects)
    status = dict(before.status)
    for key in parsed.changed:
        for object_id in then.row_objects.get(key, {}):
            status.pop(object_id, None)
        now = parsed.row_objects.get(key, {})
        status.update(provisioning.pending(record.objects, record.status, now))
    return status


# The device_owner of a network's DHCP port, as Neutron's.
DHCP_OWNER = "network:dhcp"


@functools.lru_cache(maxsize=65536)
def _port_id(node: str, key: str) -> str:
    """A derived port's id (a uuid5 of what it is: the same in every World)."""
    return ids.stable_id(node, "port", key)
