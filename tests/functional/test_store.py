"""The store on both backends: SQLite (the default) and PostgreSQL (a private cluster).

What the reconcile loop and the API rely on: a document write bumps the topology's
generation (the agent's change signal) and an identical one does not; a record write
never touches the document; the API's compare-and-set refuses a stale generation;
migrations run once and again harmlessly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netnode.lab import postgres
from netnode.plan.observed import Ledger
from netnode.reconcile.ledger import LedgerStore, Record, UnitFailure
from netnode.store import database
from netnode.store.quotas import QuotaStore


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield database.default_url(tmp_path)
        return
    with postgres.private_cluster() as pg_url:
        yield pg_url


@pytest.fixture
def store(url: str) -> Iterator[LedgerStore]:
    yield LedgerStore(database.engine_for(url), "node-a")
    database.dispose()


def test_documents_and_generations(store: LedgerStore) -> None:
    assert store.topologies() == [] and store.document("t") == (None, 0)
    store.set_desired("t", {"name": "t"})
    assert store.generations() == {"t": 1}
    store.set_desired("t", {"name": "t", "networks": []})
    assert store.document("t") == ({"name": "t", "networks": []}, 2)
    # Another node's topologies are its own.
    other = LedgerStore(store.engine, "node-b")
    assert other.topologies() == []


def test_record_writes_leave_the_document_alone(store: LedgerStore) -> None:
    store.set_desired("t", {"name": "t"})
    record = Record(
        ledger=Ledger(namespaces=("qlbaas-x",), processes=("lb-x",), floating={"ns": ("1.2.3.4",)}),
        units={"qlbaas-x": "abc"},
        objects={"x": "f1"},
        status={"x": "ACTIVE"},
        failures={"qrouter-y": UnitFailure("boom", False, 2)},
    )
    store.write("t", record)
    read = store.read("t")
    assert read.topology == {"name": "t"}
    assert read == record.but(topology={"name": "t"})
    assert store.generations() == {"t": 1}  # a record is not a change of what is desired
    # A record for a topology never desired (destroy keeping what it could not remove).
    store.write("u", record)
    assert store.read("u").topology is None and store.read_record("u").ledger == record.ledger


def test_compare_and_set(store: LedgerStore) -> None:
    assert store.replace_desired("api", {"name": "api"}, 0)
    assert not store.replace_desired("api", {"name": "api", "x": 1}, 0)  # exists already
    assert store.replace_desired("api", {"name": "api", "routers": []}, 1)
    assert not store.replace_desired("api", {"name": "api"}, 1)  # stale generation
    assert store.document("api") == ({"name": "api", "routers": []}, 2)
    store.forget("api")
    assert store.document("api") == (None, 0)


def test_migrations_are_idempotent_and_quotas_persist(url: str) -> None:
    engine = database.engine_for(url)
    database.upgrade(engine)  # a second time: nothing to do
    quotas = QuotaStore(engine)
    quotas.set("demo", {"load_balancer": 2, "member": 10})
    quotas.set("demo", {"load_balancer": 3})
    assert quotas.get("demo") == {"load_balancer": 3, "member": 10}
    assert quotas.all() == {"demo": {"load_balancer": 3, "member": 10}}
    quotas.delete("demo")
    assert quotas.get("demo") == {}
    database.dispose()


def test_a_bad_url_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="not a database URL"):
        database.engine_for("no such thing://")
