"""HAProxy ``peers`` of an ACTIVE_STANDBY load balancer (pure).

An ACTIVE_STANDBY load balancer's two instances each run their own HAProxy; keepalived
moves the VIP between them. Stick tables (SOURCE_IP and APP_COOKIE persistence) live in
each HAProxy, so without help a takeover would re-balance every client. Octavia renders
a ``peers`` section so that the amphorae replicate their tables; netnode does the same:

    global
        localpeer <lb-uid-prefix>-<slot>
    peers <lb-uid without dashes>_peers
        peer <lb-uid-prefix>-0 <vrrp_addresses[0]>:1025
        peer <lb-uid-prefix>-1 <vrrp_addresses[1]>:1025
    backend ...
        stick-table type ip size 10k peers <lb-uid without dashes>_peers

Peers are named by slot, not by instance id: the plan of one instance does not know the
other's id, and a slot outlives its instances (a dead half is placed again in the same
slot, with the same address), so the survivor's configuration does not change, nor
reload, when its peer is replaced. ``localpeer`` says which peer this HAProxy is: the
command line stays ``haproxy -W -D -f <cfg>`` (no ``-L``), which keepalived tracks.

Each peer listens on its own VRRP address, which sits on the tenant network: the load
balancer's filter (``netnode.render.lb_filter.PeerFilter``) lets only the other
instance (and the instance itself: HAProxy's own reload handover, old worker to new,
would go through that address) reach it.

A reloaded instance learns the table again from the other instance (a new HAProxy asks
its peers for a full resync; tests/functional/test_ha_peers.py). The handover from the
old worker to the new one through the local peer was not seen to happen with HAProxy
2.6.12 (the old worker exits without connecting), so an instance reloaded while it is
alone starts with empty tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from netnode.model.topology import LoadBalancer

# Octavia's peer port (haproxy_amphora.peer_port).
PEER_PORT = 1025


@dataclass(frozen=True)
class Peers:
    """The ``peers`` section of one instance of an ACTIVE_STANDBY pair."""

    section: str
    """The section's name, which stick tables refer to (``peers <section>``)."""
    local: str
    """This instance's peer name (``localpeer`` in the global section)."""
    members: tuple[tuple[str, str], ...]
    """(peer name, address) of each instance, by slot."""
    port: int = PEER_PORT

    @property
    def own_address(self) -> str:
        return dict(self.members)[self.local]

    @property
    def other_addresses(self) -> tuple[str, ...]:
        return tuple(address for name, address in self.members if name != self.local)

    def lines(self) -> list[str]:
        """The section's body, one ``peer`` line per instance."""
        return [f"peer {name} {address}:{self.port}" for name, address in self.members]


def of(lb: LoadBalancer) -> Peers | None:
    """The peers of ``lb``'s instance: None for a SINGLE load balancer, and for an
    ACTIVE_STANDBY one that has no slot yet (a node on its own: the plan refuses it,
    naming ``load_balancers.topology``).

    Raises ``ValueError`` naming the field when the slot or the VRRP addresses cannot
    make a pair (validation keeps both right; this guards the render's own input)."""
    if lb.topology != "ACTIVE_STANDBY" or lb.slot is None:
        return None
    if len(lb.vrrp_addresses) != 2:
        raise ValueError(
            f"load balancer {lb.name}: vrrp_addresses: an ACTIVE_STANDBY pair needs two, "
            f"not {len(lb.vrrp_addresses)}"
        )
    if lb.slot not in (0, 1):
        raise ValueError(f"load balancer {lb.name}: slot: 0 or 1, not {lb.slot}")
    prefix = lb.uid[:8]
    names = [f"{prefix}-{slot}" for slot in (0, 1)]
    return Peers(
        section=lb.uid.replace("-", "") + "_peers",
        local=names[lb.slot],
        members=tuple(zip(names, (str(a) for a in lb.vrrp_addresses), strict=True)),
    )
