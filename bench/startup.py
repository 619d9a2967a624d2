"""How long each ``netnode`` command takes to start, beside the bare interpreter.

Every command used to import the API server, Alembic, SQLAlchemy and pyroute2 before
parsing its arguments (``netnode --help``: 0.85 s). Each now imports what it uses
(``tests/unit/test_cli_imports.py`` holds which, without timing); this measures what
that buys. Each command runs ``--rounds`` times (commands interleaved, after one
untimed warm-up run each), and its median wall time is printed beside the median of
``python -c pass`` with the same interpreter, as a ratio: the machine is shared and
noisy, the ratio less so than the seconds.

Targets: ``netnode --help`` and ``netnode validate`` within 3x of the bare interpreter.
The other commands are shown for what they cost, without a target: ``plan`` (the model,
plan and render; as root with Open vSwitch running it also reads the host, hence the
store and netlink), ``status`` (the store), ``serve --help`` (the parser alone). So is
the floor under ``validate``: the interpreter importing pydantic's ``BaseModel`` and
PyYAML, and nothing else (the model is pydantic; its classes are built on top of that).

Beside each wall-time median, the median CPU time (user + system) of the command, also
as a multiple of the bare interpreter's: on a machine shared with other test runs the
wall time waits for a core, the CPU time much less so.

The commands run with a state directory of their own (a temporary one: ``status``
opens an empty SQLite store there, ``plan`` reads nothing of /var/lib/netnode) and
without NETNODE_* settings from the environment. Needs no root. Exit status: 0 when
every command exited 0 (missed targets included), 1 otherwise.

    .venv/bin/python bench/startup.py              # = make bench-startup
    .venv/bin/python bench/startup.py --rounds 20
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "seed.yaml"
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class Command:
    label: str
    argv: list[str]
    # At most this many times the bare interpreter's start; None: shown, no target.
    target: float | None = None


def netnode() -> list[str]:
    """The console script installed beside this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "netnode"
    return [str(script)] if script.exists() else [sys.executable, "-m", "netnode.cli.main"]


def commands(state_dir: Path) -> list[Command]:
    cli = [*netnode(), "--state-dir", str(state_dir)]
    seed = str(SEED.relative_to(ROOT))
    floor = "from pydantic import BaseModel; import yaml"
    return [
        Command("python -c pass", [sys.executable, "-c", "pass"]),
        Command(f"python -c '{floor}'", [sys.executable, "-c", floor]),
        Command("netnode --help", [*cli, "--help"], TARGET_RATIO),
        Command(f"netnode validate -f {seed}", [*cli, "validate", "-f", seed], TARGET_RATIO),
        Command(f"netnode plan -f {seed}", [*cli, "plan", "-f", seed]),
        Command("netnode status", [*cli, "status"]),
        Command("netnode serve --help", [*cli, "serve", "--help"]),
    ]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time and CPU time (user + system) of one run, and its exit status (its
    output is thrown away)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.returncode


def rounds_arg(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"between 1 and 100 rounds, not {text}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=rounds_arg, default=10, help="runs per command (default 10)"
    )
    args = parser.parse_args()
    # PYTHONDONTWRITEBYTECODE would make every run compile netnode's sources again;
    # an installed netnode has its bytecode (pip compiles it), so the untimed warm-up
    # run writes it here.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NETNODE_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    with tempfile.TemporaryDirectory(prefix="netnode-startup-") as tmp:
        todo = commands(Path(tmp) / "state")
        failed: dict[str, int] = {}
        for command in todo:  # warm-up: .pyc files, the page cache, the store's schema
            *_, code = run_once(command.argv, env)
            if code != 0:
                failed[command.label] = code
        times: dict[str, list[float]] = {c.label: [] for c in todo}
        cpu_times: dict[str, list[float]] = {c.label: [] for c in todo}
        for _ in range(args.rounds):
            for command in todo:
                seconds, cpu, code = run_once(command.argv, env)
                times[command.label].append(seconds)
                cpu_times[command.label].append(cpu)
                if code != 0:
                    failed[command.label] = code
    medians = {label: statistics.median(values) for label, values in times.items()}
    cpu_medians = {label: statistics.median(values) for label, values in cpu_times.items()}
    bare = medians[todo[0].label]
    bare_cpu = cpu_medians[todo[0].label]
    width = max(len(c.label) for c in todo)
    print(
        f"Start-up, median wall time of {args.rounds} runs each, as a multiple of the bare "
        f"interpreter's ({sys.executable} -c pass); the same for CPU time (user + system):"
    )
    print(f"  {'command':<{width}}  {'median':>8}  {'ratio':>6}  {'cpu':>7}  {'ratio':>6}  target")
    for command in todo:
        seconds = medians[command.label]
        ratio = seconds / bare
        cpu = cpu_medians[command.label]
        cpu_ratio = cpu / bare_cpu if bare_cpu > 0 else float("nan")
        if command.target is None:
            verdict = "-"
        else:
            verdict = f"<= {command.target:g}x: " + ("met" if ratio <= command.target else "MISSED")
        if command.label in failed:
            verdict += f" (exit status {failed[command.label]}: FAILED)"
        print(
            f"  {command.label:<{width}}  {seconds:>7.3f}s  {ratio:>5.1f}x  {cpu:>6.3f}s  "
            f"{cpu_ratio:>5.1f}x  {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
