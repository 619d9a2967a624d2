"""``netnode serve`` does not outlive its reconcile loop (issue 18): if the loop's thread
ends while the API is serving, the server stops and the command exits 1 with the
loop's traceback, so that a supervisor restarts it, instead of answering writes that
would never converge. The loop is made to end by a fault injected into ``Agent.run``
(its own rounds catch everything they meet, see tests/unit/test_agent_rounds.py); the
server, the store and the API are real."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from netnode.cli.main import main
from netnode.reconcile.agent import Agent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_exits_1_when_its_loop_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    serving = threading.Event()

    def dies(self: Agent, stop: threading.Event) -> None:
        serving.wait(20)
        raise RuntimeError("injected: the loop's thread ends")

    monkeypatch.setattr(Agent, "run", dies)
    port = _free_port()
    answers: list[int] = []
    finished = threading.Event()

    def probe() -> None:
        # The API answers while the loop lives; then the loop is made to die.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not answers:
            try:
                answers.append(
                    httpx.get(f"http://127.0.0.1:{port}/v2/lbaas/loadbalancers").status_code
                )
            except httpx.TransportError:
                time.sleep(0.05)
        serving.set()
        # Should serve not notice, end it (it then exits 0, and the test fails, not hangs).
        if not finished.wait(30):
            os.kill(os.getpid(), signal.SIGTERM)

    prober = threading.Thread(target=probe)
    prober.start()
    # In the main thread, as from a shell (signal handlers can only be set there).
    code = main(
        ["--node", "sup", "--state-dir", str(tmp_path), "serve", "--noauth", "--port", str(port)]
    )
    finished.set()
    prober.join(30)
    assert answers == [200]
    assert code == 1
    out = capsys.readouterr().out
    assert "the reconcile loop is gone" in out
    assert "injected: the loop's thread ends" in out
