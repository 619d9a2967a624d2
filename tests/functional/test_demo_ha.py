"""``netnode demo --ha`` as a newcomer runs it: a private PostgreSQL, a lab, two nodes,
an ACTIVE_STANDBY load balancer behind an HA router's floating IP, the node holding both
masters killed under load. It ends with one line saying how each took over, exits 0
only when the load balancer served again and every established connection through the
router was kept, and leaves nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from netnode.lab import postgres

LINE = re.compile(
    r"^failover: load balancer took over in (\d+\.\d\d) s with (\d+) failed requests; "
    r"router took over in (\d+\.\d\d) s with (\d+) of (\d+) established connections kept$"
)


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


def _bridges() -> set[str]:
    listed = subprocess.run(["ovs-vsctl", "list-br"], capture_output=True, text=True, check=True)
    return set(listed.stdout.split())


def test_the_ha_demo_kills_the_master_node_and_says_how_each_took_over() -> None:
    reason = postgres.available()
    if reason is not None:
        pytest.fail(f"netnode demo --ha needs a private PostgreSQL cluster: {reason}")
    before = (_namespaces(), _bridges())
    done = subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", "demo", "--ha", "--connections", "10"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    found = LINE.match(last)
    assert found, last
    lb_seconds, _failed, router_seconds, kept, total = found.groups()
    assert float(lb_seconds) < 10 and float(router_seconds) < 10
    assert (kept, total) == ("10", "10")
    assert "cleaned up" in done.stdout
    # Only what existed before is left (the demo removed its namespaces and bridges).
    assert _namespaces() <= before[0] and _bridges() <= before[1]
