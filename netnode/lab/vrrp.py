"""Two keepalived instances and nothing else: a lab for VRRP alone.

``VrrpPair`` builds two namespaces of its own (``nnvr-<suffix>-a`` and ``-b``) joined by
one veth pair (``eth0`` on both sides, created inside the first namespace with its peer
created directly in the second: it never appears in the host's namespace, and is
attached to nothing else), with 169.254.77.1 and .2 on it, and runs one keepalived
in each through netnode's driver (``netnode.drivers.keepalived``). The VIP, 10.77.0.100/24,
lives only on those two interfaces; every VRRP advert goes from one to the other.

It can crash a side (``crash``: SIGKILL of that keepalived, parent and VRRP child, by the
pids in its pid files), stop it gracefully (``stop``), start it again, and run a
process a side tracks (``start_tracked``: ``sleep`` under a unique argv[0], killed by
its own pid in ``kill_tracked``). ``destroy`` stops what it started (keepalived through
the driver, tracked processes by pid) and deletes both namespaces, which takes the veth
pair with them; it is safe to call after any failure and more than once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from netnode.drivers.keepalived import RELOAD_INTERVAL, KeepalivedProcesses
from netnode.drivers.netlink import Netlink
from netnode.errors import HostError
from netnode.render.keepalived import (
    Profile,
    TrackProcess,
    VirtualAddress,
    instance,
    render,
)

VIP = "10.77.0.100"
VIP_PREFIX = 24
INTERFACE = "eth0"
VRID = 77
INSTANCE = "vip"
ADDRESSES = ("169.254.77.1", "169.254.77.2")
PRIORITIES = (100, 90)


@dataclass
class Side:
    label: str  # "a" or "b"
    namespace: str
    address: str
    peer: str
    priority: int
    tracked: subprocess.Popen[bytes] | None = None
    marker: str = ""

    @property
    def name(self) -> str:
        """The keepalived's name for the driver."""
        return self.label


