"""One POST makes a working load balancer (issue 12, item 4): Octavia's fully populated
create, as cloud-provider-openstack sends it, against ``netnode serve`` and its
reconcile loop. Every object of the tree goes ACTIVE, and HTTP from a lab instance on
the VIP's network (a namespace this test's lab made) reaches both members.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.functional.conftest import Lab, eventually
from tests.functional.test_openstack_cli import TOKEN, Server, lab_only

VIP = "10.0.0.100"


@pytest.fixture
def served(lab: Lab) -> Iterator[Server]:
    data = lab_only()
    data["lab"]["instances"].append(
        {"name": "probe", "network": "tenant1", "address": "10.0.0.90", "body": "probe"}
    )
    lab.apply(data)
    tokens = lab.tmp / "tokens.yaml"
    tokens.write_text(f"tokens:\n  - token: {TOKEN}\n    project_id: demo\n    role: admin\n")
    server = Server(lab, "--tokens", str(tokens))
    try:
        yield server
    finally:
        server.stop()
        lab.destroy_api()


def test_one_post_makes_a_working_load_balancer(lab: Lab, served: Server) -> None:
    with httpx.Client(base_url=served.url, headers={"X-Auth-Token": TOKEN}, timeout=30) as api:
        check(lab, api)


def check(lab: Lab, api: httpx.Client) -> None:
    subnets = api.get("/v2.0/subnets").json()["subnets"]
    subnet = next(s["id"] for s in subnets if s["name"] == "tenant1-subnet")
    members = [{"address": a, "protocol_port": 80} for a in ("10.0.0.81", "10.0.0.82")]
    r = api.post(
        "/v2/lbaas/loadbalancers",
        json={
            "loadbalancer": {
                "name": "web",
                "vip_subnet_id": subnet,
                "vip_address": VIP,
                "listeners": [
                    {
                        "name": "http",
                        "protocol": "HTTP",
                        "protocol_port": 80,
                        "default_pool": {
                            "name": "web-pool",
                            "protocol": "HTTP",
                            "lb_algorithm": "ROUND_ROBIN",
                            "members": members,
                            "healthmonitor": {
                                "type": "HTTP",
                                "delay": 1,
                                "timeout": 1,
                                "max_retries": 2,
                                "url_path": "/",
                            },
                        },
                    }
                ],
            }
        },
    )
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    (pool,) = lb["pools"]
    paths = [
        f"/v2/lbaas/loadbalancers/{lb['id']}",
        f"/v2/lbaas/listeners/{lb['listeners'][0]['id']}",
        f"/v2/lbaas/pools/{pool['id']}",
        f"/v2/lbaas/healthmonitors/{pool['healthmonitor']['id']}",
        *(f"/v2/lbaas/pools/{pool['id']}/members/{m['id']}" for m in pool["members"]),
    ]

    def statuses() -> set[str]:
        return {next(iter(api.get(p).json().values()))["provisioning_status"] for p in paths}

    answered = [lb, lb["listeners"][0], pool, pool["healthmonitor"], *pool["members"]]
    assert {x["provisioning_status"] for x in answered} == {"PENDING_CREATE"}
    assert eventually(lambda: statuses() == {"ACTIVE"}, timeout=60, interval=0.5)

    probe = lab.ns_of("instance", "probe")

    both = {"server_81", "server_82"}
    assert eventually(lambda: lab.answering(probe, VIP) == both, timeout=30, interval=0.5)
    r = api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    assert r.status_code == 204, r.text
