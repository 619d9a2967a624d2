"""Member changes under steady load: failed requests, netnode's way against the old
LBaaS namespace driver's way, side by side in one run.

Builds the seed scenario (examples/seed.yaml with this run's node and bridge names) plus
``--spares`` more lab instances on the tenant network (vm3 = 10.0.0.83, vm4 = 10.0.0.84,
...: simulated VMs, so that added members have a backend that answers). A sequence of
``--changes`` member changes (default 50) is drawn once per round: add a spare instance
as a member, remove a member, change a member's weight, in turn (a kind that cannot be
done, no spare left or only two members, is skipped for the next), with a seeded random
choice of member and weight. The pool starts each phase as the seed's: vm1 and vm2,
weight 1. Then, for each way, under load:

1. ``netnode``: the topology data changes (the pool's ``members`` list) and
   ``converge.apply(host, load_data(data, node=...))`` runs, one call per change, as
   the library call (no Python start-up). Whatever apply does, it does: a seamless
   master-worker reload, or HAProxy's runtime API where netnode uses it. The table
   shows how many reloads HAProxy's master counted (``show proc``), so it is clear
   which path ran.
2. ``-sf, lbaas cfg`` (``--ways`` name ``sf``): as neutron-lbaas's haproxy namespace
   driver did (``update()`` -> ``_spawn(lb, ['-sf', <pids from the pid file>])``):
   write the new haproxy.cfg and run ``ip netns exec qlbaas-<id> haproxy -f cfg -p
   pidfile -sf <old pids>``, a new independent daemon that tells the old one to finish.
   Its configuration is the old driver's own: the seed's haproxy.cfg (docs/seed.md §8.1, which
   is that driver's template output: ``daemon``, ``retries 3``, ``option redispatch``,
   ``check inter 5s fall 3``) with this pool's ``server`` lines (named by member id, as
   the template did) and, as throughput.py runs it, ``stats socket <run dir> mode 600
   level user`` instead of ``/root/sock mode 0666``. For this phase netnode's own
   HAProxy for the load balancer is stopped through its driver (``host.haproxy.stop``)
   and this benchmark's haproxy runs in the same namespace on the same VIP; netnode's
   is brought back by the next ``converge.apply``.
3. optional, ``--ways netnode,sf,sf-netnode``: ``-sf, netnode cfg``, the same ``-sf``
   restart with netnode's rendering of the pool (``converge.desired_for``) turned into
   a daemon (``daemon`` added, its own stats socket without ``expose-fd listeners``, no
   server-state file): the mechanism of the old driver with netnode's settings, to tell
   what the mechanism costs from what the settings save.

The load: wrk from the external client namespace ("outside", 10.255.253.1) to the
floating IP http://10.255.253.100/ (br-ex -> router DNAT -> HAProxy VIP -> members),
started ``--lead`` seconds before the first change and stopped (SIGINT to its pid: it
prints its summary) ``--tail`` seconds after the last. The changes are spread evenly
over ``--duration`` seconds (one every duration/changes seconds; a change that takes
longer than that delays the next). Failed requests: what wrk reports (non-2xx/3xx
responses plus socket errors: connect, read, write, timeout) plus the requests still
unanswered after more than ``--timeout`` when wrk is stopped (read from the kernel's
socket table; wrk itself does not count them). A further row bounds the requests wrk
may have lost without counting them (labkit.Load.silent). After each phase the running
HAProxy must show exactly the final pool (member ids and weights), else the run fails.

Target: 0 failed requests for netnode's way.

Usage: .venv/bin/python bench/member_changes.py [--changes 50] [--duration 15]
       [--rounds 1] [--connections 20] [--threads 1] [--close] [--seed 1]
       [--ways netnode,sf[,sf-netnode]] [-v]

Safety: a random node name, bridge names and a private state dir per run; wrk runs only
inside this run's client namespace (``ip netns exec``), bounded by ``-d`` and stopped by
its pid; the ``-sf`` haproxy processes are started by this run and stopped by their pids
(each checked to be an haproxy of this run's config); the topology is destroyed and the
state dir removed in ``finally``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import labkit
from labkit import FIP, BenchError, Lab, Load, WrkOptions, WrkResult, wait_until

from netnode.drivers.haproxy import HAProxyProcesses
from netnode.errors import NetnodeError
from netnode.reconcile import converge
from netnode.reconcile.agent import Agent

FIRST_SPARE = 83  # vm3 = 10.0.0.83; the seed uses .1, .81, .82 and the VIP .100
MAX_SPARES = 100 - FIRST_SPARE
MIN_MEMBERS = 2
WEIGHTS = (1, 2, 3, 4, 5)
KINDS = ("add", "weight", "remove")
MAX_CONNECTIONS = 100  # the seed's frontend maxconn
SLACK = 120  # seconds of wrk's -d bound beyond the planned load window

Members = tuple[tuple[str, int], ...]  # (instance name, weight), in pool order
INITIAL: Members = (("vm1", 1), ("vm2", 1))  # the seed's pool
NETNODE = "netnode"
SF_LABEL = "-sf, lbaas cfg"
# Issue 17: requests/s during the changes, netnode's phase against the -sf phase's.
RPS_TARGET = 0.95
WAYS = {"sf": "lbaas", "sf-netnode": "netnode"}  # --ways name -> SfRestartWay config


@dataclass(frozen=True)
class Change:
    kind: str
    member: str
    members: Members  # the pool after the change


def plan_changes(
    count: int, initial: Members, spares: list[str], rng: random.Random
) -> list[Change]:
    """``count`` changes, the kinds in turn, each on the pool the previous one left."""
    current = dict(initial)
    free = [name for name in spares if name not in current]
    changes: list[Change] = []
    for i in range(count):
        for kind in (KINDS[(i + k) % len(KINDS)] for k in range(len(KINDS))):
            if kind == "add" and free:
                name = free.pop(rng.randrange(len(free)))
                current[name] = 1
            elif kind == "remove" and len(current) > MIN_MEMBERS:
                name = rng.choice(sorted(current))
                del current[name]
                free.append(name)
            elif kind == "weight":
                name = rng.choice(sorted(current))
                current[name] = rng.choice([w for w in WEIGHTS if w != current[name]])
            else:
                continue
            changes.append(Change(kind, name, tuple(current.items())))
            break
    return changes


# --- the topology ------------------------------------------------------------------------


def address_of(data: dict[str, Any], name: str) -> str:
    return next(str(x["address"]) for x in data["lab"]["instances"] if x["name"] == name)


def _key(data: dict[str, Any]) -> str:
    """A topology's data as a dictionary key."""
    return json.dumps(data, sort_keys=True)


