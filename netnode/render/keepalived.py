"""keepalived configuration text for one VRRP instance per namespace. Pure: no I/O.

One keepalived process per namespace (``netnode.drivers.keepalived``), holding one
``vrrp_instance``. What every configuration says, and why (facts from keepalived 2.2's
keepalived.conf(5) and source, Octavia's and Neutron's templates):

- ``vrrp_version 3``: advert intervals in 10 ms units (0.01-40.95 s; VRRPv2 rounds them
  to whole seconds), and VRRPv3 forbids ``authentication``, so there is none;
- ``state BACKUP`` and ``nopreempt``, always, and never a ``state MASTER`` line: any
  ``state MASTER`` defeats ``nopreempt`` (an Octavia bug), and with ``nopreempt`` a node
  that comes back does not take the VIP back from the one that took over;
- unicast adverts only (``unicast_src_ip``, ``unicast_peer``) with
  ``check_unicast_src``: an advert from anyone but a configured peer is dropped;
- ``net_namespace``: keepalived enters the namespace itself. It opens the kernel's
  process-event connector (``vrrp_track_process``) before it does, which only works in
  the host's namespace: under ``ip netns exec`` a tracked process is never seen;
- ``accept``: the VIP answers for itself (HAProxy binds it);
- ``vrrp_track_process``: by the process name alone (``TrackProcess.by_name``, the
  Name: of /proc/PID/status), or by the command line with ``param_match partial``
  (matched from argv[0] on). keepalived sees every namespace's processes, so either
  must be unique: an HA load balancer's HAProxy runs under a name of its own (a
  symlink), since a reload re-executes its master with arguments put first. Weight 0:
  a missing process puts the instance in FAULT, which gives the VIP up at once with a
  priority-0 advert (a lower priority would do nothing against ``nopreempt``);
- states reach netnode through ``vrrp_notify_fifo`` and keepalived's own
  ``vrrp_notify_fifo_script`` (``render_notify_script``): one reader, events in order
  (notify scripts are forked per event and may run out of order), each instance's last
  state kept in a file ``role.<instance>`` of the state directory. Scripts run only with
  ``script_user root`` and ``enable_script_security`` (no part of the path writable by
  others). keepalived restarts the script at every reload (the script writes its pid:
  the driver's sign that a reload happened); ``fifo_write_vrrp_states_on_reload``
  writes a backup's state again then (2.2.7 does not write a master's);
- every path (fifo, script) lives in the state directory the caller gives
  (``KeepalivedFiles``); pid files and the log are on keepalived's command line, and
  ``/etc/keepalived`` is never read.

Two profiles (``PROFILES``): Octavia's defaults (advert 1 s) and a fast one (advert
0.1 s, realtime scheduling, which the driver applies: see ``Profile.rt_priority``).
``master_down_interval`` says how long a backup waits for a silent master.

Bad values raise ``TopologyError`` whose problems name the field. Output is
deterministic and ends with a newline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from netnode.errors import Problem, TopologyError

INDENT = "    "
ADVERT_MIN = 0.01
ADVERT_MAX = 40.95
# 255 is the address owner: it becomes master at once and cannot be lowered, whatever
# nopreempt says; 0 is the "I am leaving" priority of an advert.
PRIORITY_MIN, PRIORITY_MAX = 1, 254
# Names keepalived reads as one word and the notify script writes into a file name.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Interface names (IFNAMSIZ 16, without the NUL).
IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$")
# A path or an argument written between double quotes in keepalived.conf, or a path
# between single quotes in the notify script: no quote, backslash, blank or control.
SAFE_WORD = re.compile(r'^[^\s"\'\\#!\x00-\x1f\x7f]+$')
NOTIFY_STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")


@dataclass(frozen=True)
class KeepalivedFiles:
    """Where one keepalived's files are, under the state directory the caller gives."""

    dir: PurePosixPath

    @property
    def config(self) -> PurePosixPath:
        return self.dir / "keepalived.conf"

    @property
    def pid(self) -> PurePosixPath:
        """The parent's pid (``-p``)."""
        return self.dir / "keepalived.pid"

    @property
    def vrrp_pid(self) -> PurePosixPath:
        """The VRRP child's pid (``-r``)."""
        return self.dir / "vrrp.pid"

    @property
    def checkers_pid(self) -> PurePosixPath:
        """The checker child's (``-c``; netnode runs VRRP only, ``-P``: never written)."""
        return self.dir / "checkers.pid"

    @property
    def fifo(self) -> PurePosixPath:
        return self.dir / "notify.fifo"

    @property
    def notify_script(self) -> PurePosixPath:
        return self.dir / "notify.sh"

    @property
    def notify_pid(self) -> PurePosixPath:
        """The notify script's pid, written as it starts (at start and every reload)."""
        return self.dir / "notify.pid"

    @property
    def log(self) -> PurePosixPath:
        return self.dir / "keepalived.log"

    def role(self, instance: str) -> PurePosixPath:
        """The last state keepalived notified for ``instance``: "STATE PRIORITY\\n"."""
        return self.dir / f"role.{instance}"


