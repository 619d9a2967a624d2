"""Migration 0003 converts a store that holds whole documents, on SQLite and PostgreSQL.

The store is brought to revision 0002 and given three rows of ``topologies`` as the
code of that time wrote them: the API's topology (ids everywhere, API metadata, one
metadata entry of an object that is gone), a topology file's (names only, a lab, no
metadata) and a topology with a record but no document. After the upgrade to head:

- each item of the documents' lists is a row of ``objects`` (its kind, position, key,
  body, and the metadata of exactly the ids within it);
- what those items hold or bind (addresses, VLAN tags, external bridges) are rows of
  ``allocations``;
- ``topologies.header`` is what is left of each document, and ``document`` is gone;
- ``DesiredStore.document`` reads every document back as it was, generation and all.

The downgrade to 0002 puts the same documents back in ``document`` and drops the two
tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from netnode.store import schema
from netnode.store.database import MIGRATIONS
from netnode.store.desired import DesiredStore
from tests.api.conftest import DATABASES, NODE

Json = dict[str, Any]

# ``topologies`` as revisions 0001 and 0002 have it (schema.py knows only the newest).
TOPOLOGIES = sa.Table(
    "topologies",
    sa.MetaData(),
    sa.Column("node", sa.String(64)),
    sa.Column("name", sa.String(64)),
    sa.Column("document", sa.JSON),
    sa.Column("generation", sa.Integer),
    sa.Column("record", sa.JSON),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)


def meta(name: str) -> Json:
    """An object's API metadata, as the API writes it."""
    return {
        "name": name,
        "description": "",
        "project_id": "alpha",
        "created_at": "2025-05-01T10:00:00",
        "tags": [],
    }


# The API's topology: names are ids, every object it made has metadata.
API_DOCUMENT: Json = {
    "name": "api",
    "integration_bridge": "br-int",
    "networks": [
        {
            "id": "net-web",
            "name": "net-web",
            "segmentation_id": 101,
            "subnets": [
                {
                    "id": "sub-web",
                    "name": "sub-web",
                    "cidr": "10.1.0.0/24",
                    "gateway_ip": "10.1.0.1",
                }
            ],
        },
        {
            "id": "net-ext",
            "name": "net-ext",
            "external": True,
            "bridge": "br-ex",
            "subnets": [{"id": "sub-ext", "name": "sub-ext", "cidr": "203.0.113.0/24"}],
        },
    ],
    "load_balancers": [
        {
            "id": "lb-web",
            "name": "lb-web",
            "vip": {"network": "net-web", "address": "10.1.0.10"},
            "listeners": [
                {
                    "id": "lis-web",
                    "name": "lis-web",
                    "protocol_port": 80,
                    "default_pool": "pool-web",
                }
            ],
            "pools": [
                {
                    "id": "pool-web",
                    "name": "pool-web",
                    "members": [
                        {
                            "id": "mem-web",
                            "name": "mem-web",
                            "address": "10.1.0.21",
                            "protocol_port": 80,
                        }
                    ],
                }
            ],
        },
        {
            "id": "lb-db",
            "name": "lb-db",
            "vip": {"network": "net-web", "address": "10.1.0.11"},
            "listeners": [
                {"id": "lis-db", "name": "lis-db", "protocol_port": 443, "default_pool": "pool-db"}
            ],
            "pools": [
                {
                    "id": "pool-db",
                    "name": "pool-db",
                    "members": [
                        {
                            "id": "mem-db",
                            "name": "mem-db",
                            "address": "10.1.0.22",
                            "protocol_port": 443,
                        }
                    ],
                }
            ],
        },
    ],
    "routers": [
        {
            "id": "rtr-1",
            "name": "rtr-1",
            "external_gateway": {"network": "net-ext", "ip_address": "203.0.113.2"},
            "interfaces": ["sub-web"],
        }
    ],
    "floating_ips": [
        {
            "id": "fip-1",
            "name": "fip-1",
            "floating_ip_address": "203.0.113.50",
            "network": "net-ext",
            "fixed_ip_address": "10.1.0.21",
            "fixed_network": "net-web",
        }
    ],
    "metadata": {
        "net-web": meta("web net"),
        "sub-web": meta("web subnet"),
        "lb-web": meta("web"),
        "mem-web": meta("vm1"),  # inside lb-web's pool
        "lis-db": meta("https"),  # inside lb-db, which has none of its own
        "rtr-1": meta("edge"),
        "fip-1": meta("public web"),
        "gone-1": meta("deleted long ago"),  # no object has this id
    },
}

