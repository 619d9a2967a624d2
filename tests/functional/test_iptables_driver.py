r"""The iptables driver against real namespaces and real traffic.

Each test builds its own little lab (namespaces ``nntest-<random>-*``), and all traffic
starts and ends inside it::

    -x  external client  eth0 10.255.253.1/24
         |
    -r  router           qg  10.255.253.10/24 (+ floating 10.255.253.100/32)
         |               qr  10.0.0.1/24            qr2  10.0.1.1/24
         |                \                             \
    -s  switch (bridge)    +-- -c  instance 10.0.0.100    -e  instance 10.0.1.5
                           +-- -d  instance 10.0.0.5       (another subnet)

Nothing is sent from the host's namespace; cleanup kills the processes the test started
(by pid) and deletes the namespaces it made.
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest

from netnode.drivers.iptables import Iptables
from netnode.render.iptables import FloatingIPNat, RouterNat, owned_rules

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(
        any(shutil.which(p) is None for p in ("ip", "iptables-restore", "conntrack", "curl")),
        reason="needs iproute2, iptables, conntrack and curl",
    ),
]

QG = "qg-5b1d5bd4-7f"
QR = "qr-5b1d5bd4-80"
QR2 = "qr-5b1d5bd4-81"
GATEWAY = "10.255.253.10"
FIP = "10.255.253.100"
FIXED = "10.0.0.100"
OUTSIDE = "10.255.253.1"

ROUTER = RouterNat(
    gateway_interface=QG,
    gateway_ip=GATEWAY,
    enable_snat=True,
    internal_interfaces=(QR, QR2),
    internal_cidrs=("10.0.0.0/24", "10.0.1.0/24"),
    floating_ips=(FloatingIPNat(floating_ip=FIP, fixed_ip=FIXED),),
    metadata_port=9697,
)

# Answers each HTTP request with the address the connection came from.
SERVER = r"""
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
def serve(c, peer):
    with c:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                return
            data += chunk
        body = peer[0].encode()
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
while True:
    c, peer = s.accept()
    threading.Thread(target=serve, args=(c, peer), daemon=True).start()
