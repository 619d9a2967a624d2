"""Octavia statuses from HAProxy's ``show stat`` rows. Pure.

HAProxy's section names are the Octavia ids (frontend = listener, backend = pool,
server = member), so each object finds its row by id. The mapping follows Octavia's
health manager:

- server: ``UP`` (and ``UP 1/3``, going down) -> ONLINE, ``DOWN`` (and ``DOWN 1/2``,
  coming up) -> ERROR, ``DRAIN``/``NOLB`` -> DRAINING, ``MAINT`` -> OFFLINE,
  ``no check`` -> NO_MONITOR;
- backend (pool): ``DOWN`` -> ERROR, else DEGRADED if a member is in ERROR, else ONLINE;
- frontend (listener): ``OPEN`` -> ONLINE, ``FULL`` -> DEGRADED, ``STOP`` -> OFFLINE;
- load balancer: OFFLINE when disabled; ERROR when its HAProxy is not running though
  it should, or when nothing it serves works (every enabled listener or every enabled
  pool in ERROR); DEGRADED when any enabled listener or pool is not ONLINE; else ONLINE.

Objects disabled by the operator (admin_state_up false) are OFFLINE; objects HAProxy
does not report (config not applied yet) are OFFLINE too.

UDP listeners and pools are balanced by the kernel and checked by netnode's UDP
checker, not HAProxy: ``udp_rows`` turns the checker's health file into rows shaped
like HAProxy's (``UP``/``DOWN`` per checked member, ``no check`` without a monitor), to
be added to HAProxy's before calling ``loadbalancer_status``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from netnode.model.topology import Listener, LoadBalancer, Member, Pool

OperatingStatus = Literal["ONLINE", "DEGRADED", "ERROR", "OFFLINE", "DRAINING", "NO_MONITOR"]
ProvisioningStatus = Literal[
    "ACTIVE", "PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE", "DELETED", "ERROR"
]

ONLINE: OperatingStatus = "ONLINE"
DEGRADED: OperatingStatus = "DEGRADED"
ERROR: OperatingStatus = "ERROR"
OFFLINE: OperatingStatus = "OFFLINE"
DRAINING: OperatingStatus = "DRAINING"
NO_MONITOR: OperatingStatus = "NO_MONITOR"

# show stat "type" column.
FRONTEND, BACKEND, SERVER = "0", "1", "2"


@dataclass(frozen=True)
class MemberStatus:
    id: str
    name: str
    address: str
    protocol_port: int
    operating_status: OperatingStatus
    provisioning_status: str


@dataclass(frozen=True)
class PoolStatus:
    id: str
    name: str
    operating_status: OperatingStatus
    provisioning_status: str
    members: list[MemberStatus] = field(default_factory=list)
    # The health monitor's type ("TCP", "HTTP"), None without one. The model gives a
    # monitor no id or name of its own.
    health_monitor: str | None = None
    health_monitor_provisioning_status: str = "ACTIVE"


@dataclass(frozen=True)
class ListenerStatus:
    id: str
    name: str
    operating_status: OperatingStatus
    provisioning_status: str
    # Its default pool's id, None without one.
    default_pool_id: str | None = None


@dataclass(frozen=True)
class LoadBalancerStatus:
    id: str
    name: str
    operating_status: OperatingStatus
    provisioning_status: str
    listeners: list[ListenerStatus] = field(default_factory=list)
    pools: list[PoolStatus] = field(default_factory=list)

    def pool(self, pool_id: str) -> PoolStatus | None:
        return next((p for p in self.pools if p.id == pool_id), None)

    def by_id(self) -> dict[str, OperatingStatus]:
        """The operating status of the load balancer and of each of its listeners, pools
        and members, by id (what a drawing colours them by)."""
        found = {self.id: self.operating_status}
        found |= {x.id: x.operating_status for x in self.listeners}
        for p in self.pools:
            found[p.id] = p.operating_status
            found |= {m.id: m.operating_status for m in p.members}
        return found


def server_status(status: str) -> OperatingStatus:
    """An HAProxy server's ``status`` column as an Octavia operating status."""
    text = status.strip()
    if text.lower() == "no check":
        return NO_MONITOR
    word = text.split(" ", 1)[0].split("(", 1)[0].upper()
    return {
        "UP": ONLINE,
        "DOWN": ERROR,
        "DRAIN": DRAINING,
        "NOLB": DRAINING,
        "MAINT": OFFLINE,
    }.get(word, ERROR)


def frontend_status(status: str) -> OperatingStatus:
    return {"OPEN": ONLINE, "FULL": DEGRADED}.get(status.strip().upper(), OFFLINE)


