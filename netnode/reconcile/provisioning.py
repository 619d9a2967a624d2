"""Provisioning status, as Octavia keeps it, for the objects of a topology. Pure.

Each object (load balancer, listener, L7 policy and rule, pool, health monitor, member,
router, floating IP) has a fingerprint of its own definition. When the desired topology changes:

- an object that is new is PENDING_CREATE, one whose definition changed PENDING_UPDATE,
  and so is every ancestor of such an object (Octavia locks the parents too);
- when the pass ends, the pending objects of the units that converged are ACTIVE, as
  is an ERROR object whose unit now converged; the pending objects of a unit that
  failed are ERROR if the failure is permanent, or after ``MAX_PENDING_PASSES``
  failed passes in a row (an object is never stuck in PENDING_* for ever: Octavia's
  best-known failure); until then they stay pending while the agent retries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from netnode.model import ids
from netnode.model.topology import FloatingIP, LoadBalancer, Named, Router, Topology
from netnode.plan.desired import name_of
from netnode.plan.memo import Memo, Pass

ACTIVE = "ACTIVE"
PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"
ERROR = "ERROR"
MAX_PENDING_PASSES = 3


@dataclass(frozen=True)
class Object:
    kind: str
    unit: str | None  # the namespace that realises it
    fingerprint: str
    parents: tuple[str, ...] = ()


def objects(
    topo: Topology,
    floating: dict[str, tuple[str, ...]],
    memo: Memo[dict[str, Object]] | None = None,
) -> dict[str, Object]:
    """Every object of ``topo`` by id. ``floating`` is the desired host's floating
    addresses per router namespace (where each floating IP is realised). With a
    ``memo``, the objects of a load balancer defined as in the last call are not
    fingerprinted again."""
    found: dict[str, Object] = {}
    made: Pass[dict[str, Object]] = Pass(memo, name_of(topo))
    for lb in topo.load_balancers:
        key = made.json(lb) if memo is not None else None
        found.update(made.get(key, partial(_lb_objects, lb)))
    made.done()
    for item in (*topo.routers, *topo.floating_ips):
        found.update(objects_of(item, floating))
    return found


def objects_of(item: Named, floating: dict[str, tuple[str, ...]]) -> dict[str, Object]:
    """The objects of one top-level object of a topology (a network has none with a
    provisioning status of its own)."""
    if isinstance(item, LoadBalancer):
        return _lb_objects(item)
    if isinstance(item, Router):
        unit = ids.router_namespace(item.host_id)
        return {item.uid: Object("router", unit, _digest(item, *PLACEMENT))}
    if isinstance(item, FloatingIP):
        address = str(item.floating_ip_address)
        unit = next((ns for ns, held in floating.items() if address in held), None)
        return {item.uid: Object("floatingip", unit, _digest(item))}
    return {}


def _lb_objects(lb: LoadBalancer) -> dict[str, Object]:
    """A load balancer and its listeners (with their L7 policies and rules), pools,
    health monitors and members."""
    found: dict[str, Object] = {}
    unit = ids.lb_namespace(lb.host_id)
    found[lb.uid] = Object("loadbalancer", unit, _digest(lb, "listeners", "pools", *PLACEMENT))
    for listener in lb.listeners:
        found[listener.uid] = Object("listener", unit, _digest(listener), (lb.uid,))
        for policy in listener.l7policies:
            above = (listener.uid, lb.uid)
            found[policy.uid] = Object("l7policy", unit, _digest(policy, "rules"), above)
            for rule in policy.rules:
                found[rule.uid] = Object("l7rule", unit, _digest(rule), (policy.uid, *above))
    for pool in lb.pools:
        users = tuple(x.uid for x in lb.listeners if x.default_pool == pool.name)
        parents = (lb.uid, *users)
        found[pool.uid] = Object("pool", unit, _digest(pool, "members", "healthmonitor"), parents)
        if pool.healthmonitor is not None:
            found[pool.healthmonitor.uid] = Object(
                "healthmonitor", unit, _digest(pool.healthmonitor), (pool.uid, *parents)
            )
        for member in pool.members:
            found[member.uid] = Object("member", unit, _digest(member), (pool.uid, *parents))
    return found


def pending(
    before: dict[str, str], status: dict[str, str], now: dict[str, Object]
) -> dict[str, str]:
    """Statuses once the desired topology became ``now``: ``before`` holds the previous
    fingerprints, ``status`` the previous statuses. Objects no longer desired drop out."""
    result = {uid: status.get(uid, ACTIVE) for uid in now if uid in before}
    for uid, obj in now.items():
        if uid not in before:
            result[uid] = PENDING_CREATE
        elif before[uid] != obj.fingerprint:
            result[uid] = PENDING_UPDATE
        else:
            continue
        for parent in obj.parents:
            if result.get(parent) != PENDING_CREATE and parent in now:
                result[parent] = PENDING_UPDATE
    return result


def settle(
    status: dict[str, str],
    now: dict[str, Object],
    ran: Iterable[str] | None,
    failures: dict[str, tuple[bool, int]],
) -> dict[str, str]:
    """Statuses once a pass ended. ``ran`` are the units the pass covered (None: all);
    ``failures`` maps each failed unit ("" for the whole host) to (permanent, failed
    passes in a row)."""
    covered = None if ran is None else set(ran)
    everything = failures.get("")
    result = dict(status)
    for uid, current in status.items():
        obj = now.get(uid)
        if obj is None:
            continue
        failed = failures.get(obj.unit) if obj.unit is not None else None
        failed = failed or everything
        if failed is not None:
            permanent, count = failed
            if current.startswith("PENDING_") and (permanent or count >= MAX_PENDING_PASSES):
                result[uid] = ERROR
        elif covered is None or obj.unit is None or obj.unit in covered:
            result[uid] = ACTIVE
    return result


# Where an object may be scheduled (its availability zones): the scheduler's business,
# nothing built on the host follows from it, so it is no part of the fingerprint
# (objects made before the fields existed keep theirs).
SCHEDULING = ("availability_zone", "availability_zone_hints")
# What a node's placement sets on its copy of an object (model.topology.Placed): the
# same object converged on any node has the same fingerprint.
PLACEMENT = ("instance", "slot", "role", *SCHEDULING)


def _digest(obj: Any, *without: str) -> str:
    data = obj.model_dump(mode="json", exclude=set(without))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]