def body_of(data: dict[str, Any], name: str) -> str:
    return next(str(x["body"]) for x in data["lab"]["instances"] if x["name"] == name)


def with_spares(data: dict[str, Any], spares: int) -> tuple[dict[str, Any], list[str]]:
    """The seed's data plus ``spares`` lab instances on the tenant network."""
    data = copy.deepcopy(data)
    instances = data["lab"]["instances"]
    tenant = instances[0]["network"]
    names = []
    for i in range(spares):
        octet = FIRST_SPARE + i
        name = f"vm{3 + i}"
        instances.append(
            {
                "name": name,
                "network": tenant,
                "address": f"10.0.0.{octet}",
                "body": f"server_{octet}",
            }
        )
        names.append(name)
    return data, names


def with_members(data: dict[str, Any], members: Members) -> dict[str, Any]:
    data = copy.deepcopy(data)
    (pool,) = data["load_balancers"][0]["pools"]
    pool["members"] = [
        {"name": name, "address": address_of(data, name), "protocol_port": 80, "weight": weight}
        for name, weight in members
    ]
    return data


def running_servers(rows: list[dict[str, str]]) -> dict[str, int]:
    """Server name (the member id, in every way's config) -> weight, for the servers in
    service (not MAINT or DRAIN). By name: the seed's stats socket is "level user",
    where ``show stat`` leaves addresses out."""
    result = {}
    for row in labkit.server_rows(rows):
        if row.get("status", "").startswith(("MAINT", "DRAIN")):
            continue
        weight = row.get("uweight") or row.get("weight") or "-1"
        result[row.get("svname", "?")] = int(weight)
    return result


