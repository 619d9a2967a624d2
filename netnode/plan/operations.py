"""The steps of a plan: plain values that print as the seed's shell commands.

Each operation says which host object it touches (``subject``), whether that creates,
changes or deletes it (``action``), and the equivalent shell commands (``shell``), so
``netnode plan`` can print exactly what ``netnode apply`` will do. ``Host.execute`` in
``reconcile/host.py`` carries them out with netlink and batched OVS transactions, in
the order of their ``phase``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from netnode.plan.runtime import ServerChange
from netnode.plan.runtime import commands as runtime_commands
from netnode.plan.spec import (
    OWNER_UPLINK,
    BridgeSpec,
    FirewallSpec,
    PlugSpec,
    PortSpec,
    ProcessSpec,
    UdpSpec,
    uplink_record,
)
from netnode.render.dnsmasq import unbundle

Argv = list[str]


def netns_exec(namespace: str, *argv: str) -> Argv:
    return ["ip", "netns", "exec", namespace, *argv]


@dataclass(frozen=True)
class Operation:
    phase: ClassVar[int]
    action: ClassVar[str]  # "create" | "change" | "delete"

    @property
    def subject(self) -> str:
        raise NotImplementedError

    def shell(self) -> list[Argv]:
        raise NotImplementedError


@dataclass(frozen=True)
class OvsOperation(Operation):
    """Goes into the apply's single OVSDB transaction."""

    def ovs(self) -> list[Argv]:
        raise NotImplementedError

    def shell(self) -> list[Argv]:
        args: Argv = ["ovs-vsctl"]
        for command in self.ovs():
            args += ["--", *command]
        return [args]


# --- phase 10: stop what is no longer wanted --------------------------------------------


@dataclass(frozen=True)
class StopProcess(Operation):
    phase = 10
    action = "delete"
    name: str

    @property
    def subject(self) -> str:
        return f"haproxy {self.name}"

    def shell(self) -> list[Argv]:
        return [["kill", "-TERM", f"$(cat {self.name}/haproxy.pid)"]]


@dataclass(frozen=True)
class RemoveUdp(Operation):
    """Delete netnode's nftables table (UDP balancing) from a namespace that keeps no
    UDP listener, stop it forwarding, and forget the table's record."""

    phase = 11
    action = "delete"
    namespace: str
    exists: bool  # False: the namespace is gone (with its table); only the record is left

    @property
    def subject(self) -> str:
        return f"nftables {self.namespace}"

    def shell(self) -> list[Argv]:
        if not self.exists:
            return [["rm", "-r", f"udp/{self.namespace}"]]
        return [
            netns_exec(self.namespace, "nft", "delete", "table", "ip", "netnode"),
            netns_exec(self.namespace, "sysctl", "-w", "net.ipv4.ip_forward=0"),
        ]


# --- phase 20: namespaces ---------------------------------------------------------------


@dataclass(frozen=True)
class CreateNamespace(Operation):
    phase = 20
    action = "create"
    name: str

    @property
    def subject(self) -> str:
        return f"namespace {self.name}"

    def shell(self) -> list[Argv]:
        return [
            ["ip", "netns", "add", self.name],
            netns_exec(self.name, "ip", "link", "set", "lo", "up"),
        ]


@dataclass(frozen=True)
class DeleteLink(Operation):
    """Delete a dead device inside a namespace, so a fresh one of that name can move in."""

    phase = 25
    action = "change"
    namespace: str
    ifname: str

    @property
    def subject(self) -> str:
        return f"port {self.ifname}"

    def shell(self) -> list[Argv]:
        return [netns_exec(self.namespace, "ip", "link", "delete", self.ifname)]


# --- phase 30: Open vSwitch (one transaction) -------------------------------------------


@dataclass(frozen=True)
class EnsureBridge(OvsOperation):
    phase = 30
    action = "create"
    bridge: BridgeSpec
    owner: tuple[tuple[str, str], ...]

    @property
    def subject(self) -> str:
        return f"bridge {self.bridge.name}"

    def ovs(self) -> list[Argv]:
        name = self.bridge.name
        commands = [
            ["--may-exist", "add-br", name],
            [
                "set",
                "bridge",
                name,
                f"datapath_type={self.bridge.datapath_type or 'netdev'}",
                *_ids(self.owner),
            ],
        ]
        return commands


