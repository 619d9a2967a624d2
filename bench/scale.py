"""Many load balancers on one node: initial converge per load balancer as the count
grows, a no-op pass over all of them, and one member added to one of them.

For each size (default 10, 25, 50, 100) a fresh lab gets that many load balancers on
one tenant network, each with its own VIP, a listener, a pool and the same two members
(lab instances); all of it is converged in one ``converge.apply`` (in-process: the
timings are netnode's work, not Python's start-up). At the largest size it then times:

- a **no-op full pass** over everything (``converge.apply`` of the topology as loaded
  from its document): target under 2% of the initial converge;
- the same pass as ``netnode agent`` runs it every period (``Agent.run_once``: the
  recorded topology is parsed once per generation, not on every pass);
- **one member added** to one load balancer, converged by a changes pass
  (``changed_only=True``: what the agent runs when the desired state changes). Target:
  under 100 ms, touching that load balancer's unit only. The table prints the units the
  pass covered and the operations it ran (a runtime-API server change: no reload).

Each size also measures the **kernel floor** in the same run, before netnode's converge
(``bench/floor.py``): the same namespaces, OVS ports moved into them and HAProxy starts,
done by the leanest script (one ``ovs-vsctl``, ``ip -batch``, ``ip netns exec haproxy``
and a ``show info`` for readiness), and prints netnode's per-load-balancer cost as a
ratio to it. Target: <= 1.25x the floor, flat from 10 to 1,000 (``--no-floor`` skips
it).

With ``--tls`` every load balancer also has a TERMINATED_HTTPS listener with a
certificate file of its own (made with ``openssl`` in the lab's state directory): the
passes then check 100 certificate files (a check forks ``openssl`` twice; an unchanged
file is not checked again).

Each timing is the median of ``--rounds`` runs (the member is added, then removed
again, alternately). Ratios are what to compare across machines; absolute times move
with the machine's load.

Usage: .venv/bin/python bench/scale.py [--sizes 10,25,50,100] [--rounds 5] [--tls]

Safety: labkit's lab() (random node and bridge names, a private state dir, destroy and
leftover check in ``finally``). No traffic is sent: this measures the control path.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import floor as kernel_floor
import labkit

from netnode.model import ids
from netnode.model.loading import load_data
from netnode.reconcile import converge
from netnode.reconcile.agent import Agent

NOOP_TARGET = 0.02
MEMBER_TARGET = 0.100
# Issue 17: one member change <= 20 ms wall and <= 10 ms of CPU, flat to 1,000.
AGENT_MEMBER_TARGET = 0.020
AGENT_CPU_TARGET = 0.010
# Issue 17: 1,000 load balancers in at most 8 GB of PSS (HAProxy's master and worker).
PSS_TARGET_PER_LB_MB = 8.0
# Issue 17 item 3: netnode's converge per load balancer <= 1.25x the kernel floor's.
FLOOR_TARGET = 1.25


def pss_kb(pid: int) -> int:
    """A process's proportional set size (shared pages divided among their users)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def haproxy_pss_kb(lab: labkit.Lab, data: dict[str, Any]) -> tuple[int, int]:
    """The PSS of every load balancer's HAProxy (master and workers) and how many."""
    total = count = 0
    for lb in lab.topology(data).load_balancers:
        master = lab.host.haproxy.running_pid(f"lb-{lb.uid}")
        if master is None:
            raise labkit.BenchError(f"load balancer {lb.name}'s HAProxy is not running")
        total += pss_kb(master) + sum(map(pss_kb, lab.host.haproxy.workers(f"lb-{lb.uid}")))
        count += 1
    return total, count


