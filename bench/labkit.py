"""What the load benchmarks share: the seed scenario under this run's names, wrk run
from inside the lab's namespaces, HAProxy polling, and cleanup.

Used by throughput.py, member_changes.py and failover.py. Not a test fixture: no pytest,
and errors are ``BenchError`` (the run's figures mean nothing, exit 1).

Safety, for every user of this module:

- ``lab()`` gives each run a random suffix: node name ``<prefix>-<suffix>`` (so every
  namespace and port name, which derive from it), bridges ``nn<suffix>i``/``nn<suffix>e``
  and a private state directory; on the way out (``finally``) it runs
  ``converge.destroy``, checks that none of the run's namespaces, bridges and HAProxy
  processes are left, removes any that are (through netnode's own drivers, HAProxy by
  its verified pid file) and reports that as a failure, and removes the state directory;
- wrk only ever runs as ``ip netns exec <one of the run's namespaces> wrk ... -d<bound>``
  with a subprocess timeout, never from the host's namespace;
- a wrk started in the background is stopped by its own pid (SIGINT: it prints its
  summary), never by name.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from netnode.drivers.haproxy import HAProxyProcesses  # noqa: E402
from netnode.errors import HostError  # noqa: E402
from netnode.lab.client import http_get  # noqa: E402
from netnode.model import ids  # noqa: E402
from netnode.model.loading import load_data  # noqa: E402
from netnode.model.topology import Instance, LoadBalancer, Topology  # noqa: E402
from netnode.plan.desired import process_name  # noqa: E402
from netnode.reconcile import converge  # noqa: E402
from netnode.reconcile.host import Host  # noqa: E402

SEED_YAML = REPO / "examples" / "seed.yaml"
VIP = "10.0.0.100"
FIP = "10.255.253.100"
READY_TIMEOUT = 20.0
TOOLS = ("wrk", "haproxy", "ovs-vsctl", "ip")

# The seed's haproxy.cfg (docs/seed.md §8.1) verbatim; bench/seed.sh uses the same file.
SEED_CFG = (REPO / "bench" / "seed-haproxy.cfg").read_text()
SEED_STATS_LINE = "    stats socket /root/sock mode 0666 level user\n"
SEED_FRONTEND = "0c32d37d-f84a-4309-9e01-72d9f0bac69e"

T = TypeVar("T")


class BenchError(Exception):
    """A build, a check or a cleanup went wrong: the figures of this run mean nothing."""


class Disturbed(BenchError):
    """Something outside this run restarted ovs-vswitchd while a measurement ran (on a
    shared machine, another test suite's self-repair tests do): with the userspace
    datapath every port of every bridge goes away for a moment, so the measurement is
    void. The benchmarks repeat it (``--retries``)."""


OVS_VSWITCHD_PID = Path("/var/run/openvswitch/ovs-vswitchd.pid")


def ovs_vswitchd_pid() -> int | None:
    try:
        return int(OVS_VSWITCHD_PID.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def undisturbed(what: str) -> Iterator[None]:
    """Raise Disturbed if ovs-vswitchd's pid changed across the block (also when the
    block failed: then the restart is the likely cause)."""
    before = ovs_vswitchd_pid()
    message = f"ovs-vswitchd was restarted during {what} (not by this run): measurement void"
    try:
        yield
    except (BenchError, HostError) as exc:
        if ovs_vswitchd_pid() != before and not isinstance(exc, Disturbed):
            raise Disturbed(f"{message}; it failed with: {exc}") from exc
        raise
    if ovs_vswitchd_pid() != before:
        raise Disturbed(message)


def attempts(what: str, retries: int, run: Callable[[], T]) -> T:
    """``run()``, repeated up to ``retries`` more times while it raises Disturbed."""
    for attempt in range(retries + 1):
        try:
            with undisturbed(what):
                return run()
        except Disturbed as exc:
            if attempt == retries:
                raise
            print(f"  {exc}; repeating it ({attempt + 1}/{retries})", flush=True)
    raise AssertionError("unreachable")


def preflight(prog: str, tools: Sequence[str] = TOOLS) -> str | None:
    """Why this benchmark cannot run here, or None."""
    if os.geteuid() != 0:
        return f"{prog}: needs root (namespaces, OVS, HAProxy)"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{prog}: {tool} is not installed"
    return None


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` (the cleanup) still runs."""
    signal.signal(signal.SIGTERM, _interrupted)