@dataclass(frozen=True)
class DeletePort(OvsOperation):
    phase = 30
    action = "delete"
    name: str
    # Commit this deletion in its own transaction, before what follows: OVS keeps an
    # interface's device when a port is deleted and added back in one transaction, so
    # a port whose device was lost (in a deleted namespace) is re-created this way.
    barrier: bool = False

    @property
    def subject(self) -> str:
        return f"port {self.name}"

    def ovs(self) -> list[Argv]:
        return [["--if-exists", "del-port", self.name]]


@dataclass(frozen=True)
class AddPort(OvsOperation):
    phase = 31
    action = "create"
    port: PortSpec
    owner: tuple[tuple[str, str], ...]
    replace: bool = False  # the port exists but is wrong (bridge, failed interface)

    @property
    def subject(self) -> str:
        return f"port {self.port.name}"

    def ovs(self) -> list[Argv]:
        p = self.port
        commands = [
            ["--if-exists", "del-port", p.name],
            ["add-port", p.bridge, p.name],
            ["set", "interface", p.name, "type=internal"],
        ]
        settings = [f"tag={p.tag}"] if p.tag is not None else []
        commands.append(["set", "port", p.name, *settings, *_ids(self.owner)])
        return commands


@dataclass(frozen=True)
class RetagPort(OvsOperation):
    phase = 31
    action = "change"
    port: PortSpec
    owner: tuple[tuple[str, str], ...]

    @property
    def subject(self) -> str:
        return f"port {self.port.name}"

    def ovs(self) -> list[Argv]:
        command = ["set", "port", self.port.name, *_ids(self.owner)]
        if self.port.tag is None:
            return [command, ["clear", "port", self.port.name, "tag"]]
        return [[*command, f"tag={self.port.tag}"]]


@dataclass(frozen=True)
class AttachUplink(OvsOperation):
    """A host interface (the seed's eth3) as a port of an external bridge, its Port row
    carrying netnode's keys (what a destroy detaches, and the state to give back)."""

    phase = 31
    action = "create"
    bridge: str
    interface: str
    owner: tuple[tuple[str, str], ...]
    elsewhere: str | None = None  # the bridge it is a port of now, if another

    @property
    def subject(self) -> str:
        return f"port {self.interface}"

    def ovs(self) -> list[Argv]:
        moved = [["--if-exists", "del-port", self.interface]] if self.elsewhere else []
        before = dict(self.owner)[OWNER_UPLINK]
        return [
            *moved,
            ["--may-exist", "add-port", self.bridge, self.interface],
            ["set", "port", self.interface, *_ids(self.owner)],
            ["set", "bridge", self.bridge, *_ids(((uplink_record(self.interface), before),))],
        ]


@dataclass(frozen=True)
class DetachUplink(OvsOperation):
    """An uplink no longer wanted: its port deleted (the interface, its addresses and
    routes are the host's and stay), the bridge's record of it forgotten."""

    phase = 30
    action = "delete"
    bridge: str
    interface: str

    @property
    def subject(self) -> str:
        return f"port {self.interface}"

    def ovs(self) -> list[Argv]:
        return [
            ["--if-exists", "del-port", self.interface],
            ["remove", "bridge", self.bridge, "external_ids", uplink_record(self.interface)],
        ]


@dataclass(frozen=True)
class PlugInterface(OvsOperation):
    """A host interface added to its bridge for a port, as os-vif plugs a guest's tap:
    the network's tag, netnode's keys on the Port, os-vif's on the Interface. Moved
    from another bridge (``replace``): deleted there first (the interface stays)."""

    phase = 31
    action = "create"
    plug: PlugSpec
    owner: tuple[tuple[str, str], ...]
    replace: bool = False
    exists: bool = False  # already on its bridge: only its tag and keys are set

    @property
    def subject(self) -> str:
        return f"port {self.plug.interface}"

    def ovs(self) -> list[Argv]:
        p = self.plug
        commands: list[Argv] = []
        if self.replace:
            commands.append(["--if-exists", "del-port", p.interface])
        if not self.exists:
            commands.append(["--may-exist", "add-port", p.bridge, p.interface])
        settings = [f"tag={p.tag}"] if p.tag is not None else []
        commands.append(["set", "port", p.interface, *settings, *_ids(self.owner)])
        if p.tag is None and self.exists:
            commands.append(["clear", "port", p.interface, "tag"])
        iface = tuple(sorted(p.interface_ids().items()))
        commands.append(["set", "interface", p.interface, *_ids(iface)])
        return commands


