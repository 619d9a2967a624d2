"""conntrackd configuration for one HA router instance, and what keepalived has it do on
each VRRP transition. Pure: no I/O.

An HA router's two instances each run a conntrackd in their namespace, replicating the
namespace's connection tracking table to the other over unicast UDP on the HA network
(the ``ha-`` port's addresses), in FTFW mode: reliable (sequence numbers, resends), as
conntrack-tools' own active-backup examples do. The backup keeps what it hears in an
"external cache"; when keepalived makes it master it commits that cache into the
kernel, so the NAT of every connection through a floating IP or the SNAT address is
there before the connection's next packet (``nf_conntrack_tcp_be_liberal`` alone picks
a TCP connection up mid-stream, but not a UDP flow's port mapping, and not what SNAT
chose).

The transitions are conntrack-tools' ``primary-backup.sh``:
- MASTER: commit the external cache (``-c``), flush both caches (``-f``), resync the
  internal cache with the kernel (``-R``), send a bulk update to the backup (``-B``);
- BACKUP: ask the master for a full resync (``-n``);
- FAULT: shorten the kernel's timers of what it holds (``-t``).

Every path lives in the directory the caller gives; ``/etc/conntrackd`` is never read.
The control socket is a UNIX socket: its path must fit ``sun_path`` (107 bytes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from netnode.errors import Problem, TopologyError

# conntrack-tools' examples use 3780 (the IANA port of "conntrackd" is none).
PORT = 3780
# sockaddr_un.sun_path is 108 bytes, the last one the NUL.
UNIX_PATH_MAX = 107
INDENT = "    "


@dataclass(frozen=True)
class ConntrackdFiles:
    """Where one conntrackd's files are."""

    dir: PurePosixPath

    @property
    def config(self) -> PurePosixPath:
        return self.dir / "conntrackd.conf"

    @property
    def socket(self) -> PurePosixPath:
        return self.dir / "ctl"

    @property
    def lock(self) -> PurePosixPath:
        return self.dir / "lock"

    @property
    def log(self) -> PurePosixPath:
        return self.dir / "conntrackd.log"

    @property
    def pid(self) -> PurePosixPath:
        """Written by netnode's driver (conntrackd writes none)."""
        return self.dir / "conntrackd.pid"


def files(directory: str) -> ConntrackdFiles:
    paths = ConntrackdFiles(PurePosixPath(directory))
    if not paths.dir.is_absolute() or any(c.isspace() or c in "\"'\\" for c in directory):
        raise TopologyError(
            [Problem("state_dir", f"{directory!r} is not an absolute path without blanks")]
        )
    if len(str(paths.socket).encode()) > UNIX_PATH_MAX:
        raise TopologyError(
            [
                Problem(
                    "state_dir",
                    f"conntrackd's control socket {paths.socket} is longer than a UNIX "
                    f"socket path may be ({UNIX_PATH_MAX} bytes); use a shorter --state-dir",
                )
            ]
        )
    return paths


@dataclass(frozen=True)
class Conntrackd:
    """One instance's conntrackd: its own address and the other instance's, on the
    ``interface`` (the ha- port), and addresses whose connections are not replicated
    (the HA network's own: VRRP and conntrackd's traffic)."""

    own: str
    peer: str
    interface: str
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for field, value in (("own", self.own), ("peer", self.peer), *_each(self.ignore)):
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                problems.append(Problem(field, f"{value!r} is not an IPv4 address"))
        if self.own == self.peer:
            problems.append(Problem("peer", f"{self.peer} is the instance's own address"))
        if not self.interface or len(self.interface) > 15 or not self.interface.isprintable():
            problems.append(Problem("interface", f"{self.interface!r} is not an interface name"))
        if problems:
            raise TopologyError(problems, source="conntrackd")


def render(conntrackd: Conntrackd, paths: ConntrackdFiles) -> str:
    ignored = ("127.0.0.1", conntrackd.own, conntrackd.peer, *conntrackd.ignore)
    lines = [
        "# conntrackd of one HA router instance, written by netnode",
        "# (netnode/render/conntrackd.py).",
        "Sync {",
        f"{INDENT}Mode FTFW {{",
        # Ask the other instance for its table as soon as this one starts.
        f"{INDENT * 2}StartupResync on",
        f"{INDENT}}}",
        f"{INDENT}UDP {{",
        f"{INDENT * 2}IPv4_address {conntrackd.own}",
        f"{INDENT * 2}IPv4_Destination_Address {conntrackd.peer}",
        f"{INDENT * 2}Port {PORT}",
        f"{INDENT * 2}Interface {conntrackd.interface}",
        f"{INDENT * 2}SndSocketBuffer 1249280",
        f"{INDENT * 2}RcvSocketBuffer 1249280",
        f"{INDENT * 2}Checksum on",
        f"{INDENT}}}",
        "}",
        "General {",
        f"{INDENT}Systemd off",
        f"{INDENT}HashSize 8192",
        f"{INDENT}HashLimit 65536",
        f"{INDENT}LogFile {paths.log}",
        f"{INDENT}Syslog off",
        f"{INDENT}LockFile {paths.lock}",
        f"{INDENT}UNIX {{",
        f"{INDENT * 2}Path {paths.socket}",
        f"{INDENT}}}",
        f"{INDENT}NetlinkBufferSize 2097152",
        f"{INDENT}NetlinkBufferSizeMaxGrowth 8388608",
        f"{INDENT}Filter From Kernelspace {{",
        f"{INDENT * 2}Address Ignore {{",
        *(f"{INDENT * 3}IPv4_address {a}" for a in dict.fromkeys(ignored)),
        f"{INDENT * 2}}}",
        f"{INDENT}}}",
        "}",
    ]
    return "\n".join(lines) + "\n"


# conntrackd's options for each VRRP state keepalived notifies (primary-backup.sh).
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "MASTER": ("-c", "-f", "-R", "-B"),
    "BACKUP": ("-n",),
    "FAULT": ("-t",),
}


def render_transition_script(paths: ConntrackdFiles) -> str:
    """keepalived's ``notify`` script for the instance (``notify_script`` in its
    vrrp_instance): called with ``INSTANCE NAME STATE PRIORITY`` on every transition, it
    runs conntrackd's part of it (``TRANSITIONS``), logging into conntrackd's log. A
    failed step does not stop the next: a commit that fails still leaves the resync."""
    cases = [
        f"{state}) for option in {' '.join(options)}; do"
        f' conntrackd -C "$config" "$option" >>"$log" 2>&1; done ;;'
        for state, options in TRANSITIONS.items()
    ]
    return "\n".join(
        [
            "#!/bin/sh",
            "# keepalived's notify script of an HA router instance, written by netnode:",
            "# conntrackd's part of each VRRP transition (conntrack-tools' primary-backup.sh).",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            f"config='{paths.config}'",
            f"log='{paths.log}'",
            'printf \'%s keepalived: %s\\n\' "$(date +%T.%N)" "$3" >>"$log"',
            "case $3 in",
            *(f"    {c}" for c in cases),
            "esac",
            "exit 0",
            "",
        ]
    )


def transition_script(paths: ConntrackdFiles) -> PurePosixPath:
    return paths.dir / "transition.sh"


def _each(addresses: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f"ignore[{i}]", a) for i, a in enumerate(addresses)]