@dataclass
class VrrpPair:
    profile: Profile
    run_dir: Path
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    track: bool = False
    reload_interval: float = RELOAD_INTERVAL
    sides: list[Side] = field(init=False)
    keepalived: KeepalivedProcesses = field(init=False)
    _netlink: Netlink = field(init=False)
    _built: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.keepalived = KeepalivedProcesses(self.run_dir, reload_interval=self.reload_interval)
        self._netlink = Netlink()
        self.sides = [
            Side(
                label,
                f"nnvr-{self.suffix}-{label}",
                ADDRESSES[i],
                ADDRESSES[1 - i],
                PRIORITIES[i],
                marker=f"nn-track-{self.suffix}-{label}",
            )
            for i, label in enumerate("ab")
        ]

    # --- building -----------------------------------------------------------------------

    def build(self) -> None:
        """The two namespaces and the veth pair between them, addresses up."""
        if shutil.which("ip") is None:
            raise HostError("ip (iproute2) is not installed")
        a, b = self.sides
        for side in self.sides:
            if side.namespace in self._netlink.namespaces():
                raise HostError(f"namespace {side.namespace} exists already; not ours")
            self._netlink.create_namespace(side.namespace)
            self._built.append(side.namespace)
        _ip(
            "-n", a.namespace, "link", "add", INTERFACE, "type", "veth",
            "peer", "name", INTERFACE, "netns", b.namespace,
        )  # fmt: skip
        for side in self.sides:
            _ip("-n", side.namespace, "addr", "add", f"{side.address}/24", "dev", INTERFACE)
            _ip("-n", side.namespace, "link", "set", INTERFACE, "up")

    def config(self, side: Side) -> str:
        track = TrackProcess("tracked", (side.marker,)) if self.track else None
        return render(
            instance(
                self.profile,
                router_id=f"nnvr-{self.suffix}-{side.label}",
                namespace=side.namespace,
                name=INSTANCE,
                interface=INTERFACE,
                virtual_router_id=VRID,
                priority=side.priority,
                unicast_src_ip=side.address,
                unicast_peers=(side.peer,),
                vips=(VirtualAddress(VIP, VIP_PREFIX, INTERFACE),),
                track_process=track,
            ),
            self.keepalived.files(side.name),
        )

    # --- keepalived -----------------------------------------------------------------------

    def start(self, side: Side) -> int:
        return self.keepalived.start(side.name, self.config(side), self.profile.rt_priority)

    def start_all(self) -> None:
        for side in self.sides:
            self.start(side)

    def reload(self, side: Side) -> None:
        self.keepalived.reload(side.name, self.config(side))

    def stop(self, side: Side) -> bool:
        """A graceful stop (SIGTERM: a priority-0 advert, the VIP removed)."""
        return self.keepalived.stop(side.name, keep_dir=True)

    def crash(self, side: Side) -> None:
        """SIGKILL of ``side``'s keepalived, parent and VRRP child, as in a crash: no
        last advert, nothing cleaned up. The parent is stopped first (SIGSTOP) so that
        it neither respawns the child nor, dying first, has it SIGTERMed (keepalived's
        children get SIGTERM when their parent dies, and would leave gracefully)."""
        parent = self.keepalived.running_pid(side.name)
        child = self.keepalived.vrrp_pid(side.name)
        if parent is None or child is None:
            raise HostError(f"keepalived of side {side.label} is not running")
        os.kill(parent, signal.SIGSTOP)
        os.kill(child, signal.SIGKILL)
        os.kill(parent, signal.SIGKILL)

    def role(self, side: Side) -> str | None:
        return self.keepalived.role(side.name)

    def holds_vip(self, side: Side) -> bool:
        """Whether the VIP is on ``side``'s interface now (netlink, about 0.2 ms)."""
        link = self._netlink.observe(side.namespace).links.get(INTERFACE)
        return link is not None and f"{VIP}/{VIP_PREFIX}" in link.addresses

    def holders(self) -> list[str]:
        return [s.label for s in self.sides if self.holds_vip(s)]

    def master(self) -> Side | None:
        """The one side that holds the VIP and says MASTER while the other does neither
        (None in between, or with two masters)."""
        holding = [s for s in self.sides if self.holds_vip(s)]
        masters = [s for s in self.sides if self.role(s) == "MASTER"]
        if len(holding) == 1 and masters == holding:
            return holding[0]
        return None

    def other(self, side: Side) -> Side:
        return self.sides[1] if side is self.sides[0] else self.sides[0]

    # --- tracked processes ----------------------------------------------------------------

    def start_tracked(self, side: Side) -> int:
        """``sleep`` with argv[0] ``side.marker`` in ``side``'s namespace."""
        self.kill_tracked(side)
        argv = [
            "ip", "netns", "exec", side.namespace,
            "bash", "-c", 'exec -a "$0" sleep 1000000', side.marker,
        ]  # fmt: skip
        side.tracked = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return side.tracked.pid

    def tracked_running(self, side: Side) -> bool:
        """Whether ``side``'s tracked process has exec'd under its marker."""
        if side.tracked is None or side.tracked.poll() is not None:
            return False
        try:
            argv0 = Path(f"/proc/{side.tracked.pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            return False
        return argv0 == side.marker.encode()

    def kill_tracked(self, side: Side) -> None:
        if side.tracked is not None:
            if side.tracked.poll() is None:
                side.tracked.kill()
            side.tracked.wait(timeout=10)
            side.tracked = None

    # --- cleanup --------------------------------------------------------------------------

    def destroy(self) -> None:
        for side in self.sides:
            with contextlib.suppress(Exception):
                self.kill_tracked(side)
            with contextlib.suppress(Exception):
                self.keepalived.stop(side.name)
        for namespace in reversed(self._built):
            with contextlib.suppress(Exception):
                self._netlink.delete_namespace(namespace)
        self._built.clear()
        self._netlink.close()


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise HostError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