@dataclass(frozen=True)
class TagGuest(OvsOperation):
    """A port that someone else plugged (libvirt) with a port's id as its iface-id
    gets that port's network's tag, as Neutron's OVS agent sets it."""

    phase = 31
    action = "change"
    name: str
    tag: int

    @property
    def subject(self) -> str:
        return f"port {self.name}"

    def ovs(self) -> list[Argv]:
        return [["set", "port", self.name, f"tag={self.tag}"]]


def _ids(owner: tuple[tuple[str, str], ...]) -> list[str]:
    return [f"external_ids:{key}={value}" for key, value in owner]


@dataclass(frozen=True)
class SetHostLinkState(Operation):
    """An interface of the host's namespace set up or down, addresses untouched: an
    uplink brought up (attached, or set down by someone) or given back its state from
    before netnode (detached); a plugged guest's interface brought up."""

    phase = 32
    action = "change"
    interface: str
    up: bool
    # A plug's (its failure is contained with the plug's); an uplink's belongs to none.
    unit: str | None = None

    @property
    def subject(self) -> str:
        return f"port {self.interface}"

    def shell(self) -> list[Argv]:
        return [["ip", "link", "set", "dev", self.interface, "up" if self.up else "down"]]


# --- phase 40: inside namespaces (netlink) ----------------------------------------------


@dataclass(frozen=True)
class MoveLink(Operation):
    phase = 40
    action = "create"
    ifname: str
    namespace: str

    @property
    def subject(self) -> str:
        return f"port {self.ifname}"

    def shell(self) -> list[Argv]:
        return [["ip", "link", "set", self.ifname, "netns", self.namespace]]


@dataclass(frozen=True)
class SetSysctls(Operation):
    phase = 41
    action = "change"
    namespace: str
    values: tuple[tuple[str, str], ...]

    @property
    def subject(self) -> str:
        return f"namespace {self.namespace}"

    def shell(self) -> list[Argv]:
        return [netns_exec(self.namespace, "sysctl", "-w", f"{k}={v}") for k, v in self.values]


@dataclass(frozen=True)
class ConfigureLink(Operation):
    """MAC, addresses and up, as the seed does after moving a port in."""

    phase = 42
    action = "change"
    namespace: str
    ifname: str
    mac: str | None
    add: tuple[str, ...]
    remove: tuple[str, ...]
    up: bool

    @property
    def subject(self) -> str:
        return f"port {self.ifname}"

    def shell(self) -> list[Argv]:
        cmds: list[Argv] = []
        if self.mac:
            cmds.append(
                netns_exec(self.namespace, "ip", "link", "set", self.ifname, "address", self.mac)
            )
        cmds += [
            netns_exec(self.namespace, "ip", "-4", "addr", "del", a, "dev", self.ifname)
            for a in self.remove
        ]
        cmds += [
            netns_exec(self.namespace, "ip", "-4", "addr", "add", a, "dev", self.ifname)
            for a in self.add
        ]
        if self.up:
            cmds.append(netns_exec(self.namespace, "ip", "link", "set", self.ifname, "up"))
        return cmds


@dataclass(frozen=True)
class SetDefaultRoute(Operation):
    phase = 43
    action = "change"
    namespace: str
    gateway: str | None

    @property
    def subject(self) -> str:
        return f"namespace {self.namespace}"

    def shell(self) -> list[Argv]:
        if self.gateway is None:
            return [netns_exec(self.namespace, "ip", "route", "del", "default")]
        return [
            netns_exec(self.namespace, "ip", "route", "replace", "default", "via", self.gateway)
        ]


@dataclass(frozen=True)
class SetRoutes(Operation):
    """A router's extra routes: the wanted ones added, the others via a next hop removed."""

    phase = 44
    action = "change"
    namespace: str
    add: tuple[tuple[str, str], ...]
    remove: tuple[tuple[str, str], ...] = ()

    @property
    def subject(self) -> str:
        return f"routes of namespace {self.namespace}"

    def shell(self) -> list[Argv]:
        return [
            *(
                netns_exec(self.namespace, "ip", "route", "del", dst, "via", via)
                for dst, via in self.remove
            ),
            *(
                netns_exec(self.namespace, "ip", "route", "replace", dst, "via", via)
                for dst, via in self.add
            ),
        ]


