"""UDP load balancing as an nftables table, from the model. Pure: no subprocess, no I/O.

HAProxy cannot balance UDP; the kernel does, in the load balancer's namespace, as
Octavia's UDP listeners do with LVS. netnode's table (``table ip netnode``, one per
load balancer namespace) holds:

- ``prerouting`` (nat): a datagram for VIP:port of an enabled UDP listener is DNATed
  to one of its pool's members: ``numgen inc`` (ROUND_ROBIN), ``jhash ip saddr``
  (SOURCE_IP) or ``jhash ip saddr . udp sport`` (SOURCE_IP_PORT) picks an entry of a
  map in which each member appears as often as its (gcd-reduced) weight. Weight 0
  members take no new flows; backup members are in the map only while every other
  member is down. SOURCE_IP session persistence first looks the (masked) source up in
  a dynamic map with a timeout, which ``forward`` fills with the member chosen.
- ``postrouting`` (nat): what was DNATed leaves with the VIP as its source, so the
  member's answer comes back through the load balancer (a one-armed load balancer:
  client and members share the VIP's network) and conntrack un-NATs it. Members see
  the VIP as the client, as behind HAProxy's TCP proxying.
- ``forward`` (filter, policy drop): only DNATed flows are forwarded; the namespace
  needs ``net.ipv4.ip_forward=1`` for them and must not route anything else.
- ``output`` (filter): no ICMP redirects (the answer leaves by the interface the
  datagram came in on, which would otherwise tell the client to go to the member).

Conntrack keeps an existing flow on its member; the driver deletes the flows to
members that are no longer in rotation (``stale_flows``).

The text replaces the whole table in one ``nft -f`` transaction (``table`` + ``delete
table`` + the table). Every value written comes from the validated model (addresses,
ports, ids) and is formatted from its parsed type, never pasted as text.
"""

from __future__ import annotations

import ipaddress
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from netnode.model.topology import Listener, LoadBalancer, Pool

TABLE = "netnode"
FAMILY = "ip"
INDENT = "    "
# Octavia's default for a UDP pool's SOURCE_IP persistence (seconds).
DEFAULT_PERSISTENCE_TIMEOUT = 360


@dataclass(frozen=True)
class UdpBackend:
    member_id: str
    address: str
    port: int
    weight: int
    backup: bool = False


