"""An ACTIVE_STANDBY load balancer on two simulated nodes (``netnode.lab.nodes``), real
keepalived, HAProxy and PostgreSQL: the pair's roles follow VRRP
(``netnode.cluster.takeover``).

- The master's node cut off (its patch ports removed; it stays alive in the store, its
  agent running): the standby takes the VIP and serves, the placements swap roles and
  both keepalived are reloaded with the new priorities; when the link heals, the old
  master (now at 90) yields to the new one (100): exactly one master, and the VIP does
  not flip back.
- Ten HAProxy reloads in a row (the pool's algorithm changed by ``netnode --cluster
  apply`` each time, on both nodes) keep the master: the VIP never moves and no
  request fails. (It failed two runs in three while keepalived tracked HAProxy by its
  command line: a reload re-executes the master with "-sf ... -x ..." put first, so
  for a moment no process matched and the master gave the VIP up. HAProxy now runs
  under a name of its own, which keepalived tracks.)

The fixtures and helpers are test_cluster's.
"""

from __future__ import annotations

import contextlib
import copy
import re
import subprocess
import time
from pathlib import Path

import yaml

from netnode.cluster import scheduler
from netnode.drivers.haproxy import HAProxyProcesses
from netnode.errors import HostError
from netnode.lab.nodes import SimulatedNodes, wait_for
from netnode.store.database import engine_for
from tests.functional import test_cluster
from tests.functional.conftest import Lab, eventually
from tests.functional.test_cluster import (
    HA_SERVICE,
    VIP,
    logs,
    serving,
    start_and_apply,
    vip_holders,
)

# test_cluster's fixture: two simulated nodes on a private PostgreSQL, the lab built.
nodes = test_cluster.nodes

SWAPPED = "took over as MASTER (VRRP); roles swapped"


def roles(sim: SimulatedNodes) -> dict[str, str]:
    """Each node's placement role of the pair."""
    return {p.node: p.role for p in scheduler.placements(engine_for(sim.db), sim.cluster)}


def priorities(sim: SimulatedNodes) -> dict[str, int]:
    """Each node's keepalived priority, once it runs its configuration: the notify
    script, which keepalived starts anew at every start and reload, began after the
    configuration was written. A node whose keepalived has not read its configuration
    yet is missing."""
    found = {}
    for name, node in sim.nodes.items():
        for conf in (node.state_dir / name / "keepalived").glob("*/keepalived.conf"):
            notify = conf.parent / "notify.pid"
            match = re.search(r"^\s*priority (\d+)$", conf.read_text(), re.M)
            if match and notify.exists() and notify.stat().st_mtime >= conf.stat().st_mtime:
                found[name] = int(match[1])
    return found


def settled(lab: Lab, sim: SimulatedNodes) -> tuple[str, str]:
    """The pair built and serving, one master; its roles and priorities follow VRRP
    (whichever instance was first to take the VIP is MASTER). (master, standby)."""
    a, b = list(sim.nodes)
    eventually(lambda: len(roles(sim)) == 2, timeout=10)
    assert wait_for(lambda: serving(lab), 60) is not None, logs(sim)
    eventually(lambda: len(vip_holders(sim)) == 1, timeout=20)
    eventually(lambda: sim.vrrp_states() == ["BACKUP", "MASTER"], timeout=20)
    (master,) = vip_holders(sim)
    standby = b if master == a else a
    eventually(lambda: roles(sim) == {master: "MASTER", standby: "BACKUP"}, timeout=10)
    eventually(lambda: priorities(sim) == {master: 100, standby: 90}, timeout=20)
    return master, standby


