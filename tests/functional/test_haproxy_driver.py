"""HAProxyProcesses against a real HAProxy in a throw-away network namespace.

Every HAProxy listens on 127.0.0.1 inside a namespace this module creates
(``nntest-<random>``), and every request is sent from inside that namespace: nothing
leaves the host's own namespace. Cleanup stops what the driver started (by its pid
files) and then, by pid, whatever still runs in the namespace, and deletes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from netnode.drivers.haproxy import MAX_ALERTS, MAX_SOCKET_PATH, HAProxyProcesses, check_alerts
from netnode.errors import HostError, MissingTool, Refused
from netnode.model.topology import (
    HealthMonitor,
    Instance,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Vip,
)
from netnode.plan.desired import process_name
from netnode.plan.runtime import ServerChange, SetWeight, server_changes
from netnode.reconcile.status import loadbalancer_status, to_octavia_json
from netnode.render.haproxy import render_lab_instance, render_loadbalancer

HOST_MARKS = (
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
)

F = TypeVar("F", bound=Callable[..., object])


def needs_host(test: F) -> F:
    for mark in HOST_MARKS:
        test = mark(test)
    return test


# haproxy -c alone: no namespace, no root.
needs_haproxy = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="haproxy is not installed"
)


NAME = "lab-66666666-6666-4666-8666-666666666666"
PORT = 8080


def instance(body: str) -> Instance:
    return Instance(
        name="vm1",
        id="66666666-6666-4666-8666-666666666666",
        network="lab",
        address="127.0.0.1",
        body=body,
        protocol_port=PORT,
    )


def config(driver: HAProxyProcesses, body: str) -> str:
    return render_lab_instance(instance(body), stats_socket=str(driver.paths(NAME).stats_socket))


def in_ns(ns: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fetch(ns: str) -> tuple[str, str]:
    """GET http://127.0.0.1:PORT/ from inside ``ns``: (headers, body)."""
    result = in_ns(ns, "curl", "-sS", "-i", "--max-time", "5", f"http://127.0.0.1:{PORT}/")
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    return head.lower(), body


@pytest.fixture
def namespace() -> Iterator[str]:
    ns = f"nntest-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        yield ns
    finally:
        # Whatever still runs in our namespace was started by this test: end it by pid.
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for pid in (int(x) for x in pids.split() if x.isdigit()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", ns], check=False)


@pytest.fixture
def driver() -> Iterator[HAProxyProcesses]:
    # Not tmp_path: HAProxy's UNIX socket paths must fit MAX_SOCKET_PATH (97 bytes).
    run_dir = Path(tempfile.mkdtemp(prefix="nn-hap-"))
    procs = HAProxyProcesses(run_dir)
    try:
        yield procs
    finally:
        for name in procs.names():
            procs.stop(name)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_missing_binary_is_reported(tmp_path: Path) -> None:
    procs = HAProxyProcesses(tmp_path, binary="haproxy-not-installed-here")
    with pytest.raises(MissingTool, match="haproxy is not installed"):
        procs.start("lab-x", "nowhere", "global\n")


def run_dir_for(top: Path, length: int) -> Path:
    """A run directory under ``top`` where NAME's longest socket path (master.sock)
    is ``length`` bytes long."""
    fixed = len(os.fsencode(top / NAME / "master.sock")) + 1  # + the padding's "/"
    assert length > fixed, "the temporary directory is too long for this test"
    return top / ("x" * (length - fixed))


def haproxy_check(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False
    )


@needs_haproxy
def test_max_socket_path_is_haproxys_own_limit() -> None:
    """The installed HAProxy takes a stats socket of MAX_SOCKET_PATH bytes, and says
    that same number when it refuses one a byte longer."""
    top = Path(tempfile.mkdtemp(prefix="nn-hap-"))
    try:
        for length in (MAX_SOCKET_PATH, MAX_SOCKET_PATH + 1):
            socket_path = run_dir_for(top, length + 1) / NAME / "stats.sock"
            assert len(os.fsencode(socket_path)) == length
            cfg = top / f"haproxy-{length}.cfg"
            cfg.write_text(render_lab_instance(instance("x"), stats_socket=str(socket_path)))
            result = haproxy_check(cfg)
            if length == MAX_SOCKET_PATH:
                assert result.returncode == 0, result.stderr
            else:
                assert result.returncode != 0
                assert f"too long (max {MAX_SOCKET_PATH})" in result.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)