Prov = Callable[[str], str]


def loadbalancer_status(
    lb: LoadBalancer,
    rows: list[dict[str, str]] | None,
    provisioning_status: str | Mapping[str, str] = "ACTIVE",
) -> LoadBalancerStatus:
    """The status tree of ``lb`` from its HAProxy's ``show stat`` rows; ``rows`` None
    means its HAProxy is not running. ``provisioning_status`` is one status for every
    object, or each object's by id (the reconciler's record; missing ids are ACTIVE)."""
    if isinstance(provisioning_status, str):
        one = provisioning_status

        def prov(uid: str) -> str:
            return one
    else:
        table = provisioning_status

        def prov(uid: str) -> str:
            return table.get(uid, "ACTIVE")

    pool_ids = {p.name: p.uid for p in lb.pools}
    should_run = lb.admin_state_up and any(x.admin_state_up for x in lb.listeners)

    if rows is None:
        # Nothing observed: what should be serving is in ERROR, the rest is OFFLINE.
        down: OperatingStatus = ERROR if should_run else OFFLINE

        def when_up(enabled: bool) -> OperatingStatus:
            return down if enabled and lb.admin_state_up else OFFLINE

        return LoadBalancerStatus(
            id=lb.uid,
            name=lb.name,
            operating_status=down,
            provisioning_status=prov(lb.uid),
            listeners=[
                _listener(x, pool_ids, when_up(x.admin_state_up), prov) for x in lb.listeners
            ],
            pools=[
                _pool(
                    p,
                    when_up(p.admin_state_up),
                    [
                        _member(m, when_up(p.admin_state_up and m.admin_state_up), prov)
                        for m in p.members
                    ],
                    prov,
                )
                for p in lb.pools
            ],
        )

    index = _index(rows)
    listeners = [_listener(x, pool_ids, _listener_status(lb, x, index), prov) for x in lb.listeners]
    pools = [_pool_status(lb, p, index, prov) for p in lb.pools]
    return LoadBalancerStatus(
        id=lb.uid,
        name=lb.name,
        operating_status=_aggregate(lb, listeners, pools),
        provisioning_status=prov(lb.uid),
        listeners=listeners,
        pools=pools,
    )


def udp_rows(lb: LoadBalancer, health: Mapping[str, str]) -> list[dict[str, str]]:
    """``show stat``-shaped rows for ``lb``'s UDP listeners and pools, from the UDP
    checker's ``health`` (member id -> UP or DOWN; a member not checked yet is UP, as
    it is in rotation)."""
    rows = [
        {"pxname": x.uid, "svname": "FRONTEND", "status": "OPEN"}
        for x in lb.listeners
        if x.protocol == "UDP"
    ]
    for pool in lb.pools:
        if pool.protocol != "UDP":
            continue
        checked = pool.healthmonitor is not None and pool.healthmonitor.admin_state_up
        members = [
            (m, health.get(m.uid, "UP") if checked else "no check")
            for m in pool.members
            if m.admin_state_up
        ]
        rows += [{"pxname": pool.uid, "svname": m.uid, "status": s} for m, s in members]
        usable = any(s != "DOWN" for _, s in members)
        rows.append({"pxname": pool.uid, "svname": "BACKEND", "status": "UP" if usable else "DOWN"})
    return rows


