"""What the status page shows a caller: its project's load balancers (listeners, pools,
members, statuses, statistics), routers and floating IPs, and the topology they make,
by the API's own tenancy rules (``Context.may_see``) and views (``octavia.views``,
``neutron.views``): the page shows what the API answers, never more.

Statistics come from the rows the status watcher last read (``StatusCache``), not from
a stats socket per request: a page polling every second costs HAProxy nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netnode.api.auth import Context
from netnode.api.neutron.views import fip_view, router_view
from netnode.api.octavia.views import Views, views
from netnode.api.service import Service
from netnode.api.world import Source, World
from netnode.model.topology import LoadBalancer, Topology
from netnode.reconcile.status import loadbalancer_stats


@dataclass
class LoadBalancerState:
    view: dict[str, Any]
    listeners: list[dict[str, Any]]
    # Each pool's view with its members' views and its monitor's type.
    pools: list[tuple[dict[str, Any], list[dict[str, Any]], str | None]]
    stats: dict[str, int]


@dataclass
class State:
    """What one caller may see, as the API's views show it."""

    context: Context
    loadbalancers: list[LoadBalancerState] = field(default_factory=list)
    routers: list[dict[str, Any]] = field(default_factory=list)
    floatingips: list[dict[str, Any]] = field(default_factory=list)
    # The topologies to draw, cut to what the caller may see, and statuses by id.
    topologies: list[Topology] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)

    def objects(self) -> dict[str, str]:
        """Every load balancer object's operating status by id (for scripts and tests)."""
        found = {}
        for lb in self.loadbalancers:
            found[lb.view["id"]] = lb.view["operating_status"]
            found |= {x["id"]: x["operating_status"] for x in lb.listeners}
            for pool, members, _ in lb.pools:
                found[pool["id"]] = pool["operating_status"]
                found |= {m["id"]: m["operating_status"] for m in members}
        return found


def read(svc: Service, ctx: Context) -> State:
    w = svc.world()
    v = views(svc, w)
    state = State(ctx)
    for lb_id in sorted(w.lbs, key=lambda i: _order(w, w.lbs[i][0], w.lbs[i][1])):
        src, lb = w.lbs[lb_id]
        if ctx.may_see(w.project_of(src, lb_id)):
            state.loadbalancers.append(_load_balancer(svc, v, lb))
    state.statuses = state.objects()
    for table, view, into in (
        (w.routers, router_view, state.routers),
        (w.fips, fip_view, state.floatingips),
    ):
        for object_id, (src, _) in table.items():
            if ctx.may_see(w.project_of(src, object_id)):
                into.append(view(w, object_id))
                state.statuses[object_id] = w.status(src, object_id)
    state.topologies = [_visible(ctx, w, src) for _, src in sorted(w.sources.items())]
    return state


def _order(w: World, src: Source, lb: LoadBalancer) -> tuple[str, str]:
    return (w.name_of(src, lb) or lb.uid, lb.uid)


def _load_balancer(svc: Service, v: Views, lb: LoadBalancer) -> LoadBalancerState:
    _, rows = svc.statuses.get(lb.uid)
    stats = loadbalancer_stats(lb, rows)
    stats["requests"] = _requests(lb, rows)
    pools: list[tuple[dict[str, Any], list[dict[str, Any]], str | None]] = []
    for p in lb.pools:
        members = [v.member(m.uid) for m in p.members]
        pools.append((v.pool(p.uid), members, p.healthmonitor.type if p.healthmonitor else None))
    return LoadBalancerState(
        view=v.loadbalancer(lb.uid),
        listeners=[v.listener(x.uid) for x in lb.listeners],
        pools=pools,
        stats=stats,
    )


def _requests(lb: LoadBalancer, rows: list[dict[str, str]] | None) -> int:
    """Requests its listeners took: HTTP requests (``req_tot``) where HAProxy counts
    them, connections (``stot``) where it does not (TCP, UDP)."""
    listeners = {x.uid for x in lb.listeners}
    total = 0
    for row in rows or []:
        if row.get("svname") != "FRONTEND" or row.get("pxname") not in listeners:
            continue
        count = row.get("req_tot", "") or row.get("stot", "")
        total += int(count) if count.isdigit() else 0
    return total


def _visible(ctx: Context, w: World, src: Source) -> Topology:
    """``src``'s topology with only what ``ctx`` may see: its project's objects, shared
    networks, and the lab's hosts for the operator's project."""
    topo = src.topo

    def mine(object_id: str) -> bool:
        return ctx.may_see(w.project_of(src, object_id))

    lab = (
        topo.lab
        if ctx.may_see(w.operator_project)
        else topo.lab.model_copy(update={"instances": [], "clients": []})
    )
    return topo.model_copy(
        update={
            "networks": [
                n for n in topo.networks if ctx.may_see(w.project_of(src, n.uid), w.shared(src, n))
            ],
            "load_balancers": [x for x in topo.load_balancers if mine(x.uid)],
            "routers": [x for x in topo.routers if mine(x.uid)],
            "floating_ips": [x for x in topo.floating_ips if mine(x.uid)],
            "lab": lab,
        }
    )