def test_after_a_partition_heals_one_master_stays_and_the_vip_does_not_flip_back(
    lab: Lab, nodes: SimulatedNodes
) -> None:
    start_and_apply(lab, nodes, HA_SERVICE)
    master, standby = settled(lab, nodes)
    # Swaps so far (settling: the first instance to take the VIP may have been BACKUP).
    swaps = {name: nodes.agent_log(name).count(SWAPPED) for name in nodes.nodes}

    # The master's link is cut; its node lives on (agent, store). The standby hears no
    # adverts and takes the VIP too: two masters while the partition lasts.
    nodes.cut(master)
    took = wait_for(lambda: standby in vip_holders(nodes) and serving(lab), 20, 0.05)
    assert took is not None, logs(nodes)
    assert sorted(vip_holders(nodes)) == sorted([master, standby])
    # The roles follow VRRP: the standby that took over is MASTER now, and both
    # keepalived run the new priorities (the cut-off one too: it reaches the store).
    eventually(lambda: roles(nodes) == {standby: "MASTER", master: "BACKUP"}, timeout=10)
    eventually(lambda: priorities(nodes) == {standby: 100, master: 90}, timeout=20)
    # Swapped once, by the standby's node; the cut-off master's did not swap them back.
    after = {master: swaps[master], standby: swaps[standby] + 1}
    assert {n: nodes.agent_log(n).count(SWAPPED) for n in nodes.nodes} == after, logs(nodes)
    # A reload keeps the VRRP state: both still masters, neither gave the VIP up.
    assert sorted(vip_holders(nodes)) == sorted([master, standby])
    assert nodes.vrrp_states() == ["MASTER", "MASTER"]

    # The link heals: the old master (90) yields to the new one (100).
    nodes.heal(master)
    eventually(lambda: vip_holders(nodes) == [standby], timeout=10, interval=0.05)
    seen = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        seen.append(tuple(vip_holders(nodes)))
        time.sleep(0.05)
    assert set(seen) == {(standby,)}, f"the VIP moved after the heal: {seen}\n{logs(nodes)}"
    assert nodes.vrrp_states() == ["BACKUP", "MASTER"]
    assert roles(nodes) == {standby: "MASTER", master: "BACKUP"}
    assert eventually(lambda: serving(lab), timeout=10)
    assert {n: nodes.agent_log(n).count(SWAPPED) for n in nodes.nodes} == after, logs(nodes)


def keepalived_logs(sim: SimulatedNodes) -> str:
    """Each node's keepalived log, for a failure's message."""
    return "\n".join(
        f"--- {name} {log.parent.name}\n{log.read_text()}"
        for name, node in sim.nodes.items()
        for log in (node.state_dir / name / "keepalived").glob("*/keepalived.log")
    )


def haproxy_reloads(sim: SimulatedNodes) -> dict[str, int]:
    """Each node's HAProxy reload count (its master CLI's ``show proc``); a node whose
    master does not answer (re-executing itself for a reload) is missing."""
    found = {}
    for name, node in sim.nodes.items():
        base = node.state_dir / name / "haproxy"
        processes = HAProxyProcesses(base)
        for cfg in base.glob("*/haproxy.cfg"):
            with contextlib.suppress(HostError):
                found[name] = processes.master_state(cfg.parent.name).reloads
    return found


def test_ten_reloads_in_a_row_keep_the_master(lab: Lab, nodes: SimulatedNodes) -> None:
    start_and_apply(lab, nodes, HA_SERVICE)
    master, _ = settled(lab, nodes)
    # Swaps while settling (the first instance to take the VIP may have been BACKUP).
    swapped = logs(nodes).count(SWAPPED)
    client = lab.ns_of("client", "inside")
    first = next(iter(nodes.nodes))
    path: Path = lab.tmp / "hasvc.yaml"
    holders: list[tuple[str, ...]] = []
    failures: list[str] = []
    sent = 0

    def probe() -> None:
        nonlocal sent
        holders.append(tuple(vip_holders(nodes)))
        sent += 1
        try:
            lab.get(client, VIP, timeout=2.0)
        except OSError as exc:
            failures.append(f"request {sent}: {exc}")

    for i in range(10):
        before = haproxy_reloads(nodes)
        data = copy.deepcopy(HA_SERVICE)
        algorithm = "LEAST_CONNECTIONS" if i % 2 == 0 else "ROUND_ROBIN"
        data["load_balancers"][0]["pools"][0]["lb_algorithm"] = algorithm
        path.write_text(yaml.safe_dump(data))
        done = subprocess.run(
            [*nodes.cli(first), "apply", "-f", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 30
        while True:
            probe()
            now = haproxy_reloads(nodes)
            if all(now.get(n, 0) > before.get(n, 0) for n in nodes.nodes):
                break
            assert time.monotonic() < deadline, f"reload {i + 1} did not happen\n{logs(nodes)}"
            time.sleep(0.05)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        probe()
        time.sleep(0.05)
    assert set(holders) == {(master,)}, (
        f"the VIP moved: {holders}\n{logs(nodes)}\n{keepalived_logs(nodes)}"
    )
    assert not failures, f"{len(failures)} of {sent} requests failed: {failures}"
    assert roles(nodes)[master] == "MASTER"
    assert logs(nodes).count(SWAPPED) == swapped, logs(nodes)
