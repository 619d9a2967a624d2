"""The served OpenAPI document is the contract. For every operation of
``/openapi.json`` schemathesis generates requests, valid and invalid (bounded and
derandomized), sends them to the app in-process as an admin, and checks that the app
never fails (no 5xx), answers only what the document declares (status codes, content
types, bodies) and refuses what the document does not allow.

One store per database for the whole module, seeded with one object of every kind.
About half of the valid cases get those objects' ids (in the path and in the body), so
the success paths are reached, not only 404s; every object is marked converged after
each case, so a load balancer's children can keep changing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

import hypothesis.configuration
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from netnode.api.app import create_app
from netnode.api.service import Service
from netnode.store import database
from tests.api.conftest import DATABASES, TOKENS, Api, empty, open_engine, serve

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
ADMIN = {"X-Auth-Token": TOKENS["admin"][0]}
# Examples per operation: about two and a half minutes for the file on both stores (it
# runs beside the functional tests, scripts/test.sh). A longer hunt:
# NETNODE_CONTRACT_EXAMPLES=200 pytest tests/api/test_contract.py
MAX_EXAMPLES = int(os.environ.get("NETNODE_CONTRACT_EXAMPLES", "20"))


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis keeps caches in ./.hypothesis; these runs keep theirs in a tmp dir."""
    hypothesis.configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    hypothesis.configuration.set_hypothesis_home_dir(None)


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the document, for the test ids. The document depends on
    the routes alone: an app with no service describes the same API."""
    paths = create_app(cast(Service, None), None).openapi()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


class Seed:
    """One object of each kind, remade when a test deleted any; their ids by the names
    that routes and bodies give them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.ids: dict[str, str] = {}
        self.made = 0

    def ensure(self) -> dict[str, str]:
        """The seeded ids, the objects made anew if an earlier test deleted one."""
        api = self.api
        paths = [
            f"/v2/lbaas/pools/{self.ids.get('pool_id')}/members/{self.ids.get('member_id')}",
            f"/v2/lbaas/healthmonitors/{self.ids.get('hm_id')}",
            f"/v2/lbaas/listeners/{self.ids.get('listener_id')}",
            f"/v2.0/floatingips/{self.ids.get('fip_id')}",
            f"/v2.0/routers/{self.ids.get('router_id')}",
            f"/v2.0/subnets/{self.ids.get('subnet_id')}",
        ]
        if not self.ids or any(api.get(path).status_code != 200 for path in paths):
            self.ids = self._make()
        api.converge()
        return self.ids

    def _make(self) -> dict[str, str]:
        api = self.api
        self.made += 1
        lb = api.loadbalancer()
        listener = api.listener(lb["id"])
        pool = api.pool(listener_id=listener["id"])
        member = api.member(pool["id"])
        hm = api.healthmonitor(pool["id"])
        net = api.create("/v2.0/networks", "network", {"name": "n"})
        subnet = api.create(
            "/v2.0/subnets",
            "subnet",
            {"network_id": net["id"], "cidr": f"192.168.{self.made}.0/24"},
        )
        router = api.create(
            "/v2.0/routers",
            "router",
            {"external_gateway_info": {"network_id": api.network_id("public")}},
        )
        r = api.put(
            f"/v2.0/routers/{router['id']}/add_router_interface",
            {"subnet_id": api.subnet_id("tenant1-subnet") if self.made == 1 else subnet["id"]},
        )
        assert r.status_code == 200, r.text
        fip = api.create(
            "/v2.0/floatingips",
            "floatingip",
            {"floating_network_id": api.network_id("public"), "port_id": lb["vip_port_id"]}
            if self.made == 1
            else {"floating_network_id": api.network_id("public")},
        )
        return {
            "lb_id": lb["id"],
            "loadbalancer_id": lb["id"],
            "listener_id": listener["id"],
            "pool_id": pool["id"],
            "default_pool_id": pool["id"],
            "member_id": member["id"],
            "hm_id": hm["id"],
            "net_id": net["id"],
            "network_id": net["id"],
            "vip_network_id": api.network_id("tenant1"),
            "floating_network_id": api.network_id("public"),
            "subnet_id": subnet["id"],
            "vip_subnet_id": api.subnet_id("tenant1-subnet"),
            "router_id": router["id"],
            "fip_id": fip["id"],
            "port_id": lb["vip_port_id"],
            "project_id": "alpha",
            "cidr": f"192.168.{100 + self.made}.0/24",
        }


@pytest.fixture(scope="module", params=DATABASES)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seed]:
    tmp = tmp_path_factory.mktemp("contract")
    if request.param == "postgresql":
        with serve(empty(request.getfixturevalue("postgres_engine")), tmp) as api:
            yield Seed(api)
        return
    with open_engine(database.default_url(tmp)) as engine, serve(engine, tmp) as api:
        yield Seed(api)


@pytest.fixture(scope="module")
def contract(seeded: Seed) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", seeded.api.client.app)


def known(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every field named like a seeded id set to that id."""
    if isinstance(value, dict):
        return {
            k: ids[k] if k in ids and isinstance(v, str) else known(v, ids)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [known(v, ids) for v in value]
    return value


OPERATIONS = [pytest.param(method, path, id=f"{method} {path}") for method, path in _operations()]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_keeps_the_contract(contract: Any, seeded: Seed, method: str, path: str) -> None:
    api, ids = seeded.api, seeded.ensure()
    operation = contract[path][method]

    @given(
        case=st.one_of(
            operation.as_strategy(), operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        ),
        real_ids=st.booleans(),
    )
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any, real_ids: bool) -> None:
        # Only valid cases: a real id in an invalid one could make it valid.
        if real_ids and case.meta.generation.mode.is_positive:
            case.path_parameters = known(case.path_parameters, ids)
            if isinstance(case.body, dict):
                case.body = known(case.body, ids)
        try:
            case.call_and_validate(headers=ADMIN, checks=CHECKS)
        finally:
            api.converge()

    check()
