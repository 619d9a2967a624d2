"""A node dies: how long until its load balancer serves again, and what clients see.

Two netnode nodes of one cluster on this machine (``netnode.lab.nodes``), sharing a
private PostgreSQL (``netnode/lab/postgres.py``), patched into a lab of this run's own (two
backends and a client on the tenant segment, ``netnode apply`` on a node outside the
cluster). Two sections, side by side in one run:

**Standalone** (``SINGLE``): a load balancer (VIP 10.0.0.100, HTTP, two members) is
recorded with ``netnode --cluster apply`` and placed on one node. Then ``--rounds`` times:

1. wait until the VIP answers from the client's namespace;
2. a client loop sends one request every 10 ms (each with a 0.5 s timeout);
3. the node holding the load balancer dies: its agent and HAProxy processes SIGKILLed,
   its patch ports cut (what it left behind is cut off, as with a dead host);
4. measure until the VIP answers again (the other node noticed the death through the
   released advisory lock, placed a new instance, built it and announced the VIP): the
   **reschedule time**, and the requests that failed meanwhile;
5. the dead node comes back (patched, its agent started): it takes nothing back, and is
   the next round's spare.

**ACTIVE_STANDBY**, per failover profile (default: advert 1 s; fast: 0.1 s): the same
load balancer with two instances, one per node, keepalived holding the VIP. Each round
kills the node whose instance holds the VIP (cut off first, then every process
SIGKILLed) under the same load, and measures until the other instance serves: the
**takeover time**, the requests that failed before it, and those that failed in the
2 s after it (target: none). The dead node then comes back and takes its slot again as
a standby (nopreempt: the VIP stays).

**HA router + ACTIVE_STANDBY**, per failover profile: the scenario of ``netnode demo
--ha`` (``netnode.lab.ha_demo``, a store and a lab of its own): the load balancer
behind an HA router's floating IP, 20 established connections through the router's SNAT;
each round kills the node holding both masters under load from the external client and
measures the router's takeover (until the other instance holds the floating IP), the
connections that still carry a request after it, and the load balancer's takeover and
failed requests through the floating IP.

Targets (issue 13): standalone serving elsewhere within 15 s of the death; ACTIVE_STANDBY
on the fast profile taking over in < 1 s with no failed request once it is over; the HA
router on the fast profile taking over in < 1 s, every established connection kept.

Usage: .venv/bin/python bench/ha_nodes.py [--rounds 3]

Safety: every namespace, bridge and process is this run's own; traffic only from the
lab client's namespace to the VIP on the lab's segment; ``finally`` stops the agents,
destroys what each node and the lab built, deletes the bridges and the database.
"""

from __future__ import annotations

import argparse
import copy
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.functional.test_cluster: the lab and the services

from netnode.cluster import nodes as cluster_nodes  # noqa: E402
from netnode.cluster import scheduler  # noqa: E402
from netnode.lab import postgres  # noqa: E402
from netnode.lab.client import http_get  # noqa: E402
from netnode.lab.ha_demo import HaDemo, Load, Takeover  # noqa: E402
from netnode.lab.nodes import SimulatedNodes, wait_for  # noqa: E402
from netnode.model import ids  # noqa: E402
from netnode.model.loading import load_data  # noqa: E402
from netnode.reconcile import converge  # noqa: E402
from netnode.reconcile.host import Host  # noqa: E402
from netnode.store.database import engine_for  # noqa: E402
from tests.functional.test_cluster import (  # noqa: E402
    HA_SERVICE,
    LAB,
    SERVICE,
    VIP,
    vip_holders,
)

TARGET_STANDALONE = 15.0
TARGET_FAST = 1.0
# How long after a takeover failed requests still count against it.
AFTER = 2.0


@dataclass
class Round:
    took: float | None
    failed_during: int
    failed_after: int


class Lab:
    """The lab (backends, client, segment), two simulated nodes, a private PostgreSQL."""

    def __init__(self, sim: SimulatedNodes, client_ns: str) -> None:
        self.sim = sim
        self.client_ns = client_ns
        self.engine = engine_for(sim.db)

    def apply(self, data: dict, name: str) -> None:
        path = self.sim.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        first = next(iter(self.sim.nodes))
        subprocess.run([*self.sim.cli(first), "apply", "-f", str(path)], check=True,
                       capture_output=True)  # fmt: skip

    def all_alive(self) -> bool:
        return sum(n.alive for n in cluster_nodes.read(self.engine)) == len(self.sim.nodes)

    def kill_and_measure(self, victim: str, serving: Callable[[], bool]) -> Round:
        load = Load(self.client_ns, VIP)
        load.start()
        time.sleep(1.0)
        killed = time.monotonic()
        self.sim.kill(victim)
        took = wait_for(serving, 60, interval=0.01)
        if took is not None:
            time.sleep(AFTER)
        load.stop.set()
        load.join()
        # A request sent before the takeover was over failed during it; one sent after
        # it counts against it.
        over = killed + (took if took is not None else 60)
        during = sum(1 for t in load.failures if t <= over)
        after = sum(1 for t in load.failures if t > over)
        # The dead node comes back (and, ACTIVE_STANDBY, takes its slot as a standby).
        self.sim.heal(victim)
        self.sim.start(victim)
        wait_for(self.all_alive, 30)
        return Round(took, during, after)


