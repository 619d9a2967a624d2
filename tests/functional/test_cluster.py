"""Two netnode nodes of one cluster on one machine (``netnode.lab.nodes``), sharing a
private PostgreSQL.

- A standalone load balancer recorded with ``netnode --cluster apply`` is placed on one
  node, built there and serves HTTP from a lab client on the tenant segment; when that
  node dies (cut off, its processes SIGKILLed), the other node places it again as a new
  instance and serves the same VIP; the dead node, back, takes nothing back.
- An ACTIVE_STANDBY load balancer (fast profile) runs on both nodes, one keepalived
  holding the VIP: restarting the master's agent moves nothing; the master's HAProxy
  killed moves the VIP to the standby, and it stays there once HAProxy is back; the
  master's node killed, the standby serves; the dead node back takes its slot again as
  the standby, without preempting.

The lab (backends, the client, and the segment the nodes patch into) is a topology of
its own on a node outside the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import yaml

from netnode.cluster import nodes as cluster_nodes
from netnode.cluster import scheduler
from netnode.lab import postgres
from netnode.lab.ha_demo import TENANT, VIP
from netnode.lab.nodes import SimulatedNodes, wait_for
from netnode.store.database import engine_for
from tests.functional.conftest import Lab, eventually

LAB = {
    "name": "lab",
    "networks": [TENANT],
    "lab": {
        "instances": [
            {"name": "vm1", "network": "tenant1", "address": "10.0.0.81", "body": "server_81"},
            {"name": "vm2", "network": "tenant1", "address": "10.0.0.82", "body": "server_82"},
        ],
        "clients": [{"name": "inside", "network": "tenant1", "address": "10.0.0.90"}],
    },
}
SERVICE = {
    "name": "svc",
    "networks": [TENANT],
    "load_balancers": [
        {
            "name": "web",
            "vip": {"network": "tenant1", "address": VIP},
            "listeners": [
                {"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": "pool"}
            ],
            "pools": [
                {
                    "name": "pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [
                        {"name": "m1", "address": "10.0.0.81", "protocol_port": 80},
                        {"name": "m2", "address": "10.0.0.82", "protocol_port": 80},
                    ],
                }
            ],
        }
    ],
}


@pytest.fixture
def nodes(lab: Lab, cluster: postgres.Cluster) -> Iterator[SimulatedNodes]:
    lab.apply(LAB)
    prepared = lab.prepare(LAB)
    sim = SimulatedNodes(
        db=cluster.url,
        cluster=f"c{lab.suffix}",
        suffix=lab.suffix,
        workdir=lab.host.state_dir / "cluster",
        segments={"br-int": prepared["integration_bridge"]},
    )
    try:
        sim.build()
        yield sim
    finally:
        sim.close(("svc", "hasvc"))
        assert not sim.cleanup_errors, "\n".join(sim.cleanup_errors)


def start_and_apply(lab: Lab, sim: SimulatedNodes, data: dict) -> subprocess.CompletedProcess[str]:
    """Both nodes started and alive, then ``data`` recorded with ``netnode --cluster
    apply`` (which schedules it at once)."""
    for name in sim.nodes:
        sim.start(name)
    engine = engine_for(sim.db)
    eventually(
        lambda: {n.name for n in cluster_nodes.read(engine) if n.alive} == set(sim.nodes), 30
    )
    path = lab.tmp / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    first = next(iter(sim.nodes))
    done = subprocess.run(
        [*sim.cli(first), "apply", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def serving(lab: Lab) -> bool:
    return lab.answering(lab.ns_of("client", "inside"), VIP, count=4) == {"server_81", "server_82"}


def placed_on(sim: SimulatedNodes) -> str:
    engine = engine_for(sim.db)
    (placement,) = scheduler.placements(engine, sim.cluster)
    return placement.node


def test_a_dead_nodes_load_balancer_serves_again_from_the_other_node(
    lab: Lab, nodes: SimulatedNodes
) -> None:
    a, b = list(nodes.nodes)
    done = start_and_apply(lab, nodes, SERVICE)
    # Placed by the apply (the two nodes alive), then built by the node that holds it.
    eventually(lambda: serving(lab), timeout=60)
    first = placed_on(nodes)
    other = b if first == a else a
    # Placed by the apply's scheduling pass, or by an agent's that held the turn.
    said = done.stdout + nodes.agent_log(a) + nodes.agent_log(b)
    assert "placed load balancer" in said and f"on node {first}" in said
    # netnode status on the node that holds it reads its HAProxy (named by the instance).
    shown = subprocess.run(
        [*nodes.cli(first), "status", "-f", "json"], capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stderr
    (status,) = json.loads(shown.stdout)
    assert status["statuses"]["loadbalancer"]["operating_status"] == "ONLINE", shown.stdout
    assert status["stats"]["total_connections"] > 0, shown.stdout

    nodes.kill(first)
    killed_at = time.monotonic()
    took = wait_for(lambda: serving(lab), timeout=60, interval=0.1)
    assert took is not None, nodes.agent_log(other)
    assert placed_on(nodes) == other
    print(f"\na dead node's load balancer served again from {other} {took:.2f} s after the kill")

    # The dead node comes back (patched, its agent started): it takes nothing back.
    nodes.heal(first)
    nodes.start(first)
    time.sleep(3)
    assert placed_on(nodes) == other
    assert serving(lab)
    assert time.monotonic() - killed_at > took


HA_SERVICE = {
    **SERVICE,
    "name": "hasvc",
    "load_balancers": [
        {
            **SERVICE["load_balancers"][0],
            "name": "ha",
            "topology": "ACTIVE_STANDBY",
            "vrrp_addresses": ["10.0.0.101", "10.0.0.102"],
            "failover_profile": "fast",
        }
    ],
}


def logs(sim: SimulatedNodes) -> str:
    return "\n".join(f"--- {name}\n{sim.agent_log(name)}" for name in sim.nodes)


def vip_holders(sim: SimulatedNodes) -> list[str]:
    """The nodes whose instance of the HA load balancer has the VIP on its port."""
    return sim.holders("load_balancers", VIP)


def settled_holder(holders: Callable[[], list[str]]) -> str:
    """The one node ``holders()`` names, unchanged for a second: an election may still
    be settling (an instance that started first can yield to a higher priority, or
    the roles swap to follow it)."""

    def stable() -> str | None:
        first = holders()
        time.sleep(1.0)
        return first[0] if len(first) == 1 and holders() == first else None

    found = eventually(stable, timeout=30)
    assert isinstance(found, str)
    return found


def test_an_active_standby_load_balancer_survives_its_masters_node(
    lab: Lab, nodes: SimulatedNodes
) -> None:
    a, b = list(nodes.nodes)
    start_and_apply(lab, nodes, HA_SERVICE)
    engine = engine_for(nodes.db)
    # Placed by the apply, or by the agent whose pass held the turn (a moment later).
    eventually(lambda: len(scheduler.placements(engine, nodes.cluster)) == 2, timeout=10)
    roles = sorted((p.node, p.role) for p in scheduler.placements(engine, nodes.cluster))
    assert sorted(r for _, r in roles) == ["BACKUP", "MASTER"] and {n for n, _ in roles} == {a, b}
    assert wait_for(lambda: serving(lab), 60) is not None, logs(nodes)
    # Exactly one instance holds the VIP, and keeps it while nothing happens.
    # Both instances elected: one MASTER, one BACKUP (the second may start later), and
    # exactly one instance holds the VIP and keeps it while nothing happens.
    eventually(lambda: nodes.vrrp_states() == ["BACKUP", "MASTER"], timeout=20)
    master = settled_holder(lambda: vip_holders(nodes))
    standby = b if master == a else a
    placed = sorted(p.id for p in scheduler.placements(engine, nodes.cluster))

    # Restarting the master's agent (an upgrade) moves nothing: it left cleanly and is
    # back within its timeout.
    nodes.stop(master)
    nodes.start(master)
    eventually(lambda: {n.name for n in cluster_nodes.read(engine) if n.alive} == {a, b}, 30)
    time.sleep(1.0)
    assert sorted(p.id for p in scheduler.placements(engine, nodes.cluster)) == placed
    assert vip_holders(nodes) == [master], logs(nodes)

    # The master's HAProxy dies: keepalived tracks it, the VIP moves to the standby; the
    # agent then starts HAProxy again, and the VIP stays where it went (nopreempt).
    for pid in nodes.haproxy_pids(master):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    eventually(lambda: vip_holders(nodes) == [standby] and serving(lab), timeout=20)
    eventually(lambda: nodes.vrrp_states() == ["BACKUP", "MASTER"], timeout=30)
    time.sleep(1.0)
    assert vip_holders(nodes) == [standby], logs(nodes)
    master, standby = standby, master

    nodes.kill(master)
    took = wait_for(lambda: vip_holders(nodes) == [standby] and serving(lab), 30, 0.02)
    assert took is not None, nodes.agent_log(standby)
    print(f"\nACTIVE_STANDBY (fast profile): {standby} serves the VIP {took:.2f} s after the kill")
    # The dead half cannot be placed again (no third node): the survivor keeps serving,
    # and leads the pair now (MASTER: the higher VRRP priority).
    eventually(
        lambda: (
            [(p.node, p.role) for p in scheduler.placements(engine, nodes.cluster)]
            == [(standby, "MASTER")]
        ),
        timeout=10,
    )

    # The dead node returns: it gets the missing half again, as a standby (nopreempt).
    nodes.heal(master)
    nodes.start(master)
    eventually(lambda: len(scheduler.placements(engine, nodes.cluster)) == 2, timeout=30)
    roles = {p.node: p.role for p in scheduler.placements(engine, nodes.cluster)}
    assert roles == {standby: "MASTER", master: "BACKUP"}
    eventually(lambda: nodes.vrrp_states() == ["BACKUP", "MASTER"], timeout=30)
    time.sleep(1.0)
    assert vip_holders(nodes) == [standby]
    assert serving(lab)
