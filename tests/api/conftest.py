"""Fixtures for the API's contract tests: the app built in-process on a fresh store.

Every test gets an empty store, on SQLite (a file in its tmp dir) and on PostgreSQL (one
private cluster per session, ``netnode/lab/postgres.py``, emptied before each test), seeded with
an operator's topology as ``netnode apply`` records it: a tenant network and an
external network. No reconcile loop runs, so what the API creates stays PENDING_CREATE
until a test marks it converged (``Api.converge``), as a reconcile pass would.

The PostgreSQL half needs root (the server runs as the postgres user). Without it, it
skips, unless NETNODE_REQUIRE_FUNCTIONAL=1 (``make test``): then it fails, so CI can never
pass having run none of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from netnode.api.app import create_app
from netnode.api.auth import Tokens
from netnode.api.service import Service
from netnode.api.world import API_TOPOLOGY
from netnode.lab import postgres
from netnode.model.loading import load_data
from netnode.model.topology import Topology
from netnode.reconcile import provisioning
from netnode.reconcile.ledger import LedgerStore, Record
from netnode.store import database, schema
from netnode.store.database import engine_for
from netnode.store.quotas import QuotaStore

NODE = "api-test"
OPERATOR = "ops"

# Who calls: a token each (the tokens file maps them to a project and a role).
# Where TLS containers named through the API must live (nothing is read from it here: the
# API checks where a reference points; the host layer reads the files).
CERTIFICATES = Path("/etc/netnode-test/certificates")

TOKENS = {
    "admin": ("admin-token-000000000000", "admin", "admin"),
    "alpha": ("alpha-token-000000000000", "alpha", "member"),
    "beta": ("beta-token-0000000000000", "beta", "member"),
    "alpha-reader": ("alpha-reader-token-00000", "alpha", "reader"),
    # Keystone's load-balancer_global_observer (netnode.api.auth.ROLES).
    "global-reader": ("global-reader-token-0000", "gamma", "global_reader"),
}

# The operator's networks, as a topology file defines them: shared with every project.
OPERATOR_TOPOLOGY: dict[str, Any] = {
    "name": OPERATOR,
    "networks": [
        {
            "name": "tenant1",
            "segmentation_id": 1,
            "subnets": [
                {"name": "tenant1-subnet", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}
            ],
        },
        {
            "name": "public",
            "external": True,
            "bridge": "br-ex",
            "subnets": [
                {"name": "public-subnet", "cidr": "10.255.253.0/24", "gateway_ip": "10.255.253.1"}
            ],
        },
    ],
}


# --- stores ----------------------------------------------------------------------------------


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("NETNODE_REQUIRE_FUNCTIONAL") == "1":
        pytest.fail(f"NETNODE_REQUIRE_FUNCTIONAL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """One private PostgreSQL cluster and migrated store for the session."""
    _require(postgres.available())
    with postgres.private_cluster() as url, open_engine(url) as engine:
        yield engine


@contextmanager
def open_engine(url: str) -> Iterator[Engine]:
    """The store's engine for ``url`` (schema migrated), closed and forgotten after."""
    engine = engine_for(url)
    try:
        yield engine
    finally:
        engine.dispose()
        # engine_for keeps one engine per URL for the process; this URL is the tests'.
        database._engines.pop(url, None)


def empty(engine: Engine) -> Engine:
    """``engine``'s store with every row deleted (the schema stays)."""
    with engine.begin() as db:
        for table in reversed(schema.metadata.sorted_tables):
            db.execute(table.delete())
    return engine