def files(state_dir: str) -> KeepalivedFiles:
    path = PurePosixPath(state_dir)
    if not path.is_absolute() or not SAFE_WORD.match(state_dir):
        raise TopologyError(
            [
                Problem(
                    "state_dir", f"{state_dir!r} is not an absolute path without blanks or quotes"
                )
            ]
        )
    return KeepalivedFiles(path)


# --- what an instance is made of ----------------------------------------------------------


@dataclass(frozen=True)
class VirtualAddress:
    """``ADDRESS/PREFIX dev DEVICE``, added on becoming master and removed on leaving."""

    address: str
    prefixlen: int
    device: str

    def problems(self, path: str) -> Iterator[Problem]:
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            yield Problem(f"{path}.address", f"{self.address!r} is not an IP address")
            return
        if not 0 <= self.prefixlen <= ip.max_prefixlen:
            yield Problem(
                f"{path}.prefixlen",
                f"{self.prefixlen} is not a prefix length for IPv{ip.version} (0-{ip.max_prefixlen})",
            )
        if not IFNAME.match(self.device):
            yield Problem(f"{path}.device", f"{self.device!r} is not an interface name")

    def line(self) -> str:
        return f"{self.address}/{self.prefixlen} dev {self.device}"


@dataclass(frozen=True)
class VirtualRoute:
    """``DESTINATION via GATEWAY dev DEVICE``, added on becoming master (after the
    addresses, so the gateway is reachable) and removed on leaving: an HA router's
    default route, which the kernel refuses on a standby whose gateway port has no
    address."""

    destination: str
    gateway: str
    device: str

    def problems(self, path: str) -> Iterator[Problem]:
        try:
            ipaddress.ip_network(self.destination)
        except ValueError:
            yield Problem(f"{path}.destination", f"{self.destination!r} is not a network")
        if _address(self.gateway) is None:
            yield Problem(f"{path}.gateway", f"{self.gateway!r} is not an IP address")
        if not IFNAME.match(self.device):
            yield Problem(f"{path}.device", f"{self.device!r} is not an interface name")

    def line(self) -> str:
        return f"{self.destination} via {self.gateway} dev {self.device}"


@dataclass(frozen=True)
class TrackProcess:
    """A process whose absence puts the instance in FAULT (the VIP moves). ``argv`` is
    the start of its command line, argv[0] exactly as the process has it; with
    ``by_name``, ``argv`` is the process name alone (at most 15 characters, the kernel's
    comm). keepalived sees every namespace's processes, so it must name this instance's
    process alone."""

    name: str
    argv: tuple[str, ...]
    by_name: bool = False

    def problems(self, path: str) -> Iterator[Problem]:
        if not NAME.match(self.name):
            yield Problem(f"{path}.name", f"{self.name!r} is not a name (letters, digits, _.-)")
        if not self.argv:
            yield Problem(f"{path}.argv", "empty: name the process's command line")
        if self.by_name and (len(self.argv) != 1 or len(self.argv[0]) > 15):
            yield Problem(f"{path}.argv", "by name: one name of at most 15 characters")
        for i, arg in enumerate(self.argv):
            if not SAFE_WORD.match(arg):
                yield Problem(f"{path}.argv[{i}]", f"{arg!r} holds a blank, quote or control")


