"""The REST API (``netnode serve``): requests per second, and time from create to
ACTIVE through the API beside the same topology applied from YAML, in one run.

A netnode instance per phase, one after the other, each with its own node name, state
directory and integration bridge (``serve --integration-bridge nn<suffix>i``: the
shared ``br-int`` is never used):

1. **reads and creates, API alone** (``serve --no-agent``: nothing is built, the API is
   the only thing measured). A tenant network and subnet (10.77.0.0/16) are created,
   then 10 load balancers by ``--clients`` concurrent threads (POST
   /v2/lbaas/loadbalancers, one keep-alive connection each), then wrk (``-t1
   -c<--connections> -d<--duration>s``, to 127.0.0.1) on ``GET /`` (the version
   document: what the framework alone costs), ``GET /v2/lbaas/loadbalancers``, ``GET
   /v2/lbaas/loadbalancers/{id}`` and ``GET /v2.0/networks``; then 90 more load
   balancers and the same reads with 100 present, plus the first page ``GET
   /v2/lbaas/loadbalancers?limit=100``. Creates per second are over the 100 POSTs.
   Then ``--listing-lbs`` (1,000) load balancers in all, those past 100 written to the
   store in one write of the whole topology, as the API's rows are (a thousand POSTs
   one by one would take most of the run), and the listing and its first page of 100 again
   (target: the page >= 1,000 req/s).
2. **create to ACTIVE through the API, with the reconcile loop** (``serve``): ``--single``
   rounds of one load balancer, then ``--lbs`` (100) at once, one client thread each.
   Each client does what an Octavia client does (Terraform, Heat): POST the load
   balancer, wait until it is ACTIVE, POST a listener (HTTP:80), wait, a pool
   (ROUND_ROBIN, the listener's default), wait, a member, wait, a second member, wait
   (``--shape tree``, 5 writes; ``--shape lb``: the load balancer alone). A child POST
   answered 409 (its load balancer is PENDING_*) is retried after 0.1 s and counted.
   ACTIVE is seen by one poller thread listing GET /v2/lbaas/loadbalancers every
   ``--poll`` s (not 100 clients polling one each: that would load the server more than
   the creates do); a load balancer's time to ACTIVE runs from its first POST to the
   first listing, started after its last POST was answered, that shows it ACTIVE.
   Then every listener and pool must be ACTIVE and every load balancer's HAProxy must
   run with its 2 servers. The same reads are timed again with the data plane live
   (operating statuses from the status cache its watcher thread refreshes from each
   HAProxy once a second; target: the listing >= 500 req/s).
   **2b.** The same ``--lbs`` at once with the loop in a process of its own (``serve
   --no-agent`` beside ``netnode agent`` on the same node and store), to tell the
   loop's work from its sharing serve's interpreter (the GIL) with the API.
3. **the same topology from YAML**: one tenant network and 1 (then ``--lbs``) load
   balancers with the same VIPs, listener, pool and members, ``netnode apply -f``
   (a new process: wall time as the user waits, Python's start included). Every
   object of an apply becomes ACTIVE when its one pass ends, so its time to ACTIVE is
   the apply's wall time for each load balancer (p50 = p95 = max). With ``--shape lb``
   the target is issue 12's for 1,000 bare load balancers (API within 1.2x of YAML),
   measured at ``--lbs`` (at most 250: a thousand namespaces and HAProxy processes take
   far longer than a bench run on a small machine).
4. **writes at size** (``writes``). With ``serve --no-agent``: 10 load balancers (by
   ``--clients`` threads), then ``--posts`` (30) POST /v2/lbaas/loadbalancers one after
   the other on one connection, p50 and p95; then the topology filled up to
   ``--write-lbs`` (1,000) in one document write (as in phase 1) and the same series
   again (each series after one uncounted warm-up POST). Target: the p50 with 1,000
   within 1.2x of the p50 with 10 (a write's cost flat in the number of objects).
   Then with the loop (``serve``): one load balancer with an HTTP listener, a pool and
   1 member, ACTIVE; one PUT /v2/lbaas/pools/{id}/members (Octavia's batch update) of
   ``--batch-members`` (200) members, the first kept, the rest new addresses on the
   subnet (nothing needs to answer there); time from the PUT to a listing (every 0.05
   s) showing the load balancer ACTIVE again (target <= 2 s), then the running HAProxy
   must have that many servers (``show stat``), and whether it took them over the
   runtime API alone: the master's reload count, pid and workers (``show proc``)
   before and after (target: "runtime only"; else "N reload(s)" or "HAProxy
   restarted").

Each server (and agent) is stopped by SIGTERM to its own pid, then ``netnode destroy
--topology api`` (YAML: ``destroy -f``); what is left of the run's namespaces, HAProxy
processes and bridges is removed and fails the run; the state directories go.

``--profile`` shows where each server's time goes, by file:function and by group of
threads (the routes in AnyIO's worker threads, the event loop, the reconcile loop).
With py-spy (on PATH or ``PY_SPY=/path/to/py-spy``; not a netnode dependency) two
recorders attach from outside at 100 Hz: ``--gil`` (CPU running Python: whatever holds
the GIL) and ``--idle`` (wall time of the work, waiting for the GIL, locks, SQLite and
child processes included); ``--nonblocking``, so the figures stay close to an
unprofiled run. Without py-spy each server runs under cProfile, one per thread on that
thread's CPU clock (``profiled-serve``, below): its overhead inflates call-heavy code
and slows the run several times.

Usage: .venv/bin/python bench/api.py [--lbs 100] [--listing-lbs 1000] [--duration 3]
       [--shape tree|lb] [--phases reads,active,split,yaml,writes] [--write-lbs 1000]
       [--posts 30] [--batch-members 200] [--profile]

Exit status: 0 when every build, check and cleanup worked (missed targets included), 1
otherwise, 2 when it cannot run here, 130 on SIGINT/SIGTERM (after cleaning up).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labkit

from netnode.drivers.haproxy import HAProxyProcesses
from netnode.model.loading import load_data
from netnode.model.topology import Topology
from netnode.plan.desired import process_name
from netnode.reconcile.host import Host

API_TOPOLOGY = "api"
CIDR = "10.77.0.0/16"
GATEWAY = "10.77.0.1"
SEGMENTATION_ID = 77
# The API hands out VIPs from the bottom of the subnet: 10.77.0.2, .3, ...
FIRST_VIP = ipaddress.IPv4Address("10.77.0.2")
MEMBERS = ("10.77.250.1", "10.77.250.2")
STEP_TIMEOUT = 120.0
SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 90.0
CONFLICT_PAUSE = 0.1
# Set when the run is stopping (an error, Ctrl-C): client threads give up at once.
ABORT = threading.Event()

SPY_RATE = 100  # py-spy samples per second

READ_TARGET = 200.0  # req/s, each read endpoint with 100 load balancers ("hundreds")
PAGE_TARGET = 1000.0  # req/s, GET ...?limit=100 with --listing-lbs (1,000), API alone
LIVE_LIST_TARGET = 500.0  # req/s, the listing with the loop and --lbs live (issue 12)
PAGE = "/v2/lbaas/loadbalancers?limit=100"
ORDER_TARGET = 1.5  # API / YAML wall time for --lbs full load balancers (issue 12; was 3x)
# --shape lb: API / YAML wall time for bare load balancers (issue 12 asks it of 1,000)
BARE_ORDER_TARGET = 1.2
POST_FLAT_TARGET = 1.2  # POST loadbalancers p50 with --write-lbs present / with 10
BATCH_TARGET = 2.0  # s, one PUT of --batch-members members to the load balancer ACTIVE
BATCH_POLL = 0.05  # s between the listings that watch for ACTIVE after that PUT
BATCH_FIRST = "10.77.251.1"  # the PUT's new member addresses, on the tenant subnet

Json = dict[str, Any]


# --- HTTP --------------------------------------------------------------------------------


class ApiFailure(labkit.BenchError):
    """A request the flow needs was refused: the exact request and answer."""


class Api:
    """An HTTP/1.1 client for 127.0.0.1:port, one keep-alive connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self._local.conn = conn
        return conn

    def call(self, method: str, path: str, body: Json | None = None) -> tuple[int, Any, float]:
        """(status, parsed body or text, seconds)."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (1, 2):
            conn = self._conn()
            started = time.perf_counter()
            try:
                conn.request(method, path, body=payload, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            try:
                data: Any = json.loads(raw) if raw else None
            except ValueError:
                data = raw.decode(errors="replace")
            return resp.status, data, seconds
        raise AssertionError("unreachable")

    def must(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        ok: Sequence[int] = (200, 201, 202, 204),
    ) -> tuple[Any, float]:
        status, data, seconds = self.call(method, path, body)
        if status not in ok:
            raise ApiFailure(
                f"{method} {path} {json.dumps(body) if body else ''} -> {status} {data}"
            )
        return data, seconds


# --- one netnode instance ----------------------------------------------------------------


@dataclass
class Env:
    """One netnode instance of this run: node name, state directory, bridges."""

    role: str
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    state_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nn-")))

    @property
    def node(self) -> str:
        return f"api{self.role}-{self.suffix}"

    @property
    def bridge(self) -> str:
        return f"nn{self.suffix}i"

    def netnode(self, *args: str) -> list[str]:
        return [*netnode_argv(), "--state-dir", str(self.state_dir), "--node", self.node, *args]

    def host(self) -> Host:
        return Host(state_dir=self.state_dir, node=self.node)

    def haproxy(self) -> HAProxyProcesses:
        """The driver over this instance's HAProxy run directory (reads pid files)."""
        host = self.host()
        try:
            return HAProxyProcesses(host.run_dir)
        finally:
            host.close()


