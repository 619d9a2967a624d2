"""Several ``netnode agent`` processes sharing one store, as ``netnode nodes`` shows them.

On a private PostgreSQL: two nodes are alive; one killed by SIGKILL is dead at once
(its session's advisory lock went with it, long before its 60 s heartbeat timeout) while
the other stays alive; one stopped by SIGTERM has left; a second process cannot be a
node that is running; and a node's heartbeat comes back by itself after PostgreSQL was
stopped and started again. On SQLite (no session locks), a killed node is dead once its
heartbeat is older than its timeout.

Nothing is desired on these nodes: their loops touch nothing on the host.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from netnode.lab import postgres
from tests.functional.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]


class Nodes:
    """``netnode`` commands on one store, with a state directory per node under ``tmp``;
    every agent started is stopped at the end (by its pid)."""

    def __init__(self, tmp: Path, db: str) -> None:
        self.tmp = tmp
        self.db = db
        self.suffix = uuid.uuid4().hex[:6]
        self.procs: list[subprocess.Popen] = []

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def _args(self, node: str) -> list[str]:
        state = self.tmp / node
        return [sys.executable, "-m", "netnode.cli.main", "--node", node, "--state-dir",
                str(state), "--db", self.db]  # fmt: skip

    def agent(self, node: str, *extra: str) -> subprocess.Popen:
        log = open(self.tmp / f"{node}-{len(self.procs)}.log", "w")  # noqa: SIM115 - the child's
        proc = subprocess.Popen(
            [*self._args(node), "agent", "--period", "30", *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, proc: subprocess.Popen) -> str:
        n = self.procs.index(proc)
        return next(self.tmp.glob(f"*-{n}.log")).read_text()

    def table(self) -> dict[str, dict]:
        done = subprocess.run(
            [*self._args("reader"), "nodes", "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        return {n["name"]: n for n in json.loads(done.stdout)}

    def state(self, node: str) -> str | None:
        found = self.table().get(node)
        return None if found is None else found["state"]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def on_postgres(tmp_path: Path, cluster: postgres.Cluster) -> Iterator[Nodes]:
    nodes = Nodes(tmp_path, cluster.url)
    try:
        yield nodes
    finally:
        nodes.stop_all()


@pytest.fixture
def on_sqlite(tmp_path: Path) -> Iterator[Nodes]:
    nodes = Nodes(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")
    try:
        yield nodes
    finally:
        nodes.stop_all()


def test_a_killed_node_is_dead_at_once_and_a_stopped_one_has_left(on_postgres: Nodes) -> None:
    a, b = on_postgres.name("a"), on_postgres.name("b")
    first = on_postgres.agent(a, "--node-timeout", "60")
    second = on_postgres.agent(b, "--node-timeout", "60", "--zone", "az2")
    eventually(lambda: on_postgres.state(a) == on_postgres.state(b) == "alive", timeout=30)
    table = on_postgres.table()
    assert table[b]["availability_zone"] == "az2"
    assert table[a]["pid"] == first.pid
    # The heartbeat carries the loop's health: its first round has run.
    eventually(lambda: on_postgres.table()[a]["report"].get("rounds", 0) >= 1, timeout=30)

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # The lock went with the session: dead now, not after the 60 s timeout.
    eventually(lambda: on_postgres.state(a) == "dead", timeout=5)
    assert "advisory lock" in on_postgres.table()[a]["reason"]
    assert on_postgres.state(b) == "alive"

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
    assert on_postgres.state(b) == "left"


def test_a_second_process_cannot_be_a_running_node(on_postgres: Nodes) -> None:
    a = on_postgres.name("a")
    on_postgres.agent(a)
    eventually(lambda: on_postgres.state(a) == "alive", timeout=30)
    again = on_postgres.agent(a)
    assert again.wait(timeout=30) == 1
    out = on_postgres.log(again)
    assert "already running" in out and "another --node" in out
    assert on_postgres.state(a) == "alive"


def test_heartbeats_come_back_after_the_store_restarts(
    on_postgres: Nodes, cluster: postgres.Cluster
) -> None:
    a = on_postgres.name("a")
    proc = on_postgres.agent(a, "--node-timeout", "2")
    eventually(lambda: on_postgres.state(a) == "alive", timeout=30)
    cluster.stop()
    time.sleep(3)
    cluster.start()
    eventually(lambda: on_postgres.state(a) == "alive", timeout=30)
    assert proc.poll() is None, on_postgres.log(proc)
    log = on_postgres.log(proc)
    assert "heartbeat failed" in log and "heartbeat back" in log


def test_on_sqlite_a_killed_node_is_dead_after_its_timeout(on_sqlite: Nodes) -> None:
    a = on_sqlite.name("a")
    proc = on_sqlite.agent(a, "--node-timeout", "1")
    eventually(lambda: on_sqlite.state(a) == "alive", timeout=30)
    time.sleep(1.5)  # a timeout and a half: beats keep it alive
    assert on_sqlite.state(a) == "alive"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    eventually(lambda: on_sqlite.state(a) == "dead", timeout=10)
    assert "no heartbeat for" in on_sqlite.table()[a]["reason"]
    # A second process may take the name once the first is dead.
    again = on_sqlite.agent(a, "--node-timeout", "1")
    eventually(lambda: on_sqlite.state(a) == "alive", timeout=30)
    assert on_sqlite.table()[a]["pid"] == again.pid
