"""What of a cluster's topology one node converges: a pure function of the topology,
the placements and the node's own settings.

A node keeps the load balancers and routers placed on it, each carrying its instance's
id (host names derive from it: ``model.topology.Placed``), and every network (they make
nothing on a host by themselves; DHCP, which would, is not served in a cluster yet); floating IPs stay too, for the routers that hold them
render them. Bridges are renamed by the node's bridge map: several nodes simulated on
one machine each have bridges of their own, joined to shared segments by patch ports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netnode.cluster.scheduling import STANDALONE, Placement
from netnode.model.topology import Network, Topology


def for_node(
    topo: Topology,
    placements: Iterable[Placement],
    node: str,
    bridges: Mapping[str, str] | None = None,
) -> Topology:
    mine = {p.holder: p for p in placements if p.node == node and p.topology == topo.name}
    bridges = bridges or {}
    networks = [
        n.model_copy(update={"bridge": bridges.get(topo.bridge_of(n), topo.bridge_of(n))})
        if n.external
        else _without_dhcp(n)
        for n in topo.networks
    ]
    return topo.model_copy(
        update={
            "integration_bridge": bridges.get(topo.integration_bridge, topo.integration_bridge),
            "networks": networks,
            "load_balancers": [
                lb.model_copy(update=_instance(mine[lb.uid]))
                for lb in topo.load_balancers
                if lb.uid in mine
            ],
            "routers": [
                r.model_copy(update=_instance(mine[r.uid])) for r in topo.routers if r.uid in mine
            ],
        }
    )


def _without_dhcp(net: Network) -> Network:
    """A cluster's network as one node serves it: without DHCP for now. Every node
    keeps every network, and one DHCP server per network (its address and MAC are the
    network's) is not placed on a node yet: served by all, the DHCP port's address
    would be on every node's segment at once."""
    if not any(s.enable_dhcp for s in net.subnets):
        return net
    subnets = [s.model_copy(update={"enable_dhcp": False}) for s in net.subnets]
    return net.model_copy(update={"subnets": subnets})


def bridge_map(entries: Iterable[str]) -> dict[str, str]:
    """``FROM=TO`` entries (``--bridge-map br-int=nna-int``) as a mapping; ValueError
    naming the entry when one is not of that shape."""
    found: dict[str, str] = {}
    for entry in entries:
        name, sep, to = entry.partition("=")
        if not sep or not name or not to:
            raise ValueError(f"{entry!r} is not FROM=TO (e.g. br-int=nna-int)")
        found[name] = to
    return found


def _instance(p: Placement) -> dict[str, object]:
    if p.role == STANDALONE:
        return {"instance": p.id, "slot": None, "role": None}
    return {"instance": p.id, "slot": p.slot, "role": p.role}