# --- phase 50: NAT ------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyFirewall(Operation):
    phase = 50
    action = "change"
    firewall: FirewallSpec

    @property
    def subject(self) -> str:
        return f"iptables {self.firewall.namespace}"

    def shell(self) -> list[Argv]:
        ns = self.firewall.namespace
        return [
            netns_exec(ns, "iptables-restore", "--noflush", f"<{table}-rules>")
            for table in self.firewall.rules.layout.tables
        ]


@dataclass(frozen=True)
class FlushConntrack(Operation):
    """Forget a floating address's connections, or only those to one forwarded port
    (``protocol`` and ``port`` set: a port forwarding gone or pointing elsewhere)."""

    phase = 51
    action = "delete"
    namespace: str
    address: str
    protocol: str | None = None
    port: int | None = None

    @property
    def subject(self) -> str:
        if self.protocol is None:
            return f"floating IP {self.address}"
        return f"port forwarding {self.address}:{self.port}/{self.protocol}"

    def shell(self) -> list[Argv]:
        if self.protocol is None:
            return [netns_exec(self.namespace, "conntrack", "-D", "--orig-dst", self.address)]
        return [
            netns_exec(
                self.namespace,
                "conntrack",
                "-D",
                "-p",
                self.protocol,
                "--orig-dst",
                self.address,
                "--orig-port-dst",
                str(self.port),
            )
        ]


@dataclass(frozen=True)
class ApplyUdp(Operation):
    """Replace netnode's nftables table in a load balancer namespace (rendered with the
    members' health as the checker last recorded it), then delete the conntrack flows
    of members out of rotation."""

    phase = 52
    action = "change"
    udp: UdpSpec

    @property
    def subject(self) -> str:
        return f"nftables {self.udp.namespace}"

    def shell(self) -> list[Argv]:
        ns = self.udp.namespace
        return [
            netns_exec(ns, "nft", "-f", "<netnode-table>"),
            netns_exec(ns, "conntrack", "-D", "-p", "udp", "--orig-dst", self.udp.balancer.vip,
                       "--reply-src", "<member out of rotation>"),
        ]  # fmt: skip


# --- phase 60: HAProxy ------------------------------------------------------------------


def _process_phase(process: ProcessSpec) -> int:
    # An HA router's conntrackd before its keepalived, whose transitions call it.
    if process.program == "conntrackd":
        return 59
    # keepalived last: its ports wired and the HAProxy it tracks running (processes of
    # one phase start side by side).
    if process.keepalived:
        return 62
    # Load balancers after the lab's servers, so members answer the first check.
    return 61 if process.kind == "loadbalancer" else 60


@dataclass(frozen=True)
class EnsureProcess(Operation):
    process: ProcessSpec
    start: bool  # False: running with another config, reload it

    @property
    def phase(self) -> int:  # type: ignore[override]
        return _process_phase(self.process)

    @property
    def action(self) -> str:  # type: ignore[override]
        return "create" if self.start else "change"

    @property
    def subject(self) -> str:
        return self.process.subject

    def shell(self) -> list[Argv]:
        name = self.process.name
        if self.process.keepalived:
            if not self.start:
                return [["kill", "-HUP", f"$(cat {name}/keepalived.pid)"]]
            # keepalived enters the namespace itself (net_namespace in its config).
            return [
                ["keepalived", "-t", "-f", f"{name}/keepalived.conf"],
                ["setsid", "--fork", "keepalived", "-n", "-l", "-D", "-G", "-P", "-f",
                 f"{name}/keepalived.conf", "-p", f"{name}/keepalived.pid", "-r",
                 f"{name}/vrrp.pid"],
            ]  # fmt: skip
        if self.process.dnsmasq:
            if not self.start:
                # The hosts and options files rewritten first; leases are kept.
                return [["kill", "-HUP", f"$(cat {name}/dnsmasq.pid)"]]
            argv = unbundle(self.process.config)[0]
            return [netns_exec(self.process.namespace, "dnsmasq", *argv)]
        if self.process.conntrackd:
            # conntrackd has no reload: a new configuration restarts it.
            return [
                netns_exec(self.process.namespace, "conntrackd", "-C", f"{name}/conntrackd.conf")
            ]
        if not self.process.haproxy:
            # A helper is (re)started with its config, never reloaded.
            return [
                netns_exec(
                    self.process.namespace,
                    "python3",
                    "-m",
                    self.process.program,
                    f"{self.process.name}/config.json",
                )
            ]
        cfg = f"{self.process.name}/haproxy.cfg"
        if self.start:
            program = "haproxy"
            link: list[Argv] = []
            if self.process.executable is not None:
                # The name keepalived tracks it by.
                program = f"{self.process.name}/{self.process.executable}"
                link = [["ln", "-sf", "/usr/sbin/haproxy", program]]
            # No separate check first: HAProxy checks the configuration as it starts
            # (a refused start is then told apart by ``haproxy -c``).
            return [
                *link,
                netns_exec(
                    self.process.namespace,
                    program,
                    "-W",
                    "-D",
                    "-f",
                    cfg,
                    "-p",
                    f"{self.process.name}/haproxy.pid",
                ),
            ]
        return [
            ["haproxy", "-c", "-f", cfg],
            ["kill", "-USR2", f"$(cat {self.process.name}/haproxy.pid)"],
        ]


