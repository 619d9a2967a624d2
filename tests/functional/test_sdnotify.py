"""``netnode agent`` and ``netnode serve`` as systemd's ``Type=notify`` services: the
real commands, started with ``$NOTIFY_SOCKET`` pointing at a unix datagram socket this
test owns (as systemd would), say READY=1, then feed the watchdog (WATCHDOG=1 at half
``$WATCHDOG_USEC``), and STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

WAIT = 60.0  # a shared, busy machine: generous, and never part of what is asserted


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, Path]]:
    top = Path(tempfile.mkdtemp(prefix="nn-notify-"))
    path = top / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(WAIT)
    try:
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(top, ignore_errors=True)


def _messages(sock: socket.socket, until: str) -> list[str]:
    """Every message received up to and including the first that holds ``until``."""
    seen: list[str] = []
    while True:
        message = sock.recv(4096).decode()
        seen.append(message)
        if until in message.splitlines():
            return seen


def _run(args: list[str], path: Path, state: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETNODE_")}
    env.update(NOTIFY_SOCKET=str(path), WATCHDOG_USEC="200000", NETNODE_CONFIG="/dev/null")
    return subprocess.Popen(
        [sys.executable, "-m", "netnode.cli.main", "--state-dir", str(state), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.mark.parametrize(
    "command",
    [["agent", "--period", "1"], ["serve", "--noauth", "--port", "0", "--period", "1"]],
    ids=["agent", "serve"],
)
def test_ready_then_watchdog_then_stopping(
    notify_socket: tuple[socket.socket, Path], command: list[str]
) -> None:
    sock, path = notify_socket
    state = Path(tempfile.mkdtemp(prefix="nn-"))
    proc = _run(["--node", f"t-{secrets.token_hex(3)}", *command], path, state)
    try:
        _messages(sock, "READY=1")
        _messages(sock, "WATCHDOG=1")  # after READY=1: the loop goes on feeding it
        proc.send_signal(signal.SIGTERM)
        _messages(sock, "STOPPING=1")
    finally:
        out = _stop(proc)
        shutil.rmtree(state, ignore_errors=True)
    assert proc.returncode == 0, out


def test_nothing_is_sent_without_notify_socket(notify_socket: tuple[socket.socket, Path]) -> None:
    """Not started by systemd: ``--once`` runs and says nothing to anyone."""
    sock, _ = notify_socket
    state = Path(tempfile.mkdtemp(prefix="nn-"))
    node = f"t-{secrets.token_hex(3)}"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET",)}
    env["NETNODE_CONFIG"] = "/dev/null"
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "netnode.cli.main",
                "--state-dir",
                str(state),
                "--node",
                node,
                "agent",
                "--once",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
    finally:
        shutil.rmtree(state, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_a_loop_stuck_in_a_round_stops_feeding_the_watchdog(
    notify_socket: tuple[socket.socket, Path], tmp_path: Path
) -> None:
    """The watchdog is fed by the loop between its rounds: a round that never ends (a
    hung helper) is a silent watchdog, and systemd restarts the service. The round is
    made to hang by a fault injected into the store's question of every round."""
    from netnode.drivers.sdnotify import Notifier
    from netnode.reconcile.agent import Agent
    from netnode.reconcile.host import Host

    sock, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
    host = Host(state_dir=tmp_path / "state", node=f"t-{secrets.token_hex(3)}")
    agent = Agent(host, period=0.2, log=lambda _s: None, alive=notifier.alive)
    stop, hang = threading.Event(), threading.Event()
    worker = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    worker.start()
    try:
        assert _messages(sock, "WATCHDOG=1")  # fed while the loop goes round
        real = agent.store.generations

        def hung() -> dict[str, int]:
            hang.wait(WAIT)
            return real()

        agent.store.generations = hung  # type: ignore[method-assign]
        agent.trigger()
        # What was sent before the loop hung is drained (a fed watchdog would go on
        # for ever: bounded); then nothing comes.
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            for _ in range(50):
                sock.recv(4096)
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        hang.set()
        sock.settimeout(WAIT)
        assert _messages(sock, "WATCHDOG=1")  # the round ended: fed again
    finally:
        hang.set()
        stop.set()
        agent.trigger()
        worker.join(timeout=WAIT)
        host.close()
