"""A load balancer's ``allowed_cidrs`` as iptables rules in its namespace (pure).

Octavia's amphora lets only the sources in a listener's ``allowed_cidrs`` reach
``VIP:protocol_port`` of that listener and leaves the other listeners alone; an empty
list lets everyone in. netnode does the same in the ``qlbaas-`` namespace with one owned
chain in the mangle table, jumped to from PREROUTING::

    mangle  PREROUTING -> netnode-lb-PREROUTING
              -s CIDR/N -d VIP/32 -p tcp -m tcp --dport PORT -j RETURN      (each CIDR)
              -d VIP/32 -p tcp -m tcp --dport PORT -m conntrack --ctdir ORIGINAL -j DROP

(``-p udp -m udp`` for a UDP listener.) Why PREROUTING of mangle and not INPUT of
filter: it sees a packet before any destination NAT, so the rule holds whether the
listener is HAProxy's (the packet goes on to INPUT) or balanced by NAT in the namespace
(it goes on to FORWARD); Octavia's amphora filters at its VIP device's ingress for the
same reason. ``--ctdir ORIGINAL`` keeps the DROP to packets from clients: a member's
reply to HAProxy whose (ephemeral) destination port happens to equal a listener's port
is never dropped. The filter needs no conntrack flush when a list changes: every
packet of a client's flow passes the chain, so an established flow from a source no
longer allowed stops at its next packet.

An ACTIVE_STANDBY instance also guards its HAProxy peer port (``netnode.render.peers``):
its own VRRP address sits on the tenant network, and only the other instance may
replicate stick tables into it (the instance itself too: HAProxy's reload handover,
old worker to new, goes through the local peer's address)::

              -s OTHER/32 -d OWN/32 -p tcp -m tcp --dport 1025 -j RETURN
              -s OWN/32 -d OWN/32 -p tcp -m tcp --dport 1025 -j RETURN
              -d OWN/32 -p tcp -m tcp --dport 1025 -m conntrack --ctdir ORIGINAL -j DROP

A packet from the tenant network cannot pass for OWN: the kernel drops a packet that
arrives from outside with one of the namespace's own addresses as its source.

A CIDR of 0.0.0.0/0 lets everyone in, so such a listener gets no rules at all. With no
listener restricted, nothing is rendered (no chain, no jump), and a chain left from
before is deleted by the next restore.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netnode.render.iptables import MANGLE, PROTOCOLS, Layout

CHAIN = "netnode-lb-PREROUTING"

LB_LAYOUT = Layout(
    tables=(MANGLE,),
    owned={MANGLE: (CHAIN,)},
    jumps={MANGLE: (("PREROUTING", f"-j {CHAIN}"),)},
)


@dataclass(frozen=True)
class ListenerFilter:
    """Who may reach one listener: sources in ``allowed_cidrs``; empty: everyone."""

    protocol: str
    """``tcp`` or ``udp``: the transport of the listener's port."""
    port: int
    allowed_cidrs: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"listener protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}"
            )
        if isinstance(self.port, bool) or not 0 < self.port < 65536:
            raise ValueError(f"listener port {self.port!r} is not a port (1-65535)")
        for cidr in self.allowed_cidrs:
            try:
                ipaddress.IPv4Network(cidr)
            except ValueError as exc:
                raise ValueError(
                    f"allowed_cidrs: {cidr!r} is not an IPv4 network (host bits must be zero)"
                ) from exc

    @property
    def restricted(self) -> bool:
        """Some sources are kept out."""
        networks = [ipaddress.IPv4Network(c) for c in self.allowed_cidrs]
        return bool(networks) and all(n.prefixlen > 0 for n in networks)


@dataclass(frozen=True)
class PeerFilter:
    """Who may reach an HA instance's HAProxy peer port: the other instance only."""

    own: str
    """This instance's VRRP address, where its peer listens."""
    others: tuple[str, ...]
    """The other instance's VRRP address (the pair's other peers)."""
    port: int

    def __post_init__(self) -> None:
        for field, address in (("own", self.own), *(("others", a) for a in self.others)):
            try:
                ipaddress.IPv4Address(address)
            except ValueError as exc:
                raise ValueError(f"peers {field}: {address!r} is not an IPv4 address") from exc
        if isinstance(self.port, bool) or not 0 < self.port < 65536:
            raise ValueError(f"peers port {self.port!r} is not a port (1-65535)")

    def rules(self) -> list[str]:
        match = f"-d {self.own}/32 -p tcp -m tcp --dport {self.port}"
        sources = sorted({ipaddress.IPv4Address(a) for a in (*self.others, self.own)})
        return [
            *(f"-s {source}/32 {match} -j RETURN" for source in sources),
            f"{match} -m conntrack --ctdir ORIGINAL -j DROP",
        ]


@dataclass(frozen=True)
class LoadBalancerFilter:
    """What a load balancer namespace's iptables rules are made from. IPv4 only.

    Raises ``ValueError`` for a bad VIP, protocol, port or CIDR, or two listeners on one
    protocol and port.
    """

    vip: str
    listeners: tuple[ListenerFilter, ...] = ()
    peers: PeerFilter | None = None
    """An ACTIVE_STANDBY instance's peer port; None: a SINGLE load balancer."""

    def __post_init__(self) -> None:
        try:
            ipaddress.IPv4Address(self.vip)
        except ValueError as exc:
            raise ValueError(f"vip: {self.vip!r} is not an IPv4 address") from exc
        sockets = [(x.protocol, x.port) for x in self.listeners]
        dup = sorted(
            {f"{port}/{proto}" for proto, port in sockets if sockets.count((proto, port)) > 1}
        )
        if dup:
            raise ValueError(f"listeners: more than one listener on {', '.join(dup)}")

    @property
    def layout(self) -> Layout:
        return LB_LAYOUT

    def chains(self, table: str) -> dict[str, list[str]]:
        LB_LAYOUT.check(table)
        rules: list[str] = []
        vip = ipaddress.IPv4Address(self.vip)
        for listener in sorted(self.listeners, key=lambda x: (x.protocol, x.port)):
            if not listener.restricted:
                continue
            match = (
                f"-d {vip}/32 -p {listener.protocol} -m {listener.protocol} --dport {listener.port}"
            )
            cidrs = sorted({ipaddress.IPv4Network(c) for c in listener.allowed_cidrs})
            rules += [f"-s {cidr} {match} -j RETURN" for cidr in cidrs]
            rules.append(f"{match} -m conntrack --ctdir ORIGINAL -j DROP")
        if self.peers is not None:
            rules += self.peers.rules()
        return {CHAIN: rules} if rules else {}
