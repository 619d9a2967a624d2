"""The host, through its drivers: observe it, and carry out a plan on it.

``Host`` is the one object that touches the system. ``observe`` reads only what the
plan needs (one ovs-vsctl call, a netlink dump per namespace netnode cares about, pid
files, one iptables-save per router); ``execute`` runs the operations in phase order,
with every consecutive Open vSwitch operation in one OVSDB transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from netnode.drivers.haproxy import HAProxyProcesses
from netnode.drivers.iptables import Iptables
from netnode.drivers.netlink import Netlink
from netnode.drivers.ovs import OVS
from netnode.plan import operations as op
from netnode.plan.diff import Plan
from netnode.plan.observed import HostState, Ledger, NamespaceState, ProcessState
from netnode.plan.spec import HostSpec

Progress = Callable[[op.Operation], None]


@dataclass
class Host:
    state_dir: Path
    node: str
    ovs: OVS = field(default_factory=OVS)
    netlink: Netlink = field(default_factory=Netlink)
    iptables: Iptables = field(default_factory=Iptables)
    haproxy: HAProxyProcesses = field(init=False)

    def __post_init__(self) -> None:
        self.haproxy = HAProxyProcesses(self.run_dir)

    @property
    def node_dir(self) -> Path:
        return self.state_dir / self.node

    @property
    def run_dir(self) -> Path:
        return self.node_dir / "haproxy"

    def close(self) -> None:
        self.netlink.close()

    # --- observe ----------------------------------------------------------------------

    def observe(self, desired: HostSpec, ledger: Ledger) -> HostState:
        ovs = self.ovs.observe()
        present = frozenset(self.netlink.namespaces())
        inside: dict[str, NamespaceState] = {}
        for ns in desired.namespaces:
            if ns.name in present:
                inside[ns.name] = self.netlink.observe(ns.name, tuple(k for k, _ in ns.sysctls))
        processes: dict[str, ProcessState] = {}
        for name in {*(p.name for p in desired.processes), *ledger.processes}:
            running = self.haproxy.running_pid(name) is not None
            config = self.haproxy.installed_config(name)
            if running or config is not None:
                processes[name] = ProcessState(running, config)
        firewalls = {
            fw.namespace: fw.namespace in present
            and not any(self.iptables.differences(fw.namespace, fw.nat).values())
            for fw in desired.firewalls
        }
        return HostState(ovs, present, inside, processes, firewalls, ledger)

    # --- execute ----------------------------------------------------------------------

    def execute(self, plan: Plan, progress: Progress | None = None) -> None:
        batch: list[op.OvsOperation] = []

        def flush() -> None:
            if batch:
                self.ovs.transact([command for o in batch for command in o.ovs()])
                for o in batch:
                    if progress:
                        progress(o)
                batch.clear()

        starts: list[op.EnsureProcess] = []

        def start_all() -> None:
            # HAProxy processes are independent of each other: validate and start them
            # side by side (each waits ~0.1 s for its sockets), report in plan order.
            if starts:
                with ThreadPoolExecutor(max_workers=min(8, len(starts))) as pool:
                    futures = [pool.submit(self._run, o) for o in starts]
                    for o, future in zip(starts, futures, strict=True):
                        future.result()
                        if progress:
                            progress(o)
                starts.clear()

        for operation in plan.operations:
            if isinstance(operation, op.OvsOperation):
                batch.append(operation)
                continue
            flush()
            if isinstance(operation, op.EnsureProcess):
                if starts and starts[-1].phase != operation.phase:
                    start_all()
                starts.append(operation)
                continue
            start_all()
            self._run(operation)
            if progress:
                progress(operation)
        flush()
        start_all()

    def _run(self, operation: op.Operation) -> None:
        nl = self.netlink
        match operation:
            case op.StopProcess(name=name):
                self.haproxy.stop(name)
            case op.CreateNamespace(name=name):
                nl.create_namespace(name)
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
            case op.ApplyFirewall(firewall=fw):
                self.iptables.apply(fw.namespace, fw.nat)
            case op.FlushConntrack(namespace=ns, address=address):
                self.iptables.flush_conntrack(ns, address)
            case op.EnsureProcess(process=proc, start=True):
                self.haproxy.start(proc.name, proc.namespace, proc.config)
            case op.EnsureProcess(process=proc, start=False):
                self.haproxy.reload(proc.name, proc.config)
            case op.Announce(namespace=ns, ifname=ifname, address=address, mac=mac):
                nl.announce(ns, ifname, address, mac or nl.link_mac(ns, ifname))
            case op.DeleteNamespace(name=name):
                nl.delete_namespace(name)
            case _:
                raise TypeError(f"no executor for {operation!r}")
