"""Requests per second through netnode's data path, side by side in one run.

Builds the seed scenario (examples/seed.yaml, with this run's node and bridge names) and
measures with wrk, always from inside a lab namespace:

1. ``direct``: from vm1's namespace to one member, http://10.0.0.82/: the tenant
   network alone (one hop over br-int), the baseline;
2. ``netnode``: from the external client namespace ("outside", 10.255.253.1) to the
   floating IP http://10.255.253.100/: br-ex -> router DNAT -> br-int -> HAProxy VIP
   10.0.0.100 -> members, with the haproxy.cfg netnode rendered;
3. ``seed``: the same path, with the load balancer's HAProxy reloaded (through netnode's
   own driver, ``host.haproxy.reload``) onto the seed's haproxy.cfg of SEED.md 8.1
   verbatim but for ONE line: its ``stats socket /root/sock mode 0666 level user``
   becomes ``stats socket <this LB's stats.sock> mode 600 level user``. The driver
   needs the socket where it looks for it (it waits on it for the new worker), and the
   seed's world-writable socket in /root is not recreated. ``daemon``, ``user``/``group
   haproxy`` and ``log /dev/log`` are kept: they do not stop the master-worker driver
   (``-W -D`` already daemonises). Netnode's configuration is reloaded back afterwards.

Rounds run interleaved (direct, netnode, seed, direct, ...; ``--rounds``, default 2),
each measurement after an unrecorded warm-up; the table gives the median per path (of two
runs, their mean), latency p50/p99, the non-2xx responses and socket errors wrk counted,
and the ratios netnode/direct and netnode/seed.

Connections default to 50 and may not exceed 100: the seed's listener has
``connection_limit: 100`` (``maxconn 100`` on the frontend), and past it connections
queue in the kernel rather than measure HAProxy.

Usage: .venv/bin/python bench/throughput.py [--duration 5] [--connections 50]
       [--threads 2] [--rounds 2] [--warmup 1] [--no-diff]

It also prints the diff of netnode's haproxy.cfg against the seed's as run (--no-diff: not).

Safety: a random node name, bridge names and a private state dir per run; wrk runs only
inside this run's lab namespaces (``ip netns exec``), bounded by ``-d`` and a subprocess
timeout; nothing is sent from the host namespace; the topology is destroyed and the
state dir removed in ``finally``; no process is stopped but through netnode's driver.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from netnode.drivers.haproxy import HAProxyProcesses  # noqa: E402
from netnode.errors import HostError  # noqa: E402
from netnode.lab.client import http_get  # noqa: E402
from netnode.model import ids  # noqa: E402
from netnode.model.loading import load_data  # noqa: E402
from netnode.model.topology import Topology  # noqa: E402
from netnode.plan.desired import process_name  # noqa: E402
from netnode.reconcile import converge  # noqa: E402
from netnode.reconcile.host import Host  # noqa: E402

SEED_YAML = REPO / "examples" / "seed.yaml"

DIRECT_TARGET = "10.0.0.82"  # vm2, from vm1's namespace
FIP = "10.255.253.100"
BODIES = {"server_81", "server_82"}
READY_TIMEOUT = 20.0
MAX_CONNECTIONS = 100  # the seed's frontend maxconn

# SEED.md 8.1 step 3, verbatim.
# The seed's haproxy.cfg (SEED.md §8.1) verbatim; bench/seed.sh uses the same file.
SEED_CFG = (REPO / "bench" / "seed-haproxy.cfg").read_text()
SEED_STATS_LINE = "    stats socket /root/sock mode 0666 level user\n"
SEED_FRONTEND = "0c32d37d-f84a-4309-9e01-72d9f0bac69e"

PATHS = ("direct", "netnode", "seed")

T = TypeVar("T")


class BenchError(Exception):
    """Something went wrong: the figures of this run mean nothing."""


def seed_config(stats_socket: Path) -> str:
    """The seed's haproxy.cfg with only its stats socket line changed."""
    assert SEED_CFG.count(SEED_STATS_LINE) == 1
    return SEED_CFG.replace(
        SEED_STATS_LINE, f"    stats socket {stats_socket} mode 600 level user\n"
    )


