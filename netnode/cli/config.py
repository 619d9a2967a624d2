"""netnode's configuration file: TOML, ``/etc/netnode/netnode.toml`` unless ``--config
PATH`` (or ``$NETNODE_CONFIG``) names another.

What it may hold is read from the command line's parser itself, so that no option is
listed twice: every long option of ``netnode`` is a top-level key (``state-dir``,
``db``, ``node``...), every long option of a command a key of that command's table
(``[serve]`` ``port = 9876``, ``[agent]`` ``period = 5``), named as the option without
its dashes. One precedence: a flag given wins over its environment variable
(``NETNODE_*``, named in the option's help), which wins over the file, which wins over
the built-in default.

A key the parser does not know, or a value of the wrong type, is refused naming the key
and the file. A missing default file is no file; a missing file named by ``--config``
or ``$NETNODE_CONFIG`` is an error.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from netnode.cli.commands import Commands
from netnode.errors import NetnodeError

TYPE_CHECKING = False  # typing's, without importing typing (start-up); mypy reads it
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

DEFAULT_CONFIG = Path("/etc/netnode/netnode.toml")
CONFIG_ENV = "NETNODE_CONFIG"
# The options that are not settings: the file's own name, argparse's help.
NOT_SETTINGS = {"config", "help"}
_ENV = re.compile(r"\benv (NETNODE_[A-Z_]+)")


class ConfigError(NetnodeError):
    """A configuration file that cannot be used: nothing was done."""

    exit_code = 2


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        help=f"the configuration file (TOML; default {DEFAULT_CONFIG}, if it exists; env "
        f"{CONFIG_ENV}): every long option as a key, a command's in its [command] table; "
        "flags and environment variables win over it",
    )


def config_path(argv: Sequence[str]) -> tuple[Path, bool]:
    """The file to read, and whether it was asked for (then it must exist)."""
    early = argparse.ArgumentParser(prog="netnode", add_help=False)
    add_argument(early)
    known, _ = early.parse_known_args(list(argv))
    if known.config is not None:
        return known.config, True
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), True
    return DEFAULT_CONFIG, False


def load(path: Path, required: bool) -> dict[str, Any]:
    """The file's contents (empty: no file where none was asked for)."""
    try:
        with path.open("rb") as f:
            # Here, once the file is open: most commands run without one (start-up).
            import tomllib

            try:
                return tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such configuration file") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc}") from None


def apply(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Make the configuration file's settings the defaults of ``parser`` and its
    commands' parsers (where no environment variable sets them)."""
    path, required = config_path(argv)
    data = load(path, required)
    if not data:
        return
    commands = _commands(parser)
    settings = {k: v for k, v in data.items() if not isinstance(v, dict) or k not in commands}
    _settle(parser, settings, path, "")
    for name, section in data.items():
        if name in commands and isinstance(section, dict):
            _settle(commands[name], section, path, f"{name}.")


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The settings a parser takes: its long options by name, without the dashes."""
    found = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and longs[0][2:] not in NOT_SETTINGS:
            found[longs[0][2:]] = action
    return found


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, by name (built now, where they are built on demand)."""
    for action in parser._actions:
        if isinstance(action, Commands):
            return action.parsers()
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _settle(
    parser: argparse.ArgumentParser, settings: dict[str, Any], path: Path, prefix: str
) -> None:
    known = options(parser)
    defaults: dict[str, Any] = {}
    for key, value in settings.items():
        action = known.get(key)
        if action is None:
            where = f"[{prefix[:-1]}]" if prefix else "the top level"
            commands = _commands(parser)
            hint = (
                f"; commands' options go in their table, e.g. [{next(iter(commands))}]"
                if commands
                else ""
            )
            raise ConfigError(
                f"{path}: unknown key {prefix + key!r} ({where} takes: "
                f"{', '.join(sorted(known))}{hint})"
            )
        env = _ENV.search(action.help or "")
        if env and os.environ.get(env.group(1)):
            continue  # the environment variable wins over the file
        defaults[action.dest] = _value(action, value, f"{path}: {prefix}{key}")
        if isinstance(action, argparse._AppendAction):
            action.__class__ = _AppendOverFile
        action.required = False
        for group in parser._mutually_exclusive_groups:
            if action in group._group_actions:
                group.required = False
    parser.set_defaults(**defaults)


class _AppendOverFile(argparse._AppendAction):
    """A repeatable option whose list the file gave: the first flag replaces that list
    (flags win over the file), the next ones add to it."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        if getattr(namespace, self.dest, None) is self.default:
            setattr(namespace, self.dest, [])
        super().__call__(parser, namespace, values, option_string)


def _value(action: argparse.Action, value: Any, where: str) -> Any:
    """``value`` as the option would have made it from the command line."""
    if action.nargs == 0:  # a switch (store_true, store_false)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: give true or false, not {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: give a list (it may repeat), e.g. [{value!r}]")
        return [_one(action, v, where) for v in value]
    return _one(action, value, where)


def _one(action: argparse.Action, value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: give a single value (a string or a number), not {value!r}")
    convert = action.type
    if convert is None:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: give a string, not {value!r}")
        result: Any = value
    else:
        try:
            result = convert(str(value))  # type: ignore[operator]
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {value!r} refused: {exc}") from None
    if action.choices is not None and result not in action.choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return result