@dataclass(frozen=True)
class ChangeServers(Operation):
    """Members added, removed, re-weighted or (dis)abled over HAProxy's runtime API,
    without a reload; then ``process.config`` is installed as its haproxy.cfg. (The
    executor reloads with that config if HAProxy refuses a change.)"""

    action = "change"
    process: ProcessSpec
    changes: tuple[ServerChange, ...]

    @property
    def phase(self) -> int:  # type: ignore[override]
        return _process_phase(self.process)

    @property
    def subject(self) -> str:
        return f"haproxy {self.process.name}"

    def shell(self) -> list[Argv]:
        # A removal also waits, between drain and maint, for the member's sessions to end.
        sock = f"{self.process.name}/stats.sock"
        lines: list[Argv] = [
            ["sh", "-c", f'echo "{command}" | socat stdio {sock}']
            for command in runtime_commands(self.changes)
        ]
        lines.append(["cp", "<haproxy.cfg>", f"{self.process.name}/haproxy.cfg"])
        return lines


# --- phase 70: announce --------------------------------------------------------------------


@dataclass(frozen=True)
class Announce(Operation):
    phase = 70
    action = "change"
    namespace: str
    ifname: str
    address: str
    mac: str | None = None  # the port's MAC when the topology sets it; else looked up

    @property
    def subject(self) -> str:
        return f"port {self.ifname}"

    def shell(self) -> list[Argv]:
        return [
            netns_exec(self.namespace, "arping", "-U", "-I", self.ifname, "-c", "1", self.address)
        ]


# --- phase 80: remove what is left over -------------------------------------------------------


@dataclass(frozen=True)
class DeleteNamespace(Operation):
    phase = 80
    action = "delete"
    name: str

    @property
    def subject(self) -> str:
        return f"namespace {self.name}"

    def shell(self) -> list[Argv]:
        return [["ip", "netns", "delete", self.name]]


@dataclass(frozen=True)
class DeleteBridge(OvsOperation):
    phase = 90
    action = "delete"
    name: str

    @property
    def subject(self) -> str:
        return f"bridge {self.name}"

    def ovs(self) -> list[Argv]:
        return [["--if-exists", "del-br", self.name]]


def unit_of(operation: Operation) -> str | None:
    """The namespace an operation works in or for: the unit a failure is contained to.

    When one operation of a unit fails, the rest of that unit's operations in the same
    pass are skipped (a port that could not be plugged is not addressed), while other
    units go on. Bridges belong to no unit.
    """
    if isinstance(operation, CreateNamespace | DeleteNamespace):
        return operation.name
    if isinstance(operation, StopProcess):
        return f"haproxy {operation.name}"
    if isinstance(operation, PlugInterface):
        return f"plug {operation.plug.interface}"
    if isinstance(operation, SetHostLinkState):
        return operation.unit
    if isinstance(operation, TagGuest):
        return f"plug {operation.name}"
    for attribute in ("namespace", "process", "port", "firewall", "udp"):
        value = getattr(operation, attribute, None)
        if isinstance(value, str):
            return value
        namespace = getattr(value, "namespace", None)
        if isinstance(namespace, str):
            return namespace
    return None
