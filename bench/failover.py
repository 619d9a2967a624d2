"""A member dying under load: failed requests and the time until it gets no more
traffic, with netnode's defaults against the seed's settings, side by side in one run.

Builds the seed scenario (examples/seed.yaml with this run's node and bridge names: pool
vm1 10.0.0.81 + vm2 10.0.0.82, the seed's health monitor ``delay 5, max_retries_down 3``)
and, for each case, puts load on the floating IP (wrk from the external client
namespace "outside" to http://10.255.253.100/), then takes vm2 away ``--lead`` seconds
in:

- ``kill``: vm2's HTTP server (a lab HAProxy) is stopped through netnode's driver,
  ``host.haproxy.stop(process_name("lab", <vm2 id>))``: its port closes, connection
  attempts are refused at once;
- ``vanish``: ``iptables -I INPUT -p tcp --dport 80 -j DROP`` inside vm2's namespace
  (one of this run's): packets to it vanish, established connections included, so only
  timeouts tell (the connect timeout bounds new attempts).

with the load balancer's HAProxy running either

- ``netnode``: the haproxy.cfg netnode renders for the topology (its defaults, whatever
  they are at the time of the run: the settings in force are printed under the table), or
- ``seed``: the seed's haproxy.cfg (docs/seed.md §8.1, ``check inter 5s fall 3``, ``retries
  3``, ``option redispatch``, ``timeout connect 5000``), reloaded through netnode's driver
  exactly as bench/throughput.py does (only its stats socket line differs).

While the load runs a thread polls ``show stat`` every ``--poll`` seconds (10 ms) and
records vm2's row: its status, and its counters of new traffic (``stot`` sessions,
``lbtot`` times chosen by the balancer, ``wretr`` retries). The case ends once vm2 is
DOWN (or MAINT) and no new traffic reached it for ``--settle`` seconds, or after
``--max-wait`` seconds; then wrk is stopped (SIGINT to its pid) and vm2 is restored
(``converge.apply`` restarts its server; the DROP rule is deleted) and must be UP again
before the next case.

Figures per case: failed requests, what wrk reports (non-2xx/3xx + socket errors:
connect, read, write, timeout) plus the requests still unanswered after more than
``--timeout`` when wrk is stopped (from the kernel's socket table: wrk counts a slow
answer only once it arrives, and the case lasts at least ``--timeout`` + 1 s after the
take-away so that a request stuck since then is counted); a bound on requests wrk may
have lost without counting them (labkit.Load.silent); "DOWN after", from the
take-away to the first poll showing vm2 DOWN; "last traffic after", from the take-away
to the poll that saw vm2's traffic counters move for the last time (an upper bound, to
one poll interval; 0 if they never moved); "out of rotation after", the later of the
two; vm2's failed connections, retries and redispatches from ``show stat``. Rounds
(``--rounds``) repeat every case: times are medians, counts are sums. A case during
which something else on the host restarted ovs-vswitchd is repeated (``--retries``).

Targets (netnode's defaults, ``kill``): 0 failed requests, out of rotation in < 1 s.
``vanish`` is reported without a target.

Usage: .venv/bin/python bench/failover.py [--rounds 1] [--modes kill,vanish]
       [--connections 20] [--threads 1] [--max-wait 40] [--samples polls.csv] [-v]

Safety: a random node name, bridge names and a private state dir per run; wrk runs only
inside this run's client namespace, bounded by ``-d`` and stopped by its pid; the only
process stopped is this run's own vm2 server, through netnode's driver; the iptables
rule goes into this run's vm2 namespace only; the topology is destroyed and the state
dir removed in ``finally``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import re
import statistics
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import labkit
from labkit import FIP, SEED_FRONTEND, BenchError, Lab, Load, WrkOptions, WrkResult

from netnode.errors import HostError, NetnodeError

VICTIM = "vm2"
VICTIM_ADDR = "10.0.0.82:80"
BODIES = {"server_81", "server_82"}
CONFIGS = ("netnode", "seed")
MODES = ("kill", "vanish")
MAX_CONNECTIONS = 100  # the seed's frontend maxconn
DROP = ["INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP"]
TRAFFIC = ("stot", "lbtot", "wretr")  # counters that move when vm2 is sent something new
# Recorded at every poll (and written by --samples).
COUNTERS = (*TRAFFIC, "wredis", "econ", "eresp", "scur", "cli_abrt", "srv_abrt", "hrsp_5xx")
OUT = ("DOWN", "MAINT")
TIME_TARGET = 1.0
RESTORE_TIMEOUT = 60.0  # vm2 UP again: rise checks at the health monitor's interval


# --- polling vm2's row ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    t: float
    status: str
    counters: dict[str, int]


class Sampler:
    """A thread polling ``show stat`` for one server's row every ``interval`` seconds."""

    def __init__(self, lab: Lab, server: str, interval: float) -> None:
        self.lab = lab
        self.server = server
        self.interval = interval
        self.samples: list[Sample] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="show-stat", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        name = self.lab.lb_name
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                rows = self.lab.host.haproxy.stats(name)
            except (HostError, OSError):
                self.errors += 1
            else:
                row = next(
                    (r for r in labkit.server_rows(rows) if r.get("svname") == self.server), None
                )
                if row is not None:
                    counters = {k: int(row.get(k) or 0) for k in COUNTERS}
                    self.samples.append(Sample(started, row.get("status", ""), counters))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def snapshot(self) -> list[Sample]:
        return list(self.samples)