def standalone(lab: Lab, rounds: int) -> list[Round]:
    lab.apply(SERVICE, "svc")
    found = []
    for n in range(rounds):
        if wait_for(lambda: _answers(lab.client_ns), 60) is None:
            raise RuntimeError(f"standalone round {n + 1}: the VIP never answered")
        (placement,) = scheduler.placements(lab.engine, lab.sim.cluster)
        found.append(lab.kill_and_measure(placement.node, lambda: _answers(lab.client_ns)))
        _show("standalone", n, placement.node, found[-1])
    # Gone before the pair takes the same VIP: the topology without its load balancer.
    lab.apply({"name": "svc", "networks": SERVICE["networks"]}, "svc")
    if wait_for(lambda: not _answers(lab.client_ns), 30) is None:
        raise RuntimeError("the standalone load balancer did not go")
    return found


def active_standby(lab: Lab, profile: str, rounds: int) -> list[Round]:
    data = copy.deepcopy(HA_SERVICE)
    data["load_balancers"][0]["failover_profile"] = profile
    lab.apply(data, "hasvc")
    found = []
    for n in range(rounds):
        ready = wait_for(
            lambda: (
                len(scheduler.placements(lab.engine, lab.sim.cluster)) == 2
                and lab.sim.vrrp_states() == ["BACKUP", "MASTER"]
                and len(vip_holders(lab.sim)) == 1
                and _answers(lab.client_ns)
            ),
            60,
        )
        if ready is None:
            raise RuntimeError(f"{profile} round {n + 1}: no single VIP holder serving")
        time.sleep(1.0)
        (master,) = vip_holders(lab.sim)
        survivor = next(x for x in lab.sim.nodes if x != master)
        found.append(
            lab.kill_and_measure(
                master,
                lambda survivor=survivor: (
                    vip_holders(lab.sim) == [survivor] and _answers(lab.client_ns)
                ),
            )
        )
        _show(f"ACTIVE_STANDBY {profile}", n, master, found[-1])
    return found


