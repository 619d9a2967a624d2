"""The store's tables (SQLAlchemy Core). Changed only together with a migration in
``migrations/versions``.

One row per topology desired on a node: its ``document`` (the topology as ``netnode
apply`` or the API last wrote it; ``generation`` counts those writes, which is how the
agent notices a change made by another process) and its ``record`` (what the reconcile
passes keep: the ledger of owned host objects, converged units, statuses). The two are
written by different parties, each updating only its own columns, so neither can undo
the other's write.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

topologies = sa.Table(
    "topologies",
    metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("document", sa.JSON, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("record", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Octavia's quotas per project: one row per (project, kind); a kind with no row is
# unlimited (-1), as Octavia's default.
quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("quota", sa.Integer, nullable=False),
)
