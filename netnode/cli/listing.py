"""How every listing command prints its rows, as the ``openstack`` CLI (cliff) does:
``-f/--format table|json|yaml|value|csv`` and ``-c/--column COLUMN`` (repeatable).

- ``table``: aligned columns under their headers (``tables.table``);
- ``value``: the values alone, space-separated, one row a line (for shell scripts);
- ``csv``: a header line, then the rows, strings quoted;
- ``json``, ``yaml``: the command's own document (richer than its rows: ``netnode
  status`` gives Octavia's status tree, ``netnode nodes`` every field of a node); with
  ``-c``, the rows instead, each an object of the columns asked for.

Columns are named by their headers (``-c ID``, case does not matter); an unknown one is
refused naming the columns there are.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netnode.errors import NetnodeError

FORMATS = ("table", "json", "yaml", "value", "csv")


@dataclass(frozen=True)
class Listing:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    # What json and yaml print without -c; None: the rows, as objects.
    document: Any = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``-f/--format`` (``-o/--output``, the earlier name, kept) and ``-c/--column``."""
    p.add_argument(
        "-f",
        "--format",
        "-o",
        "--output",
        dest="format",
        choices=FORMATS,
        default="table",
        help="the output format (default table; -o/--output is the same option)",
    )
    p.add_argument(
        "-c",
        "--column",
        dest="columns",
        action="append",
        default=[],
        metavar="COLUMN",
        help="show this column (by its header; may repeat); default all",
    )


def show(listing: Listing, args: argparse.Namespace) -> None:
    """Print ``listing`` as the command's ``--format`` and ``--column`` options say."""
    text = render(listing, args.format, args.columns)
    if text:
        print(text)


def render(listing: Listing, fmt: str, columns: Sequence[str] = ()) -> str:
    """The listing as ``fmt``, with only ``columns`` (all when empty)."""
    if fmt not in FORMATS:
        raise NetnodeError(f"--format {fmt!r}: give one of {', '.join(FORMATS)}")
    picked = _pick(listing.headers, columns)
    headers = [listing.headers[i] for i in picked]
    rows = [[row[i] for i in picked] for row in listing.rows]
    if fmt in ("json", "yaml"):
        data = (
            listing.document
            if listing.document is not None and not columns
            else [dict(zip(headers, row, strict=True)) for row in rows]
        )
        if fmt == "json":
            return json.dumps(data, indent=2)
        import yaml  # only here: its import costs every other command's start-up

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n")
    if fmt == "value":
        return "\n".join(" ".join(str(v) for v in row) for row in rows)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    from netnode.cli.tables import table

    return table(headers, [[str(v) for v in row] for row in rows])


def _pick(headers: Sequence[str], columns: Sequence[str]) -> list[int]:
    if not columns:
        return list(range(len(headers)))
    index = {h.lower(): i for i, h in enumerate(headers)}
    picked = []
    for name in columns:
        if name.lower() not in index:
            raise NetnodeError(f"-c {name!r}: no such column; the columns are {', '.join(headers)}")
        picked.append(index[name.lower()])
    return picked