@dataclass(frozen=True)
class TrackScript:
    """A check run every ``interval`` seconds, given ``timeout`` seconds (keepalived
    takes whole seconds here): ``fall`` failures in a row put the instance in FAULT,
    ``rise`` successes take it out. ``argv[0]`` is an absolute path no user but root can
    write (``enable_script_security``). For a process, ``TrackProcess`` is faster (no
    fork, the kernel says when it ends)."""

    name: str
    argv: tuple[str, ...]
    interval: int = 1
    timeout: int = 1
    fall: int = 2
    rise: int = 2

    def problems(self, path: str) -> Iterator[Problem]:
        if not NAME.match(self.name):
            yield Problem(f"{path}.name", f"{self.name!r} is not a name (letters, digits, _.-)")
        if not self.argv or not self.argv[0].startswith("/"):
            yield Problem(f"{path}.argv", "argv[0] must be the script's absolute path")
        for i, arg in enumerate(self.argv):
            if not SAFE_WORD.match(arg):
                yield Problem(f"{path}.argv[{i}]", f"{arg!r} holds a blank, quote or control")
        for key, value in (("interval", self.interval), ("timeout", self.timeout)):
            if not 1 <= value <= 3600:
                yield Problem(f"{path}.{key}", f"{value} is not a whole number of seconds (1-3600)")
        for key, count in (("fall", self.fall), ("rise", self.rise)):
            if not 1 <= count <= 255:
                yield Problem(f"{path}.{key}", f"{count} is not a count (1-255)")


@dataclass(frozen=True)
class VrrpInstance:
    """One VRRP instance: the namespace's VIP(s) between this node and its peers."""

    name: str
    interface: str
    virtual_router_id: int
    priority: int
    advert_int: float
    unicast_src_ip: str
    unicast_peers: tuple[str, ...]
    # The primary VIP(s): carried in the adverts, all of the source's address family.
    vips: tuple[VirtualAddress, ...]
    # Moved with the master but not carried in adverts: an HA router's other addresses,
    # its gateway and floating IPs (either family).
    excluded: tuple[VirtualAddress, ...] = ()
    routes: tuple[VirtualRoute, ...] = ()
    track_process: TrackProcess | None = None
    track_script: TrackScript | None = None
    # A script keepalived runs on every transition of the instance (``notify``, with
    # INSTANCE NAME STATE PRIORITY): an HA router's conntrackd commit and resync. An
    # absolute path only root can write (``enable_script_security``).
    notify: str | None = None
    # Gratuitous ARPs: a second burst this many seconds after becoming master (0: none)
    # and one every garp_master_refresh seconds while master (0: none).
    garp_master_delay: int = 5
    garp_master_refresh: int = 0
    garp_master_refresh_repeat: int = 1

    def __post_init__(self) -> None:
        problems = list(self.problems())
        if problems:
            raise TopologyError(problems, source=f"vrrp_instance {self.name!r}")

    def problems(self) -> Iterator[Problem]:
        if not NAME.match(self.name):
            yield Problem("name", f"{self.name!r} is not a name (letters, digits, _.-, 1-64)")
        if not IFNAME.match(self.interface):
            yield Problem("interface", f"{self.interface!r} is not an interface name")
        if not 1 <= self.virtual_router_id <= 255:
            yield Problem("virtual_router_id", f"{self.virtual_router_id} is not in 1-255")
        if not PRIORITY_MIN <= self.priority <= PRIORITY_MAX:
            yield Problem(
                "priority",
                f"{self.priority} is not in {PRIORITY_MIN}-{PRIORITY_MAX} "
                "(0 is a leaving master's, 255 the address owner's, which ignores nopreempt)",
            )
        yield from advert_problems(self.advert_int)
        src = _address(self.unicast_src_ip)
        if src is None:
            yield Problem("unicast_src_ip", f"{self.unicast_src_ip!r} is not an IP address")
        if not self.unicast_peers:
            yield Problem("unicast_peers", "empty: VRRP here is unicast, name the peers")
        seen: set[str] = set()
        for i, peer in enumerate(self.unicast_peers):
            ip = _address(peer)
            if ip is None:
                yield Problem(f"unicast_peers[{i}]", f"{peer!r} is not an IP address")
            elif src is not None and ip == src:
                yield Problem(f"unicast_peers[{i}]", f"{peer} is unicast_src_ip itself")
            elif src is not None and ip.version != src.version:
                yield Problem(f"unicast_peers[{i}]", f"{peer} is not of unicast_src_ip's family")
            elif str(ip) in seen:
                yield Problem(f"unicast_peers[{i}]", f"{peer} is named twice")
            seen.add(str(ip))
        if not self.vips:
            yield Problem("vips", "empty: an instance holds at least one VIP")
        for i, vip in enumerate(self.vips):
            yield from vip.problems(f"vips[{i}]")
            ip = _address(vip.address)
            if ip is not None and src is not None and ip.version != src.version:
                yield Problem(
                    f"vips[{i}].address",
                    f"{vip.address} is not of unicast_src_ip's family "
                    "(another family goes in excluded)",
                )
        for i, vip in enumerate(self.excluded):
            yield from vip.problems(f"excluded[{i}]")
        for i, route in enumerate(self.routes):
            yield from route.problems(f"routes[{i}]")
        if self.notify is not None and (
            not self.notify.startswith("/") or not SAFE_WORD.match(self.notify)
        ):
            yield Problem("notify", f"{self.notify!r} is not an absolute path without blanks")
        addresses = [v.address for v in (*self.vips, *self.excluded)]
        for twice in sorted({a for a in addresses if addresses.count(a) > 1}):
            yield Problem("vips", f"{twice} is listed more than once")
        if self.track_process is not None:
            yield from self.track_process.problems("track_process")
        if self.track_script is not None:
            yield from self.track_script.problems("track_script")
        for key, value in (
            ("garp_master_delay", self.garp_master_delay),
            ("garp_master_refresh", self.garp_master_refresh),
        ):
            if not 0 <= value <= 3600:
                yield Problem(key, f"{value} is not a number of whole seconds (0-3600)")
        if not 1 <= self.garp_master_refresh_repeat <= 255:
            yield Problem(
                "garp_master_refresh_repeat", f"{self.garp_master_refresh_repeat} is not in 1-255"
            )


