"""The commands' parsers, built when they are needed (``netnode.cli.commands``): what
the command line parses and prints must be what it was when every parser was built up
front."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from netnode.cli import config
from netnode.cli.commands import Commands
from netnode.cli.main import _parser

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


def commands(parser: argparse.ArgumentParser) -> Commands:
    (found,) = [a for a in parser._actions if isinstance(a, Commands)]
    return found


def built(parser: argparse.ArgumentParser) -> set[str]:
    return {name for name, p in commands(parser).choices.items() if p is not None}


def test_parsing_a_command_builds_its_parser_alone() -> None:
    parser = _parser()
    assert built(parser) == set()
    args = parser.parse_args(["validate", "-f", str(SEED)])
    assert built(parser) == {"validate"}
    assert args.file == SEED
    assert args.func.__name__ == "cmd_validate"


def test_the_listing_names_every_command_in_order_without_building_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = _parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    names = list(commands(parser).choices)
    assert names[:4] == ["apply", "plan", "destroy", "validate"]
    assert [n for n in names if f"    {n} " in out] == names
    assert built(parser) == set()


def test_every_parser_built_for_whoever_reads_every_option() -> None:
    """The configuration file, completion and install-service: each command's parser,
    in the listing's order, its prog and description as add_parser made them."""
    parser = _parser()
    every = config._commands(parser)
    assert list(every) == list(commands(parser).choices)
    assert built(parser) == set(every)
    assert every["serve"].prog == "netnode serve"
    assert every["destroy"].description.startswith("remove everything netnode owns for a")
    assert every["validate"].description == "check a topology file; touches nothing"
    assert config._commands(parser)["serve"] is every["serve"]  # built once


def test_an_unknown_command_is_refused_naming_the_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = _parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["valdate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'valdate' (choose from 'apply', 'plan'," in err
    assert built(parser) == set()


def test_a_command_registered_twice_is_refused() -> None:
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers(action=Commands, required=True)
    assert isinstance(sub, Commands)
    sub.add_command("one", lambda p: None, "the first")
    with pytest.raises(ValueError, match="command 'one' registered twice"):
        sub.add_command("one", lambda p: None, "again")
