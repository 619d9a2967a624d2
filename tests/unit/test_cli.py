"""The CLI's paths that need no root and touch no host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netnode.cli import main as cli

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


def test_plan_without_root_prints_the_commands_and_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.os, "geteuid", lambda: 1000)
    state = tmp_path / "state"
    assert cli.main(["--state-dir", str(state), "plan", "-f", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert "ip netns add qlbaas-" in out
    assert "set port tap" in out and "tag=1" in out
    assert "planned from an empty host" in out
    assert "# Plan: 17 to create, 1 to change, 0 to delete, 0 unchanged." in out
    assert not state.exists()


def test_apply_without_root_says_so_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.os, "geteuid", lambda: 1000)
    state = tmp_path / "state"
    assert cli.main(["--state-dir", str(state), "apply", "-f", str(SEED)]) == 1
    assert "run it as root" in capsys.readouterr().err
    assert not state.exists()


def test_validate_reports_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", "-f", str(SEED)]) == 0
    assert (
        "2 networks, 1 load balancers, 1 routers, 1 floating IPs, 3 lab hosts"
        in capsys.readouterr().out
    )


def test_a_closed_stdout_ends_netnode_quietly() -> None:
    """`netnode status | head`: the reader goes before netnode has written everything.
    Here it has gone before netnode writes anything (its end of the pipe is closed
    first), so that every run meets the closed pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "netnode.cli.main", "validate", "-f", str(SEED)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141