def first_out(samples: list[Sample], since: float) -> float | None:
    return next((s.t for s in samples if s.t >= since and s.status.startswith(OUT)), None)


def last_traffic(samples: list[Sample], since: float) -> float | None:
    """The time of the last poll that saw vm2's traffic counters move after ``since``."""
    last = None
    for before, after in itertools.pairwise(samples):
        if after.t < since:
            continue
        if any(after.counters[k] > before.counters[k] for k in TRAFFIC):
            last = after.t
    return last


def moved(samples: list[Sample], since: float, key: str) -> int:
    """How much counter ``key`` grew from the last poll before ``since`` to the end."""
    before = [s for s in samples if s.t < since]
    if not before or not samples:
        return 0
    return samples[-1].counters[key] - before[-1].counters[key]


def server_name(config: str) -> str:
    """vm2's server name in ``config`` (``show stat`` hides addresses at "level user",
    the seed's stats socket level, so rows are found by name)."""
    found = re.findall(rf"^\s*server (\S+) {re.escape(VICTIM_ADDR)}\b", config, re.M)
    if len(found) != 1:
        raise BenchError(f"no single server line for {VICTIM_ADDR} in the configuration")
    return found[0]


# --- one case ------------------------------------------------------------------------------


@dataclass
class Case:
    config: str
    mode: str
    result: WrkResult
    down_after: float | None
    traffic_after: float | None
    econ: int
    wretr: int
    wredis: int
    polls: int
    poll_errors: int
    t_kill: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    @property
    def out_after(self) -> float | None:
        if self.down_after is None:
            return None
        return max(self.down_after, self.traffic_after or 0.0)


