"""An ACTIVE_STANDBY load balancer's stick tables survive a takeover (HAProxy peers,
``netnode.render.peers``), on two simulated nodes of one cluster (the fixtures and
helpers of ``test_cluster``).

The pool balances by SOURCE_IP (a consistent hash of the client's address) with
SOURCE_IP persistence. Left alone, both instances would hash the client to the same
member, and a takeover would keep it even without replicated tables; so the client is
made to stick to the *other* member first: its hashed member is put in maintenance on
the master for one request, which sticks the client to the other one, and comes back.
The master's table says so, the standby's (replicated through the peers) too; the
master's node dies, and the same client reaches the same member through the new
master. Without peers the new master has no entry and hashes the client back to its
first member: the test fails (checked by rendering no peers section).

The peer port listens on each instance's VRRP address, on the tenant network: the lab
client cannot reach it (the load balancer's filter drops it), while the two instances
replicate through it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netnode.cluster import scheduler
from netnode.drivers.haproxy import HAProxyProcesses
from netnode.lab.client import connect
from netnode.lab.nodes import SimulatedNodes, wait_for
from netnode.render.peers import PEER_PORT
from netnode.store.database import engine_for
from tests.functional.conftest import Lab, eventually
from tests.functional.test_cluster import (  # noqa: F401 (nodes: a fixture)
    HA_SERVICE,
    VIP,
    logs,
    nodes,
    start_and_apply,
    vip_holders,
)

CLIENT = "10.0.0.90"
BODIES = {"10.0.0.81": "server_81", "10.0.0.82": "server_82"}
STICKY_SERVICE = {
    **HA_SERVICE,
    "load_balancers": [
        {
            **HA_SERVICE["load_balancers"][0],
            "pools": [
                {
                    **HA_SERVICE["load_balancers"][0]["pools"][0],
                    "lb_algorithm": "SOURCE_IP",
                    "session_persistence": {"type": "SOURCE_IP"},
                }
            ],
        }
    ],
}


def haproxy_of(sim: SimulatedNodes, node: str) -> tuple[HAProxyProcesses, str]:
    """The HAProxy processes of ``node`` and the name of its instance's process."""
    (placement,) = [
        p for p in scheduler.placements(engine_for(sim.db), sim.cluster) if p.node == node
    ]
    state = sim.nodes[node].state_dir
    return HAProxyProcesses(Path(state) / node / "haproxy"), f"lb-{placement.id}"


def table(sim: SimulatedNodes, node: str, backend: str) -> dict[str, str]:
    """The stick table of ``backend`` on ``node``'s instance: key -> server_id."""
    processes, name = haproxy_of(sim, node)
    shown = processes.runtime(name, f"show table {backend}")
    return dict(re.findall(r" key=(\S+) .*?server_id=(\d+)", shown))


def body(lab: Lab, client_ns: str) -> str | None:
    try:
        return lab.get(client_ns, VIP, timeout=1.0).body.strip()
    except OSError:
        return None


def test_a_takeover_keeps_the_clients_member(lab: Lab, nodes: SimulatedNodes) -> None:  # noqa: F811
    start_and_apply(lab, nodes, STICKY_SERVICE)
    engine = engine_for(nodes.db)
    eventually(lambda: len(scheduler.placements(engine, nodes.cluster)) == 2, timeout=10)
    client_ns = lab.ns_of("client", "inside")
    eventually(lambda: body(lab, client_ns), timeout=60)
    eventually(lambda: len(vip_holders(nodes)) == 1, timeout=20)
    eventually(lambda: nodes.vrrp_states() == ["BACKUP", "MASTER"], timeout=20)
    (master,) = vip_holders(nodes)
    (standby,) = [n for n in nodes.nodes if n != master]

    # The pool's backend and its servers, by member address, from the master's stats.
    processes, name = haproxy_of(nodes, master)
    servers = {
        row["addr"].split(":")[0]: (row["pxname"], row["svname"])
        for row in processes.stats(name)
        if row["svname"] not in ("FRONTEND", "BACKEND")
    }
    (backend,) = {px for px, _ in servers.values()}

    # The client's hashed member, then the other one made its member: the hashed one in
    # maintenance for one request, then back.
    hashed = body(lab, client_ns)
    assert hashed in BODIES.values(), logs(nodes)
    address = next(a for a, b in BODIES.items() if b == hashed)
    other = next(b for b in BODIES.values() if b != hashed)
    server = "/".join(servers[address])
    assert processes.runtime(name, f"disable server {server}").strip() == ""
    try:
        assert body(lab, client_ns) == other
    finally:
        assert processes.runtime(name, f"enable server {server}").strip() == ""
    assert [body(lab, client_ns) for _ in range(4)] == [other] * 4, "the client does not stick"

    # The entry is on the master, and replicated to the standby.
    sticky = table(nodes, master, backend)[CLIENT]
    eventually(lambda: table(nodes, standby, backend).get(CLIENT) == sticky, timeout=10)

    # The standby reloaded (a configuration change) learns the table again from the
    # master: a new HAProxy asks its peers for a full resync.
    standby_processes, standby_name = haproxy_of(nodes, standby)
    config = standby_processes.installed_config(standby_name)
    assert config is not None
    before = standby_processes.master_state(standby_name).reloads
    standby_processes.reload(standby_name, config)
    assert standby_processes.master_state(standby_name).reloads == before + 1
    eventually(lambda: table(nodes, standby, backend).get(CLIENT) == sticky, timeout=10)

    # A tenant on the VIP's network cannot reach either peer port: dropped (a timeout,
    # not a refusal: the port listens, for the other instance only).
    for vrrp in STICKY_SERVICE["load_balancers"][0]["vrrp_addresses"]:
        with pytest.raises(TimeoutError):
            connect(client_ns, vrrp, PEER_PORT, timeout=1.0).close()

    nodes.kill(master)
    took = wait_for(lambda: vip_holders(nodes) == [standby] and body(lab, client_ns), 30, 0.02)
    assert took is not None, logs(nodes)
    assert [body(lab, client_ns) for _ in range(4)] == [other] * 4, logs(nodes)
    print(f"\nthe client kept {other} through the takeover ({took:.2f} s after the kill)")
