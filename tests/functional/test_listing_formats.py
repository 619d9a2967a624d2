"""``netnode status`` of a built load balancer through the listing options: value and
csv rows of the columns asked for, YAML of Octavia's status tree (``tests/unit``
has the formatter itself)."""

from __future__ import annotations

import csv
import io

import pytest
import yaml

from netnode.cli.main import main
from tests.functional.conftest import Lab, seed_data


def test_status_as_value_csv_and_yaml(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.apply(seed_data()).ok
    args = [*lab.cli_args(), "--config", "/dev/null", "status"]
    capsys.readouterr()
    assert main([*args, "-f", "value", "-c", "type", "-c", "provisioning"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "loadbalancer ACTIVE"
    assert {line.split()[-1] for line in lines} == {"ACTIVE"}
    assert [line.split()[0] for line in lines].count("member") == 2
    assert main([*args, "-f", "csv", "-c", "NAME", "-c", "OPERATING"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["NAME", "OPERATING"] and len(rows) == len(lines) + 1
    assert main([*args, "--format", "yaml"]) == 0
    (doc,) = yaml.safe_load(capsys.readouterr().out)
    assert doc["statuses"]["loadbalancer"]["provisioning_status"] == "ACTIVE"