@dataclass
class Bench:
    lab: Lab
    args: argparse.Namespace
    netnode_cfg: str = ""
    seed_cfg: str = ""
    victim_ns: str = ""
    dropping: bool = False
    configs: dict[str, str] = field(default_factory=dict)

    def prepare(self) -> None:
        lab = self.lab
        lab.apply()
        cfg = lab.host.haproxy.installed_config(lab.lb_name)
        if cfg is None:
            raise BenchError(f"netnode rendered no configuration for {lab.lb_name}")
        self.netnode_cfg = cfg
        self.seed_cfg = labkit.seed_config(lab.host.haproxy.paths(lab.lb_name).stats_socket)
        self.configs = {"netnode": self.netnode_cfg, "seed": self.seed_cfg}
        self.victim_ns = lab.namespace_of(VICTIM)

    def restore(self, config: str) -> None:
        """vm2 back (server running, no DROP rule), the LB on ``config``, all UP."""
        lab = self.lab
        if self.dropping:
            labkit.ns_exec(self.victim_ns, ["iptables", "-w", "5", "-D", *DROP])
            self.dropping = False
        lab.apply()  # restarts vm2's server if it was stopped; netnode's config back on
        if lab.host.haproxy.installed_config(lab.lb_name) != self.netnode_cfg:
            raise BenchError("netnode's rendered configuration changed during the run")
        if config == "seed":
            lab.host.haproxy.reload(lab.lb_name, self.seed_cfg)
        frontend = SEED_FRONTEND if config == "seed" else lab.frontend
        # After a DOWN, the seed's health monitor needs rise 2 x inter 5s to call it UP.
        lab.wait_lb(self.configs[config], frontend, BODIES, servers=2, timeout=RESTORE_TIMEOUT)

    def take_away(self, mode: str) -> None:
        if mode == "kill":
            if not self.lab.host.haproxy.stop(self.lab.instance_process(VICTIM)):
                raise BenchError(f"{VICTIM}'s server was not running")
        else:
            labkit.ns_exec(self.victim_ns, ["iptables", "-w", "5", "-I", *DROP])
            self.dropping = True

    def case(self, config: str, mode: str) -> Case:
        args = self.args
        self.restore(config)
        options = WrkOptions(args.connections, args.threads, args.timeout)
        bound = int(args.lead + args.max_wait + args.settle) + 30
        outside = self.lab.namespace_of("outside")
        with (
            Sampler(self.lab, server_name(self.configs[config]), args.poll) as sampler,
            Load(outside, f"http://{FIP}/", bound, options) as load,
        ):
            time.sleep(args.lead)
            before = sampler.snapshot()
            if not before or not before[-1].status.startswith("UP"):
                last = before[-1] if before else f"no row ({sampler.errors} failed polls)"
                raise BenchError(f"{VICTIM} is not UP before it is taken away: {last}")
            t_kill = time.monotonic()
            self.take_away(mode)
            deadline = t_kill + args.max_wait
            # Anything stuck since the take-away must be older than wrk's --timeout when
            # wrk stops, to be counted (Load.stop).
            earliest = t_kill + args.timeout + 1.0
            while time.monotonic() < deadline:
                samples = sampler.snapshot()
                down = first_out(samples, t_kill)
                if down is not None:
                    quiet_since = max(down, last_traffic(samples, t_kill) or t_kill)
                    now = time.monotonic()
                    if now - quiet_since >= args.settle and now >= earliest:
                        break
                time.sleep(0.05)
            result = load.stop()
        samples = sampler.snapshot()
        down = first_out(samples, t_kill)
        traffic = last_traffic(samples, t_kill)
        return Case(
            config,
            mode,
            result,
            None if down is None else down - t_kill,
            None if traffic is None else traffic - t_kill,
            moved(samples, t_kill, "econ"),
            moved(samples, t_kill, "wretr"),
            moved(samples, t_kill, "wredis"),
            len(samples),
            sampler.errors,
            t_kill,
            samples,
        )


# --- report --------------------------------------------------------------------------------


def settings(config: str) -> str:
    """What decides failover in ``config``, on one line."""
    server = re.search(rf"^\s*server \S+ {re.escape(VICTIM_ADDR)}(.*)$", config, re.M)
    found = [
        f"retries {labkit.cfg_value(config, 'retries')}",
        f"timeout connect {labkit.cfg_value(config, 'timeout connect')}",
        f"timeout server {labkit.cfg_value(config, 'timeout server')}",
    ]
    for line in config.splitlines():
        word = line.split()
        if word[:2] == ["option", "redispatch"] or word[:1] == ["retry-on"]:
            found.append(" ".join(word))
    found.append(f"server ...{server[1] if server else ' (not found)'}")
    return "; ".join(found)


def seconds(values: list[float | None], max_wait: float) -> str:
    if not values:
        return "-"
    if any(v is None for v in values):
        return f"> {max_wait:g}"
    return f"{statistics.median(v for v in values if v is not None):.3f}"


