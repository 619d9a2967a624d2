"""``netnode export`` -> a new store -> ``netnode import`` -> a pass changes nothing:
the export holds the whole desired state, and a store made from it (SQLite, and a
private PostgreSQL: the way from one to the other) converges to the host as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netnode.cli.backup import dump
from netnode.cli.main import main
from netnode.lab import postgres
from netnode.store.database import engine_for
from netnode.store.flavors import FlavorStore
from netnode.store.quotas import QuotaStore
from tests.functional.conftest import Lab, seed_data

PROFILE = {
    "id": "8f9f5d1e-0000-4000-8000-000000000001",
    "name": "ha",
    "provider_name": "amphora",
    "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}',
}
FLAVOR = {
    "id": "8f9f5d1e-0000-4000-8000-000000000002",
    "name": "ha",
    "description": "two of each",
    "enabled": True,
    "flavor_profile_id": PROFILE["id"],
}


def netnode(lab: Lab, url: str, *args: str) -> int:
    state = ["--node", lab.host.node, "--state-dir", str(lab.host.state_dir)]
    return main(["--config", "/dev/null", *state, "--db", url, *args])


def test_export_import_then_a_pass_changes_nothing(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = lab.apply(seed_data())
    assert built.ok, built.failures
    source = lab.host.store.engine
    FlavorStore(source).put_profile(PROFILE)
    FlavorStore(source).put_flavor(FLAVOR)
    QuotaStore(source).set("p1", {"load_balancer": 3})
    exported = tmp_path / "export.yaml"
    assert main([*lab.cli_args(), "--config", "/dev/null", "export", "-o", str(exported)]) == 0
    whole = dump(source, lab.host.node, None)
    assert yaml.safe_load(exported.read_text()) == whole
    assert list(whole["topologies"]) == ["seed"]

    sqlite = f"sqlite:///{tmp_path / 'new.db'}"
    with postgres.private_cluster() as pg:
        for url in (sqlite, pg):
            assert netnode(lab, url, "import", str(exported)) == 0
            assert dump(engine_for(url), lab.host.node, None) == whole
            capsys.readouterr()
            # The imported store's agent finds the host as it wants it.
            assert netnode(lab, url, "agent", "--once") == 0
            out = capsys.readouterr().out
            assert out.startswith("seed: full pass: no changes in "), out
