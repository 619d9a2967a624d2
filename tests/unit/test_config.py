"""The configuration file: its keys are the parser's options, one precedence (flag >
environment > file > default), and refusals that name the key and the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from netnode.cli import config
from netnode.cli.main import _parser, main
from netnode.model.ids import DEFAULT_NODE


@pytest.fixture(autouse=True)
def _no_settings_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("NETNODE_NODE", "NETNODE_CONFIG", "NETNODE_ZONE", "NETNODE_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "DEFAULT_CONFIG", tmp_path / "absent.toml")


def parse(*argv: str) -> argparse.Namespace:
    parser = _parser()
    config.apply(parser, argv)
    return parser.parse_args(argv)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "netnode.toml"
    path.write_text(text)
    return path


SERVE = ("serve", "--noauth")


def test_the_file_sets_what_no_flag_gives(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'node = "n-file"\nstate-dir = "/srv/netnode"\n'
        '[serve]\nport = 1234\nperiod = 3.5\nno-agent = true\nbridge-map = ["br-ex=br-x"]\n',
    )
    args = parse("--config", str(path), *SERVE)
    assert (args.node, args.state_dir) == ("n-file", Path("/srv/netnode"))
    assert (args.port, args.period, args.no_agent) == (1234, 3.5, True)
    assert args.bridge_map == [("br-ex", "br-x")]
    # Without the file: the built-in defaults.
    args = parse(*SERVE)
    assert (args.node, args.port, args.no_agent, args.bridge_map) == (DEFAULT_NODE, 9876, False, [])


def test_a_flag_wins_over_the_environment_which_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, 'node = "n-file"\n[serve]\nport = 1234\nzone = "z-file"\n')
    assert parse("--config", str(path), *SERVE).node == "n-file"
    monkeypatch.setenv("NETNODE_NODE", "n-env")
    monkeypatch.setenv("NETNODE_ZONE", "z-env")
    args = parse("--config", str(path), *SERVE)
    assert (args.node, args.zone, args.port) == ("n-env", "z-env", 1234)
    args = parse("--config", str(path), "--node", "n-flag", *SERVE, "--port", "4321")
    assert (args.node, args.port) == ("n-flag", 4321)


def test_a_repeatable_flag_replaces_the_files_list(tmp_path: Path) -> None:
    path = write(tmp_path, '[agent]\nfile = ["/a.yaml", "/b.yaml"]\n')
    assert parse("--config", str(path), "agent").files == [Path("/a.yaml"), Path("/b.yaml")]
    args = parse("--config", str(path), "agent", "-f", "/c.yaml", "-f", "/d.yaml")
    assert args.files == [Path("/c.yaml"), Path("/d.yaml")]


def test_the_file_may_give_a_required_option(tmp_path: Path) -> None:
    """serve needs --tokens or --noauth: the file's ``tokens`` is one."""
    path = write(tmp_path, '[serve]\ntokens = "/etc/netnode/tokens.yaml"\n')
    args = parse("--config", str(path), "serve")
    assert (args.tokens, args.noauth) == ("/etc/netnode/tokens.yaml", False)
    with pytest.raises(SystemExit):
        parse("serve")


def test_the_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETNODE_CONFIG", str(write(tmp_path, 'node = "n-file"\n')))
    assert parse(*SERVE).node == "n-file"


def test_the_default_file_is_read_where_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "DEFAULT_CONFIG", write(tmp_path, 'node = "n-default-file"\n'))
    assert parse(*SERVE).node == "n-default-file"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nod = 1\n", ["unknown key 'nod'", "state-dir"]),
        ("[serve]\nprot = 1\n", ["unknown key 'serve.prot'", "[serve]", "port"]),
        ("[serv]\nport = 1\n", ["unknown key 'serv'"]),
        ("config = '/x'\n", ["unknown key 'config'"]),
        ("[serve]\nport = 'eighty'\n", ["serve.port", "'eighty' refused"]),
        ("[serve]\nport = true\n", ["serve.port", "a single value"]),
        ("[serve]\nno-agent = 'yes'\n", ["serve.no-agent", "true or false"]),
        ("[agent]\nfile = '/a.yaml'\n", ["agent.file", "give a list"]),
        ("[agent]\nperiod = 0\n", ["agent.period", "between 0.05 and 86400"]),
        ("[status]\nformat = 'xml'\n", ["status.format", "not one of"]),
        ("node = 3\n", ["node", "give a string"]),
        ("node = [\n", ["not valid TOML"]),
    ],
)
def test_refused_naming_the_key_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: list[str]
) -> None:
    path = write(tmp_path, text)
    assert main(["--config", str(path), "--state-dir", str(tmp_path / "s"), "status"]) == 2
    err = capsys.readouterr().err
    for word in [str(path), *words]:
        assert word in err
    assert not (tmp_path / "s").exists()  # refused before anything was done


def test_a_named_file_must_exist_the_default_need_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.toml"
    assert main(["--config", str(missing), "status"]) == 2
    assert f"{missing}: no such configuration file" in capsys.readouterr().err
    monkeypatch.setenv("NETNODE_CONFIG", str(missing))
    assert main(["status"]) == 2
    assert f"{missing}: no such configuration file" in capsys.readouterr().err
    monkeypatch.delenv("NETNODE_CONFIG")
    assert parse(*SERVE).node == DEFAULT_NODE  # config.DEFAULT_CONFIG does not exist


def test_every_long_option_is_a_key() -> None:
    """The keys are the parser's options: a new flag is a new key, with no list to keep."""
    parser = _parser()
    assert {"node", "state-dir", "db", "cluster", "datapath"} <= set(config.options(parser))
    serve = config._commands(parser)["serve"]
    assert {"port", "host", "tokens", "noauth", "period", "zone", "bridge-map"} <= set(
        config.options(serve)
    )
    assert "help" not in config.options(serve)