# A topology file's, as an older ``netnode apply`` recorded it: names, no ids, a lab, no
# metadata, and only the lists it uses.
FILE_DOCUMENT: Json = {
    "name": "lab",
    "integration_bridge": "br-lab",
    "networks": [
        {
            "name": "lan",
            "segmentation_id": 7,
            "subnets": [
                {"name": "lan-subnet", "cidr": "192.168.7.0/24", "gateway_ip": "192.168.7.1"}
            ],
        },
        {
            "name": "uplink",
            "external": True,
            "bridge": "br-up",
            "subnets": [{"name": "uplink-subnet", "cidr": "198.51.100.0/24"}],
        },
    ],
    "routers": [
        {
            "name": "edge",
            "external_gateway": {"network": "uplink", "ip_address": "198.51.100.2"},
            "interfaces": ["lan-subnet"],
        }
    ],
    "lab": {
        "instances": [{"name": "vm1", "network": "lan", "address": "192.168.7.10"}],
        "clients": [],
    },
}

# What the reconcile passes kept (the migration leaves it alone).
RECORD: Json = {"objects": {"x": "fingerprint"}, "status": {"x": "ACTIVE"}}

# name -> (document, generation, record) as revision 0002 holds them.
BEFORE: dict[str, tuple[Json | None, int, Json | None]] = {
    "api": (API_DOCUMENT, 12, RECORD),
    "lab": (FILE_DOCUMENT, 4, None),
    "gone": (None, 3, RECORD),  # a record left, never desired (or no longer)
}


# --- the store at a revision -----------------------------------------------------------------


def migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """Run alembic's ``step`` (upgrade or downgrade) to ``revision``, configured as
    ``database.upgrade`` configures it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    migrate(engine, command.downgrade, revision)


def insert_documents(engine: Engine) -> None:
    """The rows of BEFORE, as the code of revision 0002 wrote them."""
    now = datetime.now(UTC)
    with engine.begin() as db:
        for name, (document, generation, record) in BEFORE.items():
            values: Json = {"generation": generation, "record": record, "updated_at": now}
            if document is not None:  # else no value at all: SQL NULL
                values["document"] = document
            db.execute(TOPOLOGIES.insert().values(node=NODE, name=name, **values))


def delete_everything(engine: Engine) -> None:
    """Every row of every table there is, at whatever revision the store is."""
    tables = sa.MetaData()
    tables.reflect(engine)
    with engine.begin() as db:
        for table in reversed(tables.sorted_tables):
            if table.name != "alembic_version":
                db.execute(table.delete())


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store at revision 0002 holding the rows of BEFORE: a new SQLite file, or the
    session's PostgreSQL store taken down to 0002 and, after the test, emptied and
    brought back to head for the tests that follow."""
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("postgres_engine")
        try:
            delete_everything(engine)
            downgrade(engine, "0002")
            insert_documents(engine)
            yield engine
        finally:
            # Rows first: whatever revision the test left, nothing of it is migrated.
            delete_everything(engine)
            upgrade(engine)
            # No pooled connection keeps statements prepared on the tables as they were.
            engine.dispose()
        return
    engine = sa.create_engine(f"sqlite:///{tmp_path}/m.db")
    try:
        upgrade(engine, "0002")
        insert_documents(engine)
        yield engine
    finally:
        engine.dispose()


# --- what the store holds --------------------------------------------------------------------


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def objects(engine: Engine, topology: str) -> list[tuple[str, int, str, int, Json, Json]]:
    """The topology's rows of ``objects``: (kind, position, key, revision, body, meta)."""
    o = schema.objects
    with engine.connect() as db:
        found = db.execute(
            sa.select(o.c.kind, o.c.position, o.c.key, o.c.revision, o.c.body, o.c.meta)
            .where((o.c.node == NODE) & (o.c.topology == topology))
            .order_by(o.c.kind, o.c.position)
        )
        return [tuple(x) for x in found]


def allocations(engine: Engine, topology: str) -> set[tuple[str, str, str, str]]:
    """The topology's rows of ``allocations``: (scope, value, role, holder)."""
    a = schema.allocations
    with engine.connect() as db:
        found = db.execute(
            sa.select(a.c.scope, a.c.value, a.c.role, a.c.holder).where(
                (a.c.node == NODE) & (a.c.topology == topology)
            )
        )
        return {tuple(x) for x in found}


def headers(engine: Engine) -> dict[str, tuple[Json | None, int, Json | None]]:
    """Each topology's (header, generation, record), at head (the record from its row of
    ``records``)."""
    t, r = schema.topologies, schema.records
    with engine.connect() as db:
        found = db.execute(
            sa.select(t.c.name, t.c.header, t.c.generation, r.c.record)
            .select_from(t.outerjoin(r, (r.c.node == t.c.node) & (r.c.name == t.c.name)))
            .where(t.c.node == NODE)
        )
        return {x.name: (x.header, x.generation, x.record) for x in found}


