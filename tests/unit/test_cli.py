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
    assert "# Plan: 18 to create, 1 to change, 0 to delete, 0 unchanged." in out
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


def test_draw_a_file_writes_its_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import xml.etree.ElementTree as ET

    out = tmp_path / "topology.svg"
    state = tmp_path / "state"
    assert cli.main(["--state-dir", str(state), "draw", "-f", str(SEED), "-o", str(out)]) == 0
    root = ET.fromstring(out.read_text())
    assert root.get("class") == "netnode-topology"
    assert "data-status" not in out.read_text()  # a file: nothing observed, nothing coloured
    assert f"wrote {out}" in capsys.readouterr().err
    assert not state.exists()  # a file is drawn without opening the store


def test_draw_an_unknown_recorded_topology_names_those_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "topology.svg"
    args = ["--state-dir", str(tmp_path / "state"), "draw", "--topology", "nope", "-o", str(out)]
    assert cli.main(args) == 1
    assert "--topology nope: no such topology is recorded" in capsys.readouterr().err
    assert not out.exists()


def test_draw_a_bad_file_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnetworks: [{name: n}]\n")
    out = tmp_path / "topology.svg"
    assert cli.main(["draw", "-f", str(bad), "-o", str(out)]) == 2
    assert "segmentation_id" in capsys.readouterr().err
    assert not out.exists()