def _index(rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    return {(r.get("pxname", ""), r.get("svname", "")): r for r in rows}


def _listener_status(
    lb: LoadBalancer, listener: Listener, index: dict[tuple[str, str], dict[str, str]]
) -> OperatingStatus:
    if not (lb.admin_state_up and listener.admin_state_up):
        return OFFLINE
    row = index.get((listener.uid, "FRONTEND"))
    return OFFLINE if row is None else frontend_status(row.get("status", ""))


def _pool_status(
    lb: LoadBalancer, pool: Pool, index: dict[tuple[str, str], dict[str, str]], prov: Prov
) -> PoolStatus:
    enabled = lb.admin_state_up and pool.admin_state_up
    members = []
    for m in pool.members:
        row = index.get((pool.uid, m.uid))
        if not (enabled and m.admin_state_up) or row is None:
            status = OFFLINE
        else:
            status = server_status(row.get("status", ""))
        members.append(_member(m, status, prov))
    backend = index.get((pool.uid, "BACKEND"))
    if not enabled or backend is None:
        status = OFFLINE
    elif backend.get("status", "").strip().upper().startswith("DOWN"):
        status = ERROR
    elif any(m.operating_status == ERROR for m in members):
        status = DEGRADED
    else:
        status = ONLINE
    return _pool(pool, status, members, prov)


def _aggregate(
    lb: LoadBalancer, listeners: list[ListenerStatus], pools: list[PoolStatus]
) -> OperatingStatus:
    if not lb.admin_state_up:
        return OFFLINE
    enabled_listeners = [
        s for s, x in zip(listeners, lb.listeners, strict=True) if x.admin_state_up
    ]
    enabled_pools = [s for s, p in zip(pools, lb.pools, strict=True) if p.admin_state_up]
    if not enabled_listeners:
        return OFFLINE
    if all(s.operating_status in (ERROR, OFFLINE) for s in enabled_listeners):
        return ERROR
    if enabled_pools and all(s.operating_status == ERROR for s in enabled_pools):
        return ERROR
    statuses: list[ListenerStatus | PoolStatus] = [*enabled_listeners, *enabled_pools]
    if any(s.operating_status != ONLINE for s in statuses):
        return DEGRADED
    return ONLINE


def _member(member: Member, status: OperatingStatus, prov: Prov) -> MemberStatus:
    return MemberStatus(
        id=member.uid,
        name=member.name,
        address=str(member.address),
        protocol_port=member.protocol_port,
        operating_status=status,
        provisioning_status=prov(member.uid),
    )


def _pool(
    pool: Pool, status: OperatingStatus, members: list[MemberStatus], prov: Prov
) -> PoolStatus:
    return PoolStatus(
        id=pool.uid,
        name=pool.name,
        operating_status=status,
        provisioning_status=prov(pool.uid),
        members=members,
        health_monitor=pool.healthmonitor.type if pool.healthmonitor is not None else None,
        health_monitor_provisioning_status=(
            prov(pool.healthmonitor.id)
            if pool.healthmonitor and pool.healthmonitor.id
            else "ACTIVE"
        ),
    )


def _listener(
    listener: Listener, pool_ids: dict[str, str], status: OperatingStatus, prov: Prov
) -> ListenerStatus:
    return ListenerStatus(
        id=listener.uid,
        name=listener.name,
        operating_status=status,
        provisioning_status=prov(listener.uid),
        default_pool_id=pool_ids.get(listener.default_pool) if listener.default_pool else None,
    )


def to_octavia_json(status: LoadBalancerStatus) -> dict[str, Any]:
    """The body of Octavia's ``GET /v2/lbaas/loadbalancers/{id}/status``: the status
    tree, pools nested under the listeners that use them."""

    def member(m: MemberStatus) -> dict[str, Any]:
        return {
            "id": m.id,
            "name": m.name,
            "operating_status": m.operating_status,
            "provisioning_status": m.provisioning_status,
            "address": m.address,
            "protocol_port": m.protocol_port,
        }

    def pool(p: PoolStatus) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "provisioning_status": p.provisioning_status,
            "operating_status": p.operating_status,
        }
        if p.health_monitor is not None:
            body["health_monitor"] = {
                "type": p.health_monitor,
                "provisioning_status": p.health_monitor_provisioning_status,
            }
        body["members"] = [member(m) for m in p.members]
        return body

    def listener(x: ListenerStatus) -> dict[str, Any]:
        used = status.pool(x.default_pool_id) if x.default_pool_id else None
        return {
            "id": x.id,
            "name": x.name,
            "operating_status": x.operating_status,
            "provisioning_status": x.provisioning_status,
            "pools": [pool(used)] if used is not None else [],
        }

    return {
        "statuses": {
            "loadbalancer": {
                "id": status.id,
                "name": status.name,
                "operating_status": status.operating_status,
                "provisioning_status": status.provisioning_status,
                "listeners": [listener(x) for x in status.listeners],
            }
        }
    }


# Octavia's load balancer statistics, from the listeners' FRONTEND rows.
STAT_FIELDS = {
    "bytes_in": "bin",
    "bytes_out": "bout",
    "active_connections": "scur",
    "total_connections": "stot",
    "request_errors": "ereq",
}


def loadbalancer_stats(lb: LoadBalancer, rows: list[dict[str, str]] | None) -> dict[str, int]:
    """The body of Octavia's ``GET /v2/lbaas/loadbalancers/{id}/stats`` ("stats"): the
    sums over the load balancer's listeners; zeros when its HAProxy is not running."""
    listeners = {x.uid for x in lb.listeners}
    totals = dict.fromkeys(STAT_FIELDS, 0)
    for row in rows or []:
        if row.get("svname") != "FRONTEND" or row.get("pxname") not in listeners:
            continue
        for name, column in STAT_FIELDS.items():
            value = row.get(column, "")
            totals[name] += int(value) if value.isdigit() else 0
    return totals
