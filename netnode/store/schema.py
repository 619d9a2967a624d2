"""The store's tables (SQLAlchemy Core). Changed only together with a migration in
``migrations/versions``.

One row per topology desired on a node in ``topologies``: its ``header`` (the part of
the topology as ``netnode apply`` or the API last wrote it that is not a list of
objects; ``generation`` counts the writes to the topology, which is how the agent and
the API notice a change made by another process) and its ``record`` (what the
reconcile passes keep: the ledger of owned host objects, converged units, statuses),
in ``records``. The two are written by different parties, each updating only its own
rows, so neither can undo the other's write; both set the topology's ``updated_at``.

Each object of a topology's top-level lists (a network, a load balancer with all it
holds, a router, a floating IP) is a row of ``objects`` with its own ``revision``
(``netnode.store.rows`` splits and assembles documents), so a write touches only the
objects it changes. ``allocations`` holds what those objects hold or bind (addresses,
VLAN tags, external bridges), one row per (scope, value, role): the database, not a
lock in some process, refuses two holders of one address or tag.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

topologies = sa.Table(
    "topologies",
    metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    # The document less its lists of objects (netnode.store.rows.split); None: the
    # topology has a record but was never desired.
    sa.Column("header", sa.JSON, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# What the reconcile passes keep of each topology (``reconcile.ledger.Record``), apart
# from the topology's row: a write of the desired state never rewrites it, nor a pass
# the desired state. ``revision`` counts its writes (a reader keeps what it read).
records = sa.Table(
    "records",
    metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
)

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("topology", sa.String(64), primary_key=True),
    # The object's id (its name where a document has no ids).
    sa.Column("key", sa.String(128), primary_key=True),
    # The document's list holding it: networks, load_balancers, routers, floating_ips.
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    # Counts the writes to this object: a writer's compare-and-set.
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    # The API's metadata (name, project, timestamps) of the objects within, by id.
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("topology", sa.String(64), primary_key=True),
    # A network's name in the topology and an address on it; "#vlan" and a VLAN tag;
    # "#bridge" and an external network's bridge (netnode.store.rows.Allocation).
    sa.Column("scope", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(45), primary_key=True),
    # holds (a VIP, a router's port, a floating IP) or binds (a floating IP's fixed address).
    sa.Column("role", sa.String(8), primary_key=True),
    # The object (objects.key) that holds or binds it.
    sa.Column("holder", sa.String(128), nullable=False),
    # A write replaces what the objects it writes hold: found by holder.
    sa.Index("allocations_by_holder", "node", "topology", "holder"),
)

# The netnode nodes sharing this store (netnode.store.nodes, netnode.cluster). ``id`` is
# also the key of the node's session-level advisory lock on PostgreSQL, held by the
# connection its heartbeats go through: the lock vanishes with the session.
nodes = sa.Table(
    "nodes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("availability_zone", sa.String(64), nullable=False),
    # An operator's switch (Neutron's admin_state_up): a node set down takes no new work.
    sa.Column("admin_state_up", sa.Boolean, nullable=False, server_default=sa.true()),
    # Seconds without a heartbeat after which the node counts as dead: the node's own
    # setting, so that every reader judges it alike. It beats four times within it.
    sa.Column("timeout", sa.Float, nullable=False),
    # What the node last said of itself with its heartbeat (its reconcile loop's health).
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    # Set when the node stopped cleanly (netnode.cluster: "left", not "dead").
    sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
)

# Which node runs each instance of a cluster's load balancers and routers (an
# amphora): netnode.store.placements, decided by netnode.cluster.scheduling. ``scope``
# is the cluster (the ``node`` of the objects' rows), ``holder`` the object's key.
placements = sa.Table(
    "placements",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("topology", sa.String(64), nullable=False),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("node", sa.String(64), nullable=False),
    # STANDALONE (one instance), or MASTER/BACKUP of an HA pair: its VRRP priority (100
    # or 90), not who holds the VIP now (VRRP decides that, nopreempt).
    sa.Column("role", sa.String(16), nullable=False),
    # Which of the object's per-instance things it takes (an HA pair's VRRP addresses).
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Made, or its role changed: what a node watching placements notices.
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("scope", "topology", "holder", "node", name="placements_once_per_node"),
    sa.Index("placements_by_node", "node"),
)

# Octavia's flavor profiles and flavors (netnode.store.flavors): an operator's named
# choices of how load balancers are built. ``flavor_data`` is the JSON text Octavia
# takes (netnode.api.octavia.flavors checks it).
flavor_profiles = sa.Table(
    "flavor_profiles",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("provider_name", sa.String(64), nullable=False),
    sa.Column("flavor_data", sa.Text, nullable=False),
)
flavors = sa.Table(
    "flavors",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column(
        "flavor_profile_id", sa.String(36), sa.ForeignKey("flavor_profiles.id"), nullable=False
    ),
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
