"""The seed's shell commands against `netnode apply`, timed side by side in one run.

Each round starts from an empty host and, for both, builds the seed scenario, proves it
with HTTP requests sent from inside the run's own namespaces, and removes it again:

1. ``bench/seed.sh up`` (docs/seed.md §8.1 and §8.2 and the lab around them: about 90
   commands, one process each), the traffic check, ``bench/seed.sh down``;
2. ``netnode apply -f`` a copy of examples/seed.yaml with bridge names of this run (the
   first apply), the same apply again (a no-op re-apply), the traffic check,
   ``netnode destroy -f``.

The same again for 8.1 alone (the load balancer without router and floating IP) unless
``--no-81``. Then a table of medians and the targets: netnode at least 5x faster than
the script, a no-op re-apply under 10% of a first apply.

Usage: python bench/apply_vs_seed.py [--rounds N] [--seed-only] [--no-81]

Safety: every name carries a random run id (namespaces, ports, bridges, node name);
traffic only ever starts inside namespaces the run created (``ip netns exec``); only
processes the run started are stopped, by pid; cleanup runs in ``finally``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED_SH = REPO / "bench" / "seed.sh"
SEED_YAML = REPO / "examples" / "seed.yaml"

VIP_URL = "http://10.0.0.100/"
FIP_URL = "http://10.255.253.100/"
VIP = "10.0.0.100"
CLIENT_ADDRESS = "10.255.253.1"
BODIES = {"server_81", "server_82"}
TRAFFIC_DEADLINE = 10.0  # seconds for the first answer after a build
REAPPLY_TARGET = 0.10
SPEEDUP_TARGET = 5.0


class BenchError(Exception):
    """A build, a check or a cleanup went wrong: the figures of this run mean nothing."""


@dataclass
class Samples:
    """Wall times in seconds, by measurement name."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float | None:
        values = self.times.get(name)
        return statistics.median(values) if values else None


# --- processes ---------------------------------------------------------------------------