@dataclass(frozen=True)
class UdpService:
    """One enabled UDP listener and the enabled members of its enabled pool."""

    listener_id: str
    port: int
    pool_id: str
    algorithm: str  # ROUND_ROBIN | SOURCE_IP | SOURCE_IP_PORT
    backends: tuple[UdpBackend, ...]
    # Whether the pool has an enabled health monitor (only then can a member be down).
    monitored: bool = False
    # SOURCE_IP persistence: seconds, and the mask of sources that share a member.
    persistence_timeout: int | None = None
    persistence_mask: str = "255.255.255.255"
    # Sources allowed to use the listener; empty: everyone.
    allowed_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class UdpBalancer:
    lb_id: str
    vip: str
    services: tuple[UdpService, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "lb_id": self.lb_id,
            "vip": self.vip,
            "services": [
                {
                    **{k: v for k, v in vars(s).items() if k != "backends"},
                    "allowed_cidrs": list(s.allowed_cidrs),
                    "backends": [vars(b) for b in s.backends],
                }
                for s in self.services
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UdpBalancer:
        return cls(
            lb_id=str(data["lb_id"]),
            vip=str(ipaddress.IPv4Address(data["vip"])),
            services=tuple(
                UdpService(
                    **{k: v for k, v in s.items() if k not in ("backends", "allowed_cidrs")},
                    allowed_cidrs=tuple(s["allowed_cidrs"]),
                    backends=tuple(UdpBackend(**b) for b in s["backends"]),
                )
                for s in data["services"]
            ),
        )


def is_udp(lb: LoadBalancer) -> bool:
    """Whether ``lb`` has UDP listeners (enabled or not): its namespace forwards."""
    return any(x.protocol == "UDP" for x in lb.listeners)


def udp_balancer(lb: LoadBalancer) -> UdpBalancer | None:
    """What the kernel balances for ``lb``; None when it has no UDP listener."""
    if not is_udp(lb):
        return None
    pools = {p.name: p for p in lb.pools}
    services = []
    for listener in lb.listeners:
        if listener.protocol != "UDP" or not (lb.admin_state_up and listener.admin_state_up):
            continue
        pool = pools.get(listener.default_pool) if listener.default_pool else None
        if pool is None or pool.protocol != "UDP":
            continue
        services.append(_service(listener, pool))
    return UdpBalancer(lb.uid, str(lb.vip.address), tuple(services))


def _service(listener: Listener, pool: Pool) -> UdpService:
    backends = (
        tuple(
            UdpBackend(m.uid, str(m.address), m.protocol_port, m.weight, m.backup)
            for m in pool.members
            if m.admin_state_up
        )
        if pool.admin_state_up
        else ()
    )
    monitor = pool.healthmonitor
    sp = pool.session_persistence
    timeout, mask = None, "255.255.255.255"
    if sp is not None and sp.type == "SOURCE_IP":
        timeout = sp.persistence_timeout or DEFAULT_PERSISTENCE_TIMEOUT
        if sp.persistence_granularity is not None:
            mask = str(sp.persistence_granularity)
    return UdpService(
        listener_id=listener.uid,
        port=listener.protocol_port,
        pool_id=pool.uid,
        algorithm=pool.lb_algorithm,
        backends=backends,
        monitored=monitor is not None and monitor.admin_state_up,
        persistence_timeout=timeout,
        persistence_mask=mask,
        allowed_cidrs=tuple(str(c) for c in listener.allowed_cidrs),
    )


def rotation(service: UdpService, down: Iterable[str] = ()) -> tuple[UdpBackend, ...]:
    """The members that take new flows: the healthy ones with a weight, or, when none of
    the non-backup members is left, the healthy backups with a weight."""
    gone = set(down) if service.monitored else set()
    healthy = [b for b in service.backends if b.member_id not in gone and b.weight > 0]
    primary = tuple(b for b in healthy if not b.backup)
    return primary or tuple(b for b in healthy if b.backup)


def reachable(service: UdpService, down: Iterable[str] = ()) -> tuple[UdpBackend, ...]:
    """The members whose existing flows may go on: every enabled, healthy one (weight 0
    and idle backups included)."""
    gone = set(down) if service.monitored else set()
    return tuple(b for b in service.backends if b.member_id not in gone)


def slots(backends: tuple[UdpBackend, ...]) -> list[UdpBackend]:
    """The map's entries: each member as often as its weight (divided by the weights'
    gcd), interleaved (smooth weighted round robin) so that equal weights alternate."""
    if not backends:
        return []
    divisor = math.gcd(*(b.weight for b in backends))
    weights = [b.weight // divisor for b in backends]
    current = [0] * len(backends)
    total = sum(weights)
    result = []
    for _ in range(total):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        best = max(range(len(backends)), key=lambda i: (current[i], -i))
        current[best] -= total
        result.append(backends[best])
    return result


def render_table(balancer: UdpBalancer, down: Iterable[str] = ()) -> str:
    """``nft -f`` input replacing netnode's table in the namespace with ``balancer``,
    given the members the health checks found ``down``."""
    gone = frozenset(down)
    vip = _address(balancer.vip)
    maps: list[list[str]] = []
    dnat: list[str] = []
    remember: list[str] = []
    for service in balancer.services:
        port = _port(service.port)
        where = f"ip daddr {vip} udp dport {port}"
        if service.allowed_cidrs:
            cidrs = ", ".join(str(ipaddress.IPv4Network(c)) for c in service.allowed_cidrs)
            where += f" ip saddr {{ {cidrs} }}"
        entries = slots(rotation(service, gone))
        dnat.append(f"# listener {_id(service.listener_id)} -> pool {_id(service.pool_id)}")
        if not entries:
            dnat.append("# no member in rotation")
            continue
        if service.persistence_timeout is not None:
            name = f"persist_{_id(service.listener_id).replace('-', '')}"
            key = _source(service.persistence_mask)
            maps.append(
                _block(
                    f"map {name}",
                    [
                        "type ipv4_addr : ipv4_addr . inet_service",
                        "flags dynamic,timeout",
                        f"timeout {int(service.persistence_timeout)}s",
                    ],
                )
            )
            dnat.append(f"{where} dnat ip addr . port to {key} map @{name}")
            remember.append(
                f"ct direction original ct status dnat ct original ip daddr {vip} "
                f"ct original protocol udp ct original proto-dst {port} "
                f"update @{name} {{ {key} : ip daddr . udp dport }}"
            )
        elements = ", ".join(
            f"{i} : {_address(b.address)} . {_port(b.port)}" for i, b in enumerate(entries)
        )
        dnat.append(
            f"{where} dnat ip addr . port to {_selector(service.algorithm)} "
            f"mod {len(entries)} map {{ {elements} }}"
        )
    chains = [
        _block(
            "chain prerouting",
            ["type nat hook prerouting priority dstnat; policy accept;", *dnat],
        ),
        _block(
            "chain forward",
            [
                "type filter hook forward priority filter; policy drop;",
                *remember,
                "ct status dnat accept",
            ],
        ),
        _block(
            "chain postrouting",
            [
                "type nat hook postrouting priority srcnat; policy accept;",
                f"ct status dnat ct original ip daddr {vip} snat ip to {vip}",
            ],
        ),
        _block(
            "chain output",
            ["type filter hook output priority filter; policy accept;", "icmp type redirect drop"],
        ),
    ]
    body = "".join(INDENT + line + "\n" for block in [*maps, *chains] for line in block)
    return (
        f"# UDP load balancing of load balancer {_id(balancer.lb_id)}, VIP {vip}\n"
        f"table {FAMILY} {TABLE} {{}}\n"
        f"delete table {FAMILY} {TABLE}\n"
        f"table {FAMILY} {TABLE} {{\n{body}}}\n"
    )


def render_removal() -> str:
    """``nft -f`` input deleting netnode's table (and nothing if there is none)."""
    return f"table {FAMILY} {TABLE} {{}}\ndelete table {FAMILY} {TABLE}\n"


@dataclass(frozen=True)
class Flow:
    """A conntrack entry's NAT binding: listener port -> member address and port."""

    port: int
    member: str
    member_port: int


def allowed_flows(balancer: UdpBalancer, down: Iterable[str] = ()) -> frozenset[Flow]:
    gone = frozenset(down)
    return frozenset(
        Flow(s.port, b.address, b.port) for s in balancer.services for b in reachable(s, gone)
    )


def stale_flows(conntrack_list: str, vip: str, allowed: frozenset[Flow]) -> list[Flow]:
    """From ``conntrack -L -p udp`` text, the DNATed flows to ``vip`` whose member is
    not in ``allowed`` (removed, disabled, down, or its listener gone), sorted."""
    stale: set[Flow] = set()
    for line in conntrack_list.splitlines():
        # "udp 17 29 src=C dst=VIP sport=S dport=P src=M dst=VIP sport=MP dport=S ...":
        # the first src/dst/sport/dport are the original direction, the second the reply.
        pairs = [w.partition("=") for w in line.split() if "=" in w]
        src = [v for k, _, v in pairs if k == "src"]
        dst = [v for k, _, v in pairs if k == "dst"]
        sport = [v for k, _, v in pairs if k == "sport"]
        dport = [v for k, _, v in pairs if k == "dport"]
        if not line.startswith("udp") or len(src) < 2 or len(sport) < 2 or not dport:
            continue
        if dst[0] != vip or src[1] == vip or not (sport[1].isdigit() and dport[0].isdigit()):
            continue
        flow = Flow(int(dport[0]), src[1], int(sport[1]))
        if flow not in allowed:
            stale.add(flow)
    return sorted(stale, key=lambda f: (f.port, ipaddress.IPv4Address(f.member), f.member_port))


def _selector(algorithm: str) -> str:
    if algorithm == "SOURCE_IP":
        return "jhash ip saddr"
    if algorithm == "SOURCE_IP_PORT":
        return "jhash ip saddr . udp sport"
    if algorithm == "ROUND_ROBIN":
        return "numgen inc"
    raise ValueError(
        f"UDP pools are balanced by ROUND_ROBIN, SOURCE_IP or SOURCE_IP_PORT, not {algorithm}"
    )


def _source(mask: str) -> str:
    netmask = ipaddress.IPv4Address(mask)
    return "ip saddr" if int(netmask) == 0xFFFFFFFF else f"ip saddr & {netmask}"


def _address(text: str) -> str:
    return str(ipaddress.IPv4Address(text))


def _port(port: int) -> int:
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"not a port: {port!r}")
    return int(port)


def _id(text: str) -> str:
    # Ids are validated UUIDs; anything else is refused here rather than written.
    return str(uuid.UUID(text))


def _block(header: str, lines: list[str]) -> list[str]:
    return [f"{header} {{", *(INDENT + line for line in lines), "}"]