# Every test runs on both.
DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
]


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty store: a new SQLite file, or the session's PostgreSQL store emptied
    (tests run one at a time)."""
    if request.param == "postgresql":
        yield empty(request.getfixturevalue("postgres_engine"))
        return
    with open_engine(database.default_url(tmp_path / "state")) as engine:
        yield engine


# --- the app -------------------------------------------------------------------------------


def operator_document(data: dict[str, Any]) -> dict[str, Any]:
    """A topology as ``netnode apply`` records it as desired."""
    return load_data(data, NODE).model_dump(mode="json", exclude_none=True)


def write_tokens(path: Path) -> Path:
    entries = [
        {"token": token, "project_id": project, "role": role}
        for token, project, role in TOKENS.values()
    ]
    path.write_text(yaml.safe_dump({"tokens": entries}))
    return path


@dataclass
class Api:
    """The app on one store, and what the tests ask of it."""

    client: TestClient
    store: LedgerStore
    svc: Service
    operator: Topology
    # Topology -> the generation last recorded as converged.
    converged: dict[str, int] = field(default_factory=dict)

    # --- requests ------------------------------------------------------------------------

    def request(
        self, method: str, path: str, who: str | None = "admin", **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["X-Auth-Token"] = TOKENS[who][0]
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, who, **kwargs)

    def post(self, path: str, body: Any, who: str | None = "admin") -> httpx.Response:
        return self.request("POST", path, who, json=body)

    def put(self, path: str, body: Any, who: str | None = "admin") -> httpx.Response:
        return self.request("PUT", path, who, json=body)

    def delete(self, path: str, who: str | None = "admin") -> httpx.Response:
        return self.request("DELETE", path, who)

    def create(
        self, path: str, kind: str, fields: dict[str, Any], who: str = "admin"
    ) -> dict[str, Any]:
        """POST ``{kind: fields}``; the created object (201 asserted)."""
        r = self.post(path, {kind: fields}, who)
        assert r.status_code == 201, r.text
        return r.json()[kind]

    # --- the operator's topology ----------------------------------------------------------

    def network_id(self, name: str) -> str:
        return self.operator.network(name).uid

    def subnet_id(self, name: str) -> str:
        return next(s.uid for n in self.operator.networks for s in n.subnets if s.name == name)

    # --- the store -------------------------------------------------------------------------

    def generation(self, topology: str = API_TOPOLOGY) -> int:
        return self.store.document(topology)[1]

    def document(self, topology: str = API_TOPOLOGY) -> dict[str, Any]:
        document = self.store.document(topology)[0]
        assert document is not None, f"topology {topology!r} was never written"
        return document

    def converge(self, topology: str = API_TOPOLOGY) -> None:
        """Record every object of ``topology`` as converged (ACTIVE), as the reconcile
        loop does after a successful pass."""
        document, generation = self.store.document(topology)
        if document is None or self.converged.get(topology) == generation:
            return
        self.converged[topology] = generation
        topo = load_data(document, NODE)
        objects = provisioning.objects(topo, {})
        self.store.write(
            topology,
            Record(
                objects={uid: o.fingerprint for uid, o in objects.items()},
                status=dict.fromkeys(objects, provisioning.ACTIVE),
            ),
        )

    # --- Octavia objects, converged once made ----------------------------------------------

    def loadbalancer(self, who: str = "admin", **fields: Any) -> dict[str, Any]:
        fields.setdefault("vip_subnet_id", self.subnet_id("tenant1-subnet"))
        lb = self.create("/v2/lbaas/loadbalancers", "loadbalancer", fields, who)
        self.converge()
        return lb

    def listener(self, lb_id: str, who: str = "admin", **fields: Any) -> dict[str, Any]:
        fields = {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80, **fields}
        listener = self.create("/v2/lbaas/listeners", "listener", fields, who)
        self.converge()
        return listener

    def pool(self, who: str = "admin", **fields: Any) -> dict[str, Any]:
        fields = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}
        pool = self.create("/v2/lbaas/pools", "pool", fields, who)
        self.converge()
        return pool

    def member(self, pool_id: str, who: str = "admin", **fields: Any) -> dict[str, Any]:
        fields = {"address": "10.0.0.81", "protocol_port": 80, **fields}
        member = self.create(f"/v2/lbaas/pools/{pool_id}/members", "member", fields, who)
        self.converge()
        return member

    def healthmonitor(self, pool_id: str, who: str = "admin", **fields: Any) -> dict[str, Any]:
        fields = {
            "pool_id": pool_id,
            "type": "TCP",
            "delay": 5,
            "timeout": 5,
            "max_retries": 3,
            **fields,
        }
        hm = self.create("/v2/lbaas/healthmonitors", "healthmonitor", fields, who)
        self.converge()
        return hm


@contextmanager
def serve(engine: Engine, tmp: Path) -> Iterator[Api]:
    """The app on ``engine``'s store, seeded with the operator's topology."""
    store = LedgerStore(engine, NODE)
    store.set_desired(OPERATOR, operator_document(OPERATOR_TOPOLOGY))
    svc = Service(
        store, NODE, quotas=QuotaStore(engine), haproxy=None, certificates_dir=CERTIFICATES
    )
    app = create_app(svc, Tokens.load(write_tokens(tmp / "tokens.yaml")))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, store, svc, load_data(OPERATOR_TOPOLOGY, NODE))


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[Api]:
    with serve(engine, tmp_path) as api:
        yield api