def netnode_argv() -> list[str]:
    script = Path(sys.executable).with_name("netnode")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "netnode.cli.main"]


def run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``netnode serve`` of one Env, as a child process (stopped by its own pid)."""

    def __init__(self, env: Env, loop: str, profile: bool) -> None:
        """``loop``: "thread" (serve's own reconcile loop), "process" (serve --no-agent
        beside a ``netnode agent`` process on the same node) or "none" (--no-agent)."""
        self.env = env
        self.loop = loop
        self.agent_proc: subprocess.Popen[bytes] | None = None
        self.agent_log = env.state_dir / "agent.log"
        self.port = free_port()
        self.log = env.state_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = Api(self.port)
        self.profile: Json | None = None
        # --profile: py-spy attached from outside when there is one, else cProfile inside.
        self.spy_tool = py_spy() if profile else None
        self.spies: list[subprocess.Popen[bytes]] = []
        self.profile_out = env.state_dir / "profile.json" if profile else None

    def start(self) -> None:
        args = self.env.netnode(
            "serve", "--noauth", "--port", str(self.port), "--integration-bridge", self.env.bridge
        )
        if self.loop != "thread":
            args.append("--no-agent")
        if self.profile_out is not None and self.spy_tool is None:
            args = [
                sys.executable,
                str(Path(__file__).resolve()),
                "profiled-serve",
                str(self.profile_out),
                "--",
                *args[len(netnode_argv()) :],
            ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise labkit.BenchError(
                    f"netnode serve exited ({self.proc.returncode}):\n" + self.tail()
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.api.call("GET", "/")[0] == 200:
                    self._spy()
                    if self.loop == "process":
                        with open(self.agent_log, "wb") as log:
                            self.agent_proc = subprocess.Popen(
                                self.env.netnode("agent"),
                                stdin=subprocess.DEVNULL,
                                stdout=log,
                                stderr=subprocess.STDOUT,
                            )
                    return
            if time.monotonic() > deadline:
                raise labkit.BenchError("netnode serve did not answer:\n" + self.tail())
            time.sleep(0.1)

    def _spy(self) -> None:
        """Two py-spy recorders on the server: --gil (the thread holding the GIL: CPU
        running Python) and --idle (every thread, waiting included: wall time)."""
        if self.spy_tool is None or self.proc is None:
            return
        for kind, flag in (("gil", "--gil"), ("wall", "--idle")):
            # Bounded like everything else: -d; stopped by SIGINT to its own pid.
            argv = [
                self.spy_tool,
                "record",
                "--pid",
                str(self.proc.pid),
                flag,
                "--nonblocking",
                "--rate",
                str(SPY_RATE),
                "--nolineno",
                "--full-filenames",
                "--format",
                "raw",
                "-d",
                "900",
                "--output",
                str(self.spy_out(kind)),
            ]
            self.spies.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def spy_out(self, kind: str) -> Path:
        return self.env.state_dir / f"py-spy-{kind}.txt"

    def _stop_spy(self) -> None:
        for spy in self.spies:
            if spy.poll() is None:
                spy.send_signal(signal.SIGINT)
                try:
                    spy.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait(timeout=10)
        if self.spies and self.profile_out is not None:
            folded = fold_spy(self.spy_out("gil"), wall=False)
            folded["wall"] = fold_spy(self.spy_out("wall"), wall=True)
            with contextlib.suppress(OSError):
                self.profile_out.write_text(json.dumps(folded))

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to our own pid; SIGKILL if it has not exited in time."""
        self._stop_spy()
        for what, proc in (("agent", self.agent_proc), ("serve", self.proc)):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                raise labkit.BenchError(f"netnode {what} ignored SIGTERM (killed)") from None

    def passes(self) -> list[tuple[str, int | None, float]]:
        """The reconcile loop's passes from its log: (kind, units, seconds)."""
        found = []
        pattern = re.compile(r"^\S+: (full|changes) pass(?: \((\d+) units\))?: .* in ([\d.]+) s")
        text = self.log.read_text(errors="replace")
        if self.agent_log.exists():
            text += self.agent_log.read_text(errors="replace")
        for line in text.splitlines():
            m = pattern.match(line)
            if m:
                found.append((m[1], int(m[2]) if m[2] else None, float(m[3])))
        return found


def cleanup(env: Env, topo: Topology | None, destroy: list[str]) -> list[str]:
    """``netnode destroy ...``, then whatever of this Env is left (removed, reported);
    the state directory goes. Returns the problems."""
    problems: list[str] = []
    try:
        try:
            proc = run(env.netnode("destroy", *destroy))
            if proc.returncode != 0:
                problems.append(
                    f"netnode destroy {' '.join(destroy)} failed "
                    f"({proc.returncode}): {proc.stderr.strip()}"
                )
        except subprocess.TimeoutExpired:
            problems.append(f"netnode destroy {' '.join(destroy)} did not finish")
        host = env.host()
        try:
            lab = labkit.Lab(env.suffix, env.state_dir, host, {})
            if topo is not None:
                problems += lab._leftovers(topo)
            else:
                for name in host.haproxy.names():
                    if host.haproxy.running_pid(name) is not None:
                        host.haproxy.stop(name)
                        problems.append(f"HAProxy {name} was still running (stopped now)")
        finally:
            host.close()
    finally:
        shutil.rmtree(env.state_dir, ignore_errors=True)
    return problems