def seed_config(stats_socket: Path) -> str:
    """The seed's haproxy.cfg with ONE line changed: its ``stats socket /root/sock mode
    0666 level user`` becomes ``stats socket <stats_socket> mode 600 level user`` (where
    netnode's driver looks for the socket; the world-writable socket is not recreated)."""
    assert SEED_CFG.count(SEED_STATS_LINE) == 1
    return SEED_CFG.replace(
        SEED_STATS_LINE, f"    stats socket {stats_socket} mode 600 level user\n"
    )


def cfg_value(config: str, keyword: str) -> str | None:
    """The first ``<keyword> <value>`` line's value in an haproxy.cfg (e.g. "timeout
    connect"), or None."""
    match = re.search(rf"^\s*{re.escape(keyword)}\s+(\S+)", config, re.M)
    return match[1] if match else None


# --- wrk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    rps: float
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    # Requests still unanswered after more than --timeout when wrk was stopped (see
    # Load.stop): wrk counts a slow answer as a timeout error only once it arrives.
    unanswered: int = 0
    # TCP connections wrk opened beyond its -c that no counted failure (and, with
    # "Connection: close", no answer) accounts for (see Load.stop); None: not measured.
    silent_reconnects: int | None = None
    raw: str = field(default="", repr=False, compare=False)

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def failed(self) -> int:
        """Failed requests: what wrk reports (non-2xx/3xx responses + socket errors:
        connect, read, write, timeout) + requests left unanswered past --timeout."""
        return self.non_2xx + self.errors + self.unanswered

    def error(self, kind: str) -> int:
        return self.socket_errors.get(kind, 0)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise BenchError(f"wrk time {text!r} not understood")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    requests = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", out, re.M)
    latency = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and requests and latency and p50 and p99):
        raise BenchError(f"wrk output not understood (run it with --latency):\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True))
        if sock
        else {}
    )
    return WrkResult(
        rps=float(rps[1]),
        requests=int(requests[1]),
        seconds=_ms(requests[2]) / 1000.0,
        p50_ms=_ms(p50[1]),
        p99_ms=_ms(p99[1]),
        max_ms=_ms(latency[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=errors,
        raw=out,
    )


@dataclass(frozen=True)
class WrkOptions:
    connections: int = 50
    threads: int = 2
    # wrk takes whole seconds only ("-d0.5s" is refused with its usage text).
    timeout: int = 2
    # Send "Connection: close": a new TCP connection per request instead of keep-alive.
    close: bool = False

    def argv(self, ns: str, url: str, duration: int) -> list[str]:
        if duration < 1 or self.timeout < 1:
            raise ValueError("wrk's -d and --timeout are whole seconds, at least 1")
        argv = [
            "ip", "netns", "exec", ns,
            "wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{duration}s",
            "--timeout", f"{self.timeout}s", "--latency",
        ]  # fmt: skip
        if self.close:
            argv += ["-H", "Connection: close"]
        return [*argv, url]

    def describe(self) -> str:
        close = " -H 'Connection: close'" if self.close else ""
        return f"wrk -t{self.threads} -c{self.connections} --timeout {self.timeout}s{close}"


def wrk(ns: str, url: str, duration: int, options: WrkOptions) -> WrkResult:
    """wrk from inside namespace ``ns`` (never the host's), bounded by -d and a timeout."""
    try:
        proc = subprocess.run(
            options.argv(ns, url, duration),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk in {ns} against {url} did not finish") from exc
    if proc.returncode != 0:
        raise BenchError(
            f"wrk in {ns} failed (exit {proc.returncode}):\n{proc.stderr}{proc.stdout}"
        )
    return parse_wrk(proc.stdout)


class Load:
    """wrk in the background, from inside ``ns``, until ``stop()`` (SIGINT to wrk's own
    pid: it stops and prints its summary) or its ``-d`` bound, whichever comes first.

    Use as a context manager: leaving the block with wrk still running (an error)
    kills it, by pid.
    """

    def __init__(self, ns: str, url: str, bound: int, options: WrkOptions) -> None:
        self.argv = options.argv(ns, url, bound)
        self.bound = bound
        self.ns = ns
        parsed = urlsplit(url)
        self.peer = f"{parsed.hostname}:{parsed.port or 80}"
        self.options = options
        self.opens_before = 0
        self.proc: subprocess.Popen[str] | None = None
        self.started = 0.0

    def __enter__(self) -> Load:
        self.opens_before = tcp_active_opens(self.ns)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started = time.monotonic()
        # "ip netns exec" execs wrk in place (no fork), so this pid is wrk's. Wait
        # until it is (until then it is still "ip"), then give wrk a moment to connect.
        deadline = self.started + 5.0
        while _comm(self.proc.pid) != "wrk":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._kill()
                out, err = self.proc.communicate(timeout=10)
                raise BenchError(f"wrk did not start: {' '.join(self.argv)}\n{err}{out}")
            time.sleep(0.005)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> WrkResult:
        assert self.proc is not None
        if self.proc.poll() is not None:
            out, err = self.proc.communicate(timeout=10)
            raise BenchError(
                f"wrk ended by itself (exit {self.proc.returncode}) before it was stopped: "
                f"its -d {self.bound}s bound was reached or it failed\n{err}{out}"
            )
        stalled = self.stalled()
        self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired as exc:
            self._kill()
            raise BenchError("wrk did not stop on SIGINT") from exc
        if self.proc.returncode != 0:
            raise BenchError(f"wrk failed (exit {self.proc.returncode}):\n{err}{out}")
        result = replace(parse_wrk(out), unanswered=stalled)
        return replace(result, silent_reconnects=self.silent(result))

    def silent(self, result: WrkResult) -> int:
        """Reconnects that no counted failure accounts for: an upper bound on requests
        wrk lost without counting them.

        wrk 4.1 counts a connection closed with an RST as a read error, but when the
        server closes with a FIN while a request is outstanding, wrk reconnects and
        counts nothing. Every reconnect opens a TCP connection, which the kernel of
        the client's namespace counts (``/proc/net/snmp`` Tcp ActiveOpens; nothing else
        opens connections there while wrk runs). Opens beyond ``-c`` minus the reconnects
        that counted failures explain (socket errors, non-2xx answers, and with
        "Connection: close" every answer) bound the uncounted ones; a "Connection:
        close" answer in keep-alive mode (HAProxy's idle-close-on-response at a reload)
        also reconnects without a loss, so this is an upper bound."""
        opens = tcp_active_opens(self.ns) - self.opens_before
        explained = (
            1  # wrk.resolve() connects once to pick the address, before the load
            + self.options.connections
            + result.error("connect")
            + result.error("read")
            + result.error("write")
            + result.non_2xx
            + (result.requests if self.options.close else 0)
        )
        return max(0, opens - explained)

    def stalled(self) -> int:
        """wrk's connections that have received nothing for longer than its --timeout.

        wrk keeps one request outstanding per connection and writes the next one as
        soon as an answer is complete, so such a connection holds a request that will
        count as a timeout error if its answer ever comes, and that wrk does not count
        at all if it is stopped first. Read from the kernel (``ss -ti``, the socket's
        ``lastrcv``) inside the client's namespace: no packet is sent."""
        out = ns_exec(
            self.ns, ["ss", "-H", "-t", "-n", "-i", "state", "established", "dst", self.peer]
        )
        limit_ms = self.options.timeout * 1000
        return sum(int(ms) >= limit_ms for ms in re.findall(r"\blastrcv:(\d+)", out))

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._kill()


def haproxy_of(pid: int, cfg: Path) -> bool:
    """``pid`` is alive (not a zombie) and is an haproxy started with ``-f cfg``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    return os.path.basename(argv[0]) == b"haproxy" and str(cfg).encode() in argv


def terminate(pids: Sequence[int], cfg: Path, timeout: float = 5.0) -> None:
    """SIGTERM each of ``pids`` that is still an haproxy of ``cfg`` (never another
    process, should a pid have been recycled), SIGKILL what is left after ``timeout``."""
    ours = [pid for pid in pids if haproxy_of(pid, cfg)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours:
            if haproxy_of(pid, cfg):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while any(haproxy_of(pid, cfg) for pid in ours) and time.monotonic() < deadline:
            time.sleep(0.01)
        ours = [pid for pid in ours if haproxy_of(pid, cfg)]
        if not ours:
            return
    raise BenchError(f"haproxy {ours} of {cfg} would not stop")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --- polling -----------------------------------------------------------------------------


def wait_until(
    check: Callable[[], T], what: str, timeout: float = READY_TIMEOUT, interval: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy (errors count as not yet)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except (OSError, HostError) as exc:
            last = exc
        else:
            last = result
            if result:
                return result
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout:.0f}s (last: {last!r})")
        time.sleep(interval)


def answers(ns: str, address: str, count: int) -> set[str]:
    """The bodies of ``count`` HTTP GETs from inside ``ns`` to ``address``."""
    return {http_get(ns, address, timeout=2.0).body.strip() for _ in range(count)}


def server_rows(rows: list[dict[str, str]], backend: str | None = None) -> list[dict[str, str]]:
    """The server rows of ``show stat`` (not FRONTEND/BACKEND), of one backend if given."""
    return [
        r
        for r in rows
        if r.get("svname") not in ("FRONTEND", "BACKEND")
        and (backend is None or r.get("pxname") == backend)
    ]


def serving(rows: list[dict[str, str]], frontend: str, servers: int) -> bool:
    """The running config has ``frontend`` and exactly ``servers`` servers, all UP."""
    if not any(r.get("pxname") == frontend and r.get("svname") == "FRONTEND" for r in rows):
        return False
    found = server_rows(rows)
    return len(found) == servers and all(r.get("status") == "UP" for r in found)


def old_workers_gone(haproxy: HAProxyProcesses, name: str) -> bool:
    """``show proc`` on the master lists no old (finishing) workers any more."""
    path = haproxy.paths(name).master_socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(b"show proc\n")
        sock.shutdown(socket.SHUT_WR)
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode(errors="replace")
    section = ""
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.strip("# ").lower()
        elif section.startswith("old") and line.split()[:1] and line.split()[0].isdigit():
            return False
    return True


# --- the lab -----------------------------------------------------------------------------


def seed_data(prefix: str, suffix: str) -> dict[str, Any]:
    """examples/seed.yaml with this run's topology name and bridge names."""
    data = copy.deepcopy(yaml.safe_load(SEED_YAML.read_text()))
    data["name"] = f"{prefix}-{suffix}"
    data["integration_bridge"] = f"nn{suffix}i"
    for net in data["networks"]:
        if net.get("external"):
            net["bridge"] = f"nn{suffix}e"
    return data


@dataclass
class Lab:
    """One run's netnode: its node, state directory, bridges and current topology."""

    suffix: str
    state_dir: Path
    host: Host
    data: dict[str, Any]
    applied: Topology | None = None

    @property
    def node(self) -> str:
        return self.host.node

    @property
    def bridges(self) -> tuple[str, str]:
        return (f"nn{self.suffix}i", f"nn{self.suffix}e")

    def topology(self, data: dict[str, Any] | None = None) -> Topology:
        return load_data(self.data if data is None else data, node=self.node)

    def apply(self, data: dict[str, Any] | None = None) -> float:
        """``converge.apply`` of ``data`` (default: the current data); its seconds.
        The topology is remembered before the pass, so cleanup covers a failed one."""
        data = copy.deepcopy(self.data if data is None else data)
        topo = load_data(data, node=self.node)
        self.data, self.applied = data, topo
        started = time.perf_counter()
        outcome = converge.apply(self.host, topo)
        seconds = time.perf_counter() - started
        failures = getattr(outcome, "failures", None)
        if failures:
            raise BenchError("converge.apply failed: " + "; ".join(str(f) for f in failures))
        return seconds

    # --- names (from the current topology) -----------------------------------------------

    @property
    def lb(self) -> LoadBalancer:
        (lb,) = self.topology().load_balancers
        return lb

    @property
    def lb_name(self) -> str:
        return process_name("lb", self.lb.uid)

    @property
    def lb_namespace(self) -> str:
        return ids.lb_namespace(self.lb.uid)

    @property
    def frontend(self) -> str:
        return self.lb.listeners[0].uid

    def instance(self, name: str) -> Instance:
        return next(x for x in self.topology().lab.instances if x.name == name)

    def instance_process(self, name: str) -> str:
        return process_name("lab", self.instance(name).uid)

    def namespace_of(self, name: str) -> str:
        """The namespace of a lab instance or client."""
        topo = self.topology()
        return ids.lab_namespace(
            next(x for x in (*topo.lab.instances, *topo.lab.clients) if x.name == name).uid
        )

    # --- the running load balancer -------------------------------------------------------

    def wait_lb(
        self,
        config: str,
        frontend: str,
        bodies: set[str],
        servers: int,
        timeout: float = READY_TIMEOUT,
    ) -> None:
        """Wait until the LB runs ``config`` (its file on disk), ``show stat`` has
        ``frontend`` and ``servers`` servers all UP, no old worker is left, and
        requests from the external client through the floating IP reach every body."""
        name = self.lb_name
        if self.host.haproxy.installed_config(name) != config:
            raise BenchError(f"{name} does not run the expected configuration")
        try:
            wait_until(
                lambda: serving(self.host.haproxy.stats(name), frontend, servers),
                f"{name} serving {frontend} with {servers} servers UP",
                timeout,
            )
        except BenchError as exc:
            try:
                rows = self.host.haproxy.stats(name)
            except HostError as why:
                raise BenchError(f"{exc}; show stat: {why}") from exc
            seen = [(r.get("pxname"), r.get("svname"), r.get("status")) for r in rows]
            raise BenchError(f"{exc}; show stat: {seen}") from exc
        wait_until(lambda: old_workers_gone(self.host.haproxy, name), "old workers gone")
        outside = self.namespace_of("outside")
        wait_until(
            lambda: answers(outside, FIP, 4 * len(bodies)) == bodies,
            f"{sorted(bodies)} through {FIP}",
        )

    # --- cleanup -------------------------------------------------------------------------

    def teardown(self) -> list[str]:
        """converge.destroy, then what is left of this run (removed, and reported)."""
        problems: list[str] = []
        if self.applied is not None:
            try:
                converge.destroy(self.host, self.applied)
            except Exception as exc:  # reported; leftovers are removed below
                problems.append(f"converge.destroy failed: {exc}")
            problems += self._leftovers(self.applied)
        return problems

    def _leftovers(self, topo: Topology) -> list[str]:
        problems: list[str] = []
        for name in self.host.haproxy.names():
            if self.host.haproxy.running_pid(name) is not None:
                self.host.haproxy.stop(name)  # by its verified pid file
                problems.append(f"HAProxy {name} was still running (stopped now)")
        ours = {ns.name for ns in converge.desired_for(self.host, topo).namespaces}
        for ns in sorted(ours & self.host.netlink.namespaces()):
            self.host.netlink.delete_namespace(ns)
            problems.append(f"namespace {ns} was left (deleted now)")
        for br in self.bridges:
            if _bridge_exists(br):
                _run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", br])
                problems.append(f"bridge {br} was left (deleted now)")
        return problems


def _bridge_exists(name: str) -> bool:
    argv = ["ovs-vsctl", "--timeout=10", "br-exists", name]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True).returncode == 0


def _run(argv: list[str]) -> str:
    proc = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed (exit {proc.returncode}): {proc.stderr}")
    return proc.stdout


def tcp_active_opens(ns: str) -> int:
    """The Tcp ActiveOpens counter of namespace ``ns`` (``/proc/net/snmp`` read by a
    process inside it)."""
    rows = [line.split() for line in ns_exec(ns, ["cat", "/proc/net/snmp"]).splitlines()]
    tcp = [row[1:] for row in rows if row[:1] == ["Tcp:"]]
    if len(tcp) != 2:
        raise BenchError(f"no Tcp counters in /proc/net/snmp of {ns}")
    return int(dict(zip(tcp[0], tcp[1], strict=True))["ActiveOpens"])


def ns_exec(ns: str, argv: list[str]) -> str:
    """Run ``argv`` inside namespace ``ns`` (one of the run's); its stdout."""
    return _run(["ip", "netns", "exec", ns, *argv])


@contextmanager
def lab(prefix: str) -> Iterator[Lab]:
    """A fresh lab with the seed's data under this run's names (nothing applied yet).
    On the way out: destroy, leftover check, state directory removed. Leftovers (removed)
    raise BenchError unless another error is already on its way out."""
    suffix = secrets.token_hex(3)
    # Short: HAProxy's UNIX socket paths live under it (97 bytes at most,
    # netnode.drivers.haproxy.MAX_SOCKET_PATH).
    state_dir = Path(tempfile.mkdtemp(prefix="nn-"))
    try:
        host = Host(state_dir=state_dir, node=f"{prefix}-{suffix}")
    except BaseException:
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    the_lab = Lab(suffix, state_dir, host, seed_data(prefix, suffix))
    failing = False
    problems: list[str] = []
    try:
        yield the_lab
    except BaseException:
        failing = True
        raise
    finally:
        try:
            problems = the_lab.teardown()
        finally:
            host.close()
            shutil.rmtree(state_dir, ignore_errors=True)
        if problems:
            message = "cleanup: " + "; ".join(problems)
            if failing:
                print(message, file=sys.stderr)
            else:
                raise BenchError(message)
