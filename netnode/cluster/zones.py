"""Availability zones: the zones the nodes of a store declare (``netnode agent --zone``).

A zone exists while a node that declares it has a row in the store (alive or not: a
dead node's zone is still a place to schedule to once it comes back); it is available
while one of its nodes is alive and up (``admin_state_up``). netnode has no zone of its
own making: Octavia's ``/availabilityzones`` and Neutron's ``/availability_zones`` show
these, and a load balancer's ``availability_zone`` or a router's
``availability_zone_hints`` must name one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from netnode.cluster.nodes import Node


@dataclass(frozen=True)
class Zone:
    name: str
    nodes: tuple[str, ...]
    # One of its nodes alive and taking work.
    available: bool


def zones(nodes: Iterable[Node]) -> list[Zone]:
    """The zones of ``nodes``, by name."""
    members: dict[str, list[Node]] = {}
    for n in nodes:
        members.setdefault(n.row.availability_zone, []).append(n)
    return [
        Zone(
            name,
            tuple(sorted(n.name for n in found)),
            any(n.alive and n.row.admin_state_up for n in found),
        )
        for name, found in sorted(members.items())
    ]


def unknown(asked: Iterable[str], known: Iterable[Zone]) -> list[str]:
    """The names in ``asked`` that are no zone of ``known``, in the order asked."""
    names = {z.name for z in known}
    return [a for a in asked if a not in names]
