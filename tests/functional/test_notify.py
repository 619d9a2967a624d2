"""Writers wake the nodes (``netnode.store.notify``): on a private PostgreSQL, a
``ChangeListener`` is woken by a committed write of its scope's desired state, and only
by that (not another scope's, not a rolled-back one); an agent whose backstop look at
the store is an hour away still runs a changes pass for a topology recorded by another
process a moment later: the wake-up came through LISTEN/NOTIFY."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from netnode.lab import postgres
from netnode.reconcile import agent as agent_module
from netnode.reconcile.agent import Agent
from netnode.reconcile.host import Host
from netnode.reconcile.ledger import LedgerStore
from netnode.store import notify
from netnode.store.database import engine_for
from tests.functional.conftest import eventually

QUIET = {
    "name": "quiet",
    "networks": [
        {
            "name": "n",
            "segmentation_id": 7,
            "subnets": [{"name": "s", "cidr": "10.9.0.0/24", "gateway_ip": "10.9.0.1"}],
        }
    ],
}


def test_a_listener_is_woken_by_its_scopes_committed_writes_only(
    cluster: postgres.Cluster,
) -> None:
    engine = engine_for(cluster.url)
    LedgerStore(engine, "n1", "mine").set_desired("quiet", QUIET)  # the schema, at once
    wake = threading.Event()
    listener = notify.ChangeListener(engine, "mine", wake)
    listener.start()
    try:
        assert notify.wait_listening(listener, 10), listener.error
        eventually(wake.is_set, timeout=5)  # the wake-up of a listener that (re)connects
        wake.clear()
        # Another scope's write, and a write of ours rolled back: no wake-up.
        LedgerStore(engine, "n1", "theirs").set_desired("quiet", QUIET)
        with engine.connect() as conn:
            notify.changed(conn, "mine")
            conn.rollback()
        assert not wake.wait(1.0)
        # Ours, committed: woken.
        LedgerStore(engine, "n1", "mine").set_desired("quiet", {**QUIET, "networks": []})
        assert wake.wait(5.0)
    finally:
        listener.stop()
    assert not listener.listening


def test_an_agent_on_postgresql_is_woken_by_another_processs_write(
    cluster: postgres.Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No look at the store for an hour: only a notification can start the pass.
    monkeypatch.setattr(agent_module, "NOTIFIED_WATCH", 3600.0)
    suffix = secrets.token_hex(3)
    host = Host(state_dir=tmp_path, node=f"t-{suffix}", db_url=cluster.url)
    # Nothing to build on the host (the agent's thread must not make netlink sockets:
    # pyroute2 leaves an event loop behind in a thread that used it), but an object the
    # pass records: an unbound floating IP.
    wanted = {
        "name": "quiet",
        "networks": [
            {
                "name": "pub",
                "external": True,
                "bridge": f"nn{suffix}e",
                "subnets": [{"name": "p", "cidr": "10.9.0.0/24", "gateway_ip": "10.9.0.1"}],
            }
        ],
        "floating_ips": [{"name": "f", "floating_ip_address": "10.9.0.50"}],
    }
    lines: list[str] = []
    agent = Agent(host, period=3600.0, log=lines.append)
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    loop.start()
    try:
        eventually(lambda: agent.listener is not None and agent.listener.listening, 10)
        eventually(lambda: agent.health.rounds >= 1, 10)
        rounds = agent.health.rounds
        # Another process's write: a connection of its own, as netnode apply's.
        other = sa.create_engine(cluster.url)
        try:
            LedgerStore(other, "someone", host.node).set_desired("quiet", wanted)
        finally:
            other.dispose()
        # The pass that converged it recorded its floating IP.
        eventually(lambda: bool(host.store.read_record("quiet").objects), 20)
        assert agent.health.rounds > rounds
        assert any("LISTEN netnode" in line for line in lines), lines
    finally:
        stop.set()
        agent.trigger()
        loop.join(timeout=10)
        host.close()
    assert not loop.is_alive()
