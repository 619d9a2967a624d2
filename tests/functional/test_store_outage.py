"""The reconcile loop survives its store (issue 18): ``netnode serve --db postgresql...``
keeps serving and converging across a PostgreSQL stopped as ``pg_ctl -m immediate stop``
does and started again five seconds later.

While the store is down, the API answers 503 (and says why), nothing it acknowledged is
lost, and the loop logs its failed rounds and backs off instead of dying. Once the store
is back, a load balancer made through the API after the restart goes ACTIVE and serves
HTTP from a lab instance's namespace to its VIP on the tenant network.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from netnode.lab import postgres
from netnode.reconcile.host import Host
from tests.functional.conftest import Lab, eventually
from tests.functional.test_openstack_cli import Server, lab_only

OUTAGE_SECONDS = 5.0


@pytest.fixture
def pg_lab(lab: Lab, cluster: postgres.Cluster) -> Iterator[Lab]:
    """The test's lab, its desired state and records in the private PostgreSQL."""
    host = Host(state_dir=lab.host.state_dir, node=lab.host.node, db_url=cluster.url)
    on_pg = Lab(host, lab.suffix, lab.tmp)
    try:
        yield on_pg
    finally:
        try:
            if cluster.server is None:
                cluster.start()
            on_pg.destroy_api()
            on_pg.destroy()
        finally:
            host.close()


class Client:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code < 300, f"{response.status_code}: {response.text}"
        return response.json()

    def subnet(self, name: str) -> str:
        return self.ok(self.get(f"/v2.0/subnets?name={name}"))["subnets"][0]["id"]

    def lb_status(self, lb_id: str) -> str:
        return self.ok(self.get(f"/v2/lbaas/loadbalancers/{lb_id}"))["loadbalancer"][
            "provisioning_status"
        ]

    def active(self, lb_id: str, timeout: float = 60) -> None:
        eventually(lambda: self.lb_status(lb_id) == "ACTIVE", timeout=timeout, interval=0.3)

    def load_balancer(self, name: str, subnet_id: str) -> str:
        body = {"loadbalancer": {"name": name, "vip_subnet_id": subnet_id}}
        return self.ok(self.post("/v2/lbaas/loadbalancers", body))["loadbalancer"]["id"]


def test_serve_converges_across_a_postgresql_restart(
    pg_lab: Lab, cluster: postgres.Cluster
) -> None:
    pg_lab.apply(lab_only())
    server = Server(pg_lab, "--noauth")
    api = Client(server.url)
    try:
        subnet = api.subnet("tenant1-subnet")
        before = api.load_balancer("before", subnet)
        api.active(before)

        cluster.stop()
        refused = api.post(
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"name": "during", "vip_subnet_id": subnet}},
        )
        assert refused.status_code == 503, refused.text
        assert "store is unreachable" in refused.json()["faultstring"]
        assert refused.headers["retry-after"] == "1"
        time.sleep(OUTAGE_SECONDS)
        assert server.proc.poll() is None, server.log.read_text()
        cluster.start()

        # After the restart: the first write may still meet a connection the pool
        # has not yet found dead; the client's retry of a 503 must then succeed.
        after = eventually(lambda: _created(api, "after", subnet), timeout=30, interval=0.5)
        assert isinstance(after, str)
        api.active(after)
        listener = api.ok(
            api.post(
                "/v2/lbaas/listeners",
                {
                    "listener": {
                        "name": "l1",
                        "protocol": "HTTP",
                        "protocol_port": 80,
                        "loadbalancer_id": after,
                    }
                },
            )
        )
        api.active(after)
        pool = api.ok(
            api.post(
                "/v2/lbaas/pools",
                {
                    "pool": {
                        "name": "p1",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "listener_id": listener["listener"]["id"],
                    }
                },
            )
        )
        api.active(after)
        api.ok(
            api.post(
                f"/v2/lbaas/pools/{pool['pool']['id']}/members",
                {"member": {"address": "10.0.0.81", "protocol_port": 80, "subnet_id": subnet}},
            )
        )
        api.active(after)

        # Nothing acknowledged was lost, nothing refused was kept.
        names = {x["name"] for x in api.ok(api.get("/v2/lbaas/loadbalancers"))["loadbalancers"]}
        assert names == {"before", "after"}
        assert api.lb_status(before) == "ACTIVE"

        # The new load balancer is real: vm2 reaches vm1 through its VIP.
        vip = api.ok(api.get(f"/v2/lbaas/loadbalancers/{after}"))["loadbalancer"]["vip_address"]
        vm2 = pg_lab.ns_of("instance", "vm2")
        assert eventually(lambda: pg_lab.answering(vm2, vip, 2) == {"server_81"}, timeout=30)

        # The loop said what happened and lived on.
        assert server.proc.poll() is None
        log = server.log.read_text()
        assert "round failed" in log and "is unavailable" in log, log
    finally:
        api.http.close()
        server.stop()
    assert server.proc.returncode == 0, server.log.read_text()


def _created(api: Client, name: str, subnet: str) -> str | None:
    response = api.post(
        "/v2/lbaas/loadbalancers", {"loadbalancer": {"name": name, "vip_subnet_id": subnet}}
    )
    if response.status_code == 503:
        return None
    return api.ok(response)["loadbalancer"]["id"]
