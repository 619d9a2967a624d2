"""The host, through its drivers: observe it, and carry out a plan on it.

``Host`` is the one object that touches the system. ``observe`` reads only what the
plan needs (one ovs-vsctl call, a netlink dump per namespace netnode cares about, pid
files, one iptables-save per table of each router and load balancer); ``execute`` runs
the operations in phase order, with every consecutive Open vSwitch operation in one
OVSDB transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from netnode.drivers.conntrackd import ConntrackdProcesses
from netnode.drivers.dnsmasq import DnsmasqProcesses
from netnode.drivers.haproxy import HAProxyProcesses, in_namespace
from netnode.drivers.helpers import HelperProcesses
from netnode.drivers.iptables import Iptables
from netnode.drivers.keepalived import KeepalivedProcesses
from netnode.drivers.netlink import Netlink
from netnode.drivers.nftables import UdpTables
from netnode.drivers.ovs import OVS, kernel_module
from netnode.errors import HostError, NetnodeError, Refused
from netnode.model.topology import Topology
from netnode.plan import operations as op
from netnode.plan import uplinks
from netnode.plan.datapath import Choice, choose
from netnode.plan.desired import conntrackd_dir, dnsmasq_dir, keepalived_dir, udp_root
from netnode.plan.diff import Plan
from netnode.plan.memo import Memo
from netnode.plan.observed import HostState, Ledger, NamespaceState, ProcessState
from netnode.plan.spec import OWNER_NODE, OWNER_TOPOLOGY, OWNER_UPLINK, HostSpec
from netnode.plan.units import Unit
from netnode.plan.uplinks import HostFacts
from netnode.reconcile.certificates import Verdicts
from netnode.reconcile.ledger import LedgerStore
from netnode.reconcile.metadata import MetadataService
from netnode.reconcile.provisioning import Object
from netnode.store.database import default_url, engine_for

Progress = Callable[[op.Operation], None]


@dataclass(frozen=True)
class Failure:
    """An operation that failed, and the unit (namespace) it took down with it."""

    subject: str
    unit: str | None
    reason: str
    # True when retrying the same desired state cannot help (errors.Refused).
    permanent: bool = False

    def __str__(self) -> str:
        kind = "refused" if self.permanent else "failed"
        return f"{self.subject}: {kind}: {self.reason}"


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, NetnodeError) else f"{type(exc).__name__}: {text}"


@dataclass
class Host:
    state_dir: Path
    node: str
    ovs: OVS = field(default_factory=OVS)
    netlink: Netlink = field(default_factory=Netlink)
    iptables: Iptables = field(default_factory=Iptables)
    # The store's URL; None: SQLite in the state directory.
    db_url: str | None = None
    # The cluster this node is one of (several nodes sharing a store): the desired
    # state is the cluster's, and this node converges what is placed on it. None: a
    # node on its own, its desired state its own.
    cluster: str | None = None
    # The datapath new bridges get, when set; None: the kernel's where its openvswitch
    # module is loaded or loadable, the userspace one where not (plan.datapath).
    datapath: str | None = None
    haproxy: HAProxyProcesses = field(init=False)
    helpers: HelperProcesses = field(init=False)
    keepalived: KeepalivedProcesses = field(init=False)
    conntrackd: ConntrackdProcesses = field(init=False)
    dnsmasq: DnsmasqProcesses = field(init=False)
    udp: UdpTables = field(init=False)
    metadata: MetadataService = field(init=False)
    # What the passes of this process already checked and rendered (see converge).
    certificates: Verdicts = field(init=False, default_factory=Verdicts)
    units: Memo[Unit] = field(init=False, default_factory=Memo)
    objects: Memo[dict[str, Object]] = field(init=False, default_factory=Memo)

    def __post_init__(self) -> None:
        # Absolute: process files name it (keepalived's configuration must).
        self.state_dir = Path(self.state_dir).absolute()
        self.haproxy = HAProxyProcesses(self.run_dir)
        self.helpers = HelperProcesses(self.node_dir / "helpers")
        self.keepalived = KeepalivedProcesses(Path(keepalived_dir(self.run_dir)))
        self.conntrackd = ConntrackdProcesses(Path(conntrackd_dir(self.run_dir)))
        self.dnsmasq = DnsmasqProcesses(Path(dnsmasq_dir(self.run_dir)))
        self.udp = UdpTables(Path(udp_root(self.run_dir)))
        self.metadata = MetadataService(self.run_dir)

    @property
    def scope(self) -> str:
        """Whose desired state this node converges: its cluster's, or its own."""
        return self.cluster or self.node

    @property
    def store(self) -> LedgerStore:
        """This node's topologies and records (the engine is shared per process)."""
        engine = engine_for(self.db_url or default_url(self.state_dir))
        return LedgerStore(engine, self.node, self.cluster)

    @property
    def node_dir(self) -> Path:
        return self.state_dir / self.node

    @property
    def run_dir(self) -> Path:
        return self.node_dir / "haproxy"

    def close(self) -> None:
        self.netlink.close()
        self.ovs.close()

    # --- observe ----------------------------------------------------------------------

    def observe(
        self,
        desired: HostSpec,
        ledger: Ledger,
        elsewhere: frozenset[str] = frozenset(),
        bare: frozenset[str] = frozenset(),
    ) -> HostState:
        """Read what ``desired`` is about. ``elsewhere`` names processes wanted outside
        ``desired`` (a pass scoped to some units): they are not looked at.

        ``bare`` names the units whose chains netnode left bare when they last
        converged (they wanted no iptables rules then, as the record says): where such
        a unit wants no rules now
        (a load balancer without ``allowed_cidrs``), nobody but netnode writes its
        chains, so iptables is not read there (one ``iptables-save`` process per load
        balancer was most of a no-op pass, and of a member change). Rules that are
        wanted are always read: a flush is drift to repair."""
        ovs = self.ovs.observe()
        present = frozenset(self.netlink.namespaces())
        inside: dict[str, NamespaceState] = {}
        for ns in desired.namespaces:
            if ns.name in present:
                inside[ns.name] = self.netlink.observe(ns.name, tuple(k for k, _ in ns.sysctls))
        namespace_of = {p.name: p.namespace for p in desired.processes}
        helpers = {p.name for p in desired.processes if not p.haproxy}
        # The daemons other than HAProxy and the helpers, each with the prefix its
        # processes' names carry (a recorded one no longer desired is still looked at).
        daemons = (
            ({p.name for p in desired.processes if p.keepalived}, "vrrp-", self.keepalived),
            ({p.name for p in desired.processes if p.dnsmasq}, "dhcp-", self.dnsmasq),
            ({p.name for p in desired.processes if p.conntrackd}, "ctd-", self.conntrackd),
        )
        processes: dict[str, ProcessState] = {}
        for name in {*namespace_of, *ledger.processes} - elsewhere:
            ns_name = namespace_of.get(name)
            daemon = next(
                (
                    driver
                    for names, prefix, driver in daemons
                    if name in names or (name not in namespace_of and name.startswith(prefix))
                ),
                None,
            )
            if daemon is not None:
                pid = daemon.running_pid(name)
                config = daemon.installed_config(name)
                # keepalived is at home where its VRRP child runs (the one holding
                # the addresses), the others where they run themselves.
                home = self.keepalived.vrrp_pid(name) if daemon is self.keepalived else pid
                at_home = (
                    pid is None
                    or ns_name is None
                    or (home is not None and in_namespace(home, ns_name))
                )
                if pid is not None or config is not None:
                    processes[name] = ProcessState(pid is not None, config, at_home)
                continue
            pid = self.haproxy.running_pid(name)
            config = self.haproxy.installed_config(name)
            executable = None
            if name in helpers or (pid is None and config is None):
                pid = self.helpers.running_pid(name)
                config = self.helpers.installed_config(name)
            elif pid is not None:
                executable = self.haproxy.runs_as(pid)
            if pid is not None or config is not None:
                at_home = pid is None or ns_name is None or in_namespace(pid, ns_name)
                processes[name] = ProcessState(pid is not None, config, at_home, executable)
        firewalls = {
            fw.namespace: fw.namespace in present
            and (
                (fw.namespace in bare and not fw.wants_rules)
                or not any(self.iptables.differences(fw.namespace, fw.rules).values())
            )
            for fw in desired.firewalls
        }
        udp_in_sync = {
            u.namespace: u.namespace in present and self.udp.in_sync(u.namespace, u.balancer)
            for u in desired.udp
        }
        udp_records = self.udp.recorded() & {
            *ledger.namespaces,
            *(n.name for n in desired.namespaces),
        }
        uplinks = {b.physical_interface for b in desired.bridges if b.physical_interface}
        uplinks |= {name for name, p in ovs.ports.items() if OWNER_UPLINK in p.external_ids}
        host_links = self.netlink.host_link_states(uplinks | {p.interface for p in desired.plugs})
        return HostState(
            ovs,
            present,
            inside,
            processes,
            firewalls,
            ledger,
            udp_in_sync,
            udp_records,
            self.datapath_choice.datapath,
            host_links,
        )

    def uplink_facts(self, topo: Topology) -> HostFacts | None:
        """What the uplink pre-flight (``plan.uplinks.problems``) reads of the host: its
        interfaces and routes, and Open vSwitch's bridges and ports; None when the
        topology names no physical interface and every bridge of it is already an Open
        vSwitch bridge (nothing to check: no read)."""
        if not uplinks.wants_facts(topo, self.ovs.bridge_names()):
            return None
        ovs = self.ovs.observe()
        return HostFacts(
            links=self.netlink.host_links(),
            routes=self.netlink.host_routes(),
            ovs_bridges=frozenset(ovs.bridges),
            ovs_ports={name: port.bridge for name, port in ovs.ports.items()},
            uplink_owners={
                name: (p.external_ids.get(OWNER_NODE, ""), p.external_ids.get(OWNER_TOPOLOGY, ""))
                for name, p in ovs.ports.items()
                if OWNER_UPLINK in p.external_ids
            },
        )

    @cached_property
    def datapath_choice(self) -> Choice:
        """The datapath new bridges get here, and why (ValueError for a bad setting)."""
        return choose(self.datapath, *kernel_module())

    # --- execute ----------------------------------------------------------------------

    def execute(self, plan: Plan, progress: Progress | None = None) -> list[Failure]:
        """Carry out ``plan``; return what failed, unit by unit.

        A failed operation does not stop the pass: the rest of its unit (its namespace)
        is skipped and every other unit goes on. Consecutive Open vSwitch operations go
        into one transaction; if it fails, they are retried one by one so that only the
        culprit's unit fails.
        """
        failures: list[Failure] = []
        failed_units: set[str] = set()

        def skip(o: op.Operation) -> bool:
            unit = op.unit_of(o)
            return unit is not None and unit in failed_units

        def fail(o: op.Operation, exc: Exception) -> None:
            unit = op.unit_of(o)
            if unit is not None:
                failed_units.add(unit)
            failures.append(Failure(o.subject, unit, _reason(exc), isinstance(exc, Refused)))

        def done(o: op.Operation) -> None:
            if progress:
                progress(o)

        batch: list[op.OvsOperation] = []

        def flush() -> None:
            todo = [o for o in batch if not skip(o)]
            batch.clear()
            if not todo:
                return
            try:
                self.ovs.transact([command for o in todo for command in o.ovs()])
            except (NetnodeError, OSError) as exc:
                if len(todo) == 1:
                    fail(todo[0], exc)
                    return
                for o in todo:
                    try:
                        self.ovs.transact(o.ovs())
                    except (NetnodeError, OSError) as one:
                        fail(o, one)
                    else:
                        done(o)
                return
            for o in todo:
                done(o)

        starts: list[op.EnsureProcess] = []

        def start_all() -> None:
            # HAProxy processes are independent of each other: validate and start them
            # side by side (each waits ~0.1 s for its sockets), report in plan order.
            todo = [o for o in starts if not skip(o)]
            starts.clear()
            if not todo:
                return
            with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
                futures = [pool.submit(self._run, o) for o in todo]
                for o, future in zip(todo, futures, strict=True):
                    try:
                        future.result()
                    except (NetnodeError, OSError) as exc:
                        fail(o, exc)
                    else:
                        done(o)

        for operation in plan.operations:
            if isinstance(operation, op.OvsOperation):
                batch.append(operation)
                if isinstance(operation, op.DeletePort) and operation.barrier:
                    flush()
                continue
            flush()
            if isinstance(operation, op.EnsureProcess):
                if starts and starts[-1].phase != operation.phase:
                    start_all()
                starts.append(operation)
                continue
            start_all()
            if skip(operation):
                continue
            try:
                self._run(operation)
            except (NetnodeError, OSError) as exc:
                fail(operation, exc)
            else:
                done(operation)
        flush()
        start_all()
        return failures

    def _run(self, operation: op.Operation) -> None:
        nl = self.netlink
        match operation:
            case op.StopProcess(name=name):
                self.keepalived.stop(name)
                self.conntrackd.stop(name)
                self.dnsmasq.stop(name)
                self.haproxy.stop(name)
                self.helpers.stop(name)
            case op.EnsureProcess(process=proc) if proc.keepalived:
                # Started last in its unit (ports wired, HAProxy up): a keepalived with no
                # wired port would claim the VIP alone, and two masters would follow.
                self.keepalived.ensure(proc.name, proc.namespace, proc.config, proc.rt_priority)
            case op.EnsureProcess(process=proc, start=True) if proc.dnsmasq:
                self.dnsmasq.ensure(proc.name, proc.namespace, proc.config)
            case op.EnsureProcess(process=proc, start=False) if proc.dnsmasq:
                self.dnsmasq.reload(proc.name, proc.namespace, proc.config)
            case op.EnsureProcess(process=proc) if proc.conntrackd:
                self.conntrackd.ensure(proc.name, proc.namespace, proc.config)
            case op.RemoveUdp(namespace=ns, exists=exists):
                self.udp.remove(ns, exists)
                if exists:
                    nl.write_sysctls(ns, {"net.ipv4.ip_forward": "0"})
            case op.ApplyUdp(udp=udp):
                self.udp.converge(udp.namespace, udp.balancer)
            case op.EnsureProcess(process=proc) if not proc.haproxy:
                self.helpers.start(proc.name, proc.namespace, proc.program, proc.config)
            case op.CreateNamespace(name=name):
                nl.create_namespace(name)
            case op.DeleteLink(namespace=ns, ifname=ifname):
                nl.delete_link(ns, ifname)
            case op.MoveLink(ifname=ifname, namespace=ns):
                nl.move_link(ifname, ns)
            case op.SetSysctls(namespace=ns, values=values):
                nl.write_sysctls(ns, dict(values))
            case op.ConfigureLink(
                namespace=ns, ifname=ifname, mac=mac, add=add, remove=remove, up=up
            ):
                nl.configure_link(ns, ifname, mac=mac, add=add, remove=remove, up=up)
            case op.SetDefaultRoute(namespace=ns, gateway=gateway):
                nl.set_default_route(ns, gateway)
            case op.SetRoutes(namespace=ns, add=add, remove=remove):
                nl.set_routes(ns, add, remove)
            case op.ApplyFirewall(firewall=fw):
                self.iptables.apply(fw.namespace, fw.rules)
            case op.FlushConntrack(namespace=ns, address=address, protocol=None):
                self.iptables.flush_conntrack(ns, address)
            case op.FlushConntrack(namespace=ns, address=address, protocol=str(p), port=int(n)):
                self.iptables.flush_port_conntrack(ns, address, p, n)
            case op.EnsureProcess(process=proc, start=True):
                # Not running, running in a namespace that is gone, or under another
                # name: ensure() starts it, stopping the stray one first.
                self.haproxy.ensure(
                    proc.name, proc.namespace, proc.config, proc.files, proc.executable
                )
            case op.EnsureProcess(process=proc, start=False):
                self.haproxy.reload(proc.name, proc.config, proc.files)
            case op.ChangeServers(process=proc, changes=changes):
                try:
                    self.haproxy.change_servers(proc.name, changes, proc.config)
                except HostError:
                    # Half-way or not, a reload with the whole config gets the same end.
                    self.haproxy.reload(proc.name, proc.config, proc.files)
            case op.SetHostLinkState(interface=interface, up=up):
                nl.set_host_link_up(interface, up)
            case op.Announce(namespace=ns, ifname=ifname, address=address, mac=mac):
                nl.announce(ns, ifname, address, mac or nl.link_mac(ns, ifname))
            case op.DeleteNamespace(name=name):
                nl.delete_namespace(name)
            case _:
                raise TypeError(f"no executor for {operation!r}")
