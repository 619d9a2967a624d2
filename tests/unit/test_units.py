"""The files ``netnode install-service`` writes: the sample configuration is one the
configuration loader takes with every line uncommented, and writing to the system
needs root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netnode.cli import config, units
from netnode.cli.main import _parser, main


def test_the_sample_configuration_uncommented_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NETNODE_NODE", "NETNODE_CONFIG", "NETNODE_ZONE", "NETNODE_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    sample = units.sample_config(_parser())
    # Every "# key = value" line and "# [section]" uncommented, the help left as comments.
    setting = re.compile(r"^# (\[[a-z-]+\]|[a-z-]+ = .*)$")
    text = "\n".join(setting.sub(r"\1", line) for line in sample.splitlines())
    text = text.replace('db = ""', 'db = "sqlite://"')
    text = text.replace('metrics-listen = ""', 'metrics-listen = "127.0.0.1:9105"')
    path = tmp_path / "netnode.toml"
    path.write_text(text)
    keys = re.findall(r"^([a-z-]+) = ", text, re.MULTILINE)
    assert {"node", "state-dir", "port", "tokens", "period", "zone", "format"} <= set(keys)
    parser = _parser()
    config.apply(parser, ["--config", str(path)])
    args = parser.parse_args(["--config", str(path), "serve"])
    assert (args.port, args.node) == (9876, "netnode")


def test_writing_to_the_system_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["install-service"]) == 1
    assert "--root DIR" in capsys.readouterr().err


def test_a_missing_program_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-service", "--root", str(tmp_path), "--executable", "/nonexistent"]) == 1
    assert "--executable /nonexistent: not an executable file" in capsys.readouterr().err
    assert not (tmp_path / "etc").exists()