def own_memory() -> tuple[int, int, int]:
    """This process's RSS in kB (netnode converged in-process), its open descriptors and
    its soft limit on them."""
    rss = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return rss, len(os.listdir("/proc/self/fd")), resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def topology(size: int, name: str, bridge: str) -> dict[str, Any]:
    """``size`` load balancers on 10.0.0.0/16, VIPs from 10.0.1.1, members vm1 and vm2;
    vm3 exists to be added as a member."""
    instances = [
        {"name": f"vm{i}", "network": "tenant", "address": f"10.0.0.{80 + i}", "body": f"vm{i}"}
        for i in (1, 2, 3)
    ]
    lbs = []
    for n in range(size):
        vip = f"10.0.{1 + n // 250}.{1 + n % 250}"
        lbs.append(
            {
                "name": f"lb{n:03d}",
                "vip": {"network": "tenant", "address": vip},
                "listeners": [{"name": "http", "protocol_port": 80, "default_pool": "web"}],
                "pools": [
                    {
                        "name": "web",
                        "healthmonitor": {"type": "TCP", "delay": 5, "timeout": 5},
                        "members": [
                            {"name": "vm1", "address": "10.0.0.81", "protocol_port": 80},
                            {"name": "vm2", "address": "10.0.0.82", "protocol_port": 80},
                        ],
                    }
                ],
            }
        )
    return {
        "name": name,
        "integration_bridge": bridge,
        "networks": [
            {
                "name": "tenant",
                "segmentation_id": 7,
                "subnets": [
                    {"name": "tenant-subnet", "cidr": "10.0.0.0/16", "gateway_ip": "10.0.0.1"}
                ],
            }
        ],
        "load_balancers": lbs,
        "lab": {"instances": instances},
    }


def certificate(directory: Path, name: str) -> Path:
    """A self-signed EC certificate and its key, in one PEM bundle."""
    key, cert, bundle = (directory / f"{name}.{ext}" for ext in ("key", "crt", "pem"))
    argv = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}.example",
        "-days", "2",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise labkit.BenchError(f"openssl req failed: {result.stderr.strip()}")
    bundle.write_bytes(cert.read_bytes() + key.read_bytes())
    return bundle


