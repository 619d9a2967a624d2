"""The metadata service with real traffic: instances behind routers ask
169.254.169.254, as cloud-init does on first boot.

Two tenants' networks use the same subnet, 10.10.0.0/24, each behind its own router
(router "a" without an external gateway, router "b" with one), and each has a port at
10.10.0.5: the service must tell them apart by the router the request came through.
The instances are namespaces this test makes, on a port the test plugs into the lab's
integration bridge with the network's VLAN tag (as a hypervisor plugs a guest's tap).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from netnode.plan.metadata import proxy_name
from netnode.reconcile.agent import Agent
from tests.functional.conftest import Lab, eventually

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@x"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb b@x"
SERVER_A = "0c9a4b1e-6a3b-4c59-9a38-2d5f1b7f0a01"
SERVER_B = "0c9a4b1e-6a3b-4c59-9a38-2d5f1b7f0b02"
META = "http://169.254.169.254"


def topology() -> dict:
    def net(name: str, tag: int) -> dict:
        return {
            "name": name,
            "segmentation_id": tag,
            "subnets": [
                {
                    "name": f"{name}-subnet",
                    "cidr": "10.10.0.0/24",
                    "gateway_ip": "10.10.0.1",
                    "dns_nameservers": ["10.10.0.53"],
                    "host_routes": [{"destination": "192.168.7.0/24", "nexthop": "10.10.0.254"}],
                }
            ],
        }

    return {
        "networks": [
            net("tenant-a", 31),
            net("tenant-b", 32),
            {
                "name": "public",
                "external": True,
                "subnets": [
                    {"name": "public-subnet", "cidr": "10.255.31.0/24", "gateway_ip": "10.255.31.1"}
                ],
            },
        ],
        "routers": [
            {"name": "a", "interfaces": ["tenant-a-subnet"]},
            {
                "name": "b",
                "interfaces": ["tenant-b-subnet"],
                "external_gateway": {"network": "public", "ip_address": "10.255.31.10"},
            },
        ],
        "ports": [
            {
                "name": "vm-a",
                "network": "tenant-a",
                "fixed_ips": [{"ip_address": "10.10.0.5"}],
                "device_id": SERVER_A,
                "hostname": "alpha",
                "public_keys": {"key-a": KEY_A},
                "user_data": "#cloud-config\nhostname: alpha\n",
            },
            {
                "name": "vm-a2",
                "network": "tenant-a",
                "fixed_ips": [{"ip_address": "10.10.0.6"}],
            },
            {
                "name": "vm-b",
                "network": "tenant-b",
                "fixed_ips": [{"ip_address": "10.10.0.5"}],
                "device_id": SERVER_B,
                "public_keys": {"key-b": KEY_B},
            },
        ],
    }


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)


@contextlib.contextmanager
def instance(lab: Lab, label: str, tag: int, address: str) -> Iterator[str]:
    """A namespace at ``address``/24 (default route via 10.10.0.1) on an interface the
    test plugs into the lab's integration bridge with VLAN ``tag``, as a hypervisor
    plugs a guest's tap; removed afterwards. An OVS internal port, not a veth: on
    Open vSwitch's userspace datapath (hosts without its kernel module) a veth's TCP
    segments leave with the partial checksums of checksum offload, and the router's
    conntrack drops them as invalid before its REDIRECT sees them."""
    ns = f"nnmd-{lab.suffix}-{label}"
    port = f"nm{lab.suffix}{label}"
    bridge = f"nn{lab.suffix}i"
    try:
        run("ip", "netns", "add", ns)
        run(
            "ovs-vsctl", "add-port", bridge, port, f"tag={tag}",
            "--", "set", "Interface", port, "type=internal",
        )  # fmt: skip
        run("ip", "link", "set", port, "netns", ns)
        for argv in (
            ("ip", "link", "set", "lo", "up"),
            ("ip", "addr", "add", f"{address}/24", "dev", port),
            ("ip", "link", "set", port, "up"),
            ("ip", "route", "add", "default", "via", "10.10.0.1"),
        ):
            run("ip", "netns", "exec", ns, *argv)
        yield ns
    finally:
        subprocess.run(["ovs-vsctl", "--if-exists", "del-port", bridge, port], check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def curl(ns: str, path: str, *headers: str) -> tuple[int, str]:
    """(status, body) of GET http://169.254.169.254<path> from inside ``ns``."""
    argv = ["ip", "netns", "exec", ns, "curl", "-s", "-m", "5", "-w", "\n%{http_code}"]
    for header in headers:
        argv += ["-H", header]
    out = subprocess.run([*argv, META + path], capture_output=True, text=True, check=False)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def answered(ns: str, path: str) -> tuple[int, str] | None:
    status, body = curl(ns, path)
    return (status, body) if status == 200 else None


