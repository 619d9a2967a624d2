"""The fault suite (issue 18): each test injects one fault into a running netnode and
proves the recovery with traffic or with the API's state. (A PostgreSQL restart under
``netnode serve`` is tests/functional/test_store_outage.py; a SQLite store locked by
another process is test_agent_rounds.py; an apply killed at any point, a restarted
ovs-vswitchd and the rest of self-repair are test_self_repair.py.)
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from netnode.model import ids
from netnode.reconcile.agent import Agent
from tests.functional.conftest import Lab, eventually, seed_data
from tests.functional.test_openstack_cli import Server, lab_only
from tests.functional.test_self_repair import (
    iptables_rules,
    lb_process,
    owned_leftovers,
    serving,
)

BURST = 24
WRITERS = 6


def test_a_killed_ovs_vswitchd_is_started_again_and_ports_replugged(
    private_ovs: Path, lab: Lab
) -> None:
    """ovs-vswitchd SIGKILLed (not asked to exit): its tap devices go with it while
    ovsdb-server still answers. The next pass sees the datapath gone, starts
    ovs-vswitchd again (ovs-ctl start starts only what is missing) and plugs the ports
    back into their namespaces; the floating IP serves again."""
    try:
        lab.apply(seed_data())
        assert serving(lab) == {"server_81", "server_82"}
        pid = int((private_ovs / "ovs-vswitchd.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not Path(f"/proc/{pid}").exists(), timeout=10)
        assert not lab.host.ovs.is_running()
        reports = Agent(lab.host, log=lambda _s: None).run_once()
        assert all(r.ok for r in reports), [str(r) for r in reports]
        assert reports[0].outcome is not None and reports[0].outcome.started_ovs
        restarted = int((private_ovs / "ovs-vswitchd.pid").read_text())
        assert restarted != pid
        assert serving(lab) == {"server_81", "server_82"}
    finally:
        lab.destroy()  # while this test's Open vSwitch still runs


def _haproxy_pids(config_dir: Path) -> list[int]:
    """The HAProxy processes whose command line names a config in ``config_dir``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"haproxy")
            and any(str(config_dir).encode() in a for a in argv)
        ):
            pids.append(int(proc.name))
    return pids


def test_haproxy_directory_removed_under_a_running_load_balancer(lab: Lab) -> None:
    """Its config, pid file and sockets gone: the next pass takes the orphaned HAProxy
    back (it still holds the VIP's port) instead of starting a second one beside it,
    and the load balancer serves and takes changes again."""
    lab.apply(seed_data())
    name = lb_process(lab)
    directory = lab.host.haproxy.paths(name).cfg.parent
    before = _haproxy_pids(directory)
    assert before
    shutil.rmtree(directory)
    assert lab.host.haproxy.running_pid(name) is None
    reports = Agent(lab.host, log=lambda _s: None).run_once()
    assert all(r.ok for r in reports), [str(r) for r in reports]
    assert (directory / "haproxy.cfg").exists()
    assert lab.host.haproxy.running_pid(name) is not None
    assert serving(lab) == {"server_81", "server_82"}
    # One master and its worker, not the orphan and a newcomer side by side.
    masters = [p for p in _haproxy_pids(directory) if _is_master(p)]
    assert len(masters) == 1, masters
    # A member change still goes through the runtime API of the process netnode holds.
    data = seed_data()
    data["load_balancers"][0]["pools"][0]["members"].pop()
    lab.apply(data)
    assert serving(lab) == {"server_81"}


