"""objects, allocations and records: each topology's objects as rows of their own

Each topology's ``document`` becomes a ``header`` (what is not a list of objects) and
one row of ``objects`` per network, load balancer, router and floating IP, with the
API metadata of what each holds; ``allocations`` gets what they hold or bind
(addresses, VLAN tags, external bridges, VIP MACs); each ``record`` moves to a row of
``records``. The data is converted in place; downgrade assembles the documents again.

Revision ID: 0003
Revises: 0002
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from netnode.store import rows

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The tables as this migration knows them (not the current schema's, which may move on).
meta = sa.MetaData()
topologies = sa.Table(
    "topologies",
    meta,
    sa.Column("node", sa.String(64)),
    sa.Column("name", sa.String(64)),
    sa.Column("document", sa.JSON),
    sa.Column("header", sa.JSON),
    sa.Column("record", sa.JSON),
)


def _objects_table() -> sa.Table:
    return op.create_table(
        "objects",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("topology", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def _allocations_table() -> sa.Table:
    table = op.create_table(
        "allocations",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("topology", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(45), primary_key=True),
        sa.Column("role", sa.String(8), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
    )
    op.create_index("allocations_by_holder", "allocations", ["node", "topology", "holder"])
    return table


def _records_table() -> sa.Table:
    return op.create_table(
        "records",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
    )


def upgrade() -> None:
    objects = _objects_table()
    allocations = _allocations_table()
    records = _records_table()
    with op.batch_alter_table("topologies") as batch:
        batch.add_column(sa.Column("header", sa.JSON, nullable=True))
    db = op.get_bind()
    now = datetime.now(UTC)
    found = db.execute(
        sa.select(topologies.c.node, topologies.c.name, topologies.c.document, topologies.c.record)
    )
    for node, name, document, record in list(found):
        if record is not None:
            db.execute(records.insert().values(node=node, name=name, record=record, revision=1))
        if document is None:
            continue
        header, parts = rows.split(document)
        subnets = rows.gateways(document.get("networks") or [])
        held: dict[tuple[str, str, str], str] = {}
        for row in parts:
            db.execute(
                objects.insert().values(
                    node=node,
                    topology=name,
                    key=row.key,
                    kind=row.kind,
                    position=row.position,
                    revision=1,
                    body=row.body,
                    meta=row.meta,
                    updated_at=now,
                )
            )
            for a in rows.allocations(row, subnets):
                # A document written before this migration was validated whole; should
                # it still hold one address twice, the first holder keeps it.
                held.setdefault((a.scope, a.value, a.role), row.key)
        for (scope, value, role), holder in sorted(held.items()):
            db.execute(
                allocations.insert().values(
                    node=node,
                    topology=name,
                    scope=scope,
                    value=value,
                    role=role,
                    holder=holder,
                )
            )
        db.execute(
            topologies.update()
            .where((topologies.c.node == node) & (topologies.c.name == name))
            .values(header=header)
        )
    with op.batch_alter_table("topologies") as batch:
        batch.drop_column("document")
        batch.drop_column("record")


def downgrade() -> None:
    with op.batch_alter_table("topologies") as batch:
        batch.add_column(sa.Column("document", sa.JSON, nullable=True))
        batch.add_column(sa.Column("record", sa.JSON, nullable=True))
    db = op.get_bind()
    records = sa.Table(
        "records",
        sa.MetaData(),
        sa.Column("node", sa.String(64)),
        sa.Column("name", sa.String(64)),
        sa.Column("record", sa.JSON),
    )
    for node, name, record in list(db.execute(sa.select(records))):
        db.execute(
            topologies.update()
            .where((topologies.c.node == node) & (topologies.c.name == name))
            .values(record=record)
        )
    objects = sa.Table(
        "objects",
        sa.MetaData(),
        sa.Column("node", sa.String(64)),
        sa.Column("topology", sa.String(64)),
        sa.Column("key", sa.String(128)),
        sa.Column("kind", sa.String(32)),
        sa.Column("position", sa.Integer),
        sa.Column("body", sa.JSON),
        sa.Column("meta", sa.JSON),
    )
    found = db.execute(sa.select(topologies.c.node, topologies.c.name, topologies.c.header))
    for node, name, header in list(found):
        if header is None:
            continue
        stored = db.execute(
            sa.select(objects).where((objects.c.node == node) & (objects.c.topology == name))
        )
        parts: list[Any] = [
            rows.Row(r.key, r.kind, r.position, r.body, r.meta or {}) for r in stored
        ]
        db.execute(
            topologies.update()
            .where((topologies.c.node == node) & (topologies.c.name == name))
            .values(document=rows.assemble(header, parts))
        )
    with op.batch_alter_table("topologies") as batch:
        batch.drop_column("header")
    op.drop_table("records")
    op.drop_table("allocations")
    op.drop_table("objects")
