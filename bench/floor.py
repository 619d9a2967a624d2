"""The kernel floor of a converge: the same namespaces, OVS ports moved into them and
HAProxy starts as netnode's, done by the leanest script (issue 17 item 3).

``build(floor, spec, ...)`` takes netnode's desired host (``converge.desired_for``: computed
before the clock starts, not timed) and does, under its own names and on a bridge of
its own, what any tool must do to get there, in as few processes as the tools allow:

1. one ``ovs-vsctl`` transaction: the bridge and every port (internal, tagged);
2. one ``ip -batch``: every namespace added, every port moved into its namespace;
3. one ``ip -n NS -batch`` per namespace: loopback up, the port's MAC, addresses, up,
   the default route;
4. per HAProxy process, ``ip netns exec NS haproxy -W -D`` with netnode's configuration
   (its paths moved to the floor's directory), then ``show info`` on its stats socket
   until it answers: the readiness netnode waits for too.

Steps 3 and 4 run eight at a time, as netnode starts its HAProxy processes. Sysctls,
iptables rules, gratuitous ARPs and the record netnode keeps are not part of the floor:
the ratio of netnode's converge to this one is what netnode costs beyond the kernel's
and HAProxy's own work. ``remove`` takes everything down again (by the pid files it
wrote, the names it made).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from netnode.drivers.procfs import alive
from netnode.plan.spec import HostSpec

PARALLEL = 8
READY_TIMEOUT = 10.0


class FloorError(Exception):
    pass


@dataclass
class Floor:
    """Where ``build`` works (its names carry ``suffix``), and what it made, for
    ``remove`` (whether ``build`` finished or not)."""

    suffix: str
    directory: Path
    namespaces: list[str] = field(default_factory=list)
    pidfiles: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bridge(self) -> str:
        return f"fl{self.suffix}"


def _run(argv: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FloorError(f"{' '.join(argv[:6])} ... failed: {proc.stderr.strip()[:500]}")


def build(floor: Floor, spec: HostSpec, run_dir: Path, datapath: str) -> None:
    """Build ``spec``'s namespaces, ports and HAProxy processes under floor names
    (namespaces ``fl<suffix>-<n>``, ports ``f<suffix><n>``, bridge ``fl<suffix>``); the
    time it took goes in ``floor.seconds``. ``run_dir`` is the HAProxy directory
    netnode's configurations name (replaced by the floor's)."""
    suffix, directory = floor.suffix, floor.directory
    ns_names = {ns.name: f"fl{suffix}-{i}" for i, ns in enumerate(spec.namespaces)}
    ports = [p for p in spec.ports if p.namespace in ns_names]
    port_names = {p.name: f"f{suffix}{i}" for i, p in enumerate(ports)}
    gateways = {ns.name: ns.default_gateway for ns in spec.namespaces}
    haproxies = [p for p in spec.processes if p.haproxy and p.namespace in ns_names]
    # Prepared before the clock: configurations and directories.
    starts = []
    for proc in haproxies:
        d = directory / proc.name
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        (d / "server-state").write_text("1\n")
        config = proc.config.replace(str(run_dir), str(directory))
        (d / "haproxy.cfg").write_text(config)
        starts.append((ns_names[proc.namespace], d))
    ovs = ["ovs-vsctl", "--timeout=30", "--", "add-br", floor.bridge]
    ovs += ["--", "set", "bridge", floor.bridge, f"datapath_type={datapath}"]
    for p in ports:
        name = port_names[p.name]
        ovs += ["--", "add-port", floor.bridge, name, "--", "set", "interface", name]
        ovs += ["type=internal"]
        if p.tag is not None:
            ovs += ["--", "set", "port", name, f"tag={p.tag}"]
    host_batch = [f"netns add {ns_names[ns.name]}" for ns in spec.namespaces]
    host_batch += [
        f"link set dev {port_names[p.name]} netns {ns_names[p.namespace]}" for p in ports
    ]
    inside: dict[str, list[str]] = {ns_names[ns.name]: ["link set lo up"] for ns in spec.namespaces}
    for p in ports:
        lines = inside[ns_names[p.namespace]]
        name = port_names[p.name]
        if p.mac:
            lines.append(f"link set dev {name} address {p.mac}")
        lines += [f"addr add {a} dev {name}" for a in p.addresses]
        lines.append(f"link set dev {name} up")
    for ns, gateway in gateways.items():
        if gateway:
            inside[ns_names[ns]].append(f"route replace default via {gateway}")

    started = time.perf_counter()
    try:
        _run(ovs)
        floor.namespaces = list(ns_names.values())
        _run(["ip", "-batch", "-"], "\n".join(host_batch) + "\n")
        with ThreadPoolExecutor(PARALLEL) as pool:
            jobs = [
                pool.submit(_run, ["ip", "-n", ns, "-batch", "-"], "\n".join(lines) + "\n")
                for ns, lines in inside.items()
            ]
            for job in jobs:
                job.result()
            floor.pidfiles = [d / "pid" for _, d in starts]
            for job in [pool.submit(_start, ns, d) for ns, d in starts]:
                job.result()
    finally:
        floor.seconds = time.perf_counter() - started


def _start(namespace: str, d: Path) -> None:
    argv = [
        "ip", "netns", "exec", namespace, "haproxy", "-W", "-D",
        "-f", str(d / "haproxy.cfg"), "-p", str(d / "pid"),
        "-S", f"{d / 'master.sock'},mode,600",
    ]  # fmt: skip
    _run(argv)
    deadline = time.monotonic() + READY_TIMEOUT
    stats = d / "stats.sock"
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(str(stats))
                sock.sendall(b"show info\n")
                if b"Pid:" in sock.recv(65536):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise FloorError(f"HAProxy in {namespace} did not answer on {stats}")
        time.sleep(0.002)


def remove(floor: Floor) -> list[str]:
    """Stop the floor's HAProxy masters (by the pid files it wrote, only a haproxy whose
    command line names the floor's directory), delete its namespaces and bridge; what
    could not be removed."""
    problems: list[str] = []
    stopping: list[int] = []
    for pidfile in floor.pidfiles:
        try:
            pid = int(pidfile.read_text().split()[0])
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if str(floor.directory).encode() in argv:
            os.kill(pid, signal.SIGTERM)
            stopping.append(pid)
    # A master is nobody's child here (daemonised): gone once it is a zombie.
    deadline = time.monotonic() + 10
    while any(map(alive, stopping)) and time.monotonic() < deadline:
        time.sleep(0.01)
    problems += [f"HAProxy {pid} still running" for pid in stopping if alive(pid)]
    present = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    for ns in floor.namespaces:
        if ns in present:
            proc = subprocess.run(["ip", "netns", "delete", ns], capture_output=True, text=True)
            if proc.returncode != 0:
                problems.append(f"namespace {ns}: {proc.stderr.strip()}")
    proc = subprocess.run(
        ["ovs-vsctl", "--timeout=30", "--if-exists", "del-br", floor.bridge],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        problems.append(f"bridge {floor.bridge}: {proc.stderr.strip()}")
    shutil.rmtree(floor.directory, ignore_errors=True)
    return problems
