"""The reconcile loop survives its store (issue 18). A real SQLite store is locked by
another process (a write transaction left open) for longer than the store's timeout
(``?timeout=0.2`` in the URL) just as the agent's watched file changes: every round
meets ``StoreUnavailable`` when it records the new desired state, the loop logs and
counts it and backs off, and it goes on; once the lock is gone, the change lands. (A PostgreSQL restart under ``netnode serve`` is proven in
tests/functional/test_store_outage.py.)"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from netnode.model.loading import load_file
from netnode.reconcile import converge
from netnode.reconcile.agent import Agent, backoff
from netnode.reconcile.host import Host
from tests.functional.conftest import eventually

pytestmark = pytest.mark.functional  # a pass reads Open vSwitch (ovs-vsctl), as root

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
db.isolation_level = None
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE topologies SET generation = generation")
print("locked", flush=True)
time.sleep(120)
"""


def _topology(bridge: str, tag: int) -> str:
    return (
        f"name: t\nintegration_bridge: {bridge}\nnetworks:\n- name: n\n"
        f"  segmentation_id: {tag}\n  subnets:\n  - name: s\n    cidr: 10.250.0.0/24\n"
    )


def test_a_locked_store_is_survived_and_counted(tmp_path: Path) -> None:
    db = tmp_path / "netnode.db"
    host = Host(state_dir=tmp_path, node="rounds", db_url=f"sqlite:///{db}?timeout=0.2")
    lines: list[str] = []
    # One tenant network on a bridge of this test's own: no port uses it, so its VLAN
    # no network), from a file the agent watches and records.
    path = tmp_path / "t.yaml"
    bridge = f"nn{secrets.token_hex(3)}i"
    path.write_text(_topology(bridge, 1))
    agent = Agent(host, files=[path], period=0.2, log=lines.append)
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,))
    loop.start()
    try:
        eventually(lambda: agent.health.rounds >= 1, interval=0.02)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            path.write_text(_topology(bridge, 2))
            eventually(lambda: agent.health.failing >= 3, interval=0.02)
            assert loop.is_alive()
            failed = agent.health.failed_rounds
        finally:
            holder.kill()
            holder.communicate()
        rounds = agent.health.rounds
        eventually(lambda: agent.health.rounds > rounds, interval=0.02)
        assert agent.health.failing == 0
        assert loop.is_alive()
        document, _ = host.store.document("t")
        assert document is not None and document["networks"][0]["segmentation_id"] == 2
    finally:
        stop.set()
        agent.trigger()
        loop.join(10)
        converge.destroy(host, load_file(path, host.node))
        host.close()
    assert not loop.is_alive()
    assert failed >= 3
    failures = [line for line in lines if "round failed" in line]
    assert failures and "is unavailable" in failures[0] and "locked" in failures[0]
    # Backing off: the failed rounds are spaced, not a busy loop.
    assert "retrying in 0.5 s" in failures[0] and "retrying in 1.0 s" in failures[1]
    assert agent.health.last_error is not None and "StoreUnavailable" in agent.health.last_error


def test_backoff_doubles_to_its_ceiling() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff(50) == 30.0


def test_an_unexpected_error_between_rounds_is_a_failed_round_not_the_end(
    tmp_path: Path,
) -> None:
    """What the loop asks the store between rounds (has anything changed?) may fail in
    ways that are not an outage (a PostgreSQL table gone is a ProgrammingError): the
    loop counts a failed round, backs off and goes on."""
    host = Host(state_dir=tmp_path / "state", node=f"t-{secrets.token_hex(3)}")
    agent = Agent(host, period=60, log=lambda _s: None)
    stop = threading.Event()
    worker = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    worker.start()
    try:
        eventually(lambda: agent.health.rounds >= 1, timeout=20)
        real = agent.store.generations

        def broken() -> dict[str, int]:
            raise RuntimeError("the store answered nonsense")

        # Not woken: the loop's own watch (every 50 ms) meets the error first.
        agent.store.generations = broken  # type: ignore[method-assign]
        eventually(lambda: agent.health.failed_rounds >= 1, timeout=10)
        assert "RuntimeError: the store answered nonsense" in (agent.health.last_error or "")
        assert worker.is_alive()
        agent.store.generations = real  # type: ignore[method-assign]
        eventually(lambda: agent.health.failing == 0, timeout=20)
        assert worker.is_alive()
    finally:
        stop.set()
        agent.trigger()
        worker.join(timeout=20)
        host.close()