def api_topology(env: Env) -> Topology | None:
    """The API's topology as the server last wrote it (read after it stopped)."""
    host = env.host()
    try:
        document, _ = host.store.document(API_TOPOLOGY)
    finally:
        host.close()
    return None if document is None else load_data(document, env.node, "api")


@contextlib.contextmanager
def serving(
    role: str, loop: str, args: argparse.Namespace, problems: list[str]
) -> Iterator[Server]:
    env = Env(role)
    server = Server(env, loop, args.profile and loop != "process")
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except labkit.BenchError as exc:
            problems.append(str(exc))
        server.profile = load_profile(server.profile_out)
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            for path in (
                server.log,
                server.agent_log,
                server.spy_out("gil"),
                server.spy_out("wall"),
            ):
                if path.exists():
                    shutil.copy(path, args.logs / f"{env.node}-{path.name}")
        topo = None
        try:
            topo = api_topology(env)
        except Exception as exc:  # the leftover check then covers HAProxy only
            problems.append(f"reading the API topology: {exc}")
        problems += cleanup(env, topo, ["--topology", API_TOPOLOGY])


# --- phase 1: reads and creates, API alone -----------------------------------------------


@dataclass
class Read:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float


def wrk_get(port: int, path: str, duration: int, connections: int) -> labkit.WrkResult:
    url = f"http://127.0.0.1:{port}{path}"
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "--latency", url]
    try:
        proc = run(argv, timeout=duration + 30)
    except subprocess.TimeoutExpired as exc:
        raise labkit.BenchError(f"wrk on {url} did not finish") from exc
    if proc.returncode != 0:
        raise labkit.BenchError(f"wrk on {url} failed: {proc.stderr}{proc.stdout}")
    result = labkit.parse_wrk(proc.stdout)
    if result.non_2xx or result.errors or result.requests == 0:
        raise labkit.BenchError(
            f"wrk on {url}: {result.non_2xx} non-2xx answers, {result.socket_errors} socket errors"
        )
    return result


def network(api: Api) -> tuple[str, str]:
    net, _ = api.must(
        "POST",
        "/v2.0/networks",
        {"network": {"name": "bench", "provider:segmentation_id": SEGMENTATION_ID}},
    )
    sub, _ = api.must(
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": net["network"]["id"],
                "cidr": CIDR,
                "ip_version": 4,
                "gateway_ip": GATEWAY,
            }
        },
    )
    return net["network"]["id"], sub["subnet"]["id"]


def create_lbs(
    api: Api, subnet: str, count: int, clients: int, first: int
) -> tuple[float, list[float], list[str]]:
    """``count`` POST /v2/lbaas/loadbalancers by ``clients`` threads: (seconds, each
    request's latency, ids)."""

    def one(n: int) -> tuple[float, str]:
        data, seconds = api.must(
            "POST",
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"name": f"lb{n:03d}", "vip_subnet_id": subnet}},
        )
        return seconds, data["loadbalancer"]["id"]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(one, range(first, first + count)))
    return time.perf_counter() - started, [s for s, _ in done], [i for _, i in done]


def reads(
    api: Api,
    port: int,
    label: str,
    lb_id: str | None,
    args: argparse.Namespace,
    floor: bool = True,
    paged: bool = False,
) -> list[Read]:
    """wrk on each read: the listing, one load balancer (when ``lb_id``), the networks;
    ``floor``: GET / first; ``paged``: the listing's first page of 100 too."""
    paths = [("GET /v2/lbaas/loadbalancers", "/v2/lbaas/loadbalancers")]
    if paged:
        paths.append((f"GET {PAGE}", PAGE))
    if lb_id is not None:
        paths.append(("GET /v2/lbaas/loadbalancers/{id}", f"/v2/lbaas/loadbalancers/{lb_id}"))
    paths.append(("GET /v2.0/networks", "/v2.0/networks"))
    if floor:
        paths.insert(0, ("GET / (version document)", "/"))
    found = []
    for name, path in paths:
        r = wrk_get(port, path, args.duration, args.connections)
        found.append(Read(f"{name}, {label}", r.rps, r.p50_ms, r.p99_ms))
        print(f"    {found[-1].label}: {r.rps:.0f} req/s (p50 {r.p50_ms:.1f} ms)", flush=True)
    return found


def phase_reads(args: argparse.Namespace, problems: list[str], out: dict[str, Any]) -> None:
    print(
        f"1. API alone (serve --no-agent): reads with 10 and {args.lbs} load balancers, creates",
        flush=True,
    )
    with serving("r", "none", args, problems) as server:
        api = server.api
        _, subnet = network(api)
        t10, lat10, ids10 = create_lbs(api, subnet, 10, args.clients, 0)
        out["reads"] = reads(api, server.port, "10 LBs", ids10[0], args)
        t90, lat90, _ = create_lbs(api, subnet, args.lbs - 10, args.clients, 10)
        out["reads"] += reads(
            api, server.port, f"{args.lbs} LBs", ids10[0], args, floor=False, paged=True
        )
        lat = lat10 + lat90
        out["create_noagent"] = (args.lbs / (t10 + t90), lat)
        print(
            f"    POST /v2/lbaas/loadbalancers x{args.lbs}, {args.clients} clients: "
            f"{args.lbs / (t10 + t90):.0f} req/s",
            flush=True,
        )
        if args.listing_lbs > args.lbs:
            seeded = seed_lbs(server.env, args.listing_lbs)
            print(
                f"    {seeded} more load balancers written to the store as the API writes "
                f"them ({args.listing_lbs} in all)",
                flush=True,
            )
            out["reads_many"] = reads(
                api, server.port, f"{args.listing_lbs} LBs", None, args, floor=False, paged=True
            )
    out["profile_reads"] = server.profile


def seed_lbs(env: Env, total: int) -> int:
    """Load balancers up to ``total`` in the API's topology, written to the store in
    one write of the whole topology, the rows as the API writes them (copies of its
    first load balancer, each with its own id, VIP and metadata), so the run does not
    spend its time on a thousand POSTs. Returns how many were added."""
    host = env.host()
    try:
        document, generation = host.store.document(API_TOPOLOGY)
        if document is None or not document.get("load_balancers"):
            raise labkit.BenchError("seeding: the API's topology has no load balancer to copy")
        lbs = document["load_balancers"]
        template = lbs[0]
        meta = document["metadata"][template["id"]]
        used = {lb["vip"]["address"] for lb in lbs}
        address = FIRST_VIP
        added = 0
        while len(lbs) < total:
            while str(address) in used:
                address += 1
            used.add(str(address))
            uid = str(uuid.uuid4())
            lbs.append(
                {
                    **template,
                    "id": uid,
                    "name": uid,
                    "vip": {**template["vip"], "address": str(address)},
                }
            )
            document["metadata"][uid] = {**meta, "name": f"seed{len(lbs):04d}"}
            added += 1
        load_data(document, env.node, "api")  # the API's own rules hold
        if not host.store.replace_desired(API_TOPOLOGY, document, generation):
            raise labkit.BenchError("seeding: the API's topology changed meanwhile")
        return added
    finally:
        host.close()


# --- phase 2: create to ACTIVE through the API -------------------------------------------


