"""Machines for the DHCP tests: a namespace with a veth whose host end is on a bridge
(what a KVM guest's tap is), and a real DHCP client (busybox's udhcpc) run in it.

The client's script is the lab's (``netnode.lab.dhcp_client``): it puts the address and the routes on the
interface inside the namespace and writes what the server said to a file, and never
touches the host's /etc/resolv.conf (Debian's default script would). Everything is
named per test and removed by ``Machines.close``, even after a failure.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The lab's own client script (the address, the routes, what the server said in
# <interface>.lease beside the script).
from netnode.lab.dhcp_client import SCRIPT


@dataclass
class Machine:
    namespace: str
    host_end: str  # the interface on the bridge (the port's plug.interface)
    inside: str  # the guest's interface, in the namespace
    mac: str


@dataclass
class Machines:
    tmp: Path
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    made: list[Machine] = field(default_factory=list)

    def __post_init__(self) -> None:
        if shutil.which("udhcpc") is None:
            pytest.fail("udhcpc is not installed (apt-get install udhcpc; make test does)")
        self.script = self.tmp / "udhcpc.sh"
        self.script.write_text(SCRIPT)
        self.script.chmod(0o700)

    def make(self, mac: str) -> Machine:
        """A namespace with a veth: its far end (MAC ``mac``) inside, its host end up in
        the host's namespace, on no bridge yet."""
        n = len(self.made)
        machine = Machine(f"nnvm-{self.suffix}-{n}", f"nv{self.suffix}{n}", "eth0", mac)
        self.made.append(machine)
        run("ip", "netns", "add", machine.namespace)
        run(
            "ip",
            "link",
            "add",
            machine.host_end,
            "type",
            "veth",
            "peer",
            "name",
            "nvtmp" + self.suffix,
        )
        run("ip", "link", "set", "nvtmp" + self.suffix, "netns", machine.namespace)
        inside = ["ip", "netns", "exec", machine.namespace, "ip", "link"]
        run(*inside, "set", "nvtmp" + self.suffix, "name", machine.inside)
        run(*inside, "set", machine.inside, "address", mac)
        run(*inside, "set", machine.inside, "up")
        run(*inside, "set", "lo", "up")
        run("ip", "link", "set", machine.host_end, "up")
        return machine

    def lease(self, machine: Machine, timeout: int = 6) -> dict[str, str] | None:
        """Run udhcpc once in the machine (bounded): what the server gave, or None when
        no server answered."""
        out = self.tmp / f"{machine.inside}.lease"
        out.unlink(missing_ok=True)
        argv = ["ip", "netns", "exec", machine.namespace, "udhcpc", "-f", "-q", "-n"]
        argv += ["-i", machine.inside, "-t", str(timeout), "-T", "1"]
        argv += ["-s", str(self.script), "-O", "staticroutes", "-p", str(self.tmp / "udhcpc.pid")]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)
        if done.returncode != 0 or not out.exists():
            return None
        return dict(line.split("=", 1) for line in out.read_text().splitlines())

    def routes(self, machine: Machine) -> str:
        return inside(machine, "ip", "-4", "route")

    def close(self) -> None:
        for machine in self.made:
            subprocess.run(["ip", "link", "delete", machine.host_end], capture_output=True)
            subprocess.run(["ip", "netns", "delete", machine.namespace], capture_output=True)


def inside(machine: Machine, *argv: str) -> str:
    return run("ip", "netns", "exec", machine.namespace, *argv)


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
