"""Two netnode nodes, one load balancer and one router each held by both, the master's
node killed under load: what ``netnode demo --ha`` shows, and the benchmark bench/ha_nodes.py
measures round after round.

Everything is this run's own, on this machine:

- a private PostgreSQL (``netnode.lab.postgres``), the store both nodes share;
- a lab (``netnode apply`` on a node outside the cluster): two web servers on the tenant
  network (10.0.0.81 and .82), and an external client (10.255.253.1) on the external
  network, which answers HTTP with the caller's source address;
- two simulated nodes (``netnode.lab.nodes``), each a ``netnode agent --cluster`` with
  bridges of its own patched to the lab's;
- in the cluster's topology: an ACTIVE_STANDBY load balancer (VIP 10.0.0.100) and an HA
  router whose floating IP 10.255.253.100 leads to the VIP, both on the chosen failover
  profile. The scheduler gives each pair's MASTER to the same, least loaded node.

A round (``HaDemo.takeover``): a client on the external network sends a request to the
floating IP every 10 ms; ``connections`` kept-alive connections go from a web server
through the router's SNAT to the external client. Then the node whose instance holds
the VIP dies (cut off, every process SIGKILLed). Measured: the seconds until the other
node's instance holds the VIP and the floating IP serves (the load balancer's takeover)
and the requests that failed meanwhile; the seconds until the other router instance
holds the floating IP (the router's takeover), and how many established connections
through it still carry a request (conntrackd committed their NAT on the new master).
The dead node then comes back and takes its slots again as the standby.

Safety: traffic only between namespaces of this run; VRRP and conntrackd only on the
run's own bridges; every process stopped by pid; everything removed at the end.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from netnode.cluster import nodes as cluster_nodes
from netnode.cluster import scheduler
from netnode.errors import NetnodeError
from netnode.lab import postgres
from netnode.lab.client import HttpConnection, http_get
from netnode.lab.nodes import SimulatedNodes, wait_for
from netnode.model import ids
from netnode.model.loading import load_data
from netnode.reconcile import converge
from netnode.reconcile.host import Host
from netnode.store.database import engine_for

VIP = "10.0.0.100"
FIP = "10.255.253.100"
SNAT = "10.255.253.10"  # the router's gateway address
OUTSIDE = "10.255.253.1"  # the external client, and the external network's gateway
TOPOLOGY = "hademo"
# How long after a takeover failed requests still count against it.
AFTER = 2.0

TENANT = {
    "name": "tenant1",
    "segmentation_id": 1,
    "subnets": [{"name": "tenant1-subnet", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
}
PUBLIC = {
    "name": "public",
    "external": True,
    "subnets": [{"name": "public-subnet", "cidr": "10.255.253.0/24", "gateway_ip": OUTSIDE}],
}


def lab_topology(suffix: str) -> dict:
    """The servers and the external client, on the lab's own bridges."""
    return {
        "name": "halab",
        "integration_bridge": f"nn{suffix}i",
        "networks": [TENANT, {**PUBLIC, "bridge": f"nn{suffix}e"}],
        "lab": {
            "instances": [
                {"name": "vm1", "network": "tenant1", "address": "10.0.0.81", "body": "server_81"},
                {"name": "vm2", "network": "tenant1", "address": "10.0.0.82", "body": "server_82"},
            ],
            "clients": [{"name": "outside", "network": "public", "address": OUTSIDE}],
        },
    }


