"""Units: the desired host cut into independent pieces, one per namespace. Pure.

A unit is a namespace with everything that lives in it: its ports, its HAProxy process,
its firewall, its floating addresses. Units are what a pass can be scoped to (only the
units whose desired state changed since they last converged) and what a failure is
contained to (see ``operations.unit_of``). Bridges belong to no unit: every pass
checks them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from netnode.plan.spec import (
    BridgeSpec,
    FirewallSpec,
    GuestTag,
    HostSpec,
    NamespaceSpec,
    PlugSpec,
    PortSpec,
    ProcessSpec,
    UdpSpec,
)


@dataclass(frozen=True)
class Unit:
    """One unit of the desired host: its namespace and everything in it, and the bridges
    its ports plug into (``desired.build_units`` makes them, ``assemble`` joins them)."""

    namespace: NamespaceSpec
    bridges: tuple[BridgeSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    processes: tuple[ProcessSpec, ...] = ()
    firewalls: tuple[FirewallSpec, ...] = ()
    udp: tuple[UdpSpec, ...] = ()
    # A router's floating addresses and port forwardings (HostSpec.floating); None: none.
    floating: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.namespace.name

    @cached_property
    def fingerprint(self) -> str:
        """The digest ``fingerprints`` gives this unit (computed once per Unit)."""
        items: list[object] = [
            self.namespace,
            *self.ports,
            *self.processes,
            *self.firewalls,
            *self.udp,
        ]
        if self.floating is not None:
            items.append(("floating", tuple(sorted(self.floating))))
        return _digest(items)


def assemble(
    node: str,
    topology: str,
    parts: Iterable[Unit],
    plugs: tuple[PlugSpec, ...] = (),
    guests: tuple[GuestTag, ...] = (),
) -> HostSpec:
    """The desired host made of ``parts``, in their order (a bridge: its first use),
    with the host interfaces plugged for ports and the guests' tags (in no unit)."""
    parts = tuple(parts)
    bridges: dict[str, BridgeSpec] = {}
    for part in parts:
        for bridge in part.bridges:
            bridges.setdefault(bridge.name, bridge)
    return HostSpec(
        node=node,
        topology=topology,
        bridges=tuple(bridges.values()),
        namespaces=tuple(p.namespace for p in parts),
        ports=tuple(x for p in parts for x in p.ports),
        processes=tuple(x for p in parts for x in p.processes),
        firewalls=tuple(x for p in parts for x in p.firewalls),
        udp=tuple(x for p in parts for x in p.udp),
        floating={p.name: p.floating for p in parts if p.floating is not None},
        plugs=plugs,
        guests=guests,
    )


def _digest(items: list[object]) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()[:32]


def fingerprints(spec: HostSpec) -> dict[str, str]:
    """unit name -> a digest of everything the desired host holds for it."""
    parts: dict[str, list[object]] = {ns.name: [ns] for ns in spec.namespaces}
    for port in spec.ports:
        parts.setdefault(port.namespace, []).append(port)
    for proc in spec.processes:
        parts.setdefault(proc.namespace, []).append(proc)
    for fw in spec.firewalls:
        parts.setdefault(fw.namespace, []).append(fw)
    for udp in spec.udp:
        parts.setdefault(udp.namespace, []).append(udp)
    for ns, addresses in spec.floating.items():
        parts.setdefault(ns, []).append(("floating", tuple(sorted(addresses))))
    return {unit: _digest(items) for unit, items in parts.items()}


def changed(converged: dict[str, str], desired: dict[str, str]) -> frozenset[str]:
    """The desired units that are new or differ from what last converged."""
    return frozenset(u for u, digest in desired.items() if converged.get(u) != digest)


def restrict(spec: HostSpec, scope: frozenset[str]) -> HostSpec:
    """The part of ``spec`` that belongs to the units in ``scope`` (plus the bridges,
    plugs and guests' tags, which every pass checks)."""
    return HostSpec(
        node=spec.node,
        topology=spec.topology,
        bridges=spec.bridges,
        namespaces=tuple(n for n in spec.namespaces if n.name in scope),
        ports=tuple(p for p in spec.ports if p.namespace in scope),
        processes=tuple(p for p in spec.processes if p.namespace in scope),
        firewalls=tuple(f for f in spec.firewalls if f.namespace in scope),
        udp=tuple(u for u in spec.udp if u.namespace in scope),
        floating={k: v for k, v in spec.floating.items() if k in scope},
        plugs=spec.plugs,
        guests=spec.guests,
    )