@dataclass(frozen=True)
class Keepalived:
    """One keepalived process: its global settings and its one instance."""

    router_id: str
    namespace: str
    instance: VrrpInstance
    # Seconds the instance waits after keepalived starts before it runs VRRP at all
    # (``vrrp_startup_delay``): a port just plugged into a userspace (netdev) datapath
    # may not pass the peer's adverts at once, and an instance that hears none within
    # its master-down interval makes itself a second master.
    startup_delay: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.startup_delay <= 60:
            problems.append(Problem("startup_delay", f"{self.startup_delay} s is not 0-60 s"))
        if not NAME.match(self.router_id):
            problems.append(Problem("router_id", f"{self.router_id!r} is not a name"))
        if not NAME.match(self.namespace):
            problems.append(Problem("namespace", f"{self.namespace!r} is not a namespace name"))
        if problems:
            raise TopologyError(problems, source=f"keepalived {self.router_id!r}")


# --- profiles and timing ------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How fast an instance fails over, and what that costs."""

    name: str
    advert_int: float
    # SCHED_RR priority (1-99) for keepalived, so that a busy host does not delay its
    # adverts into a false takeover; None: normal scheduling. The driver sets it
    # (``KeepalivedProcesses.start(..., rt_priority=)``), not keepalived's own
    # ``vrrp_rt_priority``: keepalived 2.2.7 drops RLIMIT_RTTIME to 0 at every reload
    # (it "restores" a limit it never read) and raising it again needs CAP_SYS_RESOURCE;
    # without it the kernel SIGKILLs the VRRP child seconds after the first reload.
    rt_priority: int | None
    garp_master_delay: int
    garp_master_refresh: int
    garp_master_refresh_repeat: int


# Octavia's amphora defaults: advert 1 s, GARPs refreshed every 5 s, 2 at a time.
DEFAULT = Profile(
    "default",
    advert_int=1.0,
    rt_priority=None,
    garp_master_delay=5,
    garp_master_refresh=5,
    garp_master_refresh_repeat=2,
)
# Ten adverts a second: a silent master is replaced in about 0.37 s at priority 90.
FAST = Profile(
    "fast",
    advert_int=0.1,
    rt_priority=50,
    garp_master_delay=1,
    garp_master_refresh=5,
    garp_master_refresh_repeat=2,
)
PROFILES = {p.name: p for p in (DEFAULT, FAST)}