# --- the two ways ------------------------------------------------------------------------


class Way(Protocol):
    label: str

    def begin(self, data: dict[str, Any]) -> None: ...

    def prepare(self, datas: list[dict[str, Any]]) -> None: ...

    def change(self, data: dict[str, Any]) -> float: ...

    def stats(self) -> list[dict[str, str]]: ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class NetnodeWay:
    """netnode per change, whatever it does underneath, on one of two paths:

    - ``agent`` (the default; what the API and ``openstack loadbalancer member ...``
      do): the changed topology is written to the store (``set_desired``: only the rows
      that differ, as the API commits them), then the agent's changes pass runs
      (``Agent.run_once(changed_only=True)``: the changed units alone). Each document is
      made before the load starts (the API parses one request, not the topology).
    - ``file`` (``netnode apply -f``'s library call): ``converge.apply(host,
      load_data(data))``, a full pass over every unit (it also repairs any drift).
    """

    label = "netnode"

    def __init__(self, lab: Lab, path: str = "agent") -> None:
        self.lab = lab
        self.path = path
        self.reloads_before = 0
        self.agent: Agent | None = None
        self.documents: dict[str, tuple[Any, dict[str, Any]]] = {}

    def prepare(self, datas: list[dict[str, Any]]) -> None:
        if self.path != "agent":
            return
        for data in datas:
            topo = self.lab.topology(data)
            self.documents[_key(data)] = (topo, topo.model_dump(mode="json", exclude_none=True))

    def begin(self, data: dict[str, Any]) -> None:
        self.lab.apply(data)
        config = self.lab.host.haproxy.installed_config(self.lab.lb_name)
        if config is None:
            raise BenchError(f"netnode rendered no configuration for {self.lab.lb_name}")
        members = data["load_balancers"][0]["pools"][0]["members"]
        bodies = {body_of(data, m["name"]) for m in members}
        self.lab.wait_lb(config, self.lab.frontend, bodies, servers=len(members))
        self.reloads_before = self.lab.host.haproxy.master_state(self.lab.lb_name).reloads
        if self.path == "agent":
            self.agent = Agent(self.lab.host, log=lambda _line: None)
            self.agent.run_once()  # reads this generation of the topology

    def change(self, data: dict[str, Any]) -> float:
        if self.agent is None:
            return self.lab.apply(data)
        topo, document = self.documents[_key(data)]
        self.lab.data, self.lab.applied = copy.deepcopy(data), topo  # for the cleanup
        started = time.perf_counter()
        self.lab.host.store.set_desired(data["name"], document)
        reports = self.agent.run_once(changed_only=True)
        seconds = time.perf_counter() - started
        if any(not r.ok or r.outcome is None or r.outcome.failures for r in reports):
            raise BenchError("the agent's changes pass failed: " + "; ".join(map(str, reports)))
        return seconds

    def stats(self) -> list[dict[str, str]]:
        return self.lab.host.haproxy.stats(self.lab.lb_name)

    def counters(self) -> dict[str, int]:
        state = self.lab.host.haproxy.master_state(self.lab.lb_name)
        return {"reloads": state.reloads - self.reloads_before}

    def close(self) -> None:
        pass