# --- wrk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values())


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise BenchError(f"wrk latency {text!r} not understood")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    requests = re.search(r"^\s*(\d+) requests in", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and requests and p50 and p99):
        raise BenchError(f"wrk output not understood:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True))
        if sock
        else {}
    )
    return WrkResult(
        rps=float(rps[1]),
        requests=int(requests[1]),
        p50_ms=_ms(p50[1]),
        p99_ms=_ms(p99[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=errors,
    )


def wrk(ns: str, url: str, duration: float, connections: int, threads: int) -> WrkResult:
    """wrk from inside namespace ``ns`` (never the host's), bounded by -d and a timeout."""
    argv = [
        "ip", "netns", "exec", ns,
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
        "--timeout", "2s", "--latency", url,
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk in {ns} against {url} did not finish") from exc
    if proc.returncode != 0:
        raise BenchError(f"wrk in {ns} failed (exit {proc.returncode}):\n{proc.stderr}")
    return parse_wrk(proc.stdout)


# --- the lab -----------------------------------------------------------------------------


def wait_until(check: Callable[[], T], what: str, timeout: float = READY_TIMEOUT) -> T:
    """Poll ``check`` until it returns something truthy (errors count as not yet)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except (OSError, HostError) as exc:
            last = exc
        else:
            last = result
            if result:
                return result
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:.0f}s (last: {last!r})")
        time.sleep(0.2)


def answers(ns: str, address: str, count: int) -> set[str]:
    return {http_get(ns, address, timeout=2.0).body.strip() for _ in range(count)}


def members_up(haproxy: HAProxyProcesses, name: str, frontend: str) -> bool:
    """The running config is the one with ``frontend``, and both servers are UP."""
    rows = haproxy.stats(name)
    if not any(r.get("pxname") == frontend and r.get("svname") == "FRONTEND" for r in rows):
        return False
    servers = [r for r in rows if r.get("svname") not in ("FRONTEND", "BACKEND")]
    return len(servers) == 2 and all(r.get("status") == "UP" for r in servers)


def old_workers_gone(haproxy: HAProxyProcesses, name: str) -> bool:
    """``show proc`` on the master lists no old (finishing) workers any more."""
    path = haproxy.paths(name).master_socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(b"show proc\n")
        sock.shutdown(socket.SHUT_WR)
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode(errors="replace")
    section = ""
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.strip("# ").lower()
        elif section.startswith("old") and line.split()[:1] and line.split()[0].isdigit():
            return False
    return True


@dataclass
class Run:
    suffix: str
    state_dir: Path
    host: Host
    topo: Topology
    lb_name: str = ""
    netnode_cfg: str = ""
    seed_cfg: str = ""
    frontend: str = ""
    seed_active: bool = False
    namespaces: dict[str, str] = field(default_factory=dict)

    def use(self, which: str) -> None:
        """Reload the LB's HAProxy onto the seed's or netnode's configuration."""
        want_seed = which == "seed"
        if want_seed != self.seed_active:
            config = self.seed_cfg if want_seed else self.netnode_cfg
            self.host.haproxy.reload(self.lb_name, config)
            self.seed_active = want_seed
        if self.host.haproxy.installed_config(self.lb_name) != (
            self.seed_cfg if want_seed else self.netnode_cfg
        ):
            raise BenchError(f"{self.lb_name} does not run the {which} configuration")
        frontend = SEED_FRONTEND if want_seed else self.frontend
        wait_until(
            lambda: members_up(self.host.haproxy, self.lb_name, frontend),
            f"{which} configuration serving with both members UP",
        )
        wait_until(lambda: old_workers_gone(self.host.haproxy, self.lb_name), "old workers gone")
        wait_until(
            lambda: answers(self.namespaces["outside"], FIP, 4) == BODIES,
            f"both members through {FIP} ({which})",
        )


def build(suffix: str, state_dir: Path) -> Run:
    data = yaml.safe_load(SEED_YAML.read_text())
    data = copy.deepcopy(data)
    data["name"] = f"tput-{suffix}"
    data["integration_bridge"] = f"nn{suffix}i"
    for net in data["networks"]:
        if net.get("external"):
            net["bridge"] = f"nn{suffix}e"
    node = f"tput-{suffix}"
    topo = load_data(data, node=node)
    return Run(suffix, state_dir, Host(state_dir=state_dir, node=node), topo)


def prepare(run: Run) -> None:
    topo = run.topo
    (lb,) = topo.load_balancers
    run.lb_name = process_name("lb", lb.uid)
    run.frontend = lb.listeners[0].uid
    hosts = {x.name: ids.lab_namespace(x.uid) for x in (*topo.lab.instances, *topo.lab.clients)}
    run.namespaces = {"vm1": hosts["vm1"], "outside": hosts["outside"]}
    converge.apply(run.host, topo)
    cfg = run.host.haproxy.installed_config(run.lb_name)
    if cfg is None:
        raise BenchError(f"netnode rendered no configuration for {run.lb_name}")
    run.netnode_cfg = cfg
    run.seed_cfg = seed_config(run.host.haproxy.paths(run.lb_name).stats_socket)
    wait_until(
        lambda: answers(run.namespaces["vm1"], DIRECT_TARGET, 2) == {"server_82"},
        f"{DIRECT_TARGET} from vm1",
    )
    run.use("netnode")


def measure(run: Run, path: str, args: argparse.Namespace) -> WrkResult:
    if path == "direct":
        ns, url = run.namespaces["vm1"], f"http://{DIRECT_TARGET}/"
    else:
        run.use(path)
        ns, url = run.namespaces["outside"], f"http://{FIP}/"
    if args.warmup > 0:
        wrk(ns, url, args.warmup, args.connections, args.threads)
    return wrk(ns, url, args.duration, args.connections, args.threads)


def log_note() -> str:
    """What the seed's ``log /dev/log`` amounts to on this host."""
    if Path("/dev/log").is_socket():
        return "seed config: /dev/log exists: each request's log line goes to syslog."
    return (
        "seed config: this host has no /dev/log: each request's log line is formatted and "
        "its sendmsg() fails (ENOENT);\n  with a syslog daemon it would be delivered instead."
    )


# --- report ------------------------------------------------------------------------------


def report(results: dict[str, list[WrkResult]], args: argparse.Namespace) -> None:
    med = {p: statistics.median(r.rps for r in rs) for p, rs in results.items()}
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
        f"{args.rounds} interleaved rounds, warm-up {args.warmup:g}s; medians per path"
    )
    width = max(24, *(len(", ".join(f"{r.rps:.0f}" for r in rs)) for rs in results.values()))
    header = (
        f"{'path':<8} {'runs (req/s)':<{width}} {'median req/s':>13} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'non-2xx':>8} {'sock err':>9}"
    )
    print(header)
    print("-" * len(header))
    for path in PATHS:
        rs = results[path]
        runs = ", ".join(f"{r.rps:.0f}" for r in rs)
        p50 = statistics.median(r.p50_ms for r in rs)
        p99 = statistics.median(r.p99_ms for r in rs)
        non = sum(r.non_2xx for r in rs)
        errs = sum(r.errors for r in rs)
        print(
            f"{path:<8} {runs:<{width}} {med[path]:>13.0f} {p50:>8.2f} {p99:>8.2f} {non:>8} {errs:>9}"
        )
    print()
    print(f"netnode / direct = {med['netnode'] / med['direct']:.2f}")
    print(f"netnode / seed   = {med['netnode'] / med['seed']:.2f}")
    errors = {p: [r.socket_errors for r in rs if r.errors] for p, rs in results.items() if rs}
    for path, errs in errors.items():
        for e in errs:
            print(f"socket errors ({path}): {e}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument(
        "--connections",
        type=int,
        default=50,
        help=f"wrk connections (50, at most {MAX_CONNECTIONS})",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (2)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds first (1)")
    parser.add_argument(
        "--no-diff", action="store_true", help="do not print netnode's config against the seed's"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be 1..{MAX_CONNECTIONS} (the seed's maxconn 100)")
    if not 1 <= args.threads <= args.connections:
        parser.error("--threads must be 1..connections")
    if args.duration <= 0 or args.rounds < 1 or args.warmup < 0:
        parser.error("--duration > 0, --rounds >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("throughput: needs root (namespaces, OVS, HAProxy)", file=sys.stderr)
        return 2
    for tool in ("wrk", "haproxy", "ovs-vsctl", "ip"):
        if shutil.which(tool) is None:
            print(f"throughput: {tool} is not installed", file=sys.stderr)
            return 2

    suffix = secrets.token_hex(3)
    # Short: HAProxy's socket paths live under it (108 bytes at most).
    state_dir = Path(tempfile.mkdtemp(prefix="nn-"))
    try:
        run = build(suffix, state_dir)
    except BaseException:
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    results: dict[str, list[WrkResult]] = {p: [] for p in PATHS}
    try:
        print(f"throughput: node {run.host.node}, bridges nn{suffix}i/nn{suffix}e, {state_dir}")
        prepare(run)
        for round_no in range(1, args.rounds + 1):
            for path in PATHS:
                result = measure(run, path, args)
                results[path].append(result)
                print(
                    f"  round {round_no} {path:<8} {result.rps:>10.0f} req/s  "
                    f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
                    f"non-2xx {result.non_2xx}  socket errors {result.errors}",
                    flush=True,
                )
        run.use("netnode")
        if not args.no_diff:
            diff = difflib.unified_diff(
                run.netnode_cfg.splitlines(keepends=True),
                run.seed_cfg.splitlines(keepends=True),
                "netnode haproxy.cfg",
                "seed haproxy.cfg (as run)",
            )
            print()
            print("".join(diff), end="")
    except (BenchError, HostError) as exc:
        print(f"throughput: {exc}", file=sys.stderr)
        return 1
    finally:
        try:
            converge.destroy(run.host, run.topo)
        finally:
            run.host.close()
            shutil.rmtree(state_dir, ignore_errors=True)
    report(results, args)
    print(log_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
