"""A process that holds netlink sockets raises its soft limit on open files to the hard
one (a node with 1,000 load balancers holds some 5,000 descriptors; systemd gives a
service a soft limit of 1,024)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = (
    "import resource; from netnode.drivers.netlink import Netlink; Netlink(); "
    "print(*resource.getrlimit(resource.RLIMIT_NOFILE))"
)


def test_a_netlink_holder_raises_its_soft_limit_to_the_hard_one() -> None:
    done = subprocess.run(
        ["prlimit", "--nofile=256:4096", sys.executable, "-c", PROGRAM],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["4096", "4096"]
