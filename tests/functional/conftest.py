"""Fixtures for functional tests: real namespaces, OVS, HAProxy and iptables.

Every test topology gets a unique node name (so unique namespaces, ports and ids) and
unique bridge names, and is destroyed after the test even when it fails. Traffic is
sent only from lab namespaces (``netnode.lab.client``), never from the host namespace.

Without root, Open vSwitch or HAProxy these tests skip, unless the environment says
NETNODE_REQUIRE_FUNCTIONAL=1 (``make test`` does): then a skip is a failure, so CI can
never pass having run none of them.
"""

from __future__ import annotations

import copy
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from netnode.drivers.ovs import OVS
from netnode.lab import postgres
from netnode.lab.client import Response, http_get
from netnode.model import ids
from netnode.model.loading import load_data
from netnode.model.topology import Topology
from netnode.reconcile import converge
from netnode.reconcile.converge import Outcome
from netnode.reconcile.host import Host

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "functional tests need root"
    for tool, package in (
        ("haproxy", "haproxy"),
        ("ovs-vsctl", "openvswitch-switch"),
        ("iptables-restore", "iptables"),
        ("conntrack", "conntrack"),
        ("nft", "nftables"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    try:
        OVS().ensure_running()
    except Exception as exc:
        return f"Open vSwitch cannot be started: {exc}"
    return None


@pytest.fixture(scope="session", autouse=True)
def _functional_prerequisites() -> None:
    missing = _missing()
    if missing is None:
        return
    if os.environ.get("NETNODE_REQUIRE_FUNCTIONAL") == "1":
        pytest.fail(f"NETNODE_REQUIRE_FUNCTIONAL=1 but {missing}", pytrace=False)
    pytest.skip(missing)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "functional" in str(item.path):
            item.add_marker(pytest.mark.functional)


def seed_data() -> dict:
    return yaml.safe_load(SEED.read_text())


def fast_monitor(data: dict) -> dict:
    """The seed with a health monitor that marks a member down after one failed check."""
    data["load_balancers"][0]["pools"][0]["healthmonitor"] = {
        "type": "HTTP",
        "delay": 1,
        "timeout": 1,
        "max_retries_down": 1,
        "max_retries": 1,
    }
    return data


@dataclass
class Lab:
    """One test's netnode: its node, state dir and bridges, all unique to it."""

    host: Host
    suffix: str
    tmp: Path
    applied: dict | None = None

    def prepare(self, data: dict) -> dict:
        """The topology with this lab's bridge names."""
        data = copy.deepcopy(data)
        data["integration_bridge"] = f"nn{self.suffix}i"
        for net in data.get("networks", []):
            if net.get("external"):
                net["bridge"] = f"nn{self.suffix}e"
        data.setdefault("name", "test")
        return data

    def topology(self, data: dict) -> Topology:
        return load_data(self.prepare(data), node=self.host.node)

    def apply(self, data: dict) -> Outcome:
        data = self.prepare(data)
        self.applied = data
        return converge.apply(self.host, load_data(data, node=self.host.node))

    def destroy(self) -> None:
        if self.applied is not None:
            converge.destroy(self.host, load_data(self.applied, node=self.host.node))
            self.applied = None

    def write(self, data: dict, name: str = "topology.yaml") -> Path:
        path = self.tmp / name
        path.write_text(yaml.safe_dump(self.prepare(data)))
        return path

    def cli_args(self) -> list[str]:
        """The CLI's options that point it at this lab's node, state and store."""
        db = ["--db", self.host.db_url] if self.host.db_url else []
        return ["--node", self.host.node, "--state-dir", str(self.host.state_dir), *db]

    # --- lab helpers -----------------------------------------------------------------

    def ns_of(self, kind: str, name: str) -> str:
        topo = load_data(self.applied or {}, node=self.host.node)
        if kind == "lb":
            return ids.lb_namespace(next(x for x in topo.load_balancers if x.name == name).uid)
        if kind == "router":
            return ids.router_namespace(next(x for x in topo.routers if x.name == name).uid)
        hosts = [*topo.lab.instances, *topo.lab.clients]
        return ids.lab_namespace(next(x for x in hosts if x.name == name).uid)

    def get(
        self,
        namespace: str,
        address: str,
        port: int = 80,
        timeout: float = 2.0,
        path: str = "/",
    ) -> Response:
        return http_get(namespace, address, port, path=path, timeout=timeout)

    def bodies(self, namespace: str, address: str, count: int, port: int = 80) -> list[str]:
        return [self.get(namespace, address, port).body.strip() for _ in range(count)]

    def answering(self, namespace: str, address: str, count: int = 6) -> set[str] | None:
        """The bodies of ``count`` requests from ``namespace``, or None while the
        address does not answer yet (for ``eventually``)."""
        try:
            return set(self.bodies(namespace, address, count))
        except OSError:
            return None

    def destroy_api(self) -> None:
        """Remove what ``netnode serve`` built for this lab's API topology, if anything."""
        record = self.host.store.read("api")
        if record.topology is not None:
            converge.destroy(self.host, load_data(record.topology, node=self.host.node))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    suffix = secrets.token_hex(3)
    # Short: HAProxy's UNIX socket paths live under the state dir (97 bytes at most,
    # netnode.drivers.haproxy.MAX_SOCKET_PATH).
    state_dir = Path(tempfile.mkdtemp(prefix="nn-"))
    host = Host(state_dir=state_dir, node=f"t-{suffix}")
    the_lab = Lab(host, suffix, tmp_path)
    try:
        yield the_lab
    finally:
        try:
            the_lab.destroy()
        finally:
            host.close()
            shutil.rmtree(state_dir, ignore_errors=True)


def eventually(check: Callable[[], object], timeout: float = 20.0, interval: float = 0.2) -> object:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"


def userspace_datapath_holders() -> str | None:
    """Why a private ovs-vswitchd could not open its userspace datapath, or None.

    Every ovs-vswitchd names its userspace datapath ``ovs-netdev`` and creates a tap
    device of that name in its network namespace; while the host's Open vSwitch has a
    bridge of that datapath, the device is its own and a second one gets EBUSY (its
    bridges then fail with "No such device"). That happens when a killed test run left
    a bridge behind."""
    if not Path("/sys/class/net/ovs-netdev").exists():
        return None
    listed = subprocess.run(
        [
            "ovs-vsctl",
            "--timeout=5",
            "--format=csv",
            "--no-headings",
            "--columns=name,external_ids",
            "list",
            "Bridge",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    bridges = listed.stdout.strip().replace("\n", "; ") or "(none: the device is a leftover)"
    return (
        "the host's userspace datapath 'ovs-netdev' is in use, so a private Open vSwitch "
        f"cannot open its own; the host's bridges: {bridges}. Remove leftovers of an earlier "
        "test run (ovs-vsctl del-br NAME for bridges whose netnode-node is t-..., "
        "or ip link del ovs-netdev when no bridge is left) and run the test again"
    )


@pytest.fixture
def private_ovs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An Open vSwitch of this test's own (ovsdb-server and ovs-vswitchd with their
    database, sockets and pid files in a temporary directory), so that killing its
    ovs-vswitchd touches nobody else's bridges. ovs-vsctl, ovs-appctl and ovs-ctl find
    it through OVS_RUNDIR and friends, which this process and its children inherit."""
    held = userspace_datapath_holders()
    if held is not None:
        pytest.fail(held)
    top = Path(tempfile.mkdtemp(prefix="nn-ovs-"))
    for name in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"):
        monkeypatch.setenv(name, str(top))
    started = subprocess.run(
        [OVS_CTL, "start", "--system-id=random"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield top
    finally:
        subprocess.run([OVS_CTL, "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[postgres.Cluster]:
    """A private PostgreSQL server of the test's own (``netnode/lab/postgres.py``), durable: a
    test may stop and start it, and what was committed survives. This module's
    prerequisites include PostgreSQL's server binaries: its absence fails the test."""
    reason = postgres.available()
    if reason is not None:
        pytest.fail(f"this test needs a private PostgreSQL cluster: {reason}")
    with postgres.restartable_cluster() as c:
        yield c