def documents(engine: Engine) -> dict[str, tuple[Json | None, int, Json | None]]:
    """Each topology's (document, generation, record), at revision 0002."""
    t = TOPOLOGIES
    with engine.connect() as db:
        found = db.execute(
            sa.select(t.c.name, t.c.document, t.c.generation, t.c.record).where(t.c.node == NODE)
        )
        return {x.name: (x.document, x.generation, x.record) for x in found}


def row(document: Json, kind: str, position: int, key: str, *with_meta: str) -> tuple[Any, ...]:
    """The ``objects`` row expected for ``document[kind][position]``: revision 1, its
    body the item, its meta the document's metadata of the ids ``with_meta``."""
    metadata = document.get("metadata", {})
    return (kind, position, key, 1, document[kind][position], {i: metadata[i] for i in with_meta})


# --- the tests -------------------------------------------------------------------------------


def test_upgrade_splits_each_document_into_objects_and_allocations(store: Engine) -> None:
    upgrade(store)

    assert {"objects", "allocations", "records"} <= tables(store)
    assert "document" not in columns(store, "topologies")
    assert "record" not in columns(store, "topologies")
    assert "header" in columns(store, "topologies")

    api = API_DOCUMENT
    # By kind, then position; each key the item's id.
    assert objects(store, "api") == [
        row(api, "floating_ips", 0, "fip-1", "fip-1"),
        row(api, "load_balancers", 0, "lb-web", "lb-web", "mem-web"),
        row(api, "load_balancers", 1, "lb-db", "lis-db"),
        row(api, "networks", 0, "net-web", "net-web", "sub-web"),
        row(api, "networks", 1, "net-ext"),  # nothing within it has metadata
        row(api, "routers", 0, "rtr-1", "rtr-1"),
    ]
    assert allocations(store, "api") == {
        ("net-web", "10.1.0.10", "holds", "lb-web"),  # VIPs
        ("net-web", "10.1.0.11", "holds", "lb-db"),
        ("net-ext", "203.0.113.2", "holds", "rtr-1"),  # the router's gateway...
        ("net-web", "10.1.0.1", "holds", "rtr-1"),  # ...and its interface on sub-web
        ("net-ext", "203.0.113.50", "holds", "fip-1"),
        ("net-web", "10.1.0.21", "binds", "fip-1"),  # the floating IP's fixed address
        ("#vlan", "101", "holds", "net-web"),  # a network's VLAN tag
        ("#bridge", "br-ex", "holds", "net-ext"),  # an external network's bridge
    }

    lab = FILE_DOCUMENT
    assert objects(store, "lab") == [
        row(lab, "networks", 0, "lan"),  # keys: the names (a file's items have no ids)
        row(lab, "networks", 1, "uplink"),
        row(lab, "routers", 0, "edge"),
    ]
    assert allocations(store, "lab") == {
        ("uplink", "198.51.100.2", "holds", "edge"),
        ("lan", "192.168.7.1", "holds", "edge"),
        ("#vlan", "7", "holds", "lan"),
        ("#bridge", "br-up", "holds", "uplink"),
    }

    assert objects(store, "gone") == []
    assert allocations(store, "gone") == set()

    # Each header is the rest of its document: its lists empty, the metadata of no
    # object kept; no list or metadata the document did not have.
    assert headers(store) == {
        "api": (
            {
                "name": "api",
                "integration_bridge": "br-int",
                "networks": [],
                "load_balancers": [],
                "routers": [],
                "floating_ips": [],
                "metadata": {"gone-1": meta("deleted long ago")},
            },
            12,
            RECORD,
        ),
        "lab": (
            {
                "name": "lab",
                "integration_bridge": "br-lab",
                "networks": [],
                "routers": [],
                "lab": FILE_DOCUMENT["lab"],
            },
            4,
            None,
        ),
        "gone": (None, 3, RECORD),
    }


def test_the_store_reads_back_every_document_as_it_was(store: Engine) -> None:
    upgrade(store)
    desired = DesiredStore(store, NODE)
    for name, (document, generation, _) in BEFORE.items():
        assert desired.document(name) == (document, generation), name


def test_downgrade_puts_the_documents_back(store: Engine) -> None:
    upgrade(store)
    downgrade(store, "0002")

    assert "objects" not in tables(store)
    assert "allocations" not in tables(store)
    assert "records" not in tables(store)
    assert columns(store, "topologies") == {
        "node",
        "name",
        "document",
        "generation",
        "record",
        "updated_at",
    }
    assert documents(store) == BEFORE