@needs_haproxy
def test_a_socket_path_haproxy_would_refuse_is_refused_before_haproxy_runs() -> None:
    top = Path(tempfile.mkdtemp(prefix="nn-hap-"))
    try:
        fits = HAProxyProcesses(run_dir_for(top, MAX_SOCKET_PATH))
        fits.validate(NAME, config(fits, "server_81"))  # HAProxy takes it
        assert fits.paths(NAME).new_cfg.exists()

        long = HAProxyProcesses(run_dir_for(top, MAX_SOCKET_PATH + 1))
        master = long.paths(NAME).master_socket
        with pytest.raises(Refused) as refused:
            long.validate(NAME, config(long, "server_81"))
        message = str(refused.value)
        assert f"{master} is {MAX_SOCKET_PATH + 1} bytes long" in message
        assert f"at most {MAX_SOCKET_PATH} bytes" in message
        assert "hint: use a shorter --state-dir" in message
        assert not long.run_dir.exists()  # nothing written, HAProxy not run
    finally:
        shutil.rmtree(top, ignore_errors=True)


@needs_haproxy
def test_a_refusal_carries_haproxys_reasons(driver: HAProxyProcesses) -> None:
    bad = config(driver, "server_81") + "    no-such-keyword\n"
    with pytest.raises(Refused) as refused:
        driver.validate(NAME, bad)
    failed = driver.paths(NAME).failed_cfg
    number = failed.read_text().splitlines().index("    no-such-keyword") + 1
    head, *reasons, hint = str(refused.value).splitlines()
    assert head.endswith(f"kept in {failed}:")
    assert reasons == [f"  line {number}: unknown keyword 'no-such-keyword' in 'frontend' section"]
    assert hint.startswith("  hint: check it with 'haproxy -c -f")


def test_a_silent_refusal_still_says_something(tmp_path: Path) -> None:
    silent = tmp_path / "haproxy"
    silent.write_text("#!/bin/sh\nexit 3\n")
    silent.chmod(0o755)
    procs = HAProxyProcesses(tmp_path / "run", binary=str(silent))
    with pytest.raises(
        Refused, match=r"failed:\n  haproxy -c exited with status 3 and said nothing"
    ):
        procs.validate("lb-x", "global\n")


def test_check_alerts_keeps_the_reasons_short() -> None:
    cfg = Path("/var/lib/netnode/n/haproxy/lb-x/haproxy.cfg.new")
    alerts = [
        f"[ALERT]    (42) : config : parsing [{cfg}:{n}] : parsing [{cfg}:{n}] : bad {n}"
        for n in range(1, 13)
    ]
    output = "\n".join(
        [
            "[NOTICE]   (42) : haproxy version is 2.6.12",
            "[WARNING]  (42) : config : something to tidy",
            *alerts,
            "",
            f"[ALERT]    (42) : config : Error(s) found in configuration file : {cfg}",
            "[ALERT]    (42) : config : Fatal errors found in configuration.",
        ]
    )
    shown = check_alerts(output, cfg)
    assert shown[: MAX_ALERTS - 1] == [f"line {n}: bad {n}" for n in range(1, MAX_ALERTS)]
    assert shown[-1] == f"(and {12 - MAX_ALERTS + 1} more)"
    assert check_alerts("x" * 1000, cfg) == ["x" * 299 + "…"]
    # Only the summaries: they are the reason then.
    summary = f"[ALERT]    (42) : config : Error(s) found in configuration file : {cfg}"
    assert check_alerts(summary, cfg) == [f"Error(s) found in configuration file : {cfg}"]