class Watch:
    """One thread listing the load balancers every ``interval`` seconds."""

    def __init__(self, api: Api, interval: float) -> None:
        self.api = api
        self.interval = interval
        self.cond = threading.Condition()
        self.status: dict[str, str] = {}
        self.started = 0.0  # when the current listing was asked for
        self.answered = 0.0
        self.polls: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status, data, seconds = self.api.call("GET", "/v2/lbaas/loadbalancers")
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(str(exc))
                self._stop.wait(self.interval)
                continue
            answered = time.monotonic()
            if status != 200:
                self.failures.append(f"GET /v2/lbaas/loadbalancers -> {status} {data}")
            else:
                with self.cond:
                    self.status = {x["id"]: x["provisioning_status"] for x in data["loadbalancers"]}
                    self.started, self.answered = started, answered
                    self.polls.append(seconds)
                    self.cond.notify_all()
            self._stop.wait(max(0.0, self.interval - (answered - started)))

    def active(self, lb_id: str, after: float, deadline: float) -> float:
        """When a listing asked for after ``after`` first showed ``lb_id`` ACTIVE."""
        with self.cond:
            while True:
                if self.started >= after:
                    status = self.status.get(lb_id)
                    if status == "ACTIVE":
                        return self.answered
                    if status == "ERROR":
                        raise labkit.BenchError(f"load balancer {lb_id} went ERROR")
                remaining = deadline - time.monotonic()
                if ABORT.is_set():
                    raise labkit.BenchError("aborted")
                if remaining <= 0:
                    raise labkit.BenchError(
                        f"load balancer {lb_id} not ACTIVE within {STEP_TIMEOUT:.0f} s "
                        f"(last seen {self.status.get(lb_id)})"
                    )
                self.cond.wait(min(remaining, 1.0))


@dataclass
class Built:
    lb_id: str
    began: float
    active: float
    pool_id: str | None = None
    posts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Per write: from its answer to the listing that showed the load balancer ACTIVE.
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    conflicts: int = 0

    @property
    def seconds(self) -> float:
        return self.active - self.began


def build(
    api: Api, watch: Watch, subnet: str, shape: str, n: int, members: Sequence[str] = MEMBERS
) -> Built:
    """One load balancer the way an Octavia client makes it, each write waiting for
    ACTIVE (``members``: one POST each, port 80); returns when the last write is ACTIVE."""
    began = time.monotonic()
    data, seconds = api.must(
        "POST",
        "/v2/lbaas/loadbalancers",
        {"loadbalancer": {"name": f"lb{n:03d}", "vip_subnet_id": subnet}},
    )
    answered = time.monotonic()
    lb_id = data["loadbalancer"]["id"]
    built = Built(lb_id, began, 0.0)
    built.posts["loadbalancer"].append(seconds)
    built.active = watch.active(lb_id, answered, answered + STEP_TIMEOUT)
    built.waits["loadbalancer"].append(built.active - answered)
    if shape == "lb":
        return built

    def child(kind: str, path: str, body: Json) -> Json:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            status, answer, seconds = api.call("POST", path, body)
            if status == 201:
                answered = time.monotonic()
                built.posts[kind].append(seconds)
                built.active = watch.active(lb_id, answered, answered + STEP_TIMEOUT)
                built.waits[kind].append(built.active - answered)
                return answer
            if status != 409 or time.monotonic() > deadline or ABORT.is_set():
                raise ApiFailure(f"POST {path} {json.dumps(body)} -> {status} {answer}")
            built.conflicts += 1
            time.sleep(CONFLICT_PAUSE)

    listener = child(
        "listener",
        "/v2/lbaas/listeners",
        {"listener": {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80}},
    )
    pool = child(
        "pool",
        "/v2/lbaas/pools",
        {
            "pool": {
                "listener_id": listener["listener"]["id"],
                "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
            }
        },
    )
    built.pool_id = pool["pool"]["id"]
    for address in members:
        child(
            "member",
            f"/v2/lbaas/pools/{built.pool_id}/members",
            {"member": {"address": address, "protocol_port": 80}},
        )
    return built


def build_many(
    api: Api, watch: Watch, subnet: str, shape: str, count: int, first: int
) -> tuple[list[Built], float, float]:
    """``count`` load balancers at once, one thread each: (built, wall seconds, seconds
    over which the ``count`` load balancer POSTs were answered)."""
    barrier = threading.Barrier(count)
    began: list[float] = []
    lock = threading.Lock()

    def one(n: int) -> Built:
        barrier.wait(timeout=60)
        with lock:
            began.append(time.monotonic())
        return build(api, watch, subnet, shape, n)

    pool = ThreadPoolExecutor(count)
    try:
        built = list(pool.map(one, range(first, first + count)))
    except BaseException:
        ABORT.set()  # the other clients stop waiting
        raise
    finally:
        pool.shutdown(wait=True)
    start = min(began)
    wall = max(b.active for b in built) - start
    lb_posts = max(b.began + b.posts["loadbalancer"][0] for b in built) - start
    return built, wall, lb_posts


def check_built(server: Server, built: list[Built], shape: str) -> None:
    """Every listener and pool ACTIVE; every load balancer's HAProxy running with its
    servers (the data plane, not just the status)."""
    wanted = {b.lb_id for b in built}
    if shape == "tree":
        for kind in ("listeners", "pools"):
            data, _ = server.api.must("GET", f"/v2/lbaas/{kind}")
            mine = [x for x in data[kind] if {lb["id"] for lb in x["loadbalancers"]} & wanted]
            bad = [x["id"] for x in mine if x["provisioning_status"] != "ACTIVE"]
            if len(mine) != len(wanted) or bad:
                raise labkit.BenchError(
                    f"{kind}: {len(mine)} for {len(wanted)} load balancers, not ACTIVE: {bad}"
                )
    haproxy = server.env.haproxy()
    servers = len(MEMBERS) if shape == "tree" else 0
    for lb_id in wanted:
        name = process_name("lb", lb_id)
        config = haproxy.installed_config(name) or ""
        found = len(re.findall(r"^\s*server \S+ 10\.77\.250\.", config, re.M))
        if haproxy.running_pid(name) is None or found != servers:
            raise labkit.BenchError(
                f"load balancer {lb_id} is ACTIVE but its HAProxy is "
                f"not running with {servers} servers (found {found})"
            )


def phase_active(args: argparse.Namespace, problems: list[str], out: dict[str, Any]) -> None:
    print(
        f"2. API with the reconcile loop: create to ACTIVE ({describe_shape(args.shape)}), "
        f"1 load balancer x{args.single}, then {args.lbs} at once",
        flush=True,
    )
    with serving("a", "thread", args, problems) as server:
        api = server.api
        _, subnet = network(api)
        with Watch(api, args.poll) as watch:
            singles = []
            for r in range(args.single):
                (b,), wall, _ = build_many(api, watch, subnet, args.shape, 1, r)
                check_built(server, [b], args.shape)
                singles.append(wall)
                print(f"    1 load balancer: ACTIVE after {wall:.2f} s", flush=True)
            passes_before = len(server.passes())
            built, wall, lb_posts = build_many(
                api, watch, subnet, args.shape, args.lbs, args.single
            )
            passes = server.passes()[passes_before:]
            check_built(server, built, args.shape)
            print(
                f"    {args.lbs} load balancers at once: all ACTIVE after {wall:.2f} s", flush=True
            )
            out["polls"] = list(watch.polls)
            if watch.failures:
                problems.append(
                    f"the poller failed {len(watch.failures)} time(s): {watch.failures[0]}"
                )
        out["single_api"] = singles
        out["many_api"] = (built, wall, lb_posts)
        out["passes"] = passes
        out["reads_live"] = reads(
            api,
            server.port,
            f"{args.lbs + args.single} LBs live",
            built[0].lb_id,
            args,
            floor=False,
            paged=True,
        )
    out["profile_active"] = server.profile


