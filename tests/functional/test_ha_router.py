"""An HA router (Neutron's ``ha: true``) on simulated nodes of one cluster, sharing a
private PostgreSQL (``netnode.lab.nodes``).

Three nodes: the router's two instances take two of them and a load balancer behind
the router's floating IP the third (least loaded first), so that killing the router's
master node leaves the load balancer, and the connections it holds, alive. From a lab
client on the external network:

- the floating IP serves through whichever instance keepalived made master; the other
  holds no address at all;
- a kept-alive TCP connection through the floating IP is replicated by conntrackd to
  the standby; opened before the master's node is killed, it carries a request after
  the takeover (the new master's conntrackd commits it into the kernel; conntrack would
  also pick it up mid-stream: ``nf_conntrack_tcp_be_liberal``), and new connections are
  served;
- the router's missing half is rebuilt on the third node, as the standby: the survivor
  keeps the addresses (nopreempt);
- a router without ``ha`` on a node that dies is placed again on another node and
  serves the floating IP from there.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netnode.cluster import scheduler
from netnode.lab import postgres
from netnode.lab.client import HttpConnection
from netnode.lab.ha_demo import FIP, PUBLIC
from netnode.lab.nodes import SimulatedNodes, wait_for
from netnode.model import ids
from netnode.store.database import engine_for
from tests.functional.conftest import Lab, eventually
from tests.functional.test_cluster import (
    SERVICE,
    TENANT,
    VIP,
    logs,
    settled_holder,
    start_and_apply,
)

LAB = {
    "name": "rlab",
    "networks": [TENANT, PUBLIC],
    "lab": {
        "instances": [
            {"name": "vm1", "network": "tenant1", "address": "10.0.0.81", "body": "server_81"},
            {"name": "vm2", "network": "tenant1", "address": "10.0.0.82", "body": "server_82"},
        ],
        "clients": [{"name": "outside", "network": "public", "address": "10.255.253.1"}],
    },
}
EDGE = {
    "name": "edge",
    "networks": [TENANT, {**PUBLIC, "bridge": "br-ex"}],
    "load_balancers": SERVICE["load_balancers"],
    "routers": [
        {
            "name": "edge",
            "external_gateway": {"network": "public", "ip_address": "10.255.253.10"},
            "interfaces": ["tenant1-subnet"],
            "ha": True,
            "vrrp_addresses": ["169.254.192.1", "169.254.192.2"],
            "failover_profile": "fast",
        }
    ],
    "floating_ips": [{"name": "web", "floating_ip_address": FIP, "fixed_ip_address": VIP}],
}


@pytest.fixture
def nodes(lab: Lab, cluster: postgres.Cluster) -> Iterator[SimulatedNodes]:
    lab.apply(LAB)
    prepared = lab.prepare(LAB)
    external = next(n["bridge"] for n in prepared["networks"] if n.get("external"))
    sim = SimulatedNodes(
        db=cluster.url,
        cluster=f"c{lab.suffix}",
        suffix=lab.suffix,
        workdir=lab.host.state_dir / "cluster",
        segments={"br-int": prepared["integration_bridge"], "br-ex": external},
        labels=("a", "b", "c"),
    )
    try:
        sim.build()
        yield sim
    finally:
        sim.close(("edge",))
        assert not sim.cleanup_errors, "\n".join(sim.cleanup_errors)


def fip_holders(sim: SimulatedNodes) -> list[str]:
    """The nodes whose instance of the router has the floating IP on its qg- port."""
    return sim.holders("routers", FIP)


def _addresses(namespace: str) -> str:
    shown = subprocess.run(
        ["ip", "-n", namespace, "-o", "-4", "addr", "show"],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout


def _default_route(namespace: str) -> str:
    shown = subprocess.run(
        ["ip", "-n", namespace, "-4", "route", "show", "default"],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout.strip()


def conntrackd_dir(sim: SimulatedNodes, node: str, instance: str) -> Path:
    return sim.nodes[node].state_dir / node / "conntrackd" / f"ctd-{instance}"


def external_cache(sim: SimulatedNodes, node: str, instance: str) -> str:
    """What the instance's conntrackd holds of the other instance's connections."""
    config = conntrackd_dir(sim, node, instance) / "conntrackd.conf"
    shown = subprocess.run(
        ["conntrackd", "-C", str(config), "-e"], capture_output=True, text=True, check=False
    )
    return shown.stdout


def serving(lab: Lab) -> bool:
    return lab.answering(lab.ns_of("client", "outside"), FIP, count=4) == {
        "server_81",
        "server_82",
    }


def test_an_ha_routers_floating_ip_and_its_connections_survive_the_masters_node(
    lab: Lab, nodes: SimulatedNodes
) -> None:
    start_and_apply(lab, nodes, EDGE)
    engine = engine_for(nodes.db)
    eventually(lambda: len(scheduler.placements(engine, nodes.cluster)) == 3, timeout=10)
    placed = scheduler.placements(engine, nodes.cluster)
    routers = {p.node: p for p in placed if p.kind == "routers"}
    (lb_node,) = [p.node for p in placed if p.kind == "load_balancers"]
    assert sorted(p.role for p in routers.values()) == ["BACKUP", "MASTER"]
    assert lb_node not in routers, "least loaded first: the load balancer has a node alone"
    assert wait_for(lambda: serving(lab), 60) is not None, logs(nodes)
    eventually(lambda: nodes.vrrp_states() == ["BACKUP", "MASTER"], timeout=20)
    master = settled_holder(lambda: fip_holders(nodes))
    (standby,) = [n for n in routers if n != master]
    # The standby holds nothing of the router's: no gateway, no floating IP, no route.
    standby_ns = ids.router_namespace(routers[standby].id)
    assert " 10.255.253.10/" not in _addresses(standby_ns)
    assert " 10.0.0.1/" not in _addresses(standby_ns)
    assert _default_route(standby_ns) == ""
    assert "via 10.255.253.1" in _default_route(ids.router_namespace(routers[master].id))

    outside = lab.ns_of("client", "outside")
    with HttpConnection(outside, FIP, 80, timeout=5.0) as kept:
        assert kept.request().status == 200
        # conntrackd replicated the connection to the standby (its external cache).
        eventually(lambda: f"dst={FIP}" in external_cache(nodes, standby, routers[standby].id))
        nodes.kill(master)
        took = wait_for(lambda: fip_holders(nodes) == [standby], 30, 0.02)
        assert took is not None, logs(nodes)
        print(
            f"\nHA router (fast profile): {standby} holds the floating IP {took:.2f} s after the kill"
        )
        # The connection opened through the dead master carries on through the new one.
        assert kept.request().status == 200, logs(nodes)
    assert serving(lab)
    assert "via 10.255.253.1" in _default_route(ids.router_namespace(routers[standby].id))
    # keepalived had the new master's conntrackd commit what it had replicated.
    log = conntrackd_dir(nodes, standby, routers[standby].id) / "conntrackd.log"
    assert "keepalived: MASTER" in log.read_text()

    # The missing half is rebuilt on the third node, as the standby; the survivor keeps
    # the addresses.
    eventually(
        lambda: (
            sorted(
                (p.node, p.role)
                for p in scheduler.placements(engine, nodes.cluster)
                if p.kind == "routers"
            )
            == sorted([(standby, "MASTER"), (lb_node, "BACKUP")])
        ),
        timeout=30,
    )
    eventually(lambda: nodes.vrrp_states() == ["BACKUP", "MASTER"], timeout=30)
    time.sleep(1.0)
    assert fip_holders(nodes) == [standby], logs(nodes)
    assert serving(lab)


def test_a_dead_nodes_standalone_router_is_rebuilt_on_another_node(
    lab: Lab, nodes: SimulatedNodes
) -> None:
    """A router without ``ha`` lives on one node; that node dies and the router is
    placed again on another, built there, and the floating IP serves again."""
    router = {k: v for k, v in EDGE["routers"][0].items() if k not in ("ha", "vrrp_addresses")}
    start_and_apply(lab, nodes, {**EDGE, "routers": [router]})
    engine = engine_for(nodes.db)
    eventually(lambda: len(scheduler.placements(engine, nodes.cluster)) == 2, timeout=10)
    assert wait_for(lambda: serving(lab), 60) is not None, logs(nodes)
    (first,) = [p for p in scheduler.placements(engine, nodes.cluster) if p.kind == "routers"]
    assert first.role == "STANDALONE"
    (lb_node,) = [
        p.node for p in scheduler.placements(engine, nodes.cluster) if p.kind == "load_balancers"
    ]
    assert lb_node != first.node, "least loaded first: the load balancer has a node alone"

    nodes.kill(first.node)
    took = wait_for(lambda: serving(lab), 60, 0.1)
    assert took is not None, logs(nodes)
    (again,) = [p for p in scheduler.placements(engine, nodes.cluster) if p.kind == "routers"]
    assert again.node != first.node and again.id != first.id
    print(f"\na dead node's router served again from {again.node} {took:.2f} s after the kill")
