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
    data = seed_data()
    # A Neutron port of the file (an address and MAC reserved for a machine), kept whole.
    port = {"name": "vm3", "network": "tenant1", "fixed_ips": [{"ip_address": "10.0.0.83"}]}
    data["ports"] = [{**port, "device_id": "vm-3", "mac_address": "fa:16:3e:00:00:83"}]
    built = lab.apply(data)
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
    exported_port = yaml.safe_load(exported.read_text())["topologies"]["seed"]["ports"][0]
    assert exported_port["fixed_ips"] == port["fixed_ips"]
    assert (exported_port["mac_address"], exported_port["device_id"]) == (
        "fa:16:3e:00:00:83",
        "vm-3",
    )

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
