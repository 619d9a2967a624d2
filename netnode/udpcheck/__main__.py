"""``python -m netnode.udpcheck CONFIG.json``: check, and converge the table on news."""

from __future__ import annotations

import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from netnode.drivers.helpers import announce_ready
from netnode.drivers.nftables import UdpTables
from netnode.udpcheck.config import CheckerConfig
from netnode.udpcheck.health import UP, MemberHealth
from netnode.udpcheck.probes import check


def run(config: CheckerConfig, path: Path | None = None) -> None:
    tables = UdpTables(Path(config.state_root))
    known = tables.health(config.namespace)
    # Members keep their state across a restart (a config change), as HAProxy's keep
    # theirs across a reload through its server-state file.
    health = {
        t.member_id: MemberHealth(up=known.get(t.member_id, UP) == UP)
        for m in config.monitors
        for t in m.targets
    }
    due = {m.pool_id: time.monotonic() for m in config.monitors}
    # Record the starting states at once: status reads them, and the table is rendered
    # from them (it was from the file's, which may name members no longer checked).
    tables.converge(config.namespace, config.balancer, _states(health))
    if path is not None:
        announce_ready(path)
    workers = max(1, min(32, len(health)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            now = time.monotonic()
            changed = False
            for monitor in config.monitors:
                if due[monitor.pool_id] > now:
                    continue
                due[monitor.pool_id] = now + monitor.delay
                results = list(pool.map(lambda t, m=monitor: check(m, t), monitor.targets))
                for target, ok in zip(monitor.targets, results, strict=True):
                    member = health[target.member_id]
                    if member.record(ok, monitor.rise, monitor.fall):
                        changed = True
                        print(f"member {target.member_id} is {member.state}", flush=True)
            if changed:
                tables.converge(config.namespace, config.balancer, _states(health))
            if due:
                time.sleep(max(0.05, min(due.values()) - time.monotonic()))
            else:
                time.sleep(3600)


def _states(health: dict[str, MemberHealth]) -> dict[str, str]:
    return {member: h.state for member, h in sorted(health.items())}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG.json", file=sys.stderr)
        return 2
    path = Path(argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(CheckerConfig.loads(path.read_text()), path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
