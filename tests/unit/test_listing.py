"""Listing commands' output, as the openstack CLI prints it: -f table|json|yaml|value|csv
and -c COLUMN, one formatter for every listing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from netnode.cli.listing import Listing, render
from netnode.cli.main import main
from netnode.errors import NetnodeError

ROWS = Listing(
    ("NODE", "STATE", "LBS"),
    [("n1", "alive", 2), ("n 2", "dead", 0)],
    document=[{"name": "n1", "more": True}, {"name": "n 2", "more": False}],
)


def test_table() -> None:
    assert render(ROWS, "table").splitlines() == [
        "NODE  STATE  LBS",
        "----  -----  ---",
        "n1    alive  2",
        "n 2   dead   0",
    ]


def test_value_and_csv_with_columns_in_the_order_asked() -> None:
    assert render(ROWS, "value", ["lbs", "NODE"]) == "2 n1\n0 n 2"
    rows = list(csv.reader(io.StringIO(render(ROWS, "csv", ["State"]))))
    assert rows == [["STATE"], ["alive"], ["dead"]]
    assert render(ROWS, "csv").splitlines()[1] == '"n1","alive",2'


def test_json_and_yaml_give_the_document_or_with_columns_the_rows() -> None:
    assert json.loads(render(ROWS, "json")) == ROWS.document
    assert yaml.safe_load(render(ROWS, "yaml")) == ROWS.document
    picked = [{"NODE": "n1", "LBS": 2}, {"NODE": "n 2", "LBS": 0}]
    assert json.loads(render(ROWS, "json", ["node", "lbs"])) == picked
    assert yaml.safe_load(render(ROWS, "yaml", ["node", "lbs"])) == picked
    without = Listing(ROWS.headers, ROWS.rows)
    assert json.loads(render(without, "json"))[1] == {"NODE": "n 2", "STATE": "dead", "LBS": 0}


def test_an_unknown_column_is_refused_naming_the_columns() -> None:
    with pytest.raises(NetnodeError, match="-c 'zone': no such column; the columns are NODE"):
        render(ROWS, "table", ["zone"])


@pytest.mark.parametrize("command", ["status", "nodes"])
def test_every_listing_command_takes_the_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """On an empty store: csv is the header alone, json an empty list; -o is --format."""
    state = ["--state-dir", str(tmp_path), "--config", "/dev/null"]
    assert main([*state, command, "-f", "csv", "-c", "ID" if command == "status" else "zone"]) == 0
    assert capsys.readouterr().out.strip() in ('"ID"', '"ZONE"')
    assert main([*state, command, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*state, command, "--format", "value"]) == 0
    assert capsys.readouterr().out == ""
