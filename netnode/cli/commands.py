"""The commands of ``netnode``'s parser, each command's own parser built only when it is
needed.

``netnode --help`` lists the commands and ``netnode validate -f FILE`` parses one of
them: neither needs the twenty other commands' parsers, nor the modules that hold their
options (serve's, the cluster's, the log formats'...). Building them all cost
``--help`` about a tenth of the bare interpreter's start-up, and importing their
modules several tenths. So a command is registered with its help and a function that
adds its options; argparse builds its parser when the command is parsed, and
``parsers()`` builds them all for what reads every option (the configuration file,
``netnode completion``, ``netnode install-service``).

This leans on argparse's ``_SubParsersAction`` (its map of names to parsers, its
listing of commands for ``--help``), as the configuration file already does.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing's, without importing typing (start-up); mypy reads it
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    Build = Callable[[argparse.ArgumentParser], None]


class Commands(argparse._SubParsersAction):
    """``add_subparsers(action=Commands)``: ``add_command`` instead of ``add_parser``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unbuilt: dict[str, tuple[Build, str]] = {}

    def add_command(self, name: str, build: Build, help: str, description: str = "") -> None:
        """Register command ``name``: ``help`` in ``netnode --help``'s listing,
        ``description`` (default: the help) atop its own ``--help``, ``build`` adds its
        options and its ``func`` default to its parser once that is made."""
        if name in self._name_parser_map:
            raise ValueError(f"command {name!r} registered twice")
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), help))
        # A name argparse accepts (it checks `name in choices`) before it has a parser.
        self._name_parser_map[name] = None
        self._unbuilt[name] = (build, description or help)

    def parser_of(self, name: str) -> argparse.ArgumentParser:
        """Command ``name``'s parser, built now if it was not yet."""
        if name in self._unbuilt:
            build, description = self._unbuilt.pop(name)
            parser = self._parser_class(prog=f"{self._prog_prefix} {name}", description=description)
            build(parser)
            self._name_parser_map[name] = parser
        return self._name_parser_map[name]

    def parsers(self) -> dict[str, argparse.ArgumentParser]:
        """Every command's parser, by name, in the order they were registered."""
        return {name: self.parser_of(name) for name in list(self._name_parser_map)}

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if values:  # the command's name, checked by argparse, then its arguments
            self.parser_of(values[0])
        super().__call__(parser, namespace, values, option_string)
