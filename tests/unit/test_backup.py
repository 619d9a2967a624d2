"""``netnode export`` and ``netnode import`` on SQLite stores: the export is the store's
whole desired state (API metadata, flavors, quotas), an import into a new store gives
the same back, and an import that would overwrite something else is refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netnode.cli.backup import dump
from netnode.cli.main import main
from netnode.reconcile.ledger import LedgerStore
from netnode.store.database import engine_for
from netnode.store.quotas import QuotaStore

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


def netnode(tmp_path: Path, url: str, *args: str) -> int:
    state = ["--config", "/dev/null", "--node", "n1", "--state-dir", str(tmp_path / "state")]
    return main([*state, "--db", url, *args])


def test_a_store_made_from_an_export_holds_the_same(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    engine = engine_for(source)
    document = yaml.safe_load(SEED.read_text())
    # As the API keeps them: each object's metadata by id, within the document.
    meta = {"name": "web", "project_id": "p1", "created_at": "2026-12-05T15:00:00"}
    document["metadata"] = {"0b5e5a1c-1d2e-4f60-8a9b-0c1d2e3f4a5b": meta}
    LedgerStore(engine, "n1").set_desired("seed", document)
    subnet = {"name": "s2", "cidr": "10.9.0.0/24"}
    other = {
        "name": "other",
        "networks": [{"name": "n2", "segmentation_id": 7, "subnets": [subnet]}],
    }
    LedgerStore(engine, "n1").set_desired("other", other)
    QuotaStore(engine).set("p1", {"load_balancer": 3, "listener": 10})
    exported = tmp_path / "export.json"
    assert netnode(tmp_path, source, "export", "-o", str(exported)) == 0
    whole = dump(engine, "n1", None)
    assert sorted(whole["topologies"]) == ["other", "seed"]
    assert whole["topologies"]["seed"]["metadata"] == document["metadata"]
    assert whole["quotas"] == {"p1": {"load_balancer": 3, "listener": 10}}
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert netnode(tmp_path, target, "import", str(exported)) == 0
    assert dump(engine_for(target), "n1", None) == whole


def test_import_refuses_what_the_store_holds_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    data = yaml.safe_load(SEED.read_text())
    export = {"netnode_export": 1, "scope": "x", "topologies": {"test": data}}
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(export))
    assert netnode(tmp_path, url, "import", str(first)) == 0
    assert netnode(tmp_path, url, "import", str(first)) == 0  # the same again: nothing to refuse
    data["load_balancers"][0]["listeners"][0]["protocol_port"] = 8080
    second = tmp_path / "second.yaml"
    second.write_text(yaml.safe_dump(export))
    capsys.readouterr()
    assert netnode(tmp_path, url, "import", str(second)) == 1
    err = capsys.readouterr().err
    assert "already holds topology 'test' otherwise; nothing was imported" in err
    assert "--replace" in err
    held = dump(engine_for(url), "n1", None)["topologies"]["test"]
    assert held["load_balancers"][0]["listeners"][0]["protocol_port"] != 8080
    assert netnode(tmp_path, url, "import", "--replace", str(second)) == 0
    held = dump(engine_for(url), "n1", None)["topologies"]["test"]
    assert held["load_balancers"][0]["listeners"][0]["protocol_port"] == 8080
    # A topology the model refuses is refused before anything is written.
    data["load_balancers"][0]["vip_address"] = "not an address"
    second.write_text(yaml.safe_dump(export))
    assert netnode(tmp_path, url, "import", "--replace", str(second)) == 2
    held = dump(engine_for(url), "n1", None)["topologies"]["test"]
    assert held["load_balancers"][0]["listeners"][0]["protocol_port"] == 8080