def report(cases: list[Case], bench: Bench) -> bool:
    """Print the table; True if the targets are met."""
    args = bench.args
    modes = [m for m in MODES if any(c.mode == m for c in cases)]
    columns = [(m, c) for m in modes for c in CONFIGS]

    def of(mode: str, config: str) -> list[Case]:
        return [c for c in cases if c.mode == mode and c.config == config]

    def total(mode: str, config: str, get: Callable[[Case], int]) -> int:
        return sum(get(c) for c in of(mode, config))

    print()
    print(
        f"{VICTIM} ({VICTIM_ADDR}) taken away {args.lead:g}s into "
        f"{WrkOptions(args.connections, args.threads, args.timeout).describe()} from the "
        f"external client to http://{FIP}/; {args.rounds} round(s): times are medians, "
        "counts sums"
    )
    rows: list[tuple[str, list[str]]] = []
    rows.append(("requests", [str(total(m, c, lambda x: x.result.requests)) for m, c in columns]))
    rows.append(
        ("non-2xx responses", [str(total(m, c, lambda x: x.result.non_2xx)) for m, c in columns])
    )
    for kind in ("connect", "read", "write", "timeout"):
        rows.append(
            (
                f"socket errors: {kind}",
                [str(total(m, c, lambda x, k=kind: x.result.error(k))) for m, c in columns],
            )
        )
    rows.append(
        (
            f"unanswered > {args.timeout}s at stop",
            [str(total(m, c, lambda x: x.result.unanswered)) for m, c in columns],
        )
    )
    failed = {(m, c): total(m, c, lambda x: x.result.failed) for m, c in columns}
    rows.append(("FAILED requests", [str(failed[k]) for k in columns]))
    rows.append(
        (
            "uncounted by wrk, at most (*)",
            [str(total(m, c, lambda x: x.result.silent_reconnects or 0)) for m, c in columns],
        )
    )
    rows.append(
        (
            "DOWN after s",
            [seconds([x.down_after for x in of(m, c)], args.max_wait) for m, c in columns],
        )
    )
    rows.append(
        (
            "last traffic after s",
            [
                seconds([x.traffic_after or 0.0 for x in of(m, c)], args.max_wait)
                for m, c in columns
            ],
        )
    )
    out = {(m, c): [x.out_after for x in of(m, c)] for m, c in columns}
    rows.append(("OUT OF ROTATION after s", [seconds(out[k], args.max_wait) for k in columns]))
    rows.append(
        (
            "its failed connects / retries / redisp.",
            [
                f"{total(m, c, lambda x: x.econ)} / {total(m, c, lambda x: x.wretr)} / "
                f"{total(m, c, lambda x: x.wredis)}"
                for m, c in columns
            ],
        )
    )
    rows.append(
        (
            # Not wrk's percentiles: see bench/README.md.
            "longest answer ms (wrk's max)",
            [f"{max(x.result.max_ms for x in of(m, c)):.0f}" for m, c in columns],
        )
    )
    rows.append(
        ("show stat polls (errors)", [
            f"{total(m, c, lambda x: x.polls)} ({total(m, c, lambda x: x.poll_errors)})"
            for m, c in columns
        ])
    )  # fmt: skip
    width = max(len(name) for name, _ in rows)
    col = max(14, *(len(v) for _, vs in rows for v in vs))
    head1 = f"{'':<{width}}  " + "  ".join(f"{m:>{col}}" for m, _ in columns)
    head2 = f"{'':<{width}}  " + "  ".join(f"{c:>{col}}" for _, c in columns)
    print(head1)
    print(head2)
    print("-" * len(head2))
    for name, values in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{v:>{col}}" for v in values))
    print()
    for mode in modes:
        ours, theirs = failed[(mode, "netnode")], failed[(mode, "seed")]
        ratio = f"{theirs / ours:.1f}" if ours else f"netnode 0, seed {theirs}"
        t_ours = [v for v in out[(mode, "netnode")] if v is not None]
        t_theirs = [v for v in out[(mode, "seed")] if v is not None]
        t_ratio = (
            f"{statistics.median(t_theirs) / statistics.median(t_ours):.1f}"
            if t_ours and t_theirs and statistics.median(t_ours) > 0
            else "-"
        )
        print(
            f"{mode}: failed requests seed / netnode = {ratio}; out of rotation seed / netnode = {t_ratio}"
        )
    print(
        "(*) reconnects of wrk's that no counted failure explains: wrk 4.1 counts nothing "
        "when a server closes (FIN) a connection holding its request"
    )
    print()
    print("settings in force:")
    for name in CONFIGS:
        print(f"  {name}: {settings(bench.configs[name])}")
    print()
    met = True
    if "kill" in modes:
        ours = failed[("kill", "netnode")]
        times = out[("kill", "netnode")]
        ok_failed = ours == 0
        ok_time = all(t is not None and t < TIME_TARGET for t in times)
        met = ok_failed and ok_time
        silent = total("kill", "netnode", lambda x: x.result.silent_reconnects or 0)
        note = f", and at most {silent} uncounted" if silent else ", and none uncounted"
        print(
            f"target (kill, netnode): 0 failed requests: {'met' if ok_failed else 'MISSED'} "
            f"({ours}{note})"
        )
        print(
            f"target (kill, netnode): out of rotation < {TIME_TARGET:g} s: "
            f"{'met' if ok_time else 'MISSED'} ({seconds(times, args.max_wait)} s)"
        )
    return met


