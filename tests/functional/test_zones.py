"""Availability zones with real nodes: two simulated nodes of one cluster in two zones
(``netnode agent --zone``), sharing a private PostgreSQL. A load balancer whose
``availability_zone`` is the second node's is placed there, though the first node
would win a tie by name, and serves; one whose zone no node declares stays unplaced,
and ``apply`` says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netnode.cluster import scheduler
from netnode.lab import postgres
from netnode.lab.nodes import SimulatedNodes
from netnode.store.database import engine_for
from tests.functional.conftest import Lab, eventually
from tests.functional.test_cluster import LAB, SERVICE, serving, start_and_apply

ZONES = {"a": "az1", "b": "az2"}
ZONED = {
    **SERVICE,
    "name": "zonesvc",
    "load_balancers": [
        {**SERVICE["load_balancers"][0], "availability_zone": "az2"},
        {
            **SERVICE["load_balancers"][0],
            "name": "nowhere",
            "vip": {"network": "tenant1", "address": "10.0.0.110"},
            "availability_zone": "az9",
        },
    ],
}


@pytest.fixture
def zoned(lab: Lab, cluster: postgres.Cluster) -> Iterator[SimulatedNodes]:
    lab.apply(LAB)
    prepared = lab.prepare(LAB)
    sim = SimulatedNodes(
        db=cluster.url,
        cluster=f"z{lab.suffix}",
        suffix=lab.suffix,
        workdir=lab.host.state_dir / "cluster",
        segments={"br-int": prepared["integration_bridge"]},
        zones=ZONES,
    )
    try:
        sim.build()
        yield sim
    finally:
        sim.close(("zonesvc",))
        assert not sim.cleanup_errors, "\n".join(sim.cleanup_errors)


def test_a_load_balancer_with_a_zone_runs_only_on_that_zones_node(
    lab: Lab, zoned: SimulatedNodes
) -> None:
    a, b = list(zoned.nodes)
    done = start_and_apply(lab, zoned, ZONED)
    engine = engine_for(zoned.db)
    # Placed by the apply's scheduling pass, or by an agent's that held the turn first
    # (the agents are running): the line is in one of the three outputs.
    said = done.stdout + zoned.agent_log(a) + zoned.agent_log(b)
    web = next(lb for lb in said.splitlines() if "placed load balancer" in lb)
    assert f"on node {b}" in web, said
    assert "no node is in availability zone az9" in said, said
    eventually(lambda: serving(lab), timeout=60)
    # One placement: web's, on b; nowhere's none (its zone has no node), a's none.
    placed = scheduler.placements(engine, zoned.cluster)
    assert [(p.node, p.kind) for p in placed] == [(b, "load_balancers")]
    assert a not in {p.node for p in placed}