@needs_host
def test_lifecycle(namespace: str, driver: HAProxyProcesses) -> None:
    paths = driver.paths(NAME)

    assert driver.ensure(NAME, namespace, config(driver, "server_81")) == "created"
    pid = driver.running_pid(NAME)
    assert pid is not None
    assert (paths.cfg.stat().st_mode & 0o777) == 0o600
    assert (paths.stats_socket.stat().st_mode & 0o777) == 0o600
    assert driver.names() == [NAME]
    head, body = fetch(namespace)
    assert head.startswith("http/1.1 200")
    assert body == "server_81\n"
    assert "x-client-addr: 127.0.0.1" in head

    assert driver.ensure(NAME, namespace, config(driver, "server_81")) == "unchanged"

    # Reload: same master, new worker, new body.
    workers = driver.workers(NAME)
    assert driver.ensure(NAME, namespace, config(driver, "server_82")) == "changed"
    assert driver.running_pid(NAME) == pid
    assert set(driver.workers(NAME)).isdisjoint(workers)
    assert fetch(namespace)[1] == "server_82\n"

    # A config HAProxy refuses: kept as haproxy.cfg-failed, the old one keeps serving.
    good = driver.installed_config(NAME)
    with pytest.raises(HostError, match=r"haproxy\.cfg-failed"):
        driver.ensure(NAME, namespace, config(driver, "server_83") + "    no-such-keyword\n")
    assert paths.failed_cfg.exists()
    assert "no-such-keyword" in paths.failed_cfg.read_text()
    assert driver.installed_config(NAME) == good
    assert fetch(namespace)[1] == "server_82\n"

    rows = driver.stats(NAME)
    frontend = [r for r in rows if r["svname"] == "FRONTEND"]
    assert [r["pxname"] for r in frontend] == [instance("x").uid]
    assert frontend[0]["status"] == "OPEN"
    assert int(frontend[0]["stot"]) >= 1
    assert "Name: HAProxy" in driver.runtime(NAME, "show info")

    assert driver.stop(NAME) is True
    assert driver.running_pid(NAME) is None
    assert not paths.dir.exists()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert driver.stop(NAME) is False


@needs_host
def test_reload_the_master_cannot_apply_keeps_serving(
    namespace: str, driver: HAProxyProcesses
) -> None:
    """haproxy -c accepts a bind to an address the namespace lacks; the master's
    re-exec fails, keeps its workers, and the driver puts the old config back."""
    driver.start(NAME, namespace, config(driver, "server_81"))
    good = driver.installed_config(NAME)
    bad = config(driver, "server_82").replace(
        f"bind 127.0.0.1:{PORT}", f"bind 127.0.0.1:{PORT}\n    bind 192.0.2.1:{PORT}"
    )
    with pytest.raises(HostError, match="refused a reload"):
        driver.reload(NAME, bad)
    assert driver.installed_config(NAME) == good
    assert "192.0.2.1" in driver.paths(NAME).failed_cfg.read_text()
    assert fetch(namespace)[1] == "server_81\n"
    # The master recovers from its wait mode with the next good config.
    driver.reload(NAME, config(driver, "server_83"))
    assert fetch(namespace)[1] == "server_83\n"


@needs_host
def test_ensure_restarts_a_dead_process(namespace: str, driver: HAProxyProcesses) -> None:
    cfg = config(driver, "server_81")
    pid = driver.start(NAME, namespace, cfg)
    os.kill(pid, signal.SIGKILL)  # our own, verified master
    deadline = time.monotonic() + 5
    while driver.running_pid(NAME) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.running_pid(NAME) is None
    assert driver.ensure(NAME, namespace, cfg) == "created"
    assert fetch(namespace)[1] == "server_81\n"


LOAD = r"""
import json, sys, threading, time, urllib.request
url, seconds, threads, limit = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok, failed, errors = [0], [0], []
lock = threading.Lock()
stop = time.monotonic() + seconds
def run():
    while time.monotonic() < stop:
        with lock:
            if ok[0] + failed[0] >= limit:
                return
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
            with lock:
                ok[0] += 1
        except Exception as exc:
            with lock:
                failed[0] += 1
                errors.append(repr(exc))
workers = [threading.Thread(target=run) for _ in range(threads)]
[w.start() for w in workers]
[w.join() for w in workers]
print(json.dumps({"ok": ok[0], "failed": failed[0], "errors": errors[:5]}))
"""