"""

# Opens one TCP connection and keeps it, idle, until killed.
HOLDER = r"""
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("connected", flush=True)
time.sleep(120)
"""


def run(
    *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@dataclass
class Lab:
    prefix: str
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    @property
    def router(self) -> str:
        return self.ns("r")

    def exec(self, role: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.ns(role), *args, check=check)

    def ip(self, role: str, *args: str) -> None:
        run("ip", "-n", self.ns(role), *args)

    def build(self) -> None:
        for role in "rscdex":
            run("ip", "netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
        self.ip("s", "link", "add", "br0", "type", "bridge")
        self.ip("s", "link", "set", "br0", "up")
        for role, local, peer, peer_role in (
            ("r", QR, "s-r", "s"),
            ("c", "eth0", "s-c", "s"),
            ("d", "eth0", "s-d", "s"),
            ("e", "eth0", QR2, "r"),
            ("x", "eth0", QG, "r"),
        ):
            self.ip(
                role,
                "link",
                "add",
                local,
                "type",
                "veth",
                "peer",
                "name",
                peer,
                "netns",
                self.ns(peer_role),
            )
            self.ip(role, "link", "set", local, "up")
            self.ip(peer_role, "link", "set", peer, "up")
            if peer_role == "s":
                self.ip("s", "link", "set", peer, "master", "br0")
        for role, dev, cidr, gateway in (
            ("r", QR, "10.0.0.1/24", None),
            ("r", QR2, "10.0.1.1/24", None),
            ("r", QG, f"{GATEWAY}/24", OUTSIDE),
            ("c", "eth0", f"{FIXED}/24", "10.0.0.1"),
            ("d", "eth0", "10.0.0.5/24", "10.0.0.1"),
            ("e", "eth0", "10.0.1.5/24", "10.0.1.1"),
            ("x", "eth0", f"{OUTSIDE}/24", None),
        ):
            self.ip(role, "addr", "add", cidr, "dev", dev)
            if gateway:
                self.ip(role, "route", "add", "default", "via", gateway)
        self.ip("r", "addr", "add", f"{FIP}/32", "dev", QG)
        self.exec("r", "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def start(self, role: str, program: str, *args: str, expect: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(role), sys.executable, "-c", program, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(proc)
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=10)
        line = proc.stdout.readline().strip() if ready else ""
        assert line == expect, f"{program[:30]!r} in {role}: {line!r} {proc.poll()}"
        return proc

    def serve(self, role: str, port: int) -> None:
        self.start(role, SERVER, str(port), expect="ready")

    def curl(self, role: str, url: str, max_time: int = 3) -> str | None:
        """The body, or None when the request failed."""
        proc = self.exec(role, "curl", "-sS", "--max-time", str(max_time), url, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def save(self, table: str) -> str:
        text = self.exec("r", "iptables-save", "-t", table).stdout
        return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))

    def conntrack(self, *selector: str) -> list[str]:
        proc = self.exec("r", "conntrack", "-L", "-p", "tcp", *selector, check=False)
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def cleanup(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(prefix=f"nntest-{secrets.token_hex(3)}")
    try:
        lab.build()
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def iptables() -> Iptables:
    return Iptables()


def test_floating_ip_snat_and_east_west(lab: Lab, iptables: Iptables) -> None:
    for role, port in (("c", 8080), ("e", 8080), ("x", 8081)):
        lab.serve(role, port)
    assert iptables.apply(lab.router, ROUTER) is True

    # DNAT: the outside reaches the instance at its floating IP, and is seen as itself.
    assert lab.curl("x", f"http://{FIP}:8080/") == OUTSIDE
    # SNAT: an instance without a floating IP goes out as the router's gateway address...
    assert lab.curl("d", f"http://{OUTSIDE}:8081/") == GATEWAY
    # ...one with a floating IP as its floating IP.
    assert lab.curl("c", f"http://{OUTSIDE}:8081/") == FIP
    # East-west through the router is not NATed, floating IP or not.
    assert lab.curl("c", "http://10.0.1.5:8080/") == FIXED
    assert lab.curl("d", "http://10.0.1.5:8080/") == "10.0.0.5"
    # The router itself reaches the floating IP (the DNAT in OUTPUT; its source, the
    # local FIP, is then SNATed like any DNATed connection not from qg).
    assert lab.curl("r", f"http://{FIP}:8080/") == GATEWAY


def test_hairpin_needs_its_rule_and_apply_repairs_drift(lab: Lab, iptables: Iptables) -> None:
    lab.serve("c", 8080)
    iptables.apply(lab.router, ROUTER)

    # An instance reaches the floating IP of its own subnet's neighbour; the server sees
    # the router's gateway address, so its reply goes back through the router.
    assert lab.curl("d", f"http://{FIP}:8080/") == GATEWAY
    # The instance behind the floating IP reaches itself through it (float-snat).
    assert lab.curl("c", f"http://{FIP}:8080/") == FIP

    hairpin = f"! -i {QG} -m conntrack --ctstate DNAT -j SNAT --to-source {GATEWAY}"
    lab.exec("r", "iptables", "-t", "nat", "-D", "neutron-l3-agent-snat", *hairpin.split())
    # Without it the reply goes straight from 10.0.0.100 to 10.0.0.5, which drops it.
    assert lab.curl("d", f"http://{FIP}:8080/", max_time=2) is None

    assert iptables.differences(lab.router, ROUTER)["nat"]
    assert iptables.apply(lab.router, ROUTER) is True
    assert lab.curl("d", f"http://{FIP}:8080/") == GATEWAY


def test_metadata_redirect_and_guard(lab: Lab, iptables: Iptables) -> None:
    lab.serve("r", 9697)  # stands in for the metadata proxy
    iptables.apply(lab.router, ROUTER)
    assert lab.curl("d", "http://169.254.169.254/") == "10.0.0.5"
    assert lab.curl("e", "http://169.254.169.254/") == "10.0.1.5"
    # The proxy's port itself is closed to everyone else.
    assert lab.curl("x", f"http://{GATEWAY}:9697/", max_time=2) is None
    assert lab.curl("d", "http://10.0.0.1:9697/", max_time=2) is None


def test_apply_twice_changes_nothing_and_keeps_foreign_rules(lab: Lab, iptables: Iptables) -> None:
    foreign_filter = "-A FORWARD -s 192.0.2.1/32 -j DROP"
    foreign_nat = "-A POSTROUTING -s 192.0.2.0/24 -j RETURN"
    lab.exec("r", "iptables", *foreign_filter.split())
    lab.exec("r", "iptables", "-t", "nat", *foreign_nat.split())

    assert iptables.apply(lab.router, ROUTER) is True
    first = {table: lab.save(table) for table in ("filter", "nat")}
    assert iptables.apply(lab.router, ROUTER) is False
    assert {table: lab.save(table) for table in ("filter", "nat")} == first
    assert iptables.differences(lab.router, ROUTER) == {"filter": [], "nat": []}

    assert foreign_filter in first["filter"].splitlines()
    postrouting = [line for line in first["nat"].splitlines() if line.startswith("-A POSTROUTING")]
    # netnode's jumps went in at the head; the foreign rule is still there, after them.
    assert postrouting == [
        "-A POSTROUTING -j neutron-l3-agent-POSTROUTING",
        "-A POSTROUTING -j neutron-postrouting-bottom",
        foreign_nat,
    ]

    # Someone deletes a jump: the next apply puts it back and touches nothing else.
    lab.exec("r", "iptables", "-t", "nat", "-D", "POSTROUTING", "-j", "neutron-postrouting-bottom")
    assert iptables.apply(lab.router, ROUTER) is True
    assert lab.save("nat") == first["nat"]

    # A different floating IP: one more restore, and again stable.
    moved = replace(
        ROUTER, floating_ips=(FloatingIPNat(floating_ip="10.255.253.101", fixed_ip="10.0.0.5"),)
    )
    assert iptables.apply(lab.router, moved) is True
    assert iptables.apply(lab.router, moved) is False
    assert "--to-destination 10.0.0.5" in lab.save("nat")
    assert FIXED not in lab.save("nat")


def test_converges_from_the_seed_hand_typed_rules(lab: Lab, iptables: Iptables) -> None:
    seed = [  # docs/seed.md §8.2 step 4, with this lab's gateway port name
        "-N neutron-filter-top", "-A FORWARD -j neutron-filter-top", "-A OUTPUT -j neutron-filter-top",
        "-N neutron-l3-agent-local", "-A neutron-filter-top -j neutron-l3-agent-local",
        "-N neutron-l3-agent-INPUT", "-N neutron-l3-agent-OUTPUT", "-N neutron-l3-agent-FORWARD",
        "-A INPUT -j neutron-l3-agent-INPUT", "-A OUTPUT -j neutron-l3-agent-OUTPUT",
        "-A FORWARD -j neutron-l3-agent-FORWARD",
        "-t nat -N neutron-l3-agent-PREROUTING", "-t nat -N neutron-l3-agent-OUTPUT",
        "-t nat -N neutron-l3-agent-POSTROUTING", "-t nat -A PREROUTING -j neutron-l3-agent-PREROUTING",
        "-t nat -A OUTPUT -j neutron-l3-agent-OUTPUT", "-t nat -A POSTROUTING -j neutron-l3-agent-POSTROUTING",
        "-t nat -N neutron-postrouting-bottom", "-t nat -N neutron-l3-agent-snat",
        "-t nat -N neutron-l3-agent-float-snat", "-t nat -A POSTROUTING -j neutron-postrouting-bottom",
        "-t nat -A neutron-postrouting-bottom -j neutron-l3-agent-snat",
        "-t nat -A neutron-l3-agent-snat -j neutron-l3-agent-float-snat",
        "-A neutron-l3-agent-INPUT -s 0.0.0.0/0 -d 127.0.0.1 -p tcp -m tcp --dport 9697 -j ACCEPT",
        "-t nat -A neutron-l3-agent-PREROUTING -s 0.0.0.0/0 -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-port 9697",
        "-t nat -A neutron-l3-agent-snat -j neutron-l3-agent-float-snat",
        f"-t nat -A neutron-l3-agent-POSTROUTING ! -i {QG} ! -o {QG} -m conntrack ! --ctstate DNAT -j ACCEPT",
        "-t nat -A neutron-l3-agent-snat -s 10.0.0.0/24 -j SNAT --to-source 10.255.253.100",
        "-t nat -A neutron-l3-agent-PREROUTING -d 10.255.253.100/32 -j DNAT --to 10.0.0.100",
        "-t nat -A neutron-l3-agent-OUTPUT -d 10.255.253.100/32 -j DNAT --to 10.0.0.100",
        "-t nat -A neutron-l3-agent-float-snat -s 10.0.0.100 -j SNAT --to 10.255.253.100",
    ]  # fmt: skip
    for command in seed:
        lab.exec("r", "iptables", *command.split())
    lab.serve("x", 8081)
    # The seed's subnet-wide SNAT sends the instance without a floating IP out as the FIP.
    assert lab.curl("d", f"http://{OUTSIDE}:8081/") == FIP

    assert iptables.apply(lab.router, ROUTER) is True
    assert iptables.apply(lab.router, ROUTER) is False
    nat = lab.save("nat")
    assert nat.count("-A neutron-l3-agent-snat -j neutron-l3-agent-float-snat") == 1
    assert "-s 10.0.0.0/24 -j SNAT" not in nat
    assert lab.curl("d", f"http://{OUTSIDE}:8081/") == GATEWAY


def test_removing_a_floating_ip_and_flushing_conntrack_ends_its_flows(
    lab: Lab, iptables: Iptables
) -> None:
    lab.serve("c", 8080)
    lab.serve("x", 8081)
    iptables.apply(lab.router, ROUTER)
    lab.start("x", HOLDER, FIP, "8080", expect="connected")  # inbound, DNATed to the FIP
    lab.start("c", HOLDER, OUTSIDE, "8081", expect="connected")  # outbound, SNATed to it
    inbound = lab.conntrack("--orig-dst", FIP)
    outbound = lab.conntrack("--reply-dst", FIP)
    assert len(inbound) == 1 and "ESTABLISHED" in inbound[0] and f"src={FIXED}" in inbound[0]
    assert len(outbound) == 1 and "ESTABLISHED" in outbound[0] and f"dst={FIP}" in outbound[0]

    without = replace(ROUTER, floating_ips=())
    assert iptables.apply(lab.router, without) is True
    lab.ip("r", "addr", "del", f"{FIP}/32", "dev", QG)
    # The rules are gone, but established flows keep their NAT until conntrack forgets them.
    assert len(lab.conntrack("--orig-dst", FIP)) == 1
    assert len(lab.conntrack("--reply-dst", FIP)) == 1

    iptables.flush_conntrack(lab.router, FIP)
    assert lab.conntrack("--orig-dst", FIP) == []
    assert lab.conntrack("--reply-dst", FIP) == []
    iptables.flush_conntrack(lab.router, FIP)  # nothing left to delete: not an error
    assert lab.curl("x", f"http://{FIP}:8080/", max_time=2) is None


def test_remove_deletes_only_netnodes_chains(lab: Lab, iptables: Iptables) -> None:
    foreign = "-A FORWARD -s 192.0.2.1/32 -j DROP"
    lab.exec("r", "iptables", *foreign.split())
    lab.exec("r", "iptables", "-N", "someone-else")
    iptables.apply(lab.router, ROUTER)

    assert iptables.remove(lab.router) is True
    for table in ("filter", "nat"):
        saved = lab.save(table)
        assert owned_rules(saved, table) == []
        assert "neutron" not in saved
    assert foreign in lab.save("filter").splitlines()
    assert ":someone-else - [0:0]" in lab.save("filter").splitlines()
    assert iptables.remove(lab.router) is False


def test_apply_without_gateway_then_with(lab: Lab, iptables: Iptables) -> None:
    lab.serve("x", 8081)
    isolated = replace(ROUTER, gateway_ip=None, floating_ips=())
    assert iptables.apply(lab.router, isolated) is True
    # No SNAT: the packet leaves with its own source and the outside cannot answer it.
    assert lab.curl("d", f"http://{OUTSIDE}:8081/", max_time=2) is None
    assert iptables.apply(lab.router, ROUTER) is True
    assert lab.curl("d", f"http://{OUTSIDE}:8081/") == GATEWAY