def cluster_topology(profile: str) -> dict:
    """The load balancer and the router, both held by two nodes."""
    return {
        "name": TOPOLOGY,
        "networks": [TENANT, {**PUBLIC, "bridge": "br-ex"}],
        "load_balancers": [
            {
                "name": "web",
                "vip": {"network": "tenant1", "address": VIP},
                "topology": "ACTIVE_STANDBY",
                "vrrp_addresses": ["10.0.0.101", "10.0.0.102"],
                "failover_profile": profile,
                "listeners": [
                    {"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": "p"}
                ],
                "pools": [
                    {
                        "name": "p",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [
                            {"name": "m1", "address": "10.0.0.81", "protocol_port": 80},
                            {"name": "m2", "address": "10.0.0.82", "protocol_port": 80},
                        ],
                    }
                ],
            }
        ],
        "routers": [
            {
                "name": "edge",
                "external_gateway": {"network": "public", "ip_address": SNAT},
                "interfaces": ["tenant1-subnet"],
                "ha": True,
                "vrrp_addresses": ["169.254.192.1", "169.254.192.2"],
                "failover_profile": profile,
            }
        ],
        "floating_ips": [{"name": "web", "floating_ip_address": FIP, "fixed_ip_address": VIP}],
    }


@dataclass(frozen=True)
class Takeover:
    """One round: the master's node killed."""

    victim: str
    lb_seconds: float | None  # None: the other instance never served
    failed: int  # requests sent before the load balancer's takeover was over that failed
    failed_after: int  # requests sent in the AFTER seconds after it that failed
    router_seconds: float | None  # None: the floating IP never moved (or had no need to)
    router_moved: bool  # the router's master was on the victim too
    kept: int
    connections: int

    def line(self) -> str:
        lb = "never" if self.lb_seconds is None else f"{self.lb_seconds:.2f} s"
        if not self.router_moved:
            router = "router's master was on the other node (no takeover)"
        else:
            took = "never" if self.router_seconds is None else f"{self.router_seconds:.2f} s"
            router = (
                f"router took over in {took} with {self.kept} of {self.connections} "
                "established connections kept"
            )
        return (
            f"failover: load balancer took over in {lb} with {self.failed} failed "
            f"requests; {router}"
        )


class Load(threading.Thread):
    """One request every 10 ms from ``namespace`` to ``address``; keeps when each
    request was sent, by outcome (when it was sent, not when it ended)."""

    def __init__(self, namespace: str, address: str) -> None:
        super().__init__(daemon=True)
        self.namespace, self.address = namespace, address
        self.ok = 0
        self.failures: list[float] = []
        self.successes: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                http_get(self.namespace, self.address, timeout=0.5)
                self.ok += 1
                self.successes.append(sent)
            except OSError:
                self.failures.append(sent)
            self.stop.wait(0.01)

    def served_since(self, moment: float) -> float | None:
        """When the first request sent after ``moment`` that was answered was sent."""
        return next((t for t in self.successes if t > moment), None)


