"""The World the API keeps is the one a fresh read would build: after every kind of
write, the World built from the one before (only the rows that changed parsed and
indexed again, ``World._evolve``; a change this process landed taken without reading
the store, ``TopologyCache.landed``) equals a World read whole from the store by a new
cache, table by table, port by port, status by status."""

from __future__ import annotations

from typing import Any

from netnode.api.world import API_TOPOLOGY, TABLES, World
from netnode.reconcile.sources import TopologyCache
from tests.api.conftest import NODE, Api


def _tables(world: World) -> dict[str, Any]:
    """Everything a World answers, as plain values (sources by name)."""
    found: dict[str, Any] = {}
    for table in TABLES:
        entries = getattr(world, table)
        found[table] = {k: (v[0].name, *v[1:]) for k, v in entries.items()}
    found["ports"] = dict(world.ports)
    found["used"] = {k: v for k, v in world.used.items() if v}
    found["served"] = dict(world.served)
    found["status"] = {name: dict(src.status) for name, src in world.sources.items()}
    found["metadata"] = {name: src.topo.metadata for name, src in world.sources.items()}
    found["held"] = {
        (table, project): world.held(table, project)
        for table in TABLES
        for project in ("admin", "alpha", "ops")
    }
    return found


def _same_as_whole(api: Api) -> World:
    kept = api.svc.world()
    whole = World.read(api.store, NODE, api.svc.operator_project, TopologyCache())
    assert _tables(kept) == _tables(whole)
    return kept


def test_the_kept_world_is_the_world_read_whole(api: Api) -> None:
    subnet = api.subnet_id("tenant1-subnet")
    evolved = 0

    def check() -> None:
        nonlocal evolved
        world = _same_as_whole(api)
        parsed = world.sources[API_TOPOLOGY].parsed
        evolved += parsed is not None and parsed.base is not None

    first = api.loadbalancer(name="first")
    check()
    second = api.loadbalancer(name="second", vip_subnet_id=subnet)
    check()
    listener = api.listener(first["id"])
    check()
    pool = api.pool(listener_id=listener["id"])
    check()
    members = [api.member(pool["id"], address=f"10.0.0.{80 + i}") for i in range(3)]
    check()
    api.healthmonitor(pool["id"])
    check()
    r = api.put(
        f"/v2/lbaas/pools/{pool['id']}/members/{members[1]['id']}", {"member": {"weight": 5}}
    )
    assert r.status_code == 200, r.text
    check()
    api.converge()
    r = api.delete(f"/v2/lbaas/pools/{pool['id']}/members/{members[0]['id']}")
    assert r.status_code == 204, r.text
    api.converge()
    check()
    # Neutron: a router to the external network, a floating IP on the second VIP.
    router = api.create(
        "/v2.0/routers",
        "router",
        {"name": "r", "external_gateway_info": {"network_id": api.network_id("public")}},
    )
    check()
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet})
    assert r.status_code == 200, r.text
    check()
    fip = api.create(
        "/v2.0/floatingips",
        "floatingip",
        {"floating_network_id": api.network_id("public"), "port_id": second["vip_port_id"]},
    )
    check()
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    assert r.status_code == 200, r.text
    check()
    r = api.delete(f"/v2/lbaas/loadbalancers/{first['id']}?cascade=true")
    assert r.status_code == 204, r.text
    api.converge()
    check()
    r = api.delete(f"/v2/lbaas/loadbalancers/{second['id']}")
    assert r.status_code == 204, r.text
    check()
    # Most of those writes were taken row by row, not read whole.
    assert evolved >= 8