def phase_split(args: argparse.Namespace, problems: list[str], out: dict[str, Any]) -> None:
    print(
        f"2b. The same {args.lbs} at once, the loop in its own process (serve --no-agent "
        "beside netnode agent on the same node)",
        flush=True,
    )
    with serving("s", "process", args, problems) as server:
        api = server.api
        _, subnet = network(api)
        with Watch(api, args.poll) as watch:
            built, wall, lb_posts = build_many(api, watch, subnet, args.shape, args.lbs, 0)
            check_built(server, built, args.shape)
            print(
                f"    {args.lbs} load balancers at once: all ACTIVE after {wall:.2f} s", flush=True
            )
        out["many_split"] = (built, wall, lb_posts)
        out["passes_split"] = server.passes()


def describe_shape(shape: str) -> str:
    return (
        "each a load balancer, then a listener, a pool and 2 members, each write waiting for ACTIVE"
        if shape == "tree"
        else "load balancers alone"
    )


# --- phase 3: the same from YAML ---------------------------------------------------------


def yaml_topology(name: str, bridge: str, count: int, shape: str) -> Json:
    lbs = []
    for n in range(count):
        lb: Json = {
            "name": f"lb{n:03d}",
            "vip": {"network": "bench", "address": str(FIRST_VIP + n)},
        }
        if shape == "tree":
            lb["listeners"] = [
                {"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": "web"}
            ]
            lb["pools"] = [
                {
                    "name": "web",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [
                        {"name": f"m{i}", "address": a, "protocol_port": 80}
                        for i, a in enumerate(MEMBERS)
                    ],
                }
            ]
        lbs.append(lb)
    return {
        "name": name,
        "integration_bridge": bridge,
        "networks": [
            {
                "name": "bench",
                "segmentation_id": SEGMENTATION_ID,
                "subnets": [{"name": "bench-subnet", "cidr": CIDR, "gateway_ip": GATEWAY}],
            }
        ],
        "load_balancers": lbs,
    }


def apply_yaml(count: int, shape: str, problems: list[str]) -> tuple[float, float]:
    """``netnode apply -f`` of ``count`` load balancers on a fresh node: (wall seconds,
    netnode's own figure), then destroy."""
    env = Env("y")
    path = env.state_dir / "bench.yaml"
    data = yaml_topology(f"apibench-{env.suffix}", env.bridge, count, shape)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    topo = load_data(data, env.node)
    try:
        started = time.perf_counter()
        proc = run(env.netnode("apply", "-f", str(path)))
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise labkit.BenchError(
                f"netnode apply failed ({proc.returncode}):\n{proc.stderr}{proc.stdout[-2000:]}"
            )
        own = re.search(r"Apply complete in ([\d.]+) s", proc.stdout)
        haproxy = env.haproxy()
        missing = [
            lb.uid
            for lb in topo.load_balancers
            if haproxy.running_pid(process_name("lb", lb.uid)) is None
        ]
        if missing:
            raise labkit.BenchError(f"after apply, {len(missing)} HAProxy not running")
        return wall, float(own[1]) if own else float("nan")
    finally:
        problems += cleanup(env, topo, ["-f", str(path)])


def phase_yaml(args: argparse.Namespace, problems: list[str], out: dict[str, Any]) -> None:
    print(
        f"3. The same from YAML (netnode apply -f, a new node each): 1 load balancer "
        f"x{args.single}, then {args.lbs}",
        flush=True,
    )
    singles = []
    for _ in range(args.single):
        wall, own = apply_yaml(1, args.shape, problems)
        singles.append(wall)
        print(f"    1 load balancer: {wall:.2f} s (netnode's own figure {own:.2f} s)", flush=True)
    wall, own = apply_yaml(args.lbs, args.shape, problems)
    print(
        f"    {args.lbs} load balancers: {wall:.2f} s (netnode's own figure {own:.2f} s)",
        flush=True,
    )
    out["single_yaml"] = singles
    out["many_yaml"] = (wall, own)


# --- phase 4: writes at size ------------------------------------------------------------


def sequential_posts(api: Api, subnet: str, count: int, label: str) -> list[float]:
    """One warm-up POST /v2/lbaas/loadbalancers (not counted: the first write after a
    change of size pays for reading the new store), then ``count`` one after the other
    on one connection: each one's seconds."""
    found = []
    for n in range(count + 1):
        _, seconds = api.must(
            "POST",
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"name": f"{label}-{n:02d}", "vip_subnet_id": subnet}},
        )
        if n:
            found.append(seconds)
    return found


@dataclass
class Batch:
    """One PUT /v2/lbaas/pools/{id}/members: answered in, to ACTIVE again, what HAProxy
    did (its master's reload count, master pid and workers before and after)."""

    members: int
    answered: float
    active: float
    reloads: int
    restarted: bool
    workers_replaced: bool
    running: int  # servers the running HAProxy has after it

    @property
    def how(self) -> str:
        if self.restarted:
            return "HAProxy restarted"
        if self.reloads or self.workers_replaced:
            return f"{self.reloads} reload(s)"
        return "runtime only"


def running_servers(haproxy: HAProxyProcesses, name: str) -> int:
    """The servers the running HAProxy has (``show stat`` rows of type 2)."""
    return sum(1 for row in haproxy.stats(name) if row.get("type") == "2")


def batch_members(server: Server, count: int) -> Batch:
    """A load balancer with an HTTP listener, a pool and 1 member, ACTIVE; then one
    PUT of ``count`` members (the first kept, the rest new addresses on the subnet) and
    the time from the PUT to the load balancer ACTIVE again."""
    api = server.api
    _, subnet = network(api)
    haproxy = server.env.haproxy()
    with Watch(api, BATCH_POLL) as watch:
        built = build(api, watch, subnet, "tree", 0, MEMBERS[:1])
        name = process_name("lb", built.lb_id)
        if running_servers(haproxy, name) != 1:
            raise labkit.BenchError(f"load balancer {built.lb_id} is ACTIVE without its member")
        before = haproxy.master_state(name)
        first = ipaddress.IPv4Address(BATCH_FIRST)
        members = [{"address": MEMBERS[0], "protocol_port": 80}] + [
            {"address": str(first + i), "protocol_port": 80} for i in range(count - 1)
        ]
        began = time.monotonic()
        _, answered = api.must(
            "PUT", f"/v2/lbaas/pools/{built.pool_id}/members", {"members": members}, ok=(202,)
        )
        after = time.monotonic()
        active = watch.active(built.lb_id, after, after + STEP_TIMEOUT)
        if watch.failures:
            raise labkit.BenchError(f"the poller failed: {watch.failures[0]}")
    now = haproxy.master_state(name)
    running = running_servers(haproxy, name)
    if running != count:
        raise labkit.BenchError(
            f"load balancer {built.lb_id} is ACTIVE after the PUT of {count} members but its "
            f"HAProxy runs {running} servers"
        )
    return Batch(
        members=count,
        answered=answered,
        active=active - began,
        reloads=now.reloads - before.reloads if now.pid == before.pid else 0,
        restarted=now.pid != before.pid,
        workers_replaced=set(now.workers) != set(before.workers),
        running=running,
    )


