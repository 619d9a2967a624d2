"""``netnode completion bash``: the script, sourced by a real bash, completes commands,
a command's options and an option's choices from the parser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netnode.cli.main import main

DRIVE = """
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _netnode
printf '%s\\n' "${COMPREPLY[@]}"
"""


@pytest.fixture
def script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["completion", "bash"]) == 0
    path = tmp_path / "netnode.bash"
    path.write_text(capsys.readouterr().out)
    return path


def complete(script: Path, *words: str) -> set[str]:
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "-c", DRIVE, "drive", str(script), "netnode", *words],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return set(done.stdout.split())


def test_commands_options_and_choices(script: Path) -> None:
    assert complete(script, "s") == {"serve", "status"}
    assert complete(script, "install") == {"install-service"}
    assert complete(script, "--st") == {"--state-dir"}
    assert complete(script, "serve", "--no") == {
        "--noauth",
        "--noauth-anywhere",
        "--no-agent",
        "--node-timeout",
    }
    assert complete(script, "nodes", "--format", "") == {"table", "json", "yaml", "value", "csv"}
    assert complete(script, "status", "-f", "j") == {"json"}
    assert complete(script, "--node", "x", "agent", "--pe") == {"--period"}