class SfRestartWay:
    """neutron-lbaas's namespace driver: a new ``haproxy -f cfg -p pid -sf <old pids>``
    per change, in the load balancer's namespace.

    ``config``: "lbaas" runs the old driver's own haproxy.cfg (the seed's, which is what
    its template rendered, with this pool's servers); "netnode" runs netnode's rendering
    of the same pool, adapted to a daemon (to tell the mechanism from the settings)."""

    def __init__(self, lab: Lab, config: str) -> None:
        self.lab = lab
        self.flavour = config
        self.label = SF_LABEL if config == "lbaas" else "-sf, netnode cfg"
        # Only its paths and its stats socket are used: nothing is started through it.
        self.files = HAProxyProcesses(lab.state_dir / "sf")
        self.paths = self.files.paths(config)
        self.started: list[int] = []
        self.spawned = 0

    def config(self, data: dict[str, Any]) -> str:
        return self.lbaas_config(data) if self.flavour == "lbaas" else self.netnode_config(data)

    def lbaas_config(self, data: dict[str, Any]) -> str:
        """The seed's haproxy.cfg (neutron-lbaas's template output: ``daemon``, its
        defaults, ``check inter 5s fall 3``) with this run's stats socket (mode 600, as
        throughput.py runs it) and one ``server`` line per member, named by member id
        as the template did."""
        text = labkit.seed_config(self.paths.stats_socket)
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("server ")]
        if not lines[-1].lstrip().startswith("timeout check"):
            raise BenchError("the seed's haproxy.cfg changed shape: adapt SfRestartWay")
        (pool,) = self.lab.topology(data).load_balancers[0].pools
        monitor = pool.healthmonitor
        check = f" check inter {monitor.delay}s fall {monitor.max_retries_down}" if monitor else ""
        lines += [
            f"    server {m.uid} {m.address}:{m.protocol_port} weight {m.weight}{check}"
            for m in pool.members
        ]
        return "\n".join(lines) + "\n"

    def netnode_config(self, data: dict[str, Any]) -> str:
        """netnode's rendering for ``data`` as a daemon: ``daemon`` added, this run's
        stats socket without ``expose-fd listeners``, no server-state file."""
        spec = converge.desired_for(self.lab.host, self.lab.topology(data))
        rendered = next(p.config for p in spec.processes if p.name == self.lab.lb_name)
        netnode_paths = self.lab.host.haproxy.paths(self.lab.lb_name)
        netnode_socket = str(netnode_paths.stats_socket)
        # The metrics exporter's socket too: netnode's directory for this load balancer
        # goes while its HAProxy is stopped for the phase.
        metrics_socket = str(self.paths.stats_socket.with_name("prom.sock"))
        lines = []
        for line in rendered.splitlines():
            line = line.replace(str(netnode_paths.metrics_socket), metrics_socket)
            word = line.split()
            if word[:2] == ["stats", "socket"]:
                line = line.replace(netnode_socket, str(self.paths.stats_socket))
                line = line.replace(" expose-fd listeners", "")
            elif word[:1] in (["server-state-file"], ["load-server-state-from-file"]):
                continue
            lines.append(line)
            if line == "global":
                lines.append("    daemon")
        text = "\n".join(lines) + "\n"
        if str(self.paths.stats_socket) not in text or "    daemon\n" not in text:
            raise BenchError("netnode's rendered haproxy.cfg changed shape: adapt SfRestartWay")
        return text

    def frontend(self) -> str:
        return labkit.SEED_FRONTEND if self.flavour == "lbaas" else self.lab.frontend

    def spawn(self, data: dict[str, Any], replace: bool) -> float:
        p = self.paths
        p.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        p.cfg.write_text(self.config(data))
        argv = [
            "ip", "netns", "exec", self.lab.lb_namespace,
            "haproxy", "-f", str(p.cfg), "-p", str(p.pid),
        ]  # fmt: skip
        if replace:
            # The driver's update(): every pid in the pid file goes after -sf.
            argv += ["-sf", *p.pid.read_text().split()]
        started = time.perf_counter()
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
        )
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr}")
        pids = [int(w) for w in p.pid.read_text().split()]
        if not pids or not all(labkit.haproxy_of(pid, p.cfg) for pid in pids):
            raise BenchError(f"haproxy -sf wrote pids {pids} that are not running")
        self.started += pids
        self.spawned += 1
        return seconds

    def prepare(self, datas: list[dict[str, Any]]) -> None:
        pass

    def begin(self, data: dict[str, Any]) -> None:
        # A pass first: it repairs what a disturbance broke (labkit.Disturbed). Then
        # netnode's process for this LB stops (through its driver, by its verified pid);
        # the next converge.apply starts it again.
        self.lab.apply(data)
        self.lab.host.haproxy.stop(self.lab.lb_name)
        self.spawn(data, replace=False)
        members = data["load_balancers"][0]["pools"][0]["members"]
        bodies = {body_of(data, m["name"]) for m in members}
        wait_until(
            lambda: labkit.serving(self.stats(), self.frontend(), len(members)),
            f"-sf haproxy serving with {len(members)} servers UP",
        )
        outside = self.lab.namespace_of("outside")
        wait_until(
            lambda: labkit.answers(outside, FIP, 4 * len(bodies)) == bodies,
            f"{sorted(bodies)} through {FIP} (-sf haproxy)",
        )
        self.spawned = 0

    def change(self, data: dict[str, Any]) -> float:
        return self.spawn(data, replace=True)

    def stats(self) -> list[dict[str, str]]:
        return self.files.stats(self.flavour)

    def counters(self) -> dict[str, int]:
        alive = sum(labkit.haproxy_of(pid, self.paths.cfg) for pid in set(self.started))
        return {"processes": self.spawned, "alive": alive}

    def close(self) -> None:
        """Stop every haproxy this way started (by pid, each verified), keep no files."""
        labkit.terminate(sorted(set(self.started)), self.paths.cfg)
        self.started.clear()