def run(argv: list[str], env: dict[str, str] | None = None, what: str = "") -> str:
    """Run a command to completion; its stdout, or BenchError with its output."""
    proc = subprocess.run(
        argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise BenchError(f"{what or argv[0]} failed (exit {proc.returncode}):\n{output}")
    return proc.stdout


@contextmanager
def removing(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run cleanup after the block; if the block failed, its error is the one raised."""
    try:
        yield
    except BaseException:
        try:
            cleanup()
        except BenchError as exc:
            print(f"apply_vs_seed: cleanup: {exc}", file=sys.stderr)
        raise
    cleanup()


def timed(argv: list[str], env: dict[str, str] | None = None, what: str = "") -> Timing:
    start = time.perf_counter()
    out = run(argv, env=env, what=what)
    return Timing(time.perf_counter() - start, out)


@dataclass
class Timing:
    seconds: float
    output: str

    def own_figure(self) -> float | None:
        """The time netnode reports for its own work ("... in 0.42 s"): the wall time
        less interpreter start-up, imports and loading the file."""
        match = re.search(r" in (\d+(?:\.\d+)?) s\b", self.output)
        return float(match.group(1)) if match else None


def namespaces() -> set[str]:
    out = run(["ip", "netns", "list"], what="ip netns list")
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def addresses(ns: str) -> set[str]:
    out = run(["ip", "-n", ns, "-4", "-o", "addr", "show"], what=f"ip -n {ns} addr show")
    return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}


def http_get(ns: str, url: str) -> str | None:
    """One request from inside namespace ns; the body, or None if it failed."""
    argv = ["ip", "netns", "exec", ns, "curl", "-sS", "--noproxy", "*", "--max-time", "2", url]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def check_traffic(probes: Iterable[tuple[str, str]]) -> None:
    """Each (namespace, url) must answer, and between them both members must be seen."""
    seen: set[str] = set()
    for ns, url in probes:
        deadline = time.monotonic() + TRAFFIC_DEADLINE
        answers = 0
        while answers < 2:
            body = http_get(ns, url)
            if body is not None:
                if body not in BODIES:
                    raise BenchError(f"{url} from {ns} answered {body!r}")
                seen.add(body)
                answers += 1
            elif time.monotonic() > deadline:
                raise BenchError(f"{url} does not answer from namespace {ns}")
            else:
                time.sleep(0.1)
    if seen != BODIES:
        raise BenchError(f"only {sorted(seen)} answered; expected both of {sorted(BODIES)}")


# --- the seed script ---------------------------------------------------------------------


class SeedScript:
    def __init__(self, run_id: str, workdir: Path) -> None:
        self.env = {
            **os.environ,
            "SUFFIX": f"-b{run_id}",
            "BR_INT": f"sbi{run_id}",
            "BR_EX": f"sbe{run_id}",
            "WORK": str(workdir / "seed"),
            "SEED_TIMING_FILE": str(workdir / "seed-timing"),
        }
        self.timing_file = Path(self.env["SEED_TIMING_FILE"])
        out = run(["bash", str(SEED_SH), "names"], env=self.env, what="seed.sh names")
        self.names = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def round(self, samples: Samples, only_81: bool) -> None:
        key = "seed81" if only_81 else "seed"
        self.timing_file.unlink(missing_ok=True)
        command = "up81" if only_81 else "up"
        with removing(self.down):
            argv = ["bash", str(SEED_SH), command]
            samples.add(key, timed(argv, env=self.env, what=f"seed.sh {command}").seconds)
            samples.add(f"{key}-arping", self._arping_seconds())
            probes = [(self.names["NS_LB"], VIP_URL)]
            if not only_81:
                probes.insert(0, (self.names["NS_EXT"], FIP_URL))
            check_traffic(probes)

    def down(self) -> None:
        run(["bash", str(SEED_SH), "down"], env=self.env, what="seed.sh down")
        left = namespaces() & {v for k, v in self.names.items() if k.startswith("NS_")}
        if left:
            raise BenchError(f"seed.sh down left namespaces behind: {sorted(left)}")

    def _arping_seconds(self) -> float:
        _, start, end = self.timing_file.read_text().split()
        return float(end.replace(",", ".")) - float(start.replace(",", "."))


# --- netnode -----------------------------------------------------------------------------


# An installed netnode has its bytecode (pip compiles it at install); with
# PYTHONDONTWRITEBYTECODE set, as in some shells, every run would compile its sources
# again. netnode runs without it, and its first (untimed) run writes the bytecode.
NETNODE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class Netnode:
    def __init__(self, run_id: str, workdir: Path) -> None:
        self.node = f"bench-{run_id}"
        # Short: HAProxy socket paths must fit netnode.drivers.haproxy.MAX_SOCKET_PATH (97).
        self.state_dir = workdir / "nn"
        self.bridges = (f"nbi{run_id}", f"nbe{run_id}")
        self.full = workdir / "seed.yaml"
        self.only_81 = workdir / "seed-81.yaml"
        self._write_topologies()
        self.marks = self._marks()
        self.applied = False
        run(self.cli("validate", "-f", str(self.full)), env=NETNODE_ENV, what="netnode validate")

    def _write_topologies(self) -> None:
        import yaml

        data = yaml.safe_load(SEED_YAML.read_text())
        data["integration_bridge"] = self.bridges[0]
        for network in data["networks"]:
            if network.get("external"):
                network["bridge"] = self.bridges[1]
        self.full.write_text(yaml.safe_dump(data, sort_keys=False))
        # 8.1 alone: the load balancer and its two instances; no router, FIP or client.
        data["networks"] = [n for n in data["networks"] if not n.get("external")]
        data.pop("routers", None)
        data.pop("floating_ips", None)
        data.get("lab", {}).pop("clients", None)
        self.only_81.write_text(yaml.safe_dump(data, sort_keys=False))

    def _marks(self) -> set[str]:
        """What this run's host names contain: the node name or the start of an object id
        (ids are uuid5 of node/kind/name, so no other node shares them)."""
        from pydantic import BaseModel

        from netnode.model.loading import load_file
        from netnode.model.topology import Named

        marks = {self.node}

        def walk(value: object) -> None:
            if isinstance(value, Named):
                marks.add(value.uid[:8])
            if isinstance(value, BaseModel):
                for name in type(value).model_fields:
                    walk(getattr(value, name))
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(load_file(self.full, node=self.node))
        return marks

    def cli(self, *args: str) -> list[str]:
        return [
            sys.executable, "-m", "netnode.cli.main",
            "--node", self.node, "--state-dir", str(self.state_dir), *args,
        ]  # fmt: skip

    def round(self, samples: Samples, only_81: bool) -> None:
        key = "netnode81" if only_81 else "netnode"
        argv = self.cli("apply", "-f", str(self.only_81 if only_81 else self.full))
        with removing(self.destroy):
            self.applied = True
            first = timed(argv, env=NETNODE_ENV, what="netnode apply")
            again = timed(argv, env=NETNODE_ENV, what="netnode apply (again)")
            if "No changes" not in again.output:
                raise BenchError(f"the second apply was not a no-op:\n{again.output}")
            for name, timing in (("apply", first), ("reapply", again)):
                samples.add(f"{key}-{name}", timing.seconds)
                own = timing.own_figure()
                if own is not None:
                    samples.add(f"{key}-{name}-own", own)
            probes = [(self._holding(VIP), VIP_URL)]
            if not only_81:
                probes.insert(0, (self._holding(CLIENT_ADDRESS), FIP_URL))
            check_traffic(probes)

    def namespaces(self) -> set[str]:
        """This run's namespaces: those whose names carry one of its marks."""
        return {ns for ns in namespaces() if any(mark in ns for mark in self.marks)}

    def _holding(self, address: str) -> str:
        """The namespace of this run that holds address."""
        found = [ns for ns in sorted(self.namespaces()) if address in addresses(ns)]
        if len(found) != 1:
            raise BenchError(f"expected one namespace of this run holding {address}: {found}")
        return found[0]

    def destroy(self) -> None:
        """netnode destroy (the full topology covers the 8.1-only one), then a check
        that it left nothing; whatever it left is removed here and reported."""
        if not self.applied:
            return
        try:
            run(self.cli("destroy", "-f", str(self.full)), env=NETNODE_ENV, what="netnode destroy")
        finally:
            left = sorted(self.namespaces())
            bridges = [br for br in self.bridges if bridge_exists(br)]
            if left or bridges:
                self._remove_leftovers(left, bridges)
            self.applied = False
        if left or bridges:
            raise BenchError(
                f"netnode destroy left namespaces {left} and bridges {bridges} (removed now)"
            )

    def _remove_leftovers(self, left: list[str], bridges: list[str]) -> None:
        """What this run's applies made, and nothing else: HAProxy by the pid files in
        the run's state directory, the run's bridges and namespaces."""
        pidfiles = self.state_dir.rglob("*.pid") if self.state_dir.exists() else ()
        for pidfile in pidfiles:
            for pid in _pids_in(pidfile):
                _stop_haproxy(pid, allowed_namespaces=set(left))
        for br in bridges:
            run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", br], what="ovs-vsctl")
        for ns in left:
            run(["ip", "netns", "delete", ns], what=f"ip netns delete {ns}")


def bridge_exists(name: str) -> bool:
    argv = ["ovs-vsctl", "--timeout=10", "br-exists", name]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True).returncode == 0


def _pids_in(pidfile: Path) -> list[int]:
    try:
        return [int(word) for word in pidfile.read_text().split() if word.isdigit()]
    except OSError:
        return []


def _stop_haproxy(pid: int, allowed_namespaces: set[str]) -> None:
    """SIGTERM pid if it is a haproxy living in one of the run's namespaces."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return
    proc = subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True, text=True)
    if comm == "haproxy" and proc.stdout.strip() in allowed_namespaces:
        os.kill(pid, signal.SIGTERM)


# --- the report --------------------------------------------------------------------------


def report(samples: Samples, rounds: int) -> str:
    def seconds(key: str) -> str:
        value = samples.median(key)
        return f"{'-':>9}" if value is None else f"{value:7.3f} s"

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = [
        f"median of {rounds} round(s), wall time; targets are on wall time, as a user waits",
        "(netnode's own figure leaves out Python start-up, imports and reading the file)",
        "",
    ]
    sections = [
        ("seed", "netnode", "docs/seed.md §8.1 + §8.2"),
        ("seed81", "netnode81", "docs/seed.md §8.1 only"),
    ]
    for seed_key, nn_key, title in sections:
        if samples.median(seed_key) is None and samples.median(f"{nn_key}-apply") is None:
            continue
        lines += [
            f"{title}:",
            f"  seed.sh (one process per command)   {seconds(seed_key)}",
            f"    of which `arping -U -c 3`         {seconds(f'{seed_key}-arping')}",
            f"  netnode apply, first                {seconds(f'{nn_key}-apply')}",
            f"    of which netnode's own figure     {seconds(f'{nn_key}-apply-own')}",
            f"  netnode apply, no-op re-apply       {seconds(f'{nn_key}-reapply')}",
            f"    of which netnode's own figure     {seconds(f'{nn_key}-reapply-own')}",
        ]
        script = samples.median(seed_key)
        apply = samples.median(f"{nn_key}-apply")
        reapply = samples.median(f"{nn_key}-reapply")
        if script is not None and apply:
            ratio = script / apply
            ok = ratio >= SPEEDUP_TARGET
            lines.append(
                f"  script / netnode apply              {ratio:7.1f} x"
                f"   target >= {SPEEDUP_TARGET:.0f}x: {verdict(ok)}"
            )
        if apply and reapply is not None:
            share = reapply / apply
            ok = share < REAPPLY_TARGET
            lines.append(
                f"  re-apply / apply                    {share:7.1%}"
                f"   target < {REAPPLY_TARGET:.0%}: {verdict(ok)}"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement (3)")
    parser.add_argument("--seed-only", action="store_true", help="time only bench/seed.sh")
    parser.add_argument("--no-81", action="store_true", help="skip the 8.1-only variant")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if os.geteuid() != 0:
        print("apply_vs_seed: needs root (namespaces, Open vSwitch, iptables)", file=sys.stderr)
        return 2

    # Stopped by SIGTERM or SIGINT: unwind through the finally blocks, which clean up.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _interrupted)
    run_id = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix="nb-"))
    print(f"apply_vs_seed: run {run_id}, {args.rounds} round(s), work dir {workdir}")
    samples = Samples()
    try:
        measure(samples, run_id, workdir, args.rounds, args.seed_only, args.no_81)
    except BenchError as exc:
        print(f"apply_vs_seed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"apply_vs_seed: interrupted ({exc or 'SIGINT'}); cleaned up", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(report(samples, args.rounds))
    return 0


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def measure(
    samples: Samples, run_id: str, workdir: Path, rounds: int, seed_only: bool, no_81: bool
) -> None:
    seed = SeedScript(run_id, workdir)
    netnode = None if seed_only else Netnode(run_id, workdir)
    steps: list[tuple[str, Callable[[], None]]] = []
    for only_81 in [False] if no_81 else [False, True]:
        label = "8.1 only" if only_81 else "8.1 + 8.2"
        steps.append((f"seed.sh, {label}", lambda o=only_81: seed.round(samples, o)))
        if netnode is not None:
            steps.append((f"netnode, {label}", lambda o=only_81: netnode.round(samples, o)))
    try:
        for number in range(1, rounds + 1):
            for label, step in steps:
                print(f"  round {number}: {label}", flush=True)
                step()
    finally:
        # Each step removes what it built; this is for an interrupt in between.
        for cleanup in [seed.down] if netnode is None else [seed.down, netnode.destroy]:
            try:
                cleanup()
            except BenchError as exc:
                print(f"apply_vs_seed: cleanup: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