def with_tls(data: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Each load balancer also terminates HTTPS on 443 with a certificate of its own."""
    data = copy.deepcopy(data)
    directory.mkdir(parents=True, exist_ok=True)
    for lb in data["load_balancers"]:
        lb["listeners"].append(
            {
                "name": "https",
                "protocol": "TERMINATED_HTTPS",
                "protocol_port": 443,
                "default_tls_container_ref": str(certificate(directory, lb["name"])),
                "default_pool": "web",
            }
        )
    return data


def with_member(data: dict[str, Any], lb_index: int) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["load_balancers"][lb_index]["pools"][0]["members"].append(
        {"name": "vm3", "address": "10.0.0.83", "protocol_port": 80}
    )
    return data


def measure_floor(lab: labkit.Lab, data: dict[str, Any]) -> float:
    """The kernel floor of converging ``data`` on an empty host (bench/floor.py), in
    seconds; everything it made is removed again before netnode's converge."""
    spec = converge.desired_for(lab.host, lab.topology(data))
    made = kernel_floor.Floor(lab.suffix, lab.state_dir / "floor")
    try:
        kernel_floor.build(made, spec, lab.host.run_dir, lab.host.datapath_choice.datapath)
    except kernel_floor.FloorError as exc:
        raise labkit.BenchError(f"the kernel floor: {exc}") from exc
    finally:
        problems = kernel_floor.remove(made)
    if problems:
        raise labkit.BenchError("the floor's cleanup: " + "; ".join(problems))
    return made.seconds


def run_size(size: int, rounds: int, detail: bool, tls: bool, floor: bool) -> dict[str, Any]:
    with labkit.lab("scale") as lab:
        data = topology(size, f"scale-{lab.suffix}", f"nn{lab.suffix}i")
        if tls:
            data = with_tls(data, lab.state_dir / "certificates")
        floor_seconds = measure_floor(lab, data) if floor else None
        initial = lab.apply(data)
        result: dict[str, Any] = {"size": size, "initial": initial, "floor": floor_seconds}
        pss, count = haproxy_pss_kb(lab, data)
        rss, fds, fd_limit = own_memory()
        result.update(pss_per_lb=pss / count / 1024, rss=rss / 1024, fds=fds, fd_limit=fd_limit)
        if not detail:
            return result
        agent = Agent(lab.host, log=lambda _line: None)
        noops, agent_noops, adds, scopes, ops, reloads = [], [], [], set(), set(), set()
        target = size // 2
        base = data
        lb = lab.topology(data).load_balancers[target]
        lb_proc = f"lb-{lb.uid}"
        reloads_before = lab.host.haproxy.master_state(lb_proc).reloads
        for r in range(rounds):
            started = time.perf_counter()
            outcome = converge.apply(lab.host, load_data(data, node=lab.node))
            noops.append(time.perf_counter() - started)
            if not outcome.plan.empty or outcome.failures:
                raise labkit.BenchError(
                    f"the no-op pass was not a no-op: {outcome.plan.operations}"
                )
            agent.run_once()  # parses the document of this generation
            started = time.perf_counter()
            reports = agent.run_once()
            agent_noops.append(time.perf_counter() - started)
            if any(not r.ok or r.outcome is None or not r.outcome.plan.empty for r in reports):
                raise labkit.BenchError(
                    "the agent's no-op pass was not a no-op: " + "; ".join(map(str, reports))
                )
            changed = with_member(base, target) if r % 2 == 0 else base
            topo = load_data(changed, node=lab.node)
            lab.data, lab.applied = changed, topo
            started = time.perf_counter()
            outcome = converge.apply(lab.host, topo, changed_only=True)
            adds.append(time.perf_counter() - started)
            if outcome.failures:
                raise labkit.BenchError("; ".join(str(f) for f in outcome.failures))
            scopes.add(tuple(sorted(outcome.scope or ())))
            ops.update(type(o).__name__ for o in outcome.plan.operations)
            data = changed
        # The same change as the API makes it: written to the store (only the row that
        # differs), then the agent's changes pass (which reads that row alone).
        agent_walls, agent_cpus = [], []
        for _ in range(rounds):
            changed = base if data is not base else with_member(base, target)
            topo = load_data(changed, node=lab.node)
            lab.data, lab.applied = changed, topo
            lab.host.store.set_desired(
                data["name"], topo.model_dump(mode="json", exclude_none=True)
            )
            started, cpu = time.perf_counter(), time.process_time()
            reports = agent.run_once(changed_only=True)
            agent_walls.append(time.perf_counter() - started)
            agent_cpus.append(time.process_time() - cpu)
            if any(not r.ok or r.outcome is None or r.outcome.failures for r in reports):
                raise labkit.BenchError(
                    "the agent's changes pass failed: " + "; ".join(map(str, reports))
                )
            data = changed
        reloads.add(lab.host.haproxy.master_state(lb_proc).reloads - reloads_before)
        result.update(
            noop=statistics.median(noops),
            agent_noop=statistics.median(agent_noops),
            member=statistics.median(adds),
            member_max=max(adds),
            agent_member=statistics.median(agent_walls),
            agent_member_cpu=statistics.median(agent_cpus),
            scopes=scopes,
            expected_scope=ids.lb_namespace(lb.uid),
            ops=sorted(ops),
            reloads=sum(reloads),
        )
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,25,50,100", help="load balancer counts")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds at the largest size")
    parser.add_argument(
        "--tls", action="store_true", help="a TERMINATED_HTTPS listener per load balancer"
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="do not measure the kernel floor (bench/floor.py)"
    )
    args = parser.parse_args()
    sizes = sorted({int(x) for x in args.sizes.split(",")})
    if problem := labkit.preflight("scale.py", ("haproxy", "ovs-vsctl", "openssl")):
        print(problem, file=sys.stderr)
        return 1
    labkit.stop_on_sigterm()
    results = []
    try:
        for size in sizes:
            result = run_size(
                size, args.rounds, detail=size == sizes[-1], tls=args.tls, floor=not args.no_floor
            )
            results.append(result)
            floor_note = (
                ""
                if result["floor"] is None
                else f" (kernel floor {1000 * result['floor'] / size:.1f} ms)"
            )
            print(
                f"  {size:4d} load balancers: initial converge {result['initial']:.2f} s "
                f"= {1000 * result['initial'] / size:.1f} ms per load balancer{floor_note}",
                flush=True,
            )
    except labkit.BenchError as exc:
        print(f"scale.py: {exc}", file=sys.stderr)
        return 1
    last = results[-1]
    per_lb = [1000 * r["initial"] / r["size"] for r in results]
    flat = per_lb[-1] / per_lb[0]
    noop_ratio = last["noop"] / last["initial"]
    agent_ratio = last["agent_noop"] / last["initial"]
    only_one = last["scopes"] == {(last["expected_scope"],)}
    print()
    print(f"Converge cost per load balancer, {sizes[0]} -> {sizes[-1]}:")
    print(
        "  " + "  ".join(f"{r['size']}: {p:.1f} ms" for r, p in zip(results, per_lb, strict=True))
    )
    print(f"  ratio largest/smallest: {flat:.2f} (flat = 1.0)")
    if all(r["floor"] is not None for r in results):
        print()
        print(
            "Against the kernel floor (the same namespaces, ports and HAProxy starts, bench/floor.py):"
        )
        ratios = []
        for r in results:
            ratio = r["initial"] / r["floor"]
            ratios.append(ratio)
            print(
                f"  {r['size']:4d}: netnode {1000 * r['initial'] / r['size']:.1f} ms per load "
                f"balancer, floor {1000 * r['floor'] / r['size']:.1f} ms: {ratio:.2f}x "
                f"(target <= {FLOOR_TARGET}x: {'met' if ratio <= FLOOR_TARGET else 'MISSED'})"
            )
        spread = ratios[-1] / ratios[0]
        print(
            f"  ratio to the floor, largest/smallest size: {spread:.2f} (target flat, "
            f"<= {FLOOR_TARGET}: {'met' if spread <= FLOOR_TARGET else 'MISSED'})"
        )
    print()
    print("Memory and descriptors after the initial converge:")
    for r in results:
        projected = r["pss_per_lb"] * 1000 / 1024
        print(
            f"  {r['size']:4d}: HAProxy PSS {r['pss_per_lb']:.2f} MB per load balancer "
            f"(x 1,000 = {projected:.1f} GB, target <= {PSS_TARGET_PER_LB_MB:.0f} GB: "
            f"{'met' if r['pss_per_lb'] <= PSS_TARGET_PER_LB_MB else 'MISSED'}); "
            f"netnode RSS {r['rss']:.0f} MB; open descriptors {r['fds']} of {r['fd_limit']}"
            f" ({'met' if r['fds'] < r['fd_limit'] else 'MISSED'})"
        )
    print()
    print(f"With {last['size']} load balancers converged:")
    rows = [
        ("initial converge", f"{last['initial']:.3f} s", "", ""),
        (
            "no-op full pass",
            f"{1000 * last['noop']:.1f} ms",
            f"{100 * noop_ratio:.1f}% of initial",
            "met" if noop_ratio < NOOP_TARGET else "MISSED",
        ),
        (
            "no-op full pass, as the agent runs it",
            f"{1000 * last['agent_noop']:.1f} ms",
            f"{100 * agent_ratio:.1f}% of initial",
            "met" if agent_ratio < NOOP_TARGET else "MISSED",
        ),
        (
            "add/remove one member (changes pass)",
            f"{1000 * last['member']:.1f} ms (max {1000 * last['member_max']:.1f})",
            f"target < {1000 * MEMBER_TARGET:.0f} ms",
            "met" if last["member"] < MEMBER_TARGET else "MISSED",
        ),
        (
            "the same through the store and the agent (as the API)",
            f"{1000 * last['agent_member']:.1f} ms, CPU {1000 * last['agent_member_cpu']:.1f} ms",
            f"target <= {1000 * AGENT_MEMBER_TARGET:.0f} ms, CPU <= {1000 * AGENT_CPU_TARGET:.0f} ms",
            "met"
            if last["agent_member"] <= AGENT_MEMBER_TARGET
            and last["agent_member_cpu"] <= AGENT_CPU_TARGET
            else "MISSED",
        ),
        (
            "units the changes pass covered",
            ", ".join(f"{len(s)}" for s in sorted(last["scopes"])),
            "that load balancer's only" if only_one else f"expected {last['expected_scope']}",
            "met" if only_one else "MISSED",
        ),
        ("operations it ran", ", ".join(last["ops"]), f"HAProxy reloads: {last['reloads']}", ""),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