def _is_master(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    try:
        parent_argv = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return True
    return b"haproxy" not in parent_argv.split(b"\0")[0]


def test_serve_killed_during_a_burst_of_writes_loses_no_acknowledged_object(
    lab: Lab,
) -> None:
    """``netnode serve`` SIGKILLed while concurrent clients create load balancers: after
    a restart every load balancer it acknowledged is there, whole, and goes ACTIVE."""
    lab.apply(lab_only())
    server = Server(lab, "--noauth")
    acknowledged: list[str] = []
    lock = threading.Lock()
    http = httpx.Client(base_url=server.url, timeout=30)
    try:
        subnet = http.get("/v2.0/subnets?name=tenant1-subnet").json()["subnets"][0]["id"]

        def writer(index: int) -> None:
            for n in range(index, BURST, WRITERS):
                body = {"loadbalancer": {"name": f"burst-{n}", "vip_subnet_id": subnet}}
                try:
                    answer = http.post("/v2/lbaas/loadbalancers", json=body)
                except httpx.TransportError:
                    return  # the server is gone
                if answer.status_code == 201:
                    with lock:
                        acknowledged.append(answer.json()["loadbalancer"]["id"])

        writers = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for w in writers:
            w.start()
        eventually(lambda: len(acknowledged) >= BURST // 3, timeout=60, interval=0.01)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        for w in writers:
            w.join(60)
        assert BURST // 3 <= len(acknowledged) < BURST
    finally:
        http.close()
        server.stop()

    again = Server(lab, "--noauth")
    http = httpx.Client(base_url=again.url, timeout=30)
    try:
        listed = http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
        ids = {lb["id"] for lb in listed}
        assert set(acknowledged) <= ids
        # None half-written: each is whole (its VIP allocated, its name kept).
        assert all(lb["vip_address"] and lb["name"].startswith("burst-") for lb in listed)

        def all_active() -> bool:
            lbs = http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]
            return all(lb["provisioning_status"] == "ACTIVE" for lb in lbs)

        eventually(all_active, timeout=120, interval=0.5)
        namespaces = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout
        assert all(f"qlbaas-{i}" in namespaces for i in ids)
    finally:
        http.close()
        again.stop()
        lab.destroy_api()


# Python starts and imports netnode in about 0.45 s, and the agent's first full pass
# over the seed takes about 0.7 s: these kill it before, in and after its phases.
@pytest.mark.parametrize("delay", [0.6, 0.9, 1.2])
def test_the_agent_killed_in_a_pass_leaves_nothing_the_next_one_cannot_fix(
    lab: Lab, delay: float
) -> None:
    """``netnode agent -f FILE`` SIGKILLed part-way through its first pass; a new agent
    converges the host, with no rule twice, and a destroy leaves nothing behind."""
    path = lab.write(seed_data())
    agent = subprocess.Popen(
        [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), "agent", "-f", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=10)
    lab.applied = lab.prepare(seed_data())  # so the fixture destroys it whatever happens
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "netnode.cli.main",
            *lab.cli_args(),
            "agent",
            "--once",
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert serving(lab) == {"server_81", "server_82"}
    rules = iptables_rules(lab.ns_of("router", "01"))
    assert len(rules) == len(set(rules))
    lab.destroy()
    assert owned_leftovers(lab) == []


def test_a_full_state_filesystem_is_a_clear_error_and_recovers(lab: Lab) -> None:
    """The state directory on a small tmpfs, filled up: an apply fails with a message
    that says so and changes nothing on the host; the store is intact; once space
    returns, the same apply converges."""
    # Short: HAProxy's socket paths live under the state directory (97 bytes at most,
    # netnode.drivers.haproxy.MAX_SOCKET_PATH).
    mount = Path(tempfile.mkdtemp(prefix="nn-fs-"))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "nn-faults", str(mount)], check=True
    )
    try:
        state = mount / "s"
        path = lab.write(seed_data())
        cli = ["--node", lab.host.node, "--state-dir", str(state)]
        # The store exists (schema, first topology), then the disk fills up.
        first = _netnode(*cli, "apply", "-f", str(lab.write(lab_only(), "lab.yaml")))
        assert first.returncode == 0, first.stderr
        filler = mount / "filler"
        _fill(filler)
        refused = _netnode(*cli, "apply", "-f", str(path))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "is full" in refused.stderr, refused.stderr
        assert not _seed_namespaces(lab) & _namespaces(), "the refused apply built something"
        filler.unlink()  # (the cleanup below also does: a destroy needs space too)
        # The store is intact and holds what it held before the disk filled up.
        assert _sqlite(state / "netnode.db", "PRAGMA integrity_check") == "ok"
        assert _sqlite(state / "netnode.db", "SELECT count(*) FROM topologies") == "1"
        done = _netnode(*cli, "apply", "-f", str(path))
        assert done.returncode == 0, done.stdout + done.stderr
        status = _netnode(*cli, "status")
        assert status.returncode == 0 and "ACTIVE" in status.stdout, status.stdout
    finally:
        (mount / "filler").unlink(missing_ok=True)
        for name in ("topology.yaml", "lab.yaml"):
            _netnode(
                "--node",
                lab.host.node,
                "--state-dir",
                str(mount / "s"),
                "destroy",
                "-f",
                str(lab.tmp / name),
            )
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


def _fill(path: Path) -> None:
    # Unbuffered: a buffered file would try again to write what did not fit when it is
    # closed, and raise there.
    with open(path, "wb", buffering=0) as out:
        chunk = b"\0" * 65536
        try:
            while True:
                out.write(chunk)
        except OSError:
            pass


def _netnode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _seed_namespaces(lab: Lab) -> set[str]:
    """The load balancer's and the router's namespaces of the seed (the lab's hosts are
    the lab file's, made before the disk filled up)."""
    topo = lab.topology(seed_data())
    return {ids.lb_namespace(lb.uid) for lb in topo.load_balancers} | {
        ids.router_namespace(r.uid) for r in topo.routers
    }


def _sqlite(path: Path, statement: str) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute(statement).fetchone()[0])
    finally:
        db.close()