class HaDemo:
    """The lab, the two nodes and the cluster's topology, built on entry and removed on
    exit (whatever happened in between)."""

    def __init__(
        self,
        db: str,
        workdir: Path,
        profile: Literal["default", "fast"] = "fast",
        connections: int = 20,
        say: Callable[[str], None] = print,
    ) -> None:
        self.db, self.workdir, self.profile = db, workdir, profile
        self.connections = connections
        self.say = say
        self.suffix = secrets.token_hex(3)
        self.host = Host(state_dir=workdir / "lab", node=f"halab-{self.suffix}")
        self.lab = load_data(lab_topology(self.suffix), self.host.node)
        self.sim = SimulatedNodes(
            db=db,
            cluster=f"c{self.suffix}",
            suffix=self.suffix,
            workdir=workdir / "cluster",
            segments={"br-int": f"nn{self.suffix}i", "br-ex": f"nn{self.suffix}e"},
        )
        self.engine = engine_for(db)
        self.outside = ids.lab_namespace(self._lab_uid("outside"))
        self.server = ids.lab_namespace(self._lab_uid("vm1"))

    def _lab_uid(self, name: str) -> str:
        hosts = [*self.lab.lab.instances, *self.lab.lab.clients]
        return next(h.uid for h in hosts if h.name == name)

    # --- building and removing ---------------------------------------------------------

    def __enter__(self) -> HaDemo:
        try:
            self.say("building the lab: two web servers, an external client")
            converge.apply(self.host, self.lab)
            self.say("starting two nodes sharing a private PostgreSQL")
            self.sim.build()
            for name in self.sim.nodes:
                self.sim.start(name)
            if wait_for(self._all_alive, 30) is None:
                raise NetnodeError("the two nodes did not join the cluster within 30 s")
            self.say(
                f"recording an ACTIVE_STANDBY load balancer behind an HA router's floating "
                f"IP ({self.profile} failover profile)"
            )
            path = self.workdir / f"{TOPOLOGY}.yaml"
            path.write_text(yaml.safe_dump(cluster_topology(self.profile)))
            first = next(iter(self.sim.nodes))
            done = subprocess.run(
                [*self.sim.cli(first), "apply", "-f", str(path)],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            if done.returncode != 0:
                raise NetnodeError(f"netnode --cluster apply failed: {done.stderr.strip()}")
            self.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sim.close((TOPOLOGY,))
        for line in self.sim.cleanup_errors:
            self.say(f"not cleaned up: {line}")
        converge.destroy(self.host, self.lab)
        self.host.close()
        self.engine.dispose()

    def _all_alive(self) -> bool:
        return sum(n.alive for n in cluster_nodes.read(self.engine)) == len(self.sim.nodes)

    # --- what holds what -----------------------------------------------------------------

    def holders(self, kind: str, address: str) -> list[str]:
        return self.sim.holders(kind, address)

    def serving(self) -> bool:
        try:
            answer = http_get(self.outside, FIP, timeout=0.5).body.strip()
        except OSError:
            return False
        return answer.startswith("server_")

    def snat_answers(self) -> bool:
        """A web server reaches the external client through the router's SNAT."""
        try:
            return http_get(self.server, OUTSIDE, timeout=0.5).body.strip() == SNAT
        except OSError:
            return False

    def ready(self) -> bool:
        return (
            len(scheduler.placements(self.engine, self.sim.cluster)) == 4
            and self.sim.vrrp_states() == ["BACKUP", "BACKUP", "MASTER", "MASTER"]
            and len(self.holders("load_balancers", VIP)) == 1
            and len(self.holders("routers", FIP)) == 1
            and self.serving()
            and self.snat_answers()
        )

    def masters(self, timeout: float = 90) -> tuple[str, str]:
        """The nodes holding the VIP and the floating IP, once each has one holder that
        has not changed for a second. Right after the pairs are built, or after a roles
        swap, an election may still be settling (an instance that started first may
        yield to one with a higher priority a moment later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.wait_ready(max(deadline - time.monotonic(), 1))
            first = (self.holders("load_balancers", VIP), self.holders("routers", FIP))
            time.sleep(1.0)
            again = (self.holders("load_balancers", VIP), self.holders("routers", FIP))
            if first == again and len(first[0]) == len(first[1]) == 1:
                return first[0][0], first[1][0]
        raise NetnodeError(f"the masters did not settle within {timeout:.0f} s")

    def wait_ready(self, timeout: float = 90) -> None:
        if wait_for(self.ready, timeout, interval=0.2) is None:
            raise NetnodeError(
                f"the load balancer and the router were not both serving from one master "
                f"within {timeout:.0f} s; agents' logs: "
                + " | ".join(self.sim.agent_log(n)[-400:] for n in self.sim.nodes)
            )

    # --- a round -------------------------------------------------------------------------

    def takeover(self) -> Takeover:
        """Kill the node whose instance holds the VIP, under load; measure; bring the
        node back and wait until both pairs are whole again."""
        victim, router_master = self.masters()
        if router_master != victim:
            self._router_master_to(victim, router_master)
            victim, router_master = self.masters()
        survivor = next(n for n in self.sim.nodes if n != victim)
        with _kept_connections(self.server, self.connections) as kept:
            load = Load(self.outside, FIP)
            load.start()
            time.sleep(1.0)
            self.say(f"killing node {victim}: it holds the VIP and the floating IP")
            # The clock starts once the node is cut off (kill() cuts it again, then
            # SIGKILLs its processes): a request sent before that may still be
            # answered by the old master, and would read as a takeover in no time.
            self.sim.cut(victim)
            killed = time.monotonic()
            self.sim.kill(victim)
            router_took: float | None = None
            router_moved = router_master == victim
            # The load balancer took over when a request sent after the kill was
            # answered (sent, not answered: each may wait out its 0.5 s timeout); the
            # router when the survivor's instance holds the floating IP (the dead
            # node's namespaces, cut off, may show it until its placements go).
            while time.monotonic() - killed < 60 and (
                load.served_since(killed) is None or (router_moved and router_took is None)
            ):
                if (
                    router_moved
                    and router_took is None
                    and survivor in self.holders("routers", FIP)
                ):
                    router_took = time.monotonic() - killed
                time.sleep(0.01)
            served = load.served_since(killed)
            lb_took = None if served is None else served - killed
            # Each connection asked to carry a request at once (an idle one outlives
            # neither the external client's keep-alive timeout nor a long wait here).
            carried = sum(_carries(c) for c in kept)
            if lb_took is not None:
                time.sleep(AFTER)
            load.stop.set()
            load.join()
        over = killed + (lb_took if lb_took is not None else 60)
        result = Takeover(
            victim=victim,
            lb_seconds=lb_took,
            failed=sum(1 for t in load.failures if t <= over),
            failed_after=sum(1 for t in load.failures if t > over),
            router_seconds=router_took,
            router_moved=router_moved,
            kept=carried,
            connections=self.connections,
        )
        self.say(f"node {victim} comes back (it takes its slots again as the standby)")
        self.sim.heal(victim)
        self.sim.start(victim)
        self.wait_ready()
        return result

    def _router_master_to(self, node: str, holder: str) -> None:
        """The two pairs elected their masters on different nodes (a keepalived that
        started first won): the router's master hands over to ``node``, so that one
        node's death takes both over."""
        (instance,) = [
            p.id
            for p in scheduler.placements(self.engine, self.sim.cluster)
            if p.kind == "routers" and p.node == holder
        ]
        self.say(f"moving the router's master to node {node} (keepalived on {holder} stopped)")
        self.sim.hand_over(holder, f"vrrp-{instance}")
        if wait_for(lambda: self.holders("routers", FIP) == [node], 10) is None:
            raise NetnodeError(f"the router's floating IP did not move to node {node}")


@contextlib.contextmanager
def _kept_connections(namespace: str, count: int) -> Iterator[list[HttpConnection]]:
    """``count`` kept-alive connections from a web server to the external client,
    through the router's SNAT, each having carried one request."""
    opened: list[HttpConnection] = []
    try:
        for _ in range(count):
            connection = HttpConnection(namespace, OUTSIDE, 80, timeout=2.0)
            opened.append(connection)
            if connection.request().body.strip() != SNAT:
                raise NetnodeError(f"the external client did not see {SNAT} as the source")
        yield opened
    finally:
        for connection in opened:
            connection.close()


def _carries(connection: HttpConnection) -> bool:
    try:
        return connection.request().body.strip() == SNAT
    except OSError:
        return False


def run(profile: Literal["default", "fast"], connections: int) -> int:
    """``netnode demo --ha``: one round, its line printed last; 0 when the load
    balancer took over and every established connection was kept."""
    reason = postgres.available()
    if reason is not None:
        raise NetnodeError(f"netnode demo --ha needs a private PostgreSQL: {reason}")
    # A short name: HAProxy's socket paths (97 bytes at most) live under it.
    workdir = Path(tempfile.mkdtemp(prefix="nn-"))
    result: Takeover | None = None
    try:
        with postgres.private_cluster() as db:
            print("netnode demo --ha: starting a private PostgreSQL")
            with HaDemo(db, workdir, profile, connections) as demo:
                result = demo.takeover()
            print("cleaned up: both nodes, the lab and the database")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert result is not None, "takeover() returned or raised"
    print(result.line())
    good = result.lb_seconds is not None and (
        not result.router_moved or result.kept == result.connections
    )
    return 0 if good else 1