@needs_host
def test_reload_refuses_no_connection_under_load(namespace: str, driver: HAProxyProcesses) -> None:
    """A bounded load (4 threads, at most 3 s and 20000 requests, each on a new
    connection) from inside the namespace while the driver reloads five times."""
    driver.start(NAME, namespace, config(driver, "server_81"))
    load = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", LOAD,
         f"http://127.0.0.1:{PORT}/", "3", "4", "20000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        timings = []
        for i in range(5):
            began = time.monotonic()
            driver.reload(NAME, config(driver, f"server_{82 + i}"))
            timings.append(time.monotonic() - began)
            time.sleep(0.2)
        out, _ = load.communicate(timeout=30)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    result = json.loads(out)
    print(f"reloads took {', '.join(f'{t * 1000:.0f} ms' for t in timings)}; load: {result}")
    assert result["failed"] == 0, result["errors"]
    assert result["ok"] > 100
    assert fetch(namespace)[1] == "server_86\n"


@needs_host
def test_loadbalancer_statuses_and_state_across_reload(
    namespace: str, driver: HAProxyProcesses
) -> None:
    """A seed-shaped load balancer in front of one live lab instance and one dead
    member: real ``show stat`` rows give Octavia statuses, and a member drained over
    the runtime API stays drained across a reload (server-state-file)."""
    driver.start(NAME, namespace, config(driver, "server_81"))
    lb = LoadBalancer(
        name="lb",
        id="44444444-4444-4444-8444-444444444444",
        vip=Vip(network="lab", address="127.0.0.1"),
        listeners=[Listener(name="l", id="11111111-1111-4111-8111-111111111111",
                            protocol_port=9090, default_pool="p")],
        pools=[Pool(
            name="p",
            id="22222222-2222-4222-8222-222222222222",
            healthmonitor=HealthMonitor(type="HTTP", delay=1, timeout=1, max_retries_down=1),
            members=[
                Member(name="live", id="33333333-3333-4333-8333-333333333331",
                       address="127.0.0.1", protocol_port=PORT),
                Member(name="dead", id="33333333-3333-4333-8333-333333333332",
                       address="127.0.0.1", protocol_port=PORT + 1),
            ],
        )],
    )  # fmt: skip
    lb_name = process_name("lb", lb.uid)
    paths = driver.paths(lb_name)

    def render() -> str:
        return render_loadbalancer(
            lb, stats_socket=str(paths.stats_socket), state_file=str(paths.state_file)
        )

    assert driver.ensure(lb_name, namespace, render()) == "created"
    result = in_ns(namespace, "curl", "-sS", "--max-time", "5", "http://127.0.0.1:9090/")
    assert result.stdout == "server_81\n", result.stderr

    def statuses() -> dict[str, str]:
        status = loadbalancer_status(lb, driver.stats(lb_name))
        out = {"lb": status.operating_status, "pool": status.pools[0].operating_status}
        out.update({m.name: m.operating_status for m in status.pools[0].members})
        return out

    deadline = time.monotonic() + 10
    while statuses()["dead"] != "ERROR" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert statuses() == {"lb": "DEGRADED", "pool": "DEGRADED", "live": "ONLINE", "dead": "ERROR"}

    live = f"{lb.pools[0].uid}/{lb.pools[0].members[0].uid}"
    assert driver.runtime(lb_name, f"set server {live} state drain").strip() == ""
    assert statuses()["live"] == "DRAINING"
    lb.pools[0].members[1].weight = 2  # any change, so that ensure reloads
    assert driver.ensure(lb_name, namespace, render()) == "changed"
    assert statuses()["live"] == "DRAINING"
    tree = to_octavia_json(loadbalancer_status(lb, driver.stats(lb_name)))
    assert tree["statuses"]["loadbalancer"]["listeners"][0]["operating_status"] == "ONLINE"


# --- member changes over the runtime API ----------------------------------------------------

LB_PORT = 9090


def lab_servers(driver: HAProxyProcesses, namespace: str, count: int) -> list[Member]:
    """``count`` lab HTTP servers on 127.0.0.1:8081.. answering server_1.., as members."""
    members = []
    for n in range(1, count + 1):
        inst = Instance(
            name=f"vm{n}",
            id=f"66666666-6666-4666-8666-66666666666{n}",
            network="lab",
            address="127.0.0.1",
            body=f"server_{n}",
            protocol_port=PORT + n,
        )
        name = process_name("lab", inst.uid)
        driver.start(
            name,
            namespace,
            render_lab_instance(inst, stats_socket=str(driver.paths(name).stats_socket)),
        )
        members.append(
            Member(
                name=f"m{n}",
                id=f"33333333-3333-4333-8333-33333333333{n}",
                address="127.0.0.1",
                protocol_port=PORT + n,
            )
        )
    return members


