"""The registry of kinds (api/kinds.py): every model class with an id is a kind, and the
API's document finds, removes and keeps the metadata of every kind through it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from netnode.api.errors import NotFound
from netnode.api.kinds import KINDS
from netnode.api.service import Doc
from netnode.api.world import World
from netnode.model import topology
from netnode.model.loading import load_data

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


def _with_ids(model: type) -> set[type]:
    """Every model class of netnode.model below ``model``: the objects that have an id
    (not the bases they share, such as ``Placed``)."""
    found: set[type] = set()
    for sub in model.__subclasses__():
        if sub.__module__.startswith("netnode.model") and not sub.__subclasses__():
            found.add(sub)
        found |= _with_ids(sub)
    return found


def test_every_model_class_with_an_id_is_a_kind() -> None:
    expected = _with_ids(topology.Identified) | _with_ids(topology.Named)
    assert {kind.model for kind in KINDS.values()} == expected


def _everything() -> dict[str, Any]:
    """The seed topology plus an L7 policy with a rule, a floating IP with a port
    forwarding and a port: one object of every kind, with ids, as the API's document
    holds it."""
    data = yaml.safe_load(SEED.read_text())
    listener = data["load_balancers"][0]["listeners"][0]
    listener["l7policies"] = [
        {
            "name": "api",
            "action": "REJECT",
            "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}],
        }
    ]
    data["floating_ips"].append(
        {
            "name": "forwarding",
            "floating_ip_address": "10.255.253.101",
            "port_forwardings": [
                {
                    "protocol": "tcp",
                    "external_port": 2222,
                    "internal_ip_address": "10.0.0.82",
                    "internal_port": 22,
                }
            ],
        }
    )
    data["ports"] = [
        {"name": "vm3", "network": "tenant1", "fixed_ips": [{"ip_address": "10.0.0.83"}]}
    ]
    return load_data(data, "node-1").model_dump(mode="json", exclude_none=True)


def _ids(value: Any) -> set[str]:
    """Every id in a document, found without the registry: each mapping's "id"."""
    if isinstance(value, dict):
        own = {value["id"]} if isinstance(value.get("id"), str) else set()
        return own.union(*(_ids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_ids(v) for v in value))
    return set()


@pytest.fixture
def document() -> dict[str, Any]:
    data = _everything()
    data["metadata"] = {
        object_id: {"name": f"name of {object_id}", "project_id": "p", "created_at": "t"}
        for object_id in _ids(data)
    }
    return data


def test_the_document_holds_every_kind(document: dict[str, Any]) -> None:
    doc = Doc.of(document)
    assert [name for name in KINDS if not doc.items(name)] == []


@pytest.mark.parametrize("name", list(KINDS))
def test_each_object_is_found_by_kind_and_id(document: dict[str, Any], name: str) -> None:
    doc = Doc.of(document)
    for item in doc.items(name):
        assert doc.find(name, item["id"]) is item
    other = next(n for n in KINDS if n != name)
    with pytest.raises(NotFound, match="could not be found"):
        doc.find(name, doc.items(other)[0]["id"])


@pytest.mark.parametrize("name", list(KINDS))
def test_remove_takes_the_object_what_it_holds_and_their_metadata(
    document: dict[str, Any], name: str
) -> None:
    doc = Doc.of(document)
    before = _ids(doc.document())
    item = copy.deepcopy(doc.items(name)[0])
    doc.remove(name, item["id"])
    gone = _ids(item)
    assert item["id"] in gone
    assert _ids(doc.document()) == before - gone
    assert set(doc.document()["metadata"]) == before - gone


def test_prune_keeps_the_metadata_of_every_kind(document: dict[str, Any]) -> None:
    """Names of L7 policies, rules, monitors, port forwardings... survive every change
    (a kind missing from a hand-kept list lost its names once)."""
    doc = Doc.of(document)
    gone = "00000000-0000-4000-8000-000000000000"
    doc.meta(gone).update({"name": "deleted", "project_id": "p", "created_at": "t"})
    doc.prune(World({}, "node-1", "admin"))  # no other topology
    assert set(doc.document()["metadata"]) == _ids(document)
