"""Observed host + desired host -> the operations that converge one to the other (pure).

Only what netnode owns is ever deleted: ports carrying this node's and topology's
``external_ids``, namespaces and processes recorded in the topology's ledger, bridges
netnode created once they hold no port of anybody.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from netnode.plan import operations as op
from netnode.plan.observed import HostState
from netnode.plan.runtime import server_changes
from netnode.plan.spec import (
    OWNER_NODE,
    OWNER_OBJECT,
    OWNER_TOPOLOGY,
    OWNER_UPLINK,
    BridgeSpec,
    Forwarded,
    HostSpec,
    PortSpec,
    uplink_record,
)
from netnode.render.dnsmasq import restart_needed


@dataclass(frozen=True)
class Plan:
    operations: tuple[op.Operation, ...]
    # Every host object the desired state names, touched or not (for "N unchanged").
    subjects: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.operations

    def changes(self) -> dict[str, str]:
        """subject -> the strongest action on it (create > delete > change)."""
        rank = {"create": 3, "delete": 2, "change": 1}
        result: dict[str, str] = {}
        for operation in self.operations:
            current = result.get(operation.subject)
            if current is None or rank[operation.action] > rank[current]:
                result[operation.subject] = operation.action
        return result

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "change": 0, "delete": 0}
        changes = self.changes()
        for action in changes.values():
            counts[action] += 1
        counts["unchanged"] = len([s for s in self.subjects if s not in changes])
        return counts


def plan(desired: HostSpec, observed: HostState, keep: HostSpec | None = None) -> Plan:
    """The operations that take ``observed`` to ``desired``.

    ``keep`` is the whole desired host when ``desired`` is only part of it (a pass
    scoped to the units that changed): what ``keep`` wants is never deleted, though
    only ``desired`` is created or changed.
    """
    ops: list[op.Operation] = []
    owner_bridge = ((OWNER_NODE, desired.node), (OWNER_TOPOLOGY, desired.topology))

    def port_owner(port: PortSpec) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(port.external_ids(desired.node, desired.topology).items()))

    # Bridges.
    for bridge in desired.bridges:
        current = observed.ovs.bridges.get(bridge.name)
        if current is None:
            chosen = bridge.datapath_type or observed.datapath
            ops.append(op.EnsureBridge(replace(bridge, datapath_type=chosen), owner_bridge))
        if bridge.physical_interface:
            ops.extend(_uplink_ops(bridge, owner_bridge, observed))

    # Namespaces and what is inside them.
    wanted_ns = {ns.name: ns for ns in desired.namespaces}
    for ns in desired.namespaces:
        exists = ns.name in observed.namespaces
        inside = observed.inside.get(ns.name)
        if not exists:
            ops.append(op.CreateNamespace(ns.name))
        current_sysctls = inside.sysctls if inside else {}
        wrong = tuple((k, v) for k, v in ns.sysctls if current_sysctls.get(k) != v)
        if wrong:
            ops.append(op.SetSysctls(ns.name, wrong))
        current_gw = inside.default_gateway if inside else None
        if current_gw != ns.default_gateway and not ns.route_elsewhere:
            ops.append(op.SetDefaultRoute(ns.name, ns.default_gateway))

    for port in desired.ports:
        ops.extend(_port_ops(port, port_owner(port), observed))
    ops.extend(_plug_ops(desired, observed))
    # A device moved in afresh took the namespace's routes with its predecessor: the
    # default route goes back even where it was observed in place before.
    routed = {o.namespace for o in ops if isinstance(o, op.SetDefaultRoute)}
    moved = {o.namespace for o in ops if isinstance(o, op.MoveLink)}
    for ns in desired.namespaces:
        if ns.name in moved and ns.name not in routed and ns.default_gateway is not None:
            ops.append(op.SetDefaultRoute(ns.name, ns.default_gateway))
        # A router's extra routes (an HA router's are keepalived's).
        if ns.kind == "router" and not ns.route_elsewhere:
            inside = observed.inside.get(ns.name)
            current = frozenset() if inside is None or ns.name in moved else inside.routes
            wanted = frozenset(ns.routes)
            if current != wanted:
                add = tuple(sorted(wanted - current))
                ops.append(op.SetRoutes(ns.name, add, tuple(sorted(current - wanted))))

    # iptables (routers' NAT, load balancers' filters) and conntrack.
    for fw in desired.firewalls:
        if observed.firewalls_in_sync.get(fw.namespace, False):
            continue
        if fw.namespace not in observed.namespaces and not fw.wants_rules:
            continue  # no rules wanted (a load balancer without allowed_cidrs), none there
        ops.append(op.ApplyFirewall(fw))
    for udp in desired.udp:
        if not observed.udp_in_sync.get(udp.namespace, False):
            ops.append(op.ApplyUdp(udp))
    for ns, entries in observed.ledger.floating.items():
        if ns in observed.namespaces and ns in wanted_ns:
            ops.extend(_conntrack_flushes(ns, entries, desired.floating.get(ns, ())))

    # Processes.
    for proc in desired.processes:
        state = observed.processes.get(proc.name)
        if state is None or not state.running or not state.in_namespace:
            ops.append(op.EnsureProcess(proc, start=True))
        elif proc.haproxy and (state.executable or "haproxy") != (proc.executable or "haproxy"):
            # Under another name than keepalived tracks (an upgrade, a topology change):
            # a new process takes the sockets over (a reload keeps the name).
            ops.append(op.EnsureProcess(proc, start=True))
        elif state.config != proc.config and proc.dnsmasq:
            # Ports changed: a SIGHUP re-reads the hosts and options files, leases kept;
            # a changed command line (a range, the interface) is a restart.
            restart = state.config is None or restart_needed(state.config, proc.config)
            ops.append(op.EnsureProcess(proc, start=restart))
        elif state.config != proc.config:
            # Member changes alone go through the runtime API, without a reload.
            changes = (
                server_changes(state.config, proc.config) if state.config and proc.haproxy else None
            )
            if changes is not None:
                ops.append(op.ChangeServers(proc, changes))
            else:
                ops.append(op.EnsureProcess(proc, start=False))

    ops.extend(_orphans(keep or desired, observed))
    ordered = sorted(ops, key=lambda o: o.phase)
    return Plan(tuple(ordered), tuple(_subjects(desired)))


def _conntrack_flushes(
    namespace: str, recorded: Iterable[str], wanted: Iterable[str]
) -> Iterable[op.FlushConntrack]:
    """A floating address gone: all its connections; a port forwarding gone or pointing
    elsewhere (its address kept): the connections to its port."""
    still = set(wanted)
    gone = [entry for entry in recorded if entry not in still]
    addresses = {entry for entry in gone if Forwarded.parse(entry) is None}
    for entry in gone:
        forwarded = Forwarded.parse(entry)
        if forwarded is None:
            yield op.FlushConntrack(namespace, entry)
        elif forwarded.address not in addresses:
            yield op.FlushConntrack(
                namespace, forwarded.address, forwarded.protocol, forwarded.port
            )


def _uplink_ops(
    bridge: BridgeSpec, owner: tuple[tuple[str, str], ...], observed: HostState
) -> Iterable[op.Operation]:
    """The uplink attached to its bridge with netnode's keys, and up: attached afresh
    (after someone's del-port too), its port's keys set, or only brought up again."""
    name = bridge.physical_interface
    assert name is not None
    port = observed.ovs.ports.get(name)
    link = observed.host_links.get(name)
    ids = dict(owner)
    if bridge.network is not None:
        ids[OWNER_OBJECT] = bridge.network
    current = {} if port is None else port.external_ids
    # The admin state it had before netnode, as recorded at the first attachment (on
    # the bridge too, for when the port was deleted by hand), or as it is now.
    before = current.get(OWNER_UPLINK) if _owned_by(current, owner) else None
    on = observed.ovs.bridges.get(bridge.name)
    if before is None and on is not None:
        before = on.external_ids.get(uplink_record(name))
    ids[OWNER_UPLINK] = before or ("up" if link is not None and link.up else "down")
    wanted = tuple(sorted(ids.items()))
    on_bridge = port is not None and port.bridge == bridge.name
    if not on_bridge or {k: current.get(k) for k in ids} != ids:
        elsewhere = port.bridge if port is not None and not on_bridge else None
        yield op.AttachUplink(bridge.name, name, wanted, elsewhere)
    if link is None or not link.up:
        yield op.SetHostLinkState(name, up=True)


def _owned_by(ids: dict[str, str], owner: tuple[tuple[str, str], ...]) -> bool:
    return all(ids.get(k) == v for k, v in owner)


def _port_ops(
    port: PortSpec, owner: tuple[tuple[str, str], ...], observed: HostState
) -> Iterable[op.Operation]:
    current = observed.ovs.ports.get(port.name)
    inside = observed.inside.get(port.namespace)
    link = inside.links.get(port.name) if inside else None
    fresh = False
    if current is None or current.bridge != port.bridge or current.ofport in (None, -1):
        yield op.AddPort(port, owner, replace=current is not None)
        fresh = True
    elif link is None or link.detached:
        # The port is plugged but its device is not in its namespace (the namespace was
        # deleted with the device in it, which may live on, unreachable, in the
        # namespace of a process still running there), or the device there is detached
        # (ovs-vswitchd restarted and made a new one in the host's namespace). Delete
        # what is left, unplug and plug it again to get a fresh device.
        if link is not None:
            yield op.DeleteLink(port.namespace, port.name)
        yield op.DeletePort(port.name, barrier=True)
        yield op.AddPort(port, owner)
        fresh = True
    elif current.tag != port.tag or tuple(sorted(current.external_ids.items())) != owner:
        yield op.RetagPort(port, owner)
    if fresh or link is None:
        # A new port (or one that OVS re-created in the host namespace) is moved in
        # and configured from scratch, as the seed does.
        yield op.MoveLink(port.name, port.namespace)
        yield op.ConfigureLink(port.namespace, port.name, port.mac, port.addresses, (), True)
        yield from _announce(port, port.addresses)
        return
    wrong_mac = port.mac is not None and link.mac != port.mac
    add = tuple(a for a in port.addresses if a not in link.addresses)
    remove = tuple(
        sorted(
            a for a in link.addresses if a not in port.addresses and a not in port.managed_elsewhere
        )
    )
    if wrong_mac or add or remove or not link.up:
        yield op.ConfigureLink(
            port.namespace, port.name, port.mac if wrong_mac else None, add, remove, not link.up
        )
        yield from _announce(port, add)


def _plug_ops(desired: HostSpec, observed: HostState) -> Iterable[op.Operation]:
    """Host interfaces plugged for ports (one not on the host yet is waited for: the
    file's apply refused it, the agent plugs it when it appears), and the tags of
    ports plugged by someone else with a port's id as their iface-id."""
    plugged = set()
    for plug in desired.plugs:
        plugged.add(plug.interface)
        current = observed.ovs.ports.get(plug.interface)
        link = observed.host_links.get(plug.interface)
        if link is None:
            continue
        up = link.up
        owner = tuple(sorted(plug.external_ids(desired.node, desired.topology).items()))
        if (
            current is None
            or current.bridge != plug.bridge
            or current.tag != plug.tag
            or tuple(sorted(current.external_ids.items())) != owner
            or current.iface_id != plug.port_id
        ):
            moved = current is not None and current.bridge != plug.bridge
            exists = current is not None and not moved
            yield op.PlugInterface(plug, owner, replace=moved, exists=exists)
        if not up:
            yield op.SetHostLinkState(plug.interface, up=True, unit=f"plug {plug.interface}")
    tags = {(g.port_id, g.bridge): g.tag for g in desired.guests}
    for name, port in sorted(observed.ovs.ports.items()):
        if name in plugged or port.iface_id is None or OWNER_NODE in port.external_ids:
            continue
        tag = tags.get((port.iface_id, port.bridge))
        if tag is not None and port.tag != tag:
            yield op.TagGuest(name, tag)


def _announce(port: PortSpec, addresses: Iterable[str]) -> Iterable[op.Operation]:
    for cidr in addresses:
        yield op.Announce(port.namespace, port.name, cidr.split("/")[0], port.mac)


def _orphans(desired: HostSpec, observed: HostState) -> Iterable[op.Operation]:
    wanted_ports = {p.name for p in desired.ports} | {p.interface for p in desired.plugs}
    wanted_ports |= {b.physical_interface for b in desired.bridges if b.physical_interface}
    wanted_ns = {n.name for n in desired.namespaces}
    wanted_procs = {p.name for p in desired.processes}
    for name in observed.ledger.processes:
        state = observed.processes.get(name)
        if name not in wanted_procs and state is not None:
            yield op.StopProcess(name)

    def ours(ids: dict[str, str]) -> bool:
        return ids.get(OWNER_NODE) == desired.node and ids.get(OWNER_TOPOLOGY) == desired.topology

    wanted_udp = {u.namespace for u in desired.udp}
    for name in sorted(observed.udp_records - wanted_udp):
        yield op.RemoveUdp(name, exists=name in observed.namespaces)

    doomed_ports = set()
    for name, port in observed.ovs.ports.items():
        if name not in wanted_ports and ours(port.external_ids):
            doomed_ports.add(name)
            if OWNER_UPLINK not in port.external_ids:
                yield op.DeletePort(name)
                continue
            # An uplink is detached, never deleted, its addresses untouched; it goes back
            # down if it was down before netnode attached it.
            yield op.DetachUplink(port.bridge, name)
            link = observed.host_links.get(name)
            if port.external_ids[OWNER_UPLINK] == "down" and link is not None and link.up:
                yield op.SetHostLinkState(name, up=False)
    for name in observed.ledger.namespaces:
        if name not in wanted_ns and name in observed.namespaces:
            yield op.DeleteNamespace(name)
    wanted_bridges = {b.name for b in desired.bridges}
    for name, bridge in observed.ovs.bridges.items():
        if (
            name not in wanted_bridges
            and ours(bridge.external_ids)
            and not [p for p in bridge.ports if p != name and p not in doomed_ports]
        ):
            yield op.DeleteBridge(name)


def _subjects(desired: HostSpec) -> list[str]:
    subjects = [f"bridge {b.name}" for b in desired.bridges]
    subjects += [f"port {b.physical_interface}" for b in desired.bridges if b.physical_interface]
    subjects += [f"namespace {n.name}" for n in desired.namespaces]
    subjects += [f"port {p.name}" for p in desired.ports]
    subjects += [f"port {p.interface}" for p in desired.plugs]
    subjects += [f"iptables {f.namespace}" for f in desired.firewalls if f.wants_rules]
    subjects += [f"nftables {u.namespace}" for u in desired.udp]
    subjects += [p.subject for p in desired.processes]
    return subjects
