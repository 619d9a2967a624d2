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

from netnode.drivers.haproxy import HAProxyProcesses
from netnode.errors import HostError, MissingTool
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
    # Not tmp_path: UNIX socket paths must stay under 108 bytes.
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