def phase_writes(args: argparse.Namespace, problems: list[str], out: dict[str, Any]) -> None:
    print(
        f"4. Writes at size: POST latency with 10 and {args.write_lbs} load balancers "
        f"(serve --no-agent), then one PUT of {args.batch_members} members (serve)",
        flush=True,
    )
    with serving("w", "none", args, problems) as server:
        api = server.api
        _, subnet = network(api)
        create_lbs(api, subnet, 10, args.clients, 0)
        small = sequential_posts(api, subnet, args.posts, "small")
        print(
            f"    {args.posts} POSTs, 10 load balancers present: p50 "
            f"{ms(statistics.median(small))}",
            flush=True,
        )
        seeded = seed_lbs(server.env, args.write_lbs)
        print(
            f"    {seeded} more load balancers written to the store as the API writes them "
            f"({args.write_lbs} in all)",
            flush=True,
        )
        big = sequential_posts(api, subnet, args.posts, "big")
        print(
            f"    {args.posts} POSTs, {args.write_lbs} load balancers present: p50 "
            f"{ms(statistics.median(big))}",
            flush=True,
        )
        out["posts_at_size"] = (small, big)
    with serving("m", "thread", args, problems) as server:
        batch = batch_members(server, args.batch_members)
        print(
            f"    PUT of {batch.members} members: answered in {ms(batch.answered)}, ACTIVE "
            f"again after {batch.active:.2f} s, {batch.how}",
            flush=True,
        )
        out["batch"] = batch


# --- the profiler (hidden subcommand: profiled-serve OUT -- netnode args) ---------------


def _group(name: str) -> str:
    if name == "MainThread":
        return "event loop (uvicorn)"
    if name == "netnode-agent":
        return "reconcile loop"
    if name.startswith("AnyIO worker"):
        return "API worker threads (the routes)"
    return "other threads"