def master_down_interval(advert_int: float, priority: int) -> float:
    """How long a backup of ``priority`` waits for a silent master before it takes over
    (RFC 5798: 3 x advert + skew, skew = (256 - priority) / 256 x advert). A master that
    leaves gracefully (a priority-0 advert) is replaced after the skew alone."""
    problems = list(advert_problems(advert_int))
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        problems.append(Problem("priority", f"{priority} is not in {PRIORITY_MIN}-{PRIORITY_MAX}"))
    if problems:
        raise TopologyError(problems)
    return 3 * advert_int + (256 - priority) / 256 * advert_int


def advert_problems(advert_int: float) -> Iterator[Problem]:
    centis = round(advert_int * 100)
    if not ADVERT_MIN <= advert_int <= ADVERT_MAX + 1e-9:
        yield Problem(
            "advert_int",
            f"{advert_int} s is outside VRRPv3's {ADVERT_MIN}-{ADVERT_MAX} s",
        )
    elif abs(advert_int * 100 - centis) > 1e-6:
        yield Problem("advert_int", f"{advert_int} s is not a multiple of VRRPv3's 10 ms")


def instance(
    profile: Profile,
    *,
    router_id: str,
    namespace: str,
    name: str,
    interface: str,
    virtual_router_id: int,
    priority: int,
    unicast_src_ip: str,
    unicast_peers: tuple[str, ...],
    vips: tuple[VirtualAddress, ...],
    excluded: tuple[VirtualAddress, ...] = (),
    routes: tuple[VirtualRoute, ...] = (),
    notify: str | None = None,
    track_process: TrackProcess | None = None,
    track_script: TrackScript | None = None,
    startup_delay: float = 0.0,
) -> Keepalived:
    """A keepalived with its timings from ``profile`` (its ``rt_priority`` is the
    driver's to apply)."""
    return Keepalived(
        router_id=router_id,
        namespace=namespace,
        startup_delay=startup_delay,
        instance=VrrpInstance(
            name=name,
            interface=interface,
            virtual_router_id=virtual_router_id,
            priority=priority,
            advert_int=profile.advert_int,
            unicast_src_ip=unicast_src_ip,
            unicast_peers=unicast_peers,
            vips=vips,
            excluded=excluded,
            routes=routes,
            notify=notify,
            track_process=track_process,
            track_script=track_script,
            garp_master_delay=profile.garp_master_delay,
            garp_master_refresh=profile.garp_master_refresh,
            garp_master_refresh_repeat=profile.garp_master_refresh_repeat,
        ),
    )


# --- text ---------------------------------------------------------------------------------