# --- one phase ---------------------------------------------------------------------------


@dataclass
class Phase:
    way: str
    result: WrkResult
    change_seconds: list[float]
    counters: dict[str, int] = field(default_factory=dict)
    behind: float = 0.0  # how late the last change started against its slot


def run_phase(
    lab: Lab, way: Way, base: dict[str, Any], changes: list[Change], args: argparse.Namespace
) -> Phase:
    """``way.begin`` with the seed's pool, load, the changes on schedule, the check that
    the final pool runs; then ``way.close`` (the -sf haproxy must not outlive its phase:
    netnode's would bind the same VIP next to it)."""
    try:
        way.prepare([with_members(base, change.members) for change in changes])
        way.begin(with_members(base, INITIAL))
        interval = args.duration / len(changes)
        bound = int(args.lead + args.duration + args.tail) + SLACK
        options = WrkOptions(args.connections, args.threads, args.timeout, args.close)
        seconds: list[float] = []
        behind = 0.0
        with Load(lab.namespace_of("outside"), f"http://{FIP}/", bound, options) as load:
            time.sleep(args.lead)
            start = time.monotonic()
            for i, change in enumerate(changes):
                slot = start + i * interval
                now = time.monotonic()
                if now < slot:
                    time.sleep(slot - now)
                behind = max(behind, time.monotonic() - slot)
                seconds.append(way.change(with_members(base, change.members)))
                if not load.running():
                    break  # stop() reports it
            time.sleep(args.tail)
            result = load.stop()
        (pool,) = lab.topology(with_members(base, changes[-1].members)).load_balancers[0].pools
        want = {m.uid: m.weight for m in pool.members}
        wait_until(
            lambda: running_servers(way.stats()) == want,
            f"{way.label}: the running pool is the final one {want}",
            timeout=15.0,
        )
        return Phase(way.label, result, seconds, way.counters(), behind)
    finally:
        way.close()


# --- report ------------------------------------------------------------------------------


