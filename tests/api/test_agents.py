"""Nodes sharing a store, seen through ``/v2.0/agents`` (on SQLite and PostgreSQL): each
node that joined is an L3 agent and a load-balancer agent, alive while it beats, dead
when its heartbeat is stale or (PostgreSQL) its session's advisory lock is gone, and
"left" after a clean stop; only an admin sees or changes agents."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from netnode.api.neutron.agents import agent_id
from netnode.cluster import nodes
from netnode.cluster.membership import Membership
from netnode.store import nodes as node_rows
from tests.api.conftest import Api


@pytest.fixture
def members(api: Api) -> Iterator[list[Membership]]:
    """Memberships a test joins; all stopped (left) at its end."""
    joined: list[Membership] = []
    yield joined
    for m in joined:
        m.stop()


def join(api: Api, joined: list[Membership], name: str, **kw: object) -> Membership:
    m = Membership(api.store.engine, name, log=lambda _s: None, **kw)  # type: ignore[arg-type]
    m.join()
    joined.append(m)
    return m


def agents(api: Api, query: str = "", who: str = "admin") -> list[dict]:
    r = api.get(f"/v2.0/agents{query}", who)
    assert r.status_code == 200, r.text
    return r.json()["agents"]


def state(engine: Engine, name: str) -> str:
    return next(n.verdict.state for n in nodes.read(engine) if n.name == name)


def test_each_node_is_an_l3_and_a_load_balancer_agent(api: Api, members: list) -> None:
    join(api, members, "node-a", zone="az1")
    join(api, members, "node-b", zone="az2")
    found = agents(api)
    assert sorted((a["host"], a["agent_type"]) for a in found) == [
        ("node-a", "L3 agent"),
        ("node-a", "Loadbalancerv2 agent"),
        ("node-b", "L3 agent"),
        ("node-b", "Loadbalancerv2 agent"),
    ]
    for a in found:
        assert a["alive"] is True
        assert a["admin_state_up"] is True
        assert a["binary"] == "netnode-agent"
        assert a["availability_zone"] == ("az1" if a["host"] == "node-a" else "az2")
        assert a["configurations"]["state"] == "alive"
    # Neutron's filters: by type, by host.
    l3 = agents(api, "?agent_type=L3 agent")
    assert sorted(a["host"] for a in l3) == ["node-a", "node-b"]
    assert [a["agent_type"] for a in agents(api, "?host=node-b&agent_type=L3 agent")] == [
        "L3 agent"
    ]
    one = api.get(f"/v2.0/agents/{agent_id('node-a', 'L3 agent')}")
    assert one.status_code == 200
    assert one.json()["agent"]["host"] == "node-a"


def test_only_an_admin_sees_agents(api: Api, members: list) -> None:
    join(api, members, "node-a")
    assert agents(api, who="alpha") == []
    some = agent_id("node-a", "L3 agent")
    assert api.get(f"/v2.0/agents/{some}", "alpha").status_code == 404
    body = {"agent": {"admin_state_up": False}}
    assert api.put(f"/v2.0/agents/{some}", body, "alpha").status_code == 403
    assert api.delete(f"/v2.0/agents/{some}", "alpha").status_code == 403
    assert all(a["admin_state_up"] for a in agents(api))


def test_admin_state_is_the_nodes_and_is_kept_across_a_restart(api: Api, members: list) -> None:
    m = join(api, members, "node-a")
    some = agent_id("node-a", "Loadbalancerv2 agent")
    r = api.put(f"/v2.0/agents/{some}", {"agent": {"admin_state_up": False}})
    assert r.status_code == 200, r.text
    assert r.json()["agent"]["admin_state_up"] is False
    # The node is the unit: its other agent is down too.
    assert [a["admin_state_up"] for a in agents(api)] == [False, False]
    m.stop()
    members.remove(m)
    join(api, members, "node-a")
    assert [a["admin_state_up"] for a in agents(api)] == [False, False]
    bad = api.put(f"/v2.0/agents/{some}", {"agent": {"admin_state_up": True, "host": "x"}})
    assert bad.status_code == 400
    assert "host" in bad.text


def test_a_clean_stop_is_left_and_only_a_node_not_alive_may_be_deleted(
    api: Api, members: list
) -> None:
    m = join(api, members, "node-a")
    some = agent_id("node-a", "L3 agent")
    refused = api.delete(f"/v2.0/agents/{some}")
    assert refused.status_code == 409
    assert "alive" in refused.json()["NeutronError"]["message"]
    m.stop()
    members.remove(m)
    assert state(api.store.engine, "node-a") == "left"
    assert [a["alive"] for a in agents(api)] == [False, False]
    assert api.delete(f"/v2.0/agents/{some}").status_code == 204
    assert agents(api) == []
    assert api.get(f"/v2.0/agents/{some}").status_code == 404


def test_a_node_without_heartbeats_is_dead_after_its_timeout(api: Api, members: list) -> None:
    # Joined but never beating (its thread not started): alive within the timeout, then dead.
    join(api, members, "node-a", timeout=0.5)
    assert state(api.store.engine, "node-a") == "alive"
    time.sleep(0.7)
    verdict = next(n.verdict for n in nodes.read(api.store.engine))
    assert verdict.state == "dead"
    assert "no heartbeat for" in verdict.reason
    assert [a["alive"] for a in agents(api)] == [False, False]


def test_heartbeats_keep_a_node_alive_and_carry_its_report(api: Api, members: list) -> None:
    m = join(api, members, "node-a", timeout=0.4, report=lambda: {"rounds": 7})
    m.start()
    time.sleep(1.0)  # 2.5 timeouts
    assert state(api.store.engine, "node-a") == "alive"
    assert agents(api)[0]["configurations"]["rounds"] == 7


def test_load_counts_what_is_desired_on_each_node(api: Api, members: list) -> None:
    join(api, members, api.svc.node)
    api.loadbalancer(name="one")
    api.loadbalancer(name="two")
    (node,) = nodes.read(api.store.engine)
    assert (node.load_balancers, node.routers) == (2, 0)
    lb_agent = agents(api, "?agent_type=Loadbalancerv2 agent")[0]
    assert lb_agent["configurations"]["loadbalancers"] == 2


# --- PostgreSQL: the session's advisory lock ---------------------------------------------


def _lock_holder(engine: Engine, node_id: int) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 2 AND classid = CAST(:c AS oid) AND objid = CAST(:o AS oid)"
            ),
            {"c": node_rows.LOCK_CLASS, "o": node_id},
        ).scalar()


@pytest.mark.postgresql
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_node_whose_session_ends_is_dead_at_once_and_back_with_its_next_beat(
    api: Api, members: list
) -> None:
    m = join(api, members, "node-a", timeout=60)
    assert m.id is not None
    holder = _lock_holder(api.store.engine, m.id)
    assert holder is not None
    with api.store.engine.connect() as conn:
        conn.execute(sa.select(sa.func.pg_terminate_backend(holder)))
    # Its heartbeat is fresh (timeout 60 s), but its session is gone.
    verdict = next(n.verdict for n in nodes.read(api.store.engine))
    assert verdict.state == "dead"
    assert "advisory lock" in verdict.reason
    # The next beat finds the connection broken; the one after reconnects and locks.
    assert m.beat() is False
    assert m.beat() is True
    assert state(api.store.engine, "node-a") == "alive"
    assert _lock_holder(api.store.engine, m.id) not in (None, holder)


@pytest.mark.postgresql
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_second_process_cannot_be_a_live_node(api: Api, members: list) -> None:
    from netnode.cluster.membership import NodeTaken

    first = join(api, members, "node-a")
    # A second engine: another process's sessions.
    other = sa.create_engine(api.store.engine.url)
    try:
        with pytest.raises(NodeTaken, match="already running"):
            Membership(other, "node-a", log=lambda _s: None).join()
        first.stop()
        members.remove(first)
        second = Membership(other, "node-a", log=lambda _s: None)
        second.join()
        assert state(api.store.engine, "node-a") == "alive"
        second.stop()
    finally:
        other.dispose()