def render(keepalived: Keepalived, paths: KeepalivedFiles) -> str:
    """keepalived.conf for ``keepalived``, its fifo and notify script under ``paths``."""
    vi = keepalived.instance
    lines = [
        f"# keepalived for namespace {keepalived.namespace}, written by netnode.",
        "# VRRPv3, unicast, nopreempt: no 'state MASTER', no authentication (see",
        "# netnode/render/keepalived.py).",
        # A top-level keyword, not one of global_defs (keepalived's man page lists it
        # with them); it cannot change on a reload.
        f"net_namespace {keepalived.namespace}",
        "",
        "global_defs {",
        f"{INDENT}router_id {keepalived.router_id}",
        f"{INDENT}vrrp_version 3",
        f"{INDENT}vrrp_check_unicast_src",
        f"{INDENT}script_user root",
        f"{INDENT}enable_script_security",
        f"{INDENT}vrrp_notify_fifo {paths.fifo}",
        f"{INDENT}vrrp_notify_fifo_script {paths.notify_script}",
        f"{INDENT}fifo_write_vrrp_states_on_reload",
        *(
            [f"{INDENT}vrrp_startup_delay {_seconds(keepalived.startup_delay)}"]
            if keepalived.startup_delay
            else []
        ),
        "}",
    ]
    if vi.track_process is not None:
        tp = vi.track_process
        lines += [
            "",
            f"vrrp_track_process {tp.name} {{",
            f"{INDENT}process {' '.join(_quoted(a) for a in tp.argv)}",
            *([] if tp.by_name else [f"{INDENT}param_match partial"]),
            f"{INDENT}quorum 1",
            f"{INDENT}weight 0",
            "}",
        ]
    if vi.track_script is not None:
        ts = vi.track_script
        lines += [
            "",
            f"vrrp_script {ts.name} {{",
            f"{INDENT}script {_quoted(' '.join(ts.argv))}",
            f"{INDENT}interval {ts.interval}",
            f"{INDENT}timeout {ts.timeout}",
            f"{INDENT}fall {ts.fall}",
            f"{INDENT}rise {ts.rise}",
            f"{INDENT}weight 0",
            "}",
        ]
    lines += [
        "",
        f"vrrp_instance {vi.name} {{",
        f"{INDENT}state BACKUP",
        f"{INDENT}nopreempt",
        f"{INDENT}interface {vi.interface}",
        f"{INDENT}virtual_router_id {vi.virtual_router_id}",
        f"{INDENT}priority {vi.priority}",
        f"{INDENT}advert_int {_seconds(vi.advert_int)}",
        f"{INDENT}accept",
        f"{INDENT}unicast_src_ip {vi.unicast_src_ip}",
        f"{INDENT}unicast_peer {{",
        *(f"{INDENT * 2}{peer}" for peer in vi.unicast_peers),
        f"{INDENT}}}",
        f"{INDENT}check_unicast_src",
        f"{INDENT}garp_master_delay {vi.garp_master_delay}",
    ]
    if vi.garp_master_refresh:
        lines += [
            f"{INDENT}garp_master_refresh {vi.garp_master_refresh}",
            f"{INDENT}garp_master_refresh_repeat {vi.garp_master_refresh_repeat}",
        ]
    lines += _block("virtual_ipaddress", [v.line() for v in vi.vips])
    if vi.excluded:
        lines += _block("virtual_ipaddress_excluded", [v.line() for v in vi.excluded])
    if vi.routes:
        lines += _block("virtual_routes", [r.line() for r in vi.routes])
    if vi.notify is not None:
        lines.append(f"{INDENT}notify {_quoted(vi.notify)}")
    if vi.track_process is not None:
        lines += _block("track_process", [vi.track_process.name])
    if vi.track_script is not None:
        lines += _block("track_script", [vi.track_script.name])
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_notify_script(paths: KeepalivedFiles) -> str:
    """The ``vrrp_notify_fifo_script``: keepalived starts it with the fifo as its last
    argument and writes one line per event, in order (``INSTANCE "NAME" STATE
    PRIORITY``); it keeps each instance's last state in ``role.NAME``, replaced
    atomically (a reader never sees half a line). Group and priority-change lines are
    skipped. It ends when keepalived closes the fifo (or kills it at a reload)."""
    return "\n".join(
        [
            "#!/bin/sh",
            "# keepalived's vrrp_notify_fifo_script, written by netnode: the last VRRP",
            "# state of each instance, as 'STATE PRIORITY' in role.<instance>.",
            f"dir='{paths.dir}'",
            "for fifo; do :; done  # the last argument",
            "# keepalived starts a new reader at every reload: its pid says one happened.",
            'printf \'%s\\n\' "$$" >"$dir/.notify.pid.tmp" &&',
            '    mv -f "$dir/.notify.pid.tmp" "$dir/notify.pid"',
            "while read -r kind name state priority; do",
            '    [ "$kind" = INSTANCE ] || continue',
            '    name=${name#\\"}',
            '    name=${name%\\"}',
            '    case $name in ""|.*|*[!A-Za-z0-9_.-]*) continue ;; esac',
            f"    case $state in {'|'.join(NOTIFY_STATES)}) ;; *) continue ;; esac",
            '    printf \'%s %s\\n\' "$state" "$priority" >"$dir/.role.$name.tmp" &&',
            '        mv -f "$dir/.role.$name.tmp" "$dir/role.$name"',
            'done <"$fifo"',
            "",
        ]
    )


def parse_role(text: str) -> tuple[str, int] | None:
    """A ``role.<instance>`` file's state and priority, None if it is not one."""
    fields = text.split()
    if len(fields) != 2 or fields[0] not in NOTIFY_STATES or not fields[1].isdigit():
        return None
    return fields[0], int(fields[1])


def _block(keyword: str, entries: list[str]) -> list[str]:
    return [f"{INDENT}{keyword} {{", *(f"{INDENT * 2}{e}" for e in entries), f"{INDENT}}}"]


def _quoted(word: str) -> str:
    if not SAFE_WORD.match(word.replace(" ", "_")):
        raise ValueError(f"cannot quote {word!r} for keepalived.conf")
    return f'"{word}"'


def _seconds(value: float) -> str:
    """Seconds to keepalived's precision (10 ms for adverts), without trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
