"""Several netnode nodes on one machine, as Neutron's fullstack tests simulate hosts.

``SimulatedNodes`` runs one ``netnode agent --cluster`` per node, all on one store (a
PostgreSQL URL). Each node has bridges of its own (``nn<suffix><n>i`` for the
integration bridge, ``nn<suffix><n>e`` for the external one, mapped by ``--bridge-map``
from the names the cluster's topology uses), joined by OVS patch ports to the shared
segments: the bridges of a lab that holds the simulated instances and clients. The
patch ports carry every VLAN, as a trunk between hosts would.

A node is killed as a host dies: its patch ports removed, so what it left behind
(namespaces still holding a VIP) is cut off from the segments, then SIGKILL of its agent
and of every keepalived, conntrackd and HAProxy it started (by the pids in their pid
files, each checked to be that program still). ``close`` stops the
agents, removes what each node built (``netnode destroy --topology``, which leaves the
cluster's desired state to the other nodes) and deletes the node bridges and patches.
Nothing here touches a bridge or interface it did not create.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from netnode.cluster import scheduler
from netnode.drivers.procfs import alive, parent
from netnode.errors import HostError
from netnode.model import ids
from netnode.store.database import engine_for

PATCH_PEER = "options:peer="


@dataclass
class SimulatedNode:
    name: str
    label: str  # one letter, in device names
    state_dir: Path
    bridges: dict[str, str]  # the cluster's name -> this node's bridge
    patches: list[tuple[str, str, str, str]] = field(default_factory=list)
    agent: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    # Its availability zone (the agent's --zone); None: the agent's default.
    zone: str | None = None


class SimulatedNodes:
    def __init__(
        self,
        *,
        db: str,
        cluster: str,
        suffix: str,
        workdir: Path,
        segments: dict[str, str],
        labels: tuple[str, ...] = ("a", "b"),
        node_timeout: float = 2.0,
        period: float = 5.0,
        zones: Mapping[str, str] | None = None,
    ) -> None:
        """``segments``: the cluster's bridge names -> the shared segment's bridge
        (``{"br-int": lab's integration bridge, "br-ex": lab's external bridge}``);
        ``zones``: a node's label -> its availability zone (``--zone``)."""
        self.db = db
        self.cluster = cluster
        self.suffix = suffix
        self.workdir = workdir
        self.segments = segments
        self.node_timeout = node_timeout
        self.period = period
        self.nodes: dict[str, SimulatedNode] = {}
        # What ``close`` could not remove, in words (empty: everything went).
        self.cleanup_errors: list[str] = []
        for label in labels:
            name = f"{cluster}-{label}"
            bridges = {
                logical: f"nn{suffix}{label}{'i' if logical == 'br-int' else 'e'}"
                for logical in segments
            }
            state = workdir / label
            zone = (zones or {}).get(label)
            self.nodes[name] = SimulatedNode(name, label, state, bridges, zone=zone)

    # --- building --------------------------------------------------------------------

    def build(self) -> None:
        """Every node's bridges, patched to the segments."""
        for node in self.nodes.values():
            for logical, bridge in node.bridges.items():
                segment = self.segments[logical]
                # Patch ports join bridges of one datapath only: the segment's.
                datapath = _datapath_of(segment)
                _vsctl("--may-exist", "add-br", bridge, "--", "set", "bridge", bridge,
                       f"datapath_type={datapath}")  # fmt: skip
                kind = "i" if logical == "br-int" else "e"
                ours = f"nn{self.suffix}{node.label}p{kind}"
                theirs = f"nn{self.suffix}{node.label}q{kind}"
                node.patches.append((bridge, ours, segment, theirs))
            self.heal(node.name)

    def heal(self, name: str) -> None:
        """Patch the node to the segments (again)."""
        for bridge, ours, segment, theirs in self.nodes[name].patches:
            _vsctl("--may-exist", "add-port", bridge, ours, "--", "set", "interface", ours,
                   "type=patch", f"{PATCH_PEER}{theirs}", "--", "--may-exist", "add-port",
                   segment, theirs, "--", "set", "interface", theirs, "type=patch",
                   f"{PATCH_PEER}{ours}")  # fmt: skip

    def cut(self, name: str) -> None:
        """Remove the node's patch ports: it is partitioned from the segments."""
        for bridge, ours, segment, theirs in self.nodes[name].patches:
            _vsctl("--if-exists", "del-port", bridge, ours, "--", "--if-exists", "del-port",
                   segment, theirs)  # fmt: skip

    # --- the nodes' processes ----------------------------------------------------------

    def cli(self, name: str) -> list[str]:
        node = self.nodes[name]
        return [sys.executable, "-m", "netnode.cli.main", "--node", name, "--cluster",
                self.cluster, "--state-dir", str(node.state_dir), "--db", self.db]  # fmt: skip

    def start(self, name: str) -> subprocess.Popen[bytes]:
        node = self.nodes[name]
        node.state_dir.mkdir(parents=True, exist_ok=True)
        node.log = self.workdir / f"{node.label}-agent.log"
        maps = [arg for b in node.bridges.items() for arg in ("--bridge-map", "=".join(b))]
        with open(node.log, "ab") as out:
            node.agent = subprocess.Popen(
                [
                    *self.cli(name),
                    "agent",
                    "--period",
                    str(self.period),
                    "--node-timeout",
                    str(self.node_timeout),
                    *maps,
                    *(("--zone", node.zone) if node.zone else ()),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return node.agent

    def kill(self, name: str) -> None:
        """The node's host dies: cut off first (its last adverts and answers never
        arrive), then its agent, keepalived and HAProxy processes SIGKILLed."""
        node = self.nodes[name]
        self.cut(name)
        if node.agent is not None and node.agent.poll() is None:
            node.agent.send_signal(signal.SIGKILL)
            node.agent.wait(timeout=10)
        for program, pids in (
            ("keepalived", self.keepalived_pids(name)),
            ("haproxy", self.haproxy_pids(name)),
            ("conntrackd", self.conntrackd_pids(name)),
        ):
            # A pid file outlives its process (this node killed before): a pid reused
            # since by another program is never signalled.
            for pid in pids:
                if _runs(pid, program):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    def hand_over(self, name: str, process: str) -> bool:
        """Stop the node's keepalived ``process`` (``vrrp-<instance id>``) gracefully:
        it gives its VIP up with a priority-0 advert, the other instance takes it at
        once, and the node's agent starts this one again as the standby (nopreempt).
        False when it does not run."""
        pidfile = self.nodes[name].state_dir / name / "keepalived" / process / "keepalived.pid"
        with contextlib.suppress(ValueError, OSError):
            pid = int(pidfile.read_text().split()[0])
            if _runs(pid, "keepalived"):
                os.kill(pid, signal.SIGTERM)
                return True
        return False

    def holders(self, kind: str, address: str) -> list[str]:
        """The nodes whose instance of a load balancer or router (``kind``:
        "load_balancers" or "routers") has ``address`` on one of its ports now."""
        found = []
        for p in scheduler.placements(engine_for(self.db), self.cluster):
            if p.kind != kind:
                continue
            ns = ids.lb_namespace(p.id) if kind == "load_balancers" else ids.router_namespace(p.id)
            shown = subprocess.run(
                ["ip", "-n", ns, "-o", "-4", "addr", "show"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if f" {address}/" in shown:
                found.append(p.node)
        return found

    def vrrp_states(self) -> list[str]:
        """What each running keepalived of every node last notified (MASTER, BACKUP,
        FAULT), from its role files; sorted. A killed node's keepalived left its files
        behind: only those whose VRRP process is alive count."""
        found = []
        for node in self.nodes.values():
            base = node.state_dir / node.name / "keepalived"
            for role in _glob(base, "*/role.*"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    pid = int((role.parent / "vrrp.pid").read_text().split()[0])
                    if alive(pid):
                        found.append(role.read_text().split()[0])
        return sorted(found)

    def keepalived_pids(self, name: str) -> list[int]:
        """The node's keepalived processes, VRRP children first (a parent killed first
        would have its children stop gracefully, with a last priority-0 advert)."""
        base = self.nodes[name].state_dir / name / "keepalived"
        found = []
        for pidname in ("vrrp.pid", "keepalived.pid"):
            for pidfile in _glob(base, f"*/{pidname}"):
                with contextlib.suppress(ValueError, OSError):
                    found.append(int(pidfile.read_text().split()[0]))
        return found

    def conntrackd_pids(self, name: str) -> list[int]:
        """The node's conntrackd processes (HA routers), by their pid files."""
        found = []
        for pidfile in _glob(self.nodes[name].state_dir / name / "conntrackd", "*/conntrackd.pid"):
            with contextlib.suppress(ValueError, OSError):
                found.append(int(pidfile.read_text().split()[0]))
        return found

    def haproxy_pids(self, name: str) -> list[int]:
        """The node's HAProxy masters (by its pid files) and their workers."""
        node = self.nodes[name]
        masters = []
        for pidfile in _glob(node.state_dir / name / "haproxy", "*/haproxy.pid"):
            with contextlib.suppress(ValueError, OSError):
                masters.append(int(pidfile.read_text().split()[0]))
        return [*masters, *(c for m in masters for c in _children(m))]

    def stop(self, name: str) -> None:
        node = self.nodes[name]
        if node.agent is None or node.agent.poll() is not None:
            return
        node.agent.send_signal(signal.SIGTERM)
        try:
            node.agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.agent.kill()
            node.agent.wait()

    def agent_log(self, name: str) -> str:
        log = self.nodes[name].log
        return "" if log is None or not log.exists() else log.read_text()

    # --- cleaning up --------------------------------------------------------------------

    def close(self, topologies: tuple[str, ...]) -> None:
        """Stop every agent, remove what each node built for ``topologies``, delete the
        node bridges and patches. Safe after any failure."""
        for name in self.nodes:
            self.stop(name)
        for name in self.nodes:
            self.kill(name)  # HAProxy processes a killed agent left, if any
            for topology in topologies:
                done = subprocess.run(
                    [*self.cli(name), "destroy", "--topology", topology],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=120,
                )
                if done.returncode != 0 and "is recorded" not in done.stderr:
                    self.cleanup_errors.append(f"{name} {topology}: {done.stdout}{done.stderr}")
        for node in self.nodes.values():
            self.cut(node.name)
            for bridge in node.bridges.values():
                _vsctl("--if-exists", "del-br", bridge)


def _glob(base: Path, pattern: str) -> list[Path]:
    """``base.glob(pattern)``; a directory removed meanwhile (a process stopping while
    it is looked at) leaves an empty answer, not an error: the callers look again."""
    try:
        return list(base.glob(pattern))
    except OSError:
        return []


def _runs(pid: int, program: str) -> bool:
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    # An HA instance's HAProxy runs as haproxy<id> (plan.desired.haproxy_executable).
    return Path(argv0.decode(errors="replace")).name.startswith(program)


def _children(pid: int) -> list[int]:
    return [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and parent(int(e.name)) == pid
    ]


def _datapath_of(bridge: str) -> str:
    done = subprocess.run(
        ["ovs-vsctl", "--timeout=10", "get", "bridge", bridge, "datapath_type"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise HostError(f"ovs-vsctl get bridge {bridge} datapath_type: {done.stderr.strip()}")
    return done.stdout.strip().strip('"') or "system"


def _vsctl(*args: str) -> None:
    done = subprocess.run(
        ["ovs-vsctl", "--timeout=10", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise HostError(f"ovs-vsctl {' '.join(args)}: {done.stderr.strip()}")


def wait_for(check: object, timeout: float, interval: float = 0.05) -> float | None:
    """Seconds until ``check()`` is true, None if not within ``timeout``."""
    assert callable(check)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    return None