@pytest.fixture
def built(lab: Lab) -> Iterator[Lab]:
    try:
        outcome = lab.apply(topology())
        assert outcome.ok, [str(f) for f in outcome.failures]
        yield lab
    finally:
        # The service outlives nothing of the test, even when destroy was not reached.
        lab.destroy()
        lab.host.metadata.stop()


def test_an_instance_gets_its_own_metadata_through_its_router(built: Lab) -> None:
    with instance(built, "a", 31, "10.10.0.5") as ns:
        _, body = eventually(lambda: answered(ns, "/openstack/latest/meta_data.json"))
        meta = json.loads(body)
        assert meta["uuid"] == SERVER_A
        assert meta["hostname"] == "alpha" and meta["name"] == "vm-a"
        assert meta["public_keys"] == {"key-a": KEY_A}
        assert meta["keys"] == [{"name": "key-a", "type": "ssh", "data": KEY_A}]
        assert curl(ns, "/openstack/latest/user_data") == (200, "#cloud-config\nhostname: alpha\n")
        net = json.loads(curl(ns, "/openstack/latest/network_data.json")[1])
        port = built.topology(topology()).ports[0]
        assert net["links"][0]["ethernet_mac_address"] == port.mac_address
        (network,) = net["networks"]
        assert (network["ip_address"], network["netmask"]) == ("10.10.0.5", "255.255.255.0")
        assert {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.10.0.1"} in network[
            "routes"
        ]
        assert {"network": "192.168.7.0", "netmask": "255.255.255.0", "gateway": "10.10.0.254"} in (
            network["routes"]
        )
        assert net["services"] == [{"type": "dns", "address": "10.10.0.53"}]
        assert curl(ns, "/openstack")[1].splitlines()[-1] == "latest"
        assert curl(ns, "/latest/meta-data/instance-id") == (200, SERVER_A)
        assert curl(ns, "/latest/meta-data/local-ipv4") == (200, "10.10.0.5")
        assert curl(ns, "/latest/meta-data/hostname") == (200, "alpha")
        assert curl(ns, "/latest/meta-data/public-keys/") == (200, "0=key-a")
        assert curl(ns, "/latest/meta-data/public-keys/0/openssh-key") == (200, KEY_A)
        assert curl(ns, "/latest/user-data") == (200, "#cloud-config\nhostname: alpha\n")


def test_the_same_address_behind_another_router_gets_the_other_port(built: Lab) -> None:
    """10.10.0.5 on tenant-b is another machine: it gets vm-b's data, never vm-a's."""
    with instance(built, "b", 32, "10.10.0.5") as ns:
        _, body = eventually(lambda: answered(ns, "/openstack/latest/meta_data.json"))
        meta = json.loads(body)
        assert (meta["uuid"], meta["hostname"]) == (SERVER_B, "vm-b")
        assert meta["public_keys"] == {"key-b": KEY_B}
        assert curl(ns, "/openstack/latest/user_data")[0] == 404
        assert curl(ns, "/latest/user-data")[0] == 404


def test_an_instance_cannot_claim_another_address(built: Lab) -> None:
    """vm-a2 (10.10.0.6) sends X-Forwarded-For and X-Neutron-Router-ID of its own: the
    proxy replaces them, and vm-a2 gets its own data."""
    topo = built.topology(topology())
    router_b = topo.routers[1].uid
    with instance(built, "c", 31, "10.10.0.6") as ns:
        eventually(lambda: answered(ns, "/openstack/latest/meta_data.json"))
        for headers in (
            ("X-Forwarded-For: 10.10.0.5",),
            ("X-Forwarded-For: 10.10.0.5", f"X-Neutron-Router-ID: {router_b}"),
            (f"X-Neutron-Network-ID: {topo.networks[0].uid}", "X-Forwarded-For: 10.10.0.5"),
        ):
            status, body = curl(ns, "/openstack/latest/meta_data.json", *headers)
            assert status == 200, body
            meta = json.loads(body)
            assert meta["name"] == "vm-a2" and meta["uuid"] == topo.ports[1].uid
            assert meta["public_keys"] == {}
        assert curl(ns, "/latest/meta-data/instance-id", "X-Forwarded-For: 10.10.0.5") == (
            200,
            topo.ports[1].uid,
        )