def _where(filename: str, function: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.", str(labkit.REPO) + "/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/lib/python3.":
                filename = "python/" + filename.split("/", 1)[-1]
            break
    return f"{filename}:{function}"


def profiled_serve(out: Path, argv: list[str]) -> int:
    """``netnode <argv>`` in this process with a cProfile per thread whose clock is that
    thread's CPU time (``time.thread_time``: waiting for the GIL, a lock, a socket or a
    child process costs nothing); per group of threads, each function's own and
    cumulative CPU seconds go to ``out`` (JSON) when it returns."""
    import cProfile
    import pstats

    from netnode.cli.main import main as netnode_main

    profilers: list[tuple[str, cProfile.Profile]] = []
    lock = threading.Lock()

    def start_profiler(_frame: Any, _event: str, _arg: Any) -> None:
        # threading.setprofile's hook runs at a new thread's first call: swap in a
        # cProfile of that thread (enable() replaces this hook for the thread).
        profiler = cProfile.Profile(time.thread_time)
        with lock:
            profilers.append((threading.current_thread().name, profiler))
        profiler.enable()

    threading.setprofile(start_profiler)
    main_profiler = cProfile.Profile(time.thread_time)
    profilers.append(("MainThread", main_profiler))
    main_profiler.enable()
    try:
        return netnode_main(argv)
    finally:
        main_profiler.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        groups: dict[str, pstats.Stats] = {}
        cpu: Counter[str] = Counter()
        with lock:
            taken = list(profilers)
        for name, profiler in taken:
            group = _group(name)
            stats = pstats.Stats(profiler)
            cpu[group] += stats.total_tt  # type: ignore[attr-defined]
            if group in groups:
                groups[group].add(stats)
            else:
                groups[group] = stats
        result: Json = {
            "tool": "cProfile on each thread's CPU clock",
            "cpu": cpu,
            "own": {},
            "cumulative": {},
        }
        for group, stats in groups.items():
            own: Counter[str] = Counter()
            cumulative: Counter[str] = Counter()
            for (filename, _line, function), entry in stats.stats.items():  # type: ignore[attr-defined]
                where = _where(filename, function)
                own[where] += entry[2]
                cumulative[where] = max(cumulative[where], entry[3])
            result["own"][group] = own.most_common(60)
            result["cumulative"][group] = cumulative.most_common(400)
        out.write_text(json.dumps(result))


def py_spy() -> str | None:
    """py-spy, from PATH or $PY_SPY (it is not one of netnode's dependencies)."""
    found = os.environ.get("PY_SPY") or shutil.which("py-spy")
    return found if found and os.access(found, os.X_OK) else None


def _spy_group(frames: list[tuple[str, str]]) -> str:
    for function, filename in frames:
        name = function.rpartition(".")[2]  # py-spy qualifies: run.<locals>.loop
        if name == "loop" and filename.endswith("netnode/cli/serve.py"):
            return _group("netnode-agent")
        if name == "run" and "anyio/" in filename:
            return _group("AnyIO worker thread")
    if frames and frames[0][0] == "<module>":
        return _group("MainThread")
    return _group("?")


def fold_spy(path: Path, wall: bool) -> Json:
    """py-spy's raw output (one ``frame;frame;... count`` line per distinct stack,
    outermost first, each frame ``function (file)``) folded like profiled_serve's. With
    --gil (``wall`` False) only the thread holding the GIL is sampled: CPU spent running
    Python. With --idle (``wall`` True) every thread is, waiting included; only the
    samples of work are kept: a route running, a reconcile pass, the event loop not
    waiting in select()."""
    cpu: Counter[str] = Counter()
    own: dict[str, Counter[str]] = defaultdict(Counter)
    cumulative: dict[str, Counter[str]] = defaultdict(Counter)
    frame = re.compile(r"^(.*) \((.*)\)$")
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        seconds = int(count_text) / SPY_RATE
        frames = []
        for part in stack.split(";"):
            m = frame.match(part)
            frames.append((m[1], m[2]) if m else (part, ""))
        group = _spy_group(frames)
        if wall and not _working(group, frames):
            continue
        cpu[group] += seconds
        wheres = [_where(f, fn) for fn, f in frames]
        own[group][wheres[-1]] += seconds
        for where in set(wheres):
            cumulative[group][where] += seconds
    return {
        "tool": (
            f"py-spy --idle at {SPY_RATE} Hz: wall time of work, waits included"
            if wall
            else f"py-spy --gil at {SPY_RATE} Hz: CPU running Python"
        ),
        "cpu": cpu,
        "own": {g: c.most_common(60) for g, c in own.items()},
        "cumulative": {g: c.most_common(400) for g, c in cumulative.items()},
    }


def _working(group: str, frames: list[tuple[str, str]]) -> bool:
    names = [fn.rpartition(".")[2] for fn, _ in frames]
    if group == _group("netnode-agent"):
        return "run_once" in names
    if group == _group("AnyIO worker thread"):
        return any("/netnode/" in f for _, f in frames)
    if group == _group("MainThread"):
        return names[-1] not in ("select", "poll")
    return any("/netnode/" in f for _, f in frames)


def load_profile(path: Path | None) -> Json | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def print_profile(title: str, profile: Json | None, top: int) -> None:
    if not profile:
        print(f"\nProfile of {title}: none written")
        return
    if "wall" in profile:
        print_profile(title, {k: v for k, v in profile.items() if k != "wall"}, top)
        print_profile(title, profile["wall"], top)
        return
    print(
        f"\nProfile of {title} ({profile['tool']}): seconds per group of threads, "
        "then per function: cumulative (netnode's and the libraries' entry points), own"
    )
    for group, cpu in sorted(profile["cpu"].items(), key=lambda kv: -kv[1]):
        if cpu < 0.05:
            continue
        print(f"  {group}: {cpu:.1f} s")
        cumulative = [
            (w, t)
            for w, t in profile["cumulative"].get(group, [])
            if w.startswith("netnode/")
            or w.startswith(("sqlalchemy/", "fastapi/", "pydantic/", "starlette/"))
        ]
        print("    cumulative:")
        for where, seconds in cumulative[:top]:
            print(f"      {seconds:7.2f} s {100 * seconds / cpu:5.1f}%  {where}")
        print("    own:")
        for where, seconds in profile["own"].get(group, [])[:top]:
            print(f"      {seconds:7.2f} s {100 * seconds / cpu:5.1f}%  {where}")


# --- report ------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = q * (len(ordered) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def table(rows: list[tuple[str, ...]], indent: str = "  ") -> None:
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(indent + "  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)).rstrip())


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.0f} ms"


def report(args: argparse.Namespace, out: dict[str, Any]) -> None:
    print()
    print("Command: " + " ".join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]))
    if "reads" in out or "reads_live" in out:
        print(
            f"\nAPI reads (wrk -t1 -c{args.connections} -d{args.duration}s to 127.0.0.1; "
            "--no-agent except 'live')"
        )
        rows = [("request", "req/s", "p50", "p99")]
        allreads = out.get("reads", []) + out.get("reads_many", []) + out.get("reads_live", [])
        rows += [
            (r.label, f"{r.rps:.0f}", f"{r.p50_ms:.1f} ms", f"{r.p99_ms:.1f} ms") for r in allreads
        ]
        table(rows)
        by = {r.label: r.rps for r in allreads}
        big = f"{args.lbs} LBs"
        floor = by.get("GET / (version document), 10 LBs")
        lst10 = by.get("GET /v2/lbaas/loadbalancers, 10 LBs")
        lst100 = by.get(f"GET /v2/lbaas/loadbalancers, {big}")
        ratios = []
        if floor and lst10:
            ratios.append(f"list of 10 / GET / = {lst10 / floor:.2f}")
        if lst10 and lst100:
            ratios.append(f"list of {args.lbs} / list of 10 = {lst100 / lst10:.2f}")
        one10 = by.get("GET /v2/lbaas/loadbalancers/{id}, 10 LBs")
        one100 = by.get(f"GET /v2/lbaas/loadbalancers/{{id}}, {big}")
        if one10 and one100:
            ratios.append(f"one LB with {args.lbs} / with 10 = {one100 / one10:.2f}")
        live = [r for r in out.get("reads_live", []) if "loadbalancers," in r.label]
        if live and lst100:
            ratios.append(f"list live / list --no-agent = {live[0].rps / lst100:.2f}")
        if ratios:
            print("  ratios: " + "; ".join(ratios))
        at100 = [r for r in out.get("reads", []) if r.label.endswith(big)]
        if at100:
            slowest = min(at100, key=lambda r: r.rps)
            verdict = "met" if slowest.rps >= READ_TARGET else "MISSED"
            print(
                f"  target: every read >= {READ_TARGET:.0f} req/s with {args.lbs} LBs: "
                f"slowest {slowest.rps:.0f} req/s ({slowest.label.split(',')[0]}): {verdict}"
            )
        paged = by.get(f"GET {PAGE}, {args.listing_lbs} LBs")
        if paged is not None:
            verdict = "met" if paged >= PAGE_TARGET else "MISSED"
            print(
                f"  target: GET {PAGE} >= {PAGE_TARGET:.0f} req/s with {args.listing_lbs} "
                f"LBs, API alone: {paged:.0f} req/s: {verdict}"
            )
        live_list = by.get(f"GET /v2/lbaas/loadbalancers, {args.lbs + args.single} LBs live")
        if live_list is not None:
            verdict = "met" if live_list >= LIVE_LIST_TARGET else "MISSED"
            print(
                f"  target: GET /v2/lbaas/loadbalancers >= {LIVE_LIST_TARGET:.0f} req/s with "
                f"the loop and {args.lbs + args.single} LBs live: {live_list:.0f} req/s: "
                f"{verdict}"
            )
    if "create_noagent" in out or "many_api" in out:
        print(
            "\nAPI writes: POST answered in (p50/max), then until the listing shows the "
            "load balancer ACTIVE again (p50/max)"
        )
        rows = [("write", "req/s", "POST p50", "POST max", "to ACTIVE p50", "max")]
        if "create_noagent" in out:
            rate, lat = out["create_noagent"]
            rows.append(
                (
                    f"POST loadbalancers x{args.lbs}, --no-agent, {args.clients} clients",
                    f"{rate:.0f}",
                    ms(statistics.median(lat)),
                    ms(max(lat)),
                    "-",
                    "-",
                )
            )
        if "many_api" in out:
            built, _, lb_posts = out["many_api"]
            for kind in ("loadbalancer", "listener", "pool", "member"):
                lat_k = [x for b in built for x in b.posts.get(kind, [])]
                wait_k = [x for b in built for x in b.waits.get(kind, [])]
                if not lat_k:
                    continue
                rate_k = f"{len(built) / lb_posts:.0f}" if kind == "loadbalancer" else ""
                rows.append(
                    (
                        f"POST {kind}s, {args.lbs} at once, with the loop",
                        rate_k,
                        ms(statistics.median(lat_k)),
                        ms(max(lat_k)),
                        ms(statistics.median(wait_k)),
                        ms(max(wait_k)),
                    )
                )
        table(rows)
        if "create_noagent" in out and "many_api" in out:
            _, _, lb_posts = out["many_api"]
            print(
                f"  ratio: POST loadbalancers req/s with the loop / --no-agent = "
                f"{args.lbs / lb_posts / out['create_noagent'][0]:.2f}"
            )
    if any(k in out for k in ("many_api", "many_split", "many_yaml")):
        print(f"\nTime to ACTIVE ({describe_shape(args.shape)})")
        columns = [
            (k, label)
            for k, label in (
                ("api", "API"),
                ("split", "API, agent process"),
                ("yaml", "YAML (apply -f)"),
            )
            if f"many_{k}" in out
        ]
        rows = [("", *(label for _, label in columns))]
        if "many_yaml" in out and "many_api" in out:
            rows[0] += ("API / YAML",)

        def seconds_row(label: str, values: dict[str, float | None]) -> tuple[str, ...]:
            cells = [f"{values[k]:.2f} s" if values.get(k) is not None else "-" for k, _ in columns]
            if len(rows[0]) > len(columns) + 1:
                a, y = values.get("api"), values.get("yaml")
                cells.append(f"{a / y:.2f}" if a and y else "-")
            return (label, *cells)

        singles = {
            k: statistics.median(out[f"single_{k}"])
            for k in ("api", "yaml")
            if out.get(f"single_{k}")
        }
        if singles:
            rows.append(seconds_row(f"1 load balancer (median of {args.single})", singles))
        each = {
            k: [b.seconds for b in out[f"many_{k}"][0]]
            for k in ("api", "split")
            if f"many_{k}" in out
        }
        ywall = out["many_yaml"][0] if "many_yaml" in out else None
        for label, q in (("p50", 0.5), ("p95", 0.95), ("max", 1.0)):
            values: dict[str, float | None] = {k: pct(v, q) for k, v in each.items()}
            values["yaml"] = ywall
            rows.append(seconds_row(f"{args.lbs} at once, {label} per load balancer", values))
        walls: dict[str, float | None] = {
            k: out[f"many_{k}"][1] for k in ("api", "split") if f"many_{k}" in out
        }
        walls["yaml"] = ywall
        rows.append(seconds_row(f"{args.lbs} at once, wall time for all", walls))
        table(rows)
        if "many_yaml" in out:
            print(
                f"  YAML: every object becomes ACTIVE when the apply's one pass ends, so "
                f"each load balancer's time is the wall time (netnode's own figure "
                f"{out['many_yaml'][1]:.2f} s; the rest is the process start)"
            )
        for key, label in (("api", "API"), ("split", "API, agent process")):
            if f"many_{key}" not in out:
                continue
            built = out[f"many_{key}"][0]
            passes = out["passes" if key == "api" else "passes_split"]
            changes = [p for p in passes if p[0] == "changes"]
            fulls = [p for p in passes if p[0] == "full"]
            print(
                f"  {label}: {len(changes)} changes passes ({sum(p[2] for p in changes):.1f} s "
                f"in all, longest {max((p[2] for p in changes), default=0):.2f} s), "
                f"{len(fulls)} full passes ({sum(p[2] for p in fulls):.1f} s); "
                f"{sum(b.conflicts for b in built)} child POSTs answered 409 and retried"
            )
        if "polls" in out:
            print(
                f"  ACTIVE is seen by listing every {args.poll} s (with the loop in serve, "
                f"a listing took {ms(statistics.median(out['polls']))} median, "
                f"{ms(max(out['polls']))} max)"
            )
        if "many_api" in out and "many_yaml" in out:
            ratio = out["many_api"][1] / ywall
            if args.shape == "lb":
                verdict = "met" if ratio <= BARE_ORDER_TARGET else "MISSED"
                print(
                    f"  target: 1,000 bare load balancers through the API within "
                    f"{BARE_ORDER_TARGET}x the YAML apply (wall), measured at {args.lbs} "
                    f"(--lbs; at most 250 here): {ratio:.2f}x: {verdict}"
                )
            else:
                verdict = "met" if ratio <= ORDER_TARGET else "MISSED"
                print(
                    f"  target: {args.lbs} at once through the API within {ORDER_TARGET}x "
                    f"the YAML apply (wall): {ratio:.2f}x: {verdict}"
                )
    if "posts_at_size" in out or "batch" in out:
        print("\nWrites at size (one client, one request at a time)")
        rows = [("write", "n", "p50", "p95", "to ACTIVE")]
        if "posts_at_size" in out:
            small, big = out["posts_at_size"]
            for present, lat in ((10, small), (args.write_lbs, big)):
                rows.append(
                    (
                        f"POST loadbalancers, {present} LBs present, --no-agent",
                        str(len(lat)),
                        ms(pct(lat, 0.5)),
                        ms(pct(lat, 0.95)),
                        "-",
                    )
                )
        batch: Batch | None = out.get("batch")
        if batch is not None:
            rows.append(
                (
                    f"PUT pools/{{id}}/members, 1 -> {batch.members} members, with the loop",
                    "1",
                    ms(batch.answered),
                    "-",
                    f"{batch.active:.2f} s",
                )
            )
        table(rows)
        if "posts_at_size" in out:
            small, big = out["posts_at_size"]
            ratio = pct(big, 0.5) / pct(small, 0.5)
            verdict = "met" if ratio <= POST_FLAT_TARGET else "MISSED"
            print(
                f"  target: POST p50 with {args.write_lbs} LBs within {POST_FLAT_TARGET}x of "
                f"p50 with 10 (each series adds its warm-up and {args.posts} POSTs to that "
                f"count): {ratio:.2f}x: {verdict}"
            )
        if batch is not None:
            verdict = "met" if batch.active <= BATCH_TARGET else "MISSED"
            print(
                f"  target: PUT of {batch.members} members to ACTIVE again <= "
                f"{BATCH_TARGET:.0f} s (watched every {BATCH_POLL} s): {batch.active:.2f} s: "
                f"{verdict}"
            )
            verdict = "met" if batch.how == "runtime only" else "MISSED"
            print(
                f"  target: runtime only (HAProxy master's reloads, pid and workers, show "
                f"proc; {batch.running} servers running after): {batch.how}: {verdict}"
            )
    if args.profile:
        print_profile("the --no-agent server (phase 1)", out.get("profile_reads"), args.top)
        print_profile("the server with the loop (phase 2)", out.get("profile_active"), args.top)


