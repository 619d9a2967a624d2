"""Requests per second through netnode's data path, side by side in one run.

Builds the seed scenario (examples/seed.yaml, with this run's node and bridge names) and
measures with wrk, always from inside a lab namespace:

1. ``direct``: from vm1's namespace to one member, http://10.0.0.82/: the tenant
   network alone (one hop over br-int), the baseline;
2. ``netnode``: from the external client namespace ("outside", 10.255.253.1) to the
   floating IP http://10.255.253.100/: br-ex -> router DNAT -> br-int -> HAProxy VIP
   10.0.0.100 -> members, with the haproxy.cfg netnode rendered;
3. ``seed``: the same path, with the load balancer's HAProxy reloaded (through netnode's
   own driver, ``host.haproxy.reload``) onto the seed's haproxy.cfg of docs/seed.md §8.1
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
Durations are whole seconds (wrk refuses fractions). Set-up, wrk and cleanup come from
labkit.py, shared with member_changes.py and failover.py.

Safety: a random node name, bridge names and a private state dir per run; wrk runs only
inside this run's lab namespaces (``ip netns exec``), bounded by ``-d`` and a subprocess
timeout; nothing is sent from the host namespace; the topology is destroyed and the
state dir removed in ``finally``; no process is stopped but through netnode's driver.
"""

from __future__ import annotations

import argparse
import difflib
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import labkit
from labkit import FIP, SEED_FRONTEND, BenchError, Lab, WrkOptions, WrkResult, wait_until

from netnode.errors import NetnodeError

DIRECT_TARGET = "10.0.0.82"  # vm2, from vm1's namespace
BODIES = {"server_81", "server_82"}
MAX_CONNECTIONS = 100  # the seed's frontend maxconn

PATHS = ("direct", "netnode", "seed")


@dataclass
class Run:
    lab: Lab
    netnode_cfg: str = ""
    seed_cfg: str = ""
    seed_active: bool = False
    namespaces: dict[str, str] = field(default_factory=dict)

    def use(self, which: str) -> None:
        """Reload the LB's HAProxy onto the seed's or netnode's configuration."""
        want_seed = which == "seed"
        config = self.seed_cfg if want_seed else self.netnode_cfg
        if want_seed != self.seed_active:
            self.lab.host.haproxy.reload(self.lab.lb_name, config)
            self.seed_active = want_seed
        frontend = SEED_FRONTEND if want_seed else self.lab.frontend
        self.lab.wait_lb(config, frontend, BODIES, servers=2)


def prepare(lab: Lab) -> Run:
    run = Run(lab)
    lab.apply()
    run.namespaces = {"vm1": lab.namespace_of("vm1"), "outside": lab.namespace_of("outside")}
    cfg = lab.host.haproxy.installed_config(lab.lb_name)
    if cfg is None:
        raise BenchError(f"netnode rendered no configuration for {lab.lb_name}")
    run.netnode_cfg = cfg
    run.seed_cfg = labkit.seed_config(lab.host.haproxy.paths(lab.lb_name).stats_socket)
    wait_until(
        lambda: labkit.answers(run.namespaces["vm1"], DIRECT_TARGET, 2) == {"server_82"},
        f"{DIRECT_TARGET} from vm1",
    )
    run.use("netnode")
    return run


def measure(run: Run, path: str, args: argparse.Namespace) -> WrkResult:
    if path == "direct":
        ns, url = run.namespaces["vm1"], f"http://{DIRECT_TARGET}/"
    else:
        run.use(path)
        ns, url = run.namespaces["outside"], f"http://{FIP}/"
    options = WrkOptions(args.connections, args.threads)
    if args.warmup > 0:
        labkit.wrk(ns, url, args.warmup, options)
    return labkit.wrk(ns, url, args.duration, options)


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
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
        f"{args.rounds} interleaved rounds, warm-up {args.warmup}s; medians per path"
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
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per run (5)")
    parser.add_argument(
        "--connections",
        type=int,
        default=50,
        help=f"wrk connections (50, at most {MAX_CONNECTIONS})",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (2)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="unrecorded whole seconds first (1; 0: none)"
    )
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
    why = labkit.preflight("throughput")
    if why is not None:
        print(why, file=sys.stderr)
        return 2
    labkit.stop_on_sigterm()
    results: dict[str, list[WrkResult]] = {p: [] for p in PATHS}
    try:
        with labkit.lab("tput") as lab:
            print(f"throughput: node {lab.node}, bridges {'/'.join(lab.bridges)}, {lab.state_dir}")
            run = prepare(lab)
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
    except (BenchError, NetnodeError) as exc:
        print(f"throughput: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("throughput: interrupted (cleaned up)", file=sys.stderr)
        return 130
    report(results, args)
    print(log_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