def test_an_address_without_a_port_gets_nothing(built: Lab) -> None:
    with instance(built, "d", 31, "10.10.0.77") as ns:
        status, body = eventually(lambda: curl(ns, "/openstack/latest/meta_data.json"))
        assert status == 404 and "10.10.0.77" in body


def test_a_killed_proxy_and_a_killed_service_come_back_with_the_agents_pass(built: Lab) -> None:
    topo = built.topology(topology())
    name = proxy_name(topo.routers[0].host_id)
    proxy = built.host.haproxy.running_pid(name)
    service = built.host.metadata.running_pid()
    assert proxy is not None and service is not None
    os.kill(proxy, signal.SIGKILL)
    os.kill(service, signal.SIGKILL)
    eventually(lambda: built.host.haproxy.running_pid(name) is None, timeout=5)
    eventually(lambda: built.host.metadata.running_pid() is None, timeout=5)
    with instance(built, "e", 31, "10.10.0.5") as ns:
        assert curl(ns, "/latest/meta-data/instance-id")[0] != 200
        reports = Agent(built.host, files=[], log=lambda _s: None).run_once()
        assert reports and all(r.ok for r in reports), [str(r) for r in reports]
        assert built.host.haproxy.running_pid(name) not in (None, proxy)
        assert built.host.metadata.running_pid() not in (None, service)
        assert eventually(lambda: answered(ns, "/latest/meta-data/instance-id")) == (200, SERVER_A)


class FakeNova(BaseHTTPRequestHandler):
    """Stands in for Nova's metadata API (nova-api-metadata), which cannot run here: it
    checks the signature the way Nova does (HMAC-SHA256 of X-Instance-ID with the
    shared secret, hex) and answers with what it was told."""

    secret = b""
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        headers = self.headers  # names are case-insensitive, as Nova's (webob) are
        self.seen.append({"path": self.path, **dict(headers.items())})
        instance_id = headers.get("X-Instance-ID", "")
        expected = hmac.new(self.secret, instance_id.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("X-Instance-ID-Signature", "")):
            body, status = b"bad signature", 403
        else:
            body = json.dumps(
                {
                    "from": "nova",
                    "instance": instance_id,
                    "tenant": headers.get("X-Tenant-ID"),
                    "address": headers.get("X-Forwarded-For"),
                    "path": self.path,
                }
            ).encode()
            status = 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("secret_right", [True, False])
def test_the_nova_proxy_mode_signs_as_neutron_does(lab: Lab, secret_right: bool) -> None:
    """With ``nova_metadata``, the service asks Nova (here a stand-in on 127.0.0.1 in
    the host's namespace, where the service runs) with X-Instance-ID, X-Tenant-ID,
    X-Forwarded-For and the HMAC signature; a wrong shared secret is refused by Nova."""
    FakeNova.secret = b"s3cret"
    FakeNova.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNova)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    data = topology()
    data["nova_metadata"] = {
        "url": f"http://127.0.0.1:{server.server_address[1]}",
        "shared_secret": "s3cret" if secret_right else "wrong",
    }
    try:
        assert lab.apply(data).ok
        with instance(lab, "f", 31, "10.10.0.5") as ns:
            status, body = eventually(lambda: curl(ns, "/openstack/latest/meta_data.json"))
            if not secret_right:
                assert (status, body) == (403, "bad signature")
                return
            assert status == 200, body
            assert json.loads(body) == {
                "from": "nova",
                "instance": SERVER_A,
                "tenant": "",
                "address": "10.10.0.5",
                "path": "/openstack/latest/meta_data.json",
            }
    finally:
        lab.destroy()
        lab.host.metadata.stop()
        server.shutdown()
        server.server_close()