def write_samples(path: Path, cases: list[Case]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["case", "mode", "config", "t", "status", *COUNTERS])
        for number, case in enumerate(cases, 1):
            for sample in case.samples:
                out.writerow(
                    [
                        number,
                        case.mode,
                        case.config,
                        f"{sample.t - case.t_kill:.3f}",
                        sample.status,
                        *(sample.counters[k] for k in COUNTERS),
                    ]
                )


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring and bench/README.md for what is measured.",
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every case (1)")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="comma-separated: kill (server stopped), vanish (iptables DROP) (kill,vanish)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=20,
        help=f"wrk connections (20, at most {MAX_CONNECTIONS})",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--timeout", type=int, default=2, help="wrk --timeout, whole seconds (2)")
    parser.add_argument("--lead", type=float, default=2.0, help="load before the member goes (2)")
    parser.add_argument(
        "--settle", type=float, default=1.0, help="quiet seconds after DOWN that end a case (1)"
    )
    parser.add_argument(
        "--max-wait", type=float, default=40.0, help="longest a case waits for DOWN (40)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="repeat a case during which ovs-vswitchd was restarted by someone else (2)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print wrk's own output too")
    parser.add_argument("--poll", type=float, default=0.01, help="show stat interval, s (0.01)")
    parser.add_argument(
        "--samples",
        type=Path,
        metavar="CSV",
        help="write every poll of vm2's row (time from the take-away, status, counters) here",
    )
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or any(m not in MODES for m in args.modes):
        parser.error(f"--modes: one or more of {', '.join(MODES)}")
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be 1..{MAX_CONNECTIONS} (the seed's maxconn 100)")
    if not 1 <= args.threads <= args.connections:
        parser.error("--threads must be 1..connections")
    if not 1 <= args.rounds <= 20 or args.timeout < 1:
        parser.error("--rounds 1..20, --timeout >= 1")
    if not 0.5 <= args.lead <= 60 or not 0 <= args.settle <= 30 or not 1 <= args.max_wait <= 300:
        parser.error("--lead 0.5..60, --settle 0..30, --max-wait 1..300")
    if not 0.001 <= args.poll <= 1:
        parser.error("--poll 0.001..1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = labkit.preflight("failover", (*labkit.TOOLS, "iptables"))
    if why is not None:
        print(why, file=sys.stderr)
        return 2
    labkit.stop_on_sigterm()
    cases: list[Case] = []
    try:
        with labkit.lab("fovr") as lab:
            print(
                f"failover: node {lab.node}, bridges {'/'.join(lab.bridges)}, {lab.state_dir}",
                flush=True,
            )
            bench = Bench(lab, args)
            bench.prepare()
            for round_no in range(1, args.rounds + 1):
                for mode in args.modes:
                    for config in CONFIGS:
                        case = labkit.attempts(
                            f"round {round_no} {mode} {config}",
                            args.retries,
                            partial(bench.case, config, mode),
                        )
                        cases.append(case)
                        r = case.result
                        print(
                            f"  round {round_no} {mode:<6} {config:<7} failed {r.failed} "
                            f"(non-2xx {r.non_2xx}, socket {r.socket_errors}, unanswered "
                            f"{r.unanswered}) of {r.requests}; "
                            f"DOWN after {case.down_after}, last traffic after {case.traffic_after}, "
                            f"failed connects {case.econ}, retries {case.wretr}, "
                            f"redispatches {case.wredis}, max latency {r.max_ms:.0f} ms",
                            flush=True,
                        )
                        if args.verbose:
                            print(textwrap.indent(r.raw.rstrip(), "      | "), flush=True)
    except (BenchError, NetnodeError) as exc:
        print(f"failover: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("failover: interrupted (cleaned up)", file=sys.stderr)
        return 130
    report(cases, bench)
    if args.samples is not None:
        write_samples(args.samples, cases)
        print(f"polls written to {args.samples}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