# --- main --------------------------------------------------------------------------------


PHASES: dict[str, Callable[[argparse.Namespace, list[str], dict[str, Any]], None]] = {
    "reads": phase_reads,
    "active": phase_active,
    "split": phase_split,
    "yaml": phase_yaml,
    "writes": phase_writes,
}


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "profiled-serve":
        rest = sys.argv[3:]
        return profiled_serve(Path(sys.argv[2]), rest[1:] if rest[:1] == ["--"] else rest)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lbs",
        type=int,
        default=100,
        help="load balancers created at once, and present for the reads",
    )
    parser.add_argument(
        "--listing-lbs",
        type=int,
        default=1000,
        help="load balancers present for the paged listing of phase 1 (those past --lbs "
        "written to the store in one go; 0: skip)",
    )
    parser.add_argument("--single", type=int, default=3, help="rounds of 1 load balancer")
    parser.add_argument(
        "--shape",
        choices=("tree", "lb"),
        default="tree",
        help="tree: LB + listener + pool + 2 members (default); lb: LB only",
    )
    parser.add_argument("--duration", type=int, default=3, help="wrk seconds per read")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument(
        "--clients", type=int, default=8, help="client threads for the --no-agent creates"
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=0.25,
        help="seconds between the listings that watch for ACTIVE",
    )
    parser.add_argument(
        "--write-lbs",
        type=int,
        default=1000,
        help="load balancers present for the second series of POSTs of phase 4 (those "
        "past the first 10 and the first series written to the store in one go)",
    )
    parser.add_argument(
        "--posts", type=int, default=30, help="sequential POSTs per size in phase 4"
    )
    parser.add_argument(
        "--batch-members",
        type=int,
        default=200,
        help="members in phase 4's PUT /v2/lbaas/pools/{id}/members",
    )
    parser.add_argument(
        "--phases",
        default="reads,active,split,yaml,writes",
        help="which of reads,active,split,yaml,writes to run",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the servers' threads; print where the time goes",
    )
    parser.add_argument("--top", type=int, default=15, help="functions per profile list")
    parser.add_argument(
        "--logs",
        type=Path,
        metavar="DIR",
        help="copy each server's (and agent's) log and py-spy output here",
    )
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(phases) - PHASES.keys():
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.lbs < 11 or args.lbs > 250:
        parser.error("--lbs must be 11..250")
    if args.listing_lbs and not args.lbs <= args.listing_lbs <= 5000:
        parser.error("--listing-lbs must be 0 or --lbs..5000")
    if args.posts < 1 or args.posts > 200:
        parser.error("--posts must be 1..200")
    if not 11 + args.posts <= args.write_lbs <= 5000:
        parser.error("--write-lbs must be 11 + --posts..5000")
    if not 2 <= args.batch_members <= 1000:
        parser.error("--batch-members must be 2..1000 (Octavia's batch takes up to 1,000)")
    if problem := labkit.preflight("api.py", ("wrk", "haproxy", "ovs-vsctl", "ip")):
        print(problem, file=sys.stderr)
        return 2
    if "--integration-bridge" not in run([*netnode_argv(), "serve", "--help"]).stdout:
        print(
            "api.py: this netnode serve has no --integration-bridge: it would build on "
            "the shared br-int",
            file=sys.stderr,
        )
        return 2
    labkit.stop_on_sigterm()
    out: dict[str, Any] = {}
    problems: list[str] = []
    started = time.monotonic()
    status = 0
    try:
        for name in phases:
            PHASES[name](args, problems, out)
    except KeyboardInterrupt:
        print("api.py: interrupted; cleaned up", file=sys.stderr)
        status = 130
    except (labkit.BenchError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"api.py: {exc}", file=sys.stderr)
        status = 1
    if problems:
        print("api.py: cleanup: " + "; ".join(problems), file=sys.stderr)
        status = status or 1
    if status == 0:
        report(args, out)
        print(f"\n(whole run {time.monotonic() - started:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