def seed_like(members: list[Member], protocol: str = "HTTP", **listener: object) -> LoadBalancer:
    return LoadBalancer(
        name="lb",
        id="44444444-4444-4444-8444-444444444444",
        vip=Vip(network="lab", address="127.0.0.1"),
        listeners=[Listener(name="l", id="11111111-1111-4111-8111-111111111111",
                            protocol=protocol, protocol_port=LB_PORT, default_pool="p",
                            **listener)],  # type: ignore[arg-type]
        pools=[Pool(name="p", id="22222222-2222-4222-8222-222222222222", protocol=protocol,
                    healthmonitor=HealthMonitor(type="TCP", delay=1, timeout=1),
                    members=members)],
    )  # fmt: skip


class LBUnderTest:
    def __init__(self, driver: HAProxyProcesses, namespace: str) -> None:
        self.driver, self.namespace = driver, namespace
        self.name = process_name("lb", "44444444-4444-4444-8444-444444444444")
        self.paths = driver.paths(self.name)

    def render(self, lb: LoadBalancer) -> str:
        return render_loadbalancer(
            lb, stats_socket=str(self.paths.stats_socket), state_file=str(self.paths.state_file)
        )

    def change(self, lb: LoadBalancer, **kwargs: float) -> tuple[ServerChange, ...]:
        """Change to ``lb`` over the runtime API; the changes must not need a reload."""
        new = self.render(lb)
        old = self.driver.installed_config(self.name)
        assert old is not None
        changes = server_changes(old, new)
        assert changes is not None
        self.driver.change_servers(self.name, changes, new, **kwargs)
        return changes

    def bodies(self, count: int) -> list[str]:
        out = []
        for _ in range(count):
            result = in_ns(self.namespace, "curl", "-sS", "--max-time", "5",
                           f"http://127.0.0.1:{LB_PORT}/")  # fmt: skip
            assert result.returncode == 0, result.stderr
            out.append(result.stdout.strip())
        return out

    def wait_up(self, server: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not self.servers()[server][0].startswith("UP"):
            assert time.monotonic() < deadline, self.servers()
            time.sleep(0.1)

    def servers(self) -> dict[str, tuple[str, str]]:
        """member id -> (status, weight) from ``show stat``."""
        return {
            r["svname"]: (r["status"], r["weight"])
            for r in self.driver.stats(self.name)
            if r["pxname"] == "22222222-2222-4222-8222-222222222222"
            and r["svname"] not in ("FRONTEND", "BACKEND")
        }


@needs_host
def test_member_changes_without_a_reload(namespace: str, driver: HAProxyProcesses) -> None:
    m1, m2, m3 = lab_servers(driver, namespace, 3)
    lb = LBUnderTest(driver, namespace)
    driver.start(lb.name, namespace, lb.render(seed_like([m1])))
    before = driver.master_state(lb.name)
    assert set(lb.bodies(2)) == {"server_1"}

    changes = lb.change(seed_like([m1, m2, m3]))
    assert [type(c).__name__ for c in changes] == ["AddServer", "AddServer"]
    assert set(lb.bodies(6)) == {"server_1", "server_2", "server_3"}
    assert lb.servers()[m2.uid][0].startswith("UP")

    m1_zero = m1.model_copy(update={"weight": 0})
    m2_down = m2.model_copy(update={"admin_state_up": False})
    lb.change(seed_like([m1_zero, m2_down, m3]))
    assert set(lb.bodies(4)) == {"server_3"}
    assert lb.servers()[m2.uid][0] == "MAINT"
    assert lb.servers()[m1.uid][1] == "0"

    lb.change(seed_like([m1, m2]))  # m3 removed, m1 weight 1 again, m2 up again
    assert set(lb.bodies(4)) == {"server_1", "server_2"}
    assert m3.uid not in lb.servers()

    after = driver.master_state(lb.name)
    assert (after.pid, after.reloads, after.workers) == (before.pid, before.reloads, before.workers)
    assert driver.installed_config(lb.name) == lb.render(seed_like([m1, m2]))


@needs_host
def test_runtime_changes_survive_later_reloads(namespace: str, driver: HAProxyProcesses) -> None:
    """The server-state file makes runtime changes look like config changes: a reload
    to a config that wants otherwise gets what the config wants."""
    m1, m2 = lab_servers(driver, namespace, 2)
    lb = LBUnderTest(driver, namespace)
    driver.start(lb.name, namespace, lb.render(seed_like([m1, m2])))

    # Disabled at runtime, then enabled by a config that needs a reload anyway. (Out of
    # maintenance through a reload, a checked member is DOWN until its checks pass, as
    # with a member that was disabled in the file.)
    lb.change(seed_like([m1, m2.model_copy(update={"admin_state_up": False})]))
    driver.reload(lb.name, lb.render(seed_like([m1, m2], connection_limit=50)))
    assert lb.servers()[m2.uid][0] != "MAINT"
    lb.wait_up(m2.uid)

    # Enabled at runtime, then disabled by a reload.
    m2_down = m2.model_copy(update={"admin_state_up": False})
    driver.reload(lb.name, lb.render(seed_like([m1, m2_down], connection_limit=50)))
    assert lb.servers()[m2.uid][0] == "MAINT"
    lb.change(seed_like([m1, m2], connection_limit=50))
    lb.wait_up(m2.uid)
    driver.reload(lb.name, lb.render(seed_like([m1, m2_down])))
    assert lb.servers()[m2.uid][0] == "MAINT"

    # Re-weighted at runtime, then weighted back by a reload.
    lb.change(seed_like([m1.model_copy(update={"weight": 5}), m2_down]))
    driver.reload(lb.name, lb.render(seed_like([m1, m2_down], connection_limit=50)))
    assert lb.servers()[m1.uid][1] == "1"

    # And a server added at runtime keeps its state across a reload that keeps it.
    m3 = lab_servers(driver, namespace, 3)[2]
    lb.change(seed_like([m1, m2_down, m3], connection_limit=50))
    driver.reload(lb.name, lb.render(seed_like([m1, m2_down, m3])))
    assert lb.servers()[m3.uid][0].startswith("UP")
    assert set(lb.bodies(4)) == {"server_1", "server_3"}


@needs_host
def test_a_removed_member_is_drained_then_its_sessions_shut(
    namespace: str, driver: HAProxyProcesses
) -> None:
    """A TCP connection that never ends keeps the member busy: after the drain time
    its session is shut, and the member is deleted."""
    m1, m2 = lab_servers(driver, namespace, 2)
    lb = LBUnderTest(driver, namespace)
    driver.start(lb.name, namespace, lb.render(seed_like([m1], protocol="TCP")))
    holder = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-c",
         "import socket, sys\n"
         f"s = socket.create_connection(('127.0.0.1', {LB_PORT}))\n"
         "print('connected', flush=True)\n"
         "print(repr(s.recv(10)), flush=True)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "connected"
        deadline = time.monotonic() + 10
        while [r["scur"] for r in driver.stats(lb.name) if r["svname"] == m1.uid] != ["1"]:
            assert time.monotonic() < deadline, driver.stats(lb.name)
            time.sleep(0.05)
        lb.change(seed_like([m2], protocol="TCP"), drain_timeout=0.2)
        # the held connection was closed by HAProxy: recv returns b''
        assert holder.stdout.readline().strip() == "b''"
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert m1.uid not in lb.servers()


@needs_host
def test_a_refused_runtime_change_raises_and_keeps_the_file(
    namespace: str, driver: HAProxyProcesses
) -> None:
    (m1,) = lab_servers(driver, namespace, 1)
    lb = LBUnderTest(driver, namespace)
    good = lb.render(seed_like([m1]))
    driver.start(lb.name, namespace, good)
    ghost = SetWeight("22222222-2222-4222-8222-222222222222", "no-such-server", 2)
    with pytest.raises(HostError, match="No such server"):
        driver.change_servers(lb.name, (ghost,), lb.render(seed_like([])))
    assert driver.installed_config(lb.name) == good
    # changes that do not lead to the config given are refused before it is installed
    with pytest.raises(HostError, match="still runs"):
        driver.change_servers(lb.name, (), lb.render(seed_like([])))
    assert driver.installed_config(lb.name) == good