def report(
    phases: dict[str, list[Phase]], changes: list[list[Change]], args: argparse.Namespace
) -> bool:
    """Print the table; True if the target is met."""
    labels = list(phases)
    kinds = {k: sum(c.kind == k for cs in changes for c in cs) for k in KINDS}
    total_changes = sum(len(cs) for cs in changes)
    print()
    print(
        f"{args.changes} member changes per phase ({', '.join(f'{n} {k}' for k, n in kinds.items())}"
        f" over {args.rounds} round(s)), spread over {args.duration:g}s, under "
        f"{WrkOptions(args.connections, args.threads, args.timeout, args.close).describe()} "
        f"from the external client to http://{FIP}/"
    )

    def total(label: str, get: Any) -> int:
        return sum(get(p) for p in phases[label])

    def times(label: str) -> list[float]:
        return [s for p in phases[label] for s in p.change_seconds]

    rows: list[tuple[str, list[str]]] = []

    def row(name: str, values: list[str]) -> None:
        rows.append((name, values))

    requests = {x: total(x, lambda p: p.result.requests) for x in labels}
    failed = {x: total(x, lambda p: p.result.failed) for x in labels}
    row("changes applied", [str(total(x, lambda p: len(p.change_seconds))) for x in labels])
    row("requests", [str(requests[x]) for x in labels])
    row(
        "requests/s (median of phases)",
        [f"{statistics.median(p.result.rps for p in phases[x]):.0f}" for x in labels],
    )
    row("non-2xx responses", [str(total(x, lambda p: p.result.non_2xx)) for x in labels])
    for kind in ("connect", "read", "write", "timeout"):
        row(
            f"socket errors: {kind}",
            [str(total(x, lambda p, k=kind: p.result.error(k))) for x in labels],
        )
    row(
        f"unanswered > {args.timeout}s at stop",
        [str(total(x, lambda p: p.result.unanswered)) for x in labels],
    )
    row("FAILED requests", [str(failed[x]) for x in labels])
    row(
        "uncounted by wrk, at most (*)",
        [str(total(x, lambda p: p.result.silent_reconnects or 0)) for x in labels],
    )
    row("failed per change", [f"{failed[x] / total_changes:.2f}" for x in labels])
    row(
        "failed per million requests",
        [f"{failed[x] / requests[x] * 1e6:.1f}" if requests[x] else "-" for x in labels],
    )
    row(
        "latency p99 / max ms (worst phase)",
        [
            f"{max(p.result.p99_ms for p in phases[x]):.1f} / "
            f"{max(p.result.max_ms for p in phases[x]):.0f}"
            for x in labels
        ],
    )
    row(
        "change time median / max ms",
        [f"{statistics.median(times(x)) * 1000:.1f} / {max(times(x)) * 1000:.1f}" for x in labels],
    )

    def counter(label: str, key: str) -> str:
        if any(key not in p.counters for p in phases[label]):
            return "-"
        return str(sum(p.counters[key] for p in phases[label]))

    row("HAProxy master reloads (show proc)", [counter(x, "reloads") for x in labels])
    row("haproxy -sf processes started", [counter(x, "processes") for x in labels])
    row(
        "worst lag behind schedule s",
        [f"{max(p.behind for p in phases[x]):.2f}" for x in labels],
    )
    width = max(len(name) for name, _ in rows)
    col = max(14, *(len(v) for _, vs in rows for v in vs))
    header = f"{'':<{width}}  " + "  ".join(f"{x:>{col}}" for x in labels)
    print(header)
    print("-" * len(header))
    for name, values in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{v:>{col}}" for v in values))
    print()
    ours = failed[NETNODE]
    rps = {x: statistics.median(p.result.rps for p in phases[x]) for x in labels}
    for other in labels:
        if other == NETNODE:
            continue
        theirs = failed[other]
        ratio = f"{theirs / ours:.2f}" if ours else f"netnode 0, {other} {theirs}"
        print(
            f"failed requests, {other} / netnode = {ratio}; "
            f"requests/s, netnode / {other} = {rps[NETNODE] / rps[other]:.2f}"
        )
    print(
        "(*) reconnects of wrk's that no counted failure explains: wrk 4.1 counts nothing "
        "when a server closes (FIN) a connection holding its request"
    )
    met = ours == 0
    silent = total(NETNODE, lambda p: p.result.silent_reconnects or 0)
    note = f", and at most {silent} uncounted" if silent else ", and none uncounted"
    print(
        f"target: 0 failed requests for netnode's way: {'met' if met else 'MISSED'} ({ours}{note})"
    )
    if SF_LABEL in labels:
        ratio = rps[NETNODE] / rps[SF_LABEL]
        verdict = "met" if ratio >= RPS_TARGET else "MISSED"
        print(
            f"target: requests/s during the changes, netnode / -sf, lbaas cfg >= {RPS_TARGET}x "
            f"(issue 17): {ratio:.2f}x {verdict}"
        )
    return met


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring and bench/README.md for what is measured.",
    )
    parser.add_argument("--changes", type=int, default=50, help="member changes per phase (50)")
    parser.add_argument(
        "--duration", type=float, default=15.0, help="seconds the changes are spread over (15)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both phases (1)")
    parser.add_argument("--spares", type=int, default=4, help="extra lab instances to add (4)")
    parser.add_argument(
        "--connections",
        type=int,
        default=20,
        help=f"wrk connections (20, at most {MAX_CONNECTIONS})",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--timeout", type=int, default=2, help="wrk --timeout, whole seconds (2)")
    parser.add_argument(
        "--close",
        action="store_true",
        help="clients send 'Connection: close' (a new connection per request)",
    )
    parser.add_argument("--lead", type=float, default=1.0, help="load before the first change (1)")
    parser.add_argument("--tail", type=float, default=2.0, help="load after the last change (2)")
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed of the change sequence (1)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="repeat a phase during which ovs-vswitchd was restarted by someone else (2)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print wrk's own output too")
    parser.add_argument(
        "--ways",
        default="netnode,sf",
        help="comma-separated, run in this order: netnode (converge.apply), sf (-sf restart "
        "with the old driver's config), sf-netnode (-sf restart with netnode's config) "
        "(netnode,sf)",
    )
    parser.add_argument(
        "--path",
        choices=("agent", "file"),
        default="agent",
        help="netnode's way: agent (the store written, then the agent's changes pass, as "
        "the API does) or file (converge.apply of the whole topology, netnode apply -f's "
        "library call) (agent)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be 1..{MAX_CONNECTIONS} (the seed's maxconn 100)")
    if not 1 <= args.threads <= args.connections:
        parser.error("--threads must be 1..connections")
    if not 1 <= args.changes <= 1000 or not 1 <= args.rounds <= 20:
        parser.error("--changes 1..1000, --rounds 1..20")
    if not 1 <= args.spares <= MAX_SPARES:
        parser.error(f"--spares must be 1..{MAX_SPARES}")
    if not 0 < args.duration <= 600 or not 0 <= args.lead <= 60 or not 0 <= args.tail <= 60:
        parser.error("--duration 0..600, --lead and --tail 0..60")
    if args.timeout < 1:
        parser.error("--timeout must be at least 1")
    args.ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    if "netnode" not in args.ways or any(w not in ("netnode", *WAYS) for w in args.ways):
        parser.error(f"--ways: netnode and any of {', '.join(WAYS)}")
    if len(set(args.ways)) != len(args.ways):
        parser.error("--ways: each at most once")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = labkit.preflight("member_changes")
    if why is not None:
        print(why, file=sys.stderr)
        return 2
    labkit.stop_on_sigterm()
    sequences: list[list[Change]] = []
    phases: dict[str, list[Phase]] = {}
    try:
        with labkit.lab("mchg") as lab:
            print(
                f"member_changes: node {lab.node}, bridges {'/'.join(lab.bridges)}, {lab.state_dir}",
                flush=True,
            )
            base, spares = with_spares(lab.data, args.spares)
            lab.apply(with_members(base, INITIAL))
            ways: list[Way] = [
                NetnodeWay(lab, args.path) if name == "netnode" else SfRestartWay(lab, WAYS[name])
                for name in args.ways
            ]
            phases.update({way.label: [] for way in ways})
            try:
                for round_no in range(1, args.rounds + 1):
                    rng = random.Random(args.seed * 1000 + round_no)
                    changes = plan_changes(args.changes, INITIAL, ["vm1", "vm2", *spares], rng)
                    sequences.append(changes)
                    for way in ways:
                        phase = labkit.attempts(
                            f"round {round_no} {way.label}",
                            args.retries,
                            partial(run_phase, lab, way, base, changes, args),
                        )
                        phases[way.label].append(phase)
                        r = phase.result
                        print(
                            f"  round {round_no} {way.label:<16} {len(phase.change_seconds)} changes, "
                            f"{r.requests} requests ({r.rps:.0f}/s), failed {r.failed} "
                            f"(non-2xx {r.non_2xx}, socket {r.socket_errors}, "
                            f"unanswered {r.unanswered}), "
                            f"change median {statistics.median(phase.change_seconds) * 1000:.1f} ms, "
                            f"{phase.counters}",
                            flush=True,
                        )
                        if args.verbose:
                            print(textwrap.indent(r.raw.rstrip(), "      | "), flush=True)
            finally:
                for way in ways:
                    way.close()
    except (BenchError, NetnodeError) as exc:
        print(f"member_changes: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("member_changes: interrupted (cleaned up)", file=sys.stderr)
        return 130
    report(phases, sequences, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