def _show(what: str, n: int, victim: str, r: Round) -> None:
    shown = "never" if r.took is None else f"{r.took:.2f} s"
    print(f"{what} round {n + 1}: {victim} killed; serving again after {shown}; failed "
          f"requests: {r.failed_during} before, {r.failed_after} in the {AFTER:g} s after")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profiles", default="default,fast")
    parser.add_argument(
        "--sections",
        default="lb,routers",
        help="lb (standalone and ACTIVE_STANDBY), routers (the HA router with its load "
        "balancer), or both (the default)",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if not sections or sections - {"lb", "routers"}:
        parser.error(f"--sections: {args.sections!r} is not lb, routers or lb,routers")
    profiles: list[Literal["default", "fast"]] = []
    for name in args.profiles.split(","):
        if name not in ("default", "fast"):
            parser.error(f"--profiles: {name!r} is not default or fast")
        profiles.append(cast(Literal["default", "fast"], name))
    reason = postgres.available()
    if reason is not None:
        print(f"ha_nodes: {reason}", file=sys.stderr)
        return 1
    results: dict[str, list[Round]] = {}
    if "lb" in sections:
        load_balancers(args.rounds, profiles, results)
    routers = {p: ha_router(p, args.rounds) for p in profiles} if "routers" in sections else {}
    if results:
        _report(results)
    if routers:
        _report_routers(routers)
    return 0


def load_balancers(
    rounds: int, profiles: list[Literal["default", "fast"]], results: dict[str, list[Round]]
) -> None:
    """The standalone and ACTIVE_STANDBY sections, on a store and a lab of their own."""
    suffix = secrets.token_hex(3)
    state = Path(tempfile.mkdtemp(prefix="nn-"))
    lab_host = Host(state_dir=state, node=f"b-{suffix}")
    lab_topo = load_data({**LAB, "integration_bridge": f"nn{suffix}i"}, lab_host.node)
    client_ns = ids.lab_namespace(lab_topo.lab.clients[0].uid)
    try:
        with postgres.private_cluster() as db:
            converge.apply(lab_host, lab_topo)
            sim = SimulatedNodes(
                db=db,
                cluster=f"c{suffix}",
                suffix=suffix,
                workdir=state / "cluster",
                segments={"br-int": f"nn{suffix}i"},
            )
            try:
                sim.build()
                for name in sim.nodes:
                    sim.start(name)
                lab = Lab(sim, client_ns)
                if wait_for(lab.all_alive, 30) is None:
                    raise RuntimeError("the nodes did not join")
                results["standalone"] = standalone(lab, rounds)
                for profile in profiles:
                    results[f"ACTIVE_STANDBY {profile}"] = active_standby(lab, profile, rounds)
            finally:
                sim.close(("svc", "hasvc"))
                engine_for(db).dispose()
                for line in sim.cleanup_errors:
                    print(f"ha_nodes: not cleaned up: {line}", file=sys.stderr)
    finally:
        converge.destroy(lab_host, lab_topo)
        lab_host.close()
        shutil.rmtree(state, ignore_errors=True)


def ha_router(profile: Literal["default", "fast"], rounds: int) -> list[Takeover]:
    """The demo's scenario (netnode.lab.ha_demo): an ACTIVE_STANDBY load balancer behind
    an HA router's floating IP on two nodes, the node holding both masters killed under
    load, ``rounds`` times; a store and a lab of its own."""
    found: list[Takeover] = []
    workdir = Path(tempfile.mkdtemp(prefix="nn-"))  # short: socket paths live under it
    try:
        with (
            postgres.private_cluster() as db,
            HaDemo(db, workdir, profile, connections=20, say=lambda _: None) as demo,
        ):
            for n in range(rounds):
                found.append(demo.takeover())
                print(f"HA router {profile} round {n + 1}: {found[-1].line()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return found


def _report_routers(results: Mapping[str, list[Takeover]]) -> None:
    print()
    print(
        f"{'HA router + ACTIVE_STANDBY':<26} {'router':>8} {'worst':>8}  kept       "
        f"{'lb':>6} failed after   target"
    )
    for profile, rounds in results.items():
        seen = [r.router_seconds for r in rounds if r.router_seconds is not None]
        complete = len(seen) == len(rounds) and bool(seen)
        median = f"{statistics.median(seen):.2f} s" if seen else "-"
        worst = f"{max(seen):.2f} s" if complete else "never"
        kept = sum(r.kept for r in rounds)
        total = sum(r.connections for r in rounds)
        lbs = [r.lb_seconds for r in rounds if r.lb_seconds is not None]
        lb = f"{statistics.median(lbs):.2f} s" if lbs else "never"
        after = ",".join(str(r.failed_after) for r in rounds)
        all_kept = kept == total
        if profile == "fast":
            ok = complete and max(seen) < TARGET_FAST and all_kept
            target = f"< {TARGET_FAST:g} s, every connection kept: {'met' if ok else 'MISSED'}"
        else:
            target = f"every connection kept: {'met' if all_kept else 'MISSED'}"
        print(
            f"{profile:<26} {median:>8} {worst:>8}  {kept:>4}/{total:<4} {lb:>8} "
            f"{after:>8}       {target}"
        )


def _report(results: dict[str, list[Round]]) -> None:
    print()
    print(f"{'case':<26} {'median':>8} {'worst':>8}  failed before / after   target")
    for case, rounds in results.items():
        seen = [r.took for r in rounds if r.took is not None]
        complete = len(seen) == len(rounds) and seen
        median = f"{statistics.median(seen):.2f} s" if seen else "-"
        worst = f"{max(seen):.2f} s" if complete else "never"
        before = ",".join(str(r.failed_during) for r in rounds)
        after = ",".join(str(r.failed_after) for r in rounds)
        if case == "standalone":
            ok = bool(complete) and max(seen) < TARGET_STANDALONE
            target = f"< {TARGET_STANDALONE:g} s: {'met' if ok else 'MISSED'}"
        elif case.endswith("fast"):
            ok = (
                bool(complete)
                and max(seen) < TARGET_FAST
                and not any(r.failed_after for r in rounds)
            )
            target = f"< {TARGET_FAST:g} s, none after: {'met' if ok else 'MISSED'}"
        else:
            target = "(none)"
        print(f"{case:<26} {median:>8} {worst:>8}  {before:>8} / {after:<8}  {target}")


def _answers(namespace: str) -> bool:
    try:
        return http_get(namespace, VIP, timeout=0.5).body.strip().startswith("server_")
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
