"""The real OpenStack clients drive netnode end to end (issue 5).

``netnode serve`` runs with its reconcile loop on this test's node. The lab (two
instances on a tenant network, an outside client on the external network) comes from a
topology file, as an operator would describe what Nova and the provider network give;
everything else is made with the ``openstack`` CLI (python-openstackclient with the
octavia plugin, from PyPI, in ``.venv-clients``): a router with its gateway and
interface, a load balancer with a listener, a pool, two members and a health monitor,
and a floating IP bound to the VIP's port. Then the outside client reaches both
instances through the floating IP. The CLI runs both with a token (``--os-token``) and
with no authentication (``--os-auth-type none``, a second server on the same store).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netnode.lab.client import http_get
from tests.functional.conftest import Lab, eventually

ROOT = Path(__file__).resolve().parents[2]
OPENSTACK = ROOT / ".venv-clients" / "bin" / "openstack"
CLIENTS_PYTHON = OPENSTACK.with_name("python")  # openstacksdk is there too
TOKEN = "t0ken-for-the-openstack-cli-test"


def lab_only() -> dict:
    """The seed's networks and lab hosts: what the operator describes in a file (the
    README's example)."""
    return yaml.safe_load((ROOT / "examples" / "lab.yaml").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, lab: Lab, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = lab.tmp / f"serve-{self.port}.log"
        args = [
            sys.executable,
            "-m",
            "netnode.cli.main",
            *lab.cli_args(),
            "serve",
            "--port",
            str(self.port),
            "--integration-bridge",
            f"nn{lab.suffix}i",
            "--period",
            "2",
            *extra,
        ]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"netnode serve exited: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"netnode serve did not listen: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Openstack:
    def __init__(self, *auth: str) -> None:
        self.auth = list(auth)

    def __call__(self, *args: str, parse: bool = True) -> object:
        command = [str(OPENSTACK), *self.auth, *args]
        if parse:
            command += ["-f", "json"]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
        )
        assert done.returncode == 0, (
            f"openstack {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
        return json.loads(done.stdout) if parse and done.stdout.strip() else done.stdout


@pytest.fixture
def tokens(lab: Lab) -> Path:
    path = lab.tmp / "tokens.yaml"
    path.write_text(f"tokens:\n  - token: {TOKEN}\n    project_id: demo\n    role: admin\n")
    return path


@pytest.fixture
def served(lab: Lab, tokens: Path) -> Iterator[Server]:
    if not OPENSTACK.exists():
        pytest.fail(f"{OPENSTACK} is missing: `make test` installs the OpenStack clients")
    lab.apply(lab_only())
    server = Server(lab, "--tokens", str(tokens))
    try:
        yield server
    finally:
        server.stop()
        lab.destroy_api()


def test_openstack_cli_builds_a_load_balancer_reachable_on_a_floating_ip(
    lab: Lab, served: Server
) -> None:
    os_ = Openstack("--os-token", TOKEN, "--os-endpoint", served.url)

    # Neutron: the operator's networks are visible; a router joins them.
    names = {n["Name"] for n in os_("network", "list")}  # type: ignore[union-attr]
    assert {"tenant1", "public"} <= names
    router = os_("router", "create", "r1")
    os_("router", "set", "--external-gateway", "public", "r1", parse=False)
    os_("router", "add", "subnet", "r1", "tenant1-subnet", parse=False)
    shown = os_("router", "show", "r1")
    assert shown["external_gateway_info"]["network_id"]  # type: ignore[index]

    # Octavia: the load balancer, step by step, each waited for until ACTIVE.
    lb = os_(
        "loadbalancer", "create", "--name", "lb1", "--vip-subnet-id", "tenant1-subnet", "--wait"
    )
    assert lb["provisioning_status"] == "ACTIVE", lb  # type: ignore[index]
    os_(
        "loadbalancer",
        "listener",
        "create",
        "--name",
        "l1",
        "--protocol",
        "HTTP",
        "--protocol-port",
        "80",
        "lb1",
        "--wait",
    )
    os_(
        "loadbalancer",
        "pool",
        "create",
        "--name",
        "p1",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--listener",
        "l1",
        "--protocol",
        "HTTP",
        "--wait",
    )
    for name, address in (("vm1", "10.0.0.81"), ("vm2", "10.0.0.82")):
        os_(
            "loadbalancer",
            "member",
            "create",
            "--name",
            name,
            "--subnet-id",
            "tenant1-subnet",
            "--address",
            address,
            "--protocol-port",
            "80",
            "p1",
            "--wait",
        )
    os_(
        "loadbalancer",
        "healthmonitor",
        "create",
        "--name",
        "hm1",
        "--delay",
        "2",
        "--timeout",
        "1",
        "--max-retries",
        "2",
        "--type",
        "HTTP",
        "--url-path",
        "/",
        "p1",
        "--wait",
    )

    # The status tree: every member ONLINE once the checks have passed.
    def tree_online() -> object:
        # status show prints the tree as JSON itself (it takes no -f).
        tree = json.loads(str(os_("loadbalancer", "status", "show", "lb1", parse=False)))
        lbs = tree["loadbalancer"]  # type: ignore[index]
        members = lbs["listeners"][0]["pools"][0]["members"]
        ok = lbs["operating_status"] == "ONLINE" and all(
            m["operating_status"] == "ONLINE" for m in members
        )
        return tree if ok and len(members) == 2 else None

    tree = eventually(tree_online, timeout=60, interval=1)
    assert tree["loadbalancer"]["provisioning_status"] == "ACTIVE"  # type: ignore[index]

    # Listings: the CLI lists a load balancer's listeners and pools (a filter on
    # loadbalancer_id), another load balancer's are not among them.
    lb2 = os_(
        "loadbalancer", "create", "--name", "lb2", "--vip-subnet-id", "tenant1-subnet", "--wait"
    )
    os_(
        "loadbalancer",
        "listener",
        "create",
        "--name",
        "l2",
        "--protocol",
        "TCP",
        "--protocol-port",
        "81",
        "lb2",
        "--wait",
    )
    os_(
        "loadbalancer",
        "pool",
        "create",
        "--name",
        "p2",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--listener",
        "l2",
        "--protocol",
        "TCP",
        "--wait",
    )
    for lb_name, listener, pool in (("lb1", "l1", "p1"), ("lb2", "l2", "p2")):
        listeners = os_("loadbalancer", "listener", "list", "--loadbalancer", lb_name)
        assert [x["name"] for x in listeners] == [listener], (lb_name, listeners)  # type: ignore[union-attr]
        pools = os_("loadbalancer", "pool", "list", "--loadbalancer", lb_name)
        assert [x["name"] for x in pools] == [pool], (lb_name, pools)  # type: ignore[union-attr]

    # Neutron: a floating IP on the external network, bound to the VIP's port.
    vip = os_("loadbalancer", "show", "lb1")
    fip = os_("floating", "ip", "create", "public")
    address = fip["floating_ip_address"]  # type: ignore[index]
    os_(
        "floating",
        "ip",
        "set",
        "--port",
        vip["vip_port_id"],
        address,  # type: ignore[index]
        parse=False,
    )
    bound = os_("floating", "ip", "show", address)
    assert bound["fixed_ip_address"] == vip["vip_address"]  # type: ignore[index]

    # Traffic: from the outside client to the floating IP, answered by both members.
    outside = lab.ns_of("client", "outside")

    both = {"server_81", "server_82"}
    assert eventually(lambda: lab.answering(outside, address) == both, timeout=30, interval=0.5)

    # Octavia's features through the real client: an L7 policy with a rule, cookie
    # persistence; their effect seen by the outside client.
    os_(
        "loadbalancer",
        "l7policy",
        "create",
        "--name",
        "no-admin",
        "--action",
        "REJECT",
        "l1",
        "--wait",
    )
    os_(
        "loadbalancer",
        "l7rule",
        "create",
        "--type",
        "PATH",
        "--compare-type",
        "STARTS_WITH",
        "--value",
        "/admin",
        "no-admin",
        "--wait",
    )
    os_(
        "loadbalancer",
        "pool",
        "set",
        "--session-persistence",
        "type=HTTP_COOKIE",
        "p1",
        "--wait",
        parse=False,
    )
    assert http_get(outside, address, 80, path="/admin").status == 403
    answer = http_get(outside, address, 80, path="/")
    assert answer.status == 200 and answer.headers["set-cookie"].startswith("SRV=")
    policy = os_("loadbalancer", "l7policy", "show", "no-admin")
    assert policy["position"] == 1 and len(policy["rules"]) == 1  # type: ignore[index]

    # No authentication: a second server on the same store, loopback only, sees it all.
    anonymous = Server(lab, "--noauth", "--no-agent")
    try:
        os_none = Openstack("--os-auth-type", "none", "--os-endpoint", anonymous.url)
        listed = os_none("loadbalancer", "list")
        assert sorted(x["name"] for x in listed) == ["lb1", "lb2"]  # type: ignore[union-attr]
        # openstacksdk walks the pages of one by their links, each load balancer once.
        assert sdk_load_balancer_names(anonymous.url, limit=1) == ["lb1", "lb2"]
        assert os_none("floating", "ip", "list")[0]["Floating IP Address"] == address  # type: ignore[index]
    finally:
        anonymous.stop()

    # Taking it down through the API leaves the host as the lab file made it.
    os_("floating", "ip", "delete", address, parse=False)
    os_("loadbalancer", "delete", "--cascade", "--wait", "lb1", parse=False)
    os_("loadbalancer", "delete", "--cascade", "--wait", "lb2", parse=False)
    os_("router", "remove", "subnet", "r1", "tenant1-subnet", parse=False)
    os_("router", "delete", "r1", parse=False)
    gone = {
        f"qlbaas-{lb['id']}",
        f"qlbaas-{lb2['id']}",  # type: ignore[index]
        f"qrouter-{router['id']}",
    }  # type: ignore[index]
    assert eventually(lambda: not gone & _namespaces(), timeout=30, interval=0.5)


SDK_LIST = """
import json, sys
import openstack
conn = openstack.connection.Connection(auth_type="none", auth={"endpoint": sys.argv[1]})
names = [lb.name for lb in conn.load_balancer.load_balancers(limit=int(sys.argv[2]))]
print(json.dumps(names))
"""


def sdk_load_balancer_names(url: str, limit: int) -> list[str]:
    """The load balancers' names as openstacksdk lists them, ``limit`` a page (sorted;
    a name twice means an object was paged twice)."""
    done = subprocess.run(
        [str(CLIENTS_PYTHON), "-c", SDK_LIST, url, str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"openstacksdk failed:\n{done.stdout}\n{done.stderr}"
    return sorted(json.loads(done.stdout))


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_openstack_cli_ports_and_a_floating_ip_on_one(lab: Lab, served: Server) -> None:
    """Neutron's ports through the real CLI: made with a fixed address, listed by
    network, a floating IP bound to one (its DNAT rule in the router's namespace, as the
    reconcile loop renders it), then deleted, which unbinds the floating IP."""
    os_ = Openstack("--os-token", TOKEN, "--os-endpoint", served.url)
    router = os_("router", "create", "rp")
    os_("router", "set", "--external-gateway", "public", "rp", parse=False)
    os_("router", "add", "subnet", "rp", "tenant1-subnet", parse=False)

    made = os_(
        "port",
        "create",
        "--network",
        "tenant1",
        "--fixed-ip",
        "subnet=tenant1-subnet,ip-address=10.0.0.50",
        "--device-owner",
        "compute:nova",
        "vm-port",
    )
    assert made["fixed_ips"][0]["ip_address"] == "10.0.0.50"  # type: ignore[index]
    assert str(made["mac_address"]).startswith("fa:16:3e:")  # type: ignore[index]
    other = os_("port", "create", "--network", "tenant1", "second")
    assert other["fixed_ips"][0]["ip_address"] not in ("10.0.0.1", "10.0.0.50")  # type: ignore[index]
    listed = os_("port", "list", "--network", "tenant1")
    names = {p["Name"] for p in listed}  # type: ignore[union-attr]
    assert {"vm-port", "second"} <= names
    owned = os_("port", "list", "--network", "tenant1", "--device-owner", "compute:nova")
    owned_names = {p["Name"] for p in owned}  # type: ignore[union-attr]
    assert "vm-port" in owned_names and "second" not in owned_names
    # The same address again: Neutron's 409, the CLI's failure.
    again = subprocess.run(
        [
            str(OPENSTACK),
            *os_.auth,
            "port",
            "create",
            "--network",
            "tenant1",
            "--fixed-ip",
            "ip-address=10.0.0.50",
            "dup",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode != 0 and "already allocated" in again.stderr, again.stderr

    fip = os_("floating", "ip", "create", "public")
    address = str(fip["floating_ip_address"])  # type: ignore[index]
    os_("floating", "ip", "set", "--port", "vm-port", address, parse=False)
    bound = os_("floating", "ip", "show", address)
    assert bound["port_id"] == made["id"] and bound["fixed_ip_address"] == "10.0.0.50"  # type: ignore[index]
    namespace = f"qrouter-{router['id']}"  # type: ignore[index]

    def dnat() -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", namespace, "iptables-save", "-t", "nat"],
            capture_output=True,
            text=True,
        )
        return done.stdout

    assert eventually(lambda: "--to-destination 10.0.0.50" in dnat(), timeout=30, interval=0.5)
    assert address in dnat()

    os_("port", "delete", "vm-port", "second", parse=False)
    assert os_("floating", "ip", "show", address)["port_id"] is None  # type: ignore[index]
    assert eventually(lambda: "10.0.0.50" not in dnat(), timeout=30, interval=0.5)
    os_("floating", "ip", "delete", address, parse=False)
    os_("router", "remove", "subnet", "rp", "tenant1-subnet", parse=False)
    os_("router", "delete", "rp", parse=False)
    assert eventually(lambda: namespace not in _namespaces(), timeout=30, interval=0.5)
