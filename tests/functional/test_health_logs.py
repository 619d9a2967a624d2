"""Health, request ids, structured logs and tenant flow logs of a real ``netnode
serve`` (issue 16, items 2 and 3).

- A load balancer made through the API serves HTTP from a lab instance's namespace;
  ``netnode logs LB`` then shows one line per request in Octavia's flow-log format,
  with the load balancer's project and id, its listener, pool and member, status 200.
  The server's own output is JSON, one object per line, the loop's passes with their
  unit, action, duration and outcome.
- ``/healthcheck`` answers 200 while the store answers and the loop passes, 503 naming
  the store's error while a private PostgreSQL is stopped, and 200 again once it is
  back; the 503 of a write during the outage is logged with the request id its answer
  carried.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from netnode.lab import postgres
from tests.functional.conftest import Lab, eventually
from tests.functional.test_openstack_cli import ROOT, Server, lab_only
from tests.functional.test_store_outage import Client, pg_lab  # noqa: F401 (fixture)

REQUESTS = 4


def netnode_logs(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), "logs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def json_lines(server: Server) -> list[dict[str, Any]]:
    lines = server.log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def build(api: Client, subnet: str) -> dict[str, str]:
    """A load balancer with an HTTP listener whose pool has vm1 as its member, made in
    one request (Octavia's populated create)."""
    pool = {
        "name": "p1",
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": "10.0.0.81", "protocol_port": 80, "subnet_id": subnet}],
    }
    listener = {"name": "l1", "protocol": "HTTP", "protocol_port": 80, "default_pool": pool}
    body = {"name": "web", "vip_subnet_id": subnet, "listeners": [listener]}
    lb = api.ok(api.post("/v2/lbaas/loadbalancers", {"loadbalancer": body}))["loadbalancer"]
    api.active(lb["id"])
    (made_pool,) = lb["pools"]
    return {
        "lb": lb["id"],
        "listener": lb["listeners"][0]["id"],
        "pool": made_pool["id"],
        "member": made_pool["members"][0]["id"],
    }


def test_flow_logs_of_a_load_balancer_serving_http(lab: Lab) -> None:
    lab.apply(lab_only())
    server = Server(lab, "--noauth", "--log-format", "json")
    api = Client(server.url)
    try:
        health = eventually(lambda: _ok(api.get("/healthcheck")), timeout=30, interval=0.3)
        assert health == {"status": "OK", "loop": "running"}
        ids = build(api, api.subnet("tenant1-subnet"))
        vip = api.ok(api.get(f"/v2/lbaas/loadbalancers/{ids['lb']}"))["loadbalancer"]
        vm2 = lab.ns_of("instance", "vm2")
        assert eventually(lambda: lab.answering(vm2, vip["vip_address"], 1), timeout=30)
        assert lab.bodies(vm2, vip["vip_address"], REQUESTS) == ["server_81"] * REQUESTS

        def logged() -> list[str] | None:
            done = netnode_logs(lab, "web", "-n", "100")
            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            return lines if len(lines) >= REQUESTS + 1 else None

        lines = eventually(logged, timeout=15, interval=0.3)
        assert isinstance(lines, list)
        # Octavia's user_log_format: project lb %f %ci %cp %t "%r" %ST %B %U
        # %[ssl_c_verify] "%[ssl_c_s_dn]" %b %s %Tt %tsc (no TLS here: - and "")
        flow = re.compile(
            rf"admin {ids['lb']} {ids['listener']} 10\.0\.0\.\d+ \d+ "
            r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3} \"GET / HTTP/1\.[01]\" 200 \d+ \d+ "
            rf"- \"\" {ids['pool']} {ids['member']} \d+ ----"
        )
        assert all(flow.fullmatch(line) for line in lines), lines
        # By id too; HAProxy's own messages are apart (none of them a flow line).
        assert netnode_logs(lab, ids["lb"], "-n", "1").stdout.splitlines() == lines[-1:]
        admin = netnode_logs(lab, "web", "--admin").stdout.splitlines()
        assert not any(flow.fullmatch(line) for line in admin)

        refused = netnode_logs(lab, "no-such-lb")
        assert refused.returncode != 0 and "no load balancer 'no-such-lb'" in refused.stderr

        # The server's output: JSON lines, the loop's passes as structured records.
        records = json_lines(server)
        assert all(
            {"time", "level", "logger", "message", "request_id"} <= r.keys() for r in records
        )
        passes = [r for r in records if r.get("action") in ("full pass", "changes pass")]
        assert passes and all(
            isinstance(r["duration"], float) and r["outcome"] == "ok" and r["unit"] == "api"
            for r in passes
            if r["unit"] == "api"
        ), passes
        # ... and each unit a pass acted on: the load balancer's namespace was created.
        namespace = f"qlbaas-{ids['lb']}"
        assert {"unit": namespace, "action": "create", "outcome": "ok"}.items() <= next(
            r for r in records if r.get("unit") == namespace
        ).items()
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nnetnode serve said:\n{server.log.read_text()[-6000:]}"
        ) from exc
    finally:
        api.http.close()
        server.stop()
        lab.destroy_api()
    assert server.proc.returncode == 0, server.log.read_text()
    # The socket the loop received on went with it.
    assert not (lab.host.node_dir / "syslog" / "haproxy.sock").exists()


def test_healthcheck_follows_the_store(pg_lab: Lab, cluster: postgres.Cluster) -> None:  # noqa: F811
    pg_lab.apply(lab_only())
    server = Server(pg_lab, "--noauth", "--log-format", "json")
    api = Client(server.url)
    try:
        assert eventually(lambda: _ok(api.get("/healthcheck")), timeout=30, interval=0.3)
        subnet = api.subnet("tenant1-subnet")
        cluster.stop()
        down = api.get("/healthcheck")
        assert down.status_code == 503, down.text
        (reason,) = down.json()["reasons"]
        assert reason.startswith("store: ") and "is unavailable" in reason, reason
        write = api.post(
            "/v2/lbaas/loadbalancers", {"loadbalancer": {"name": "x", "vip_subnet_id": subnet}}
        )
        assert write.status_code == 503
        rid = write.headers["x-openstack-request-id"]
        assert rid != down.headers["x-openstack-request-id"]
        cluster.start()
        assert eventually(lambda: _ok(api.get("/healthcheck")), timeout=30, interval=0.5)
        logged = [r for r in json_lines(server) if r["request_id"] == rid]
        assert logged and logged[0]["logger"] == "netnode.api", logged
        assert "is unavailable" in logged[0]["message"]
    finally:
        if cluster.server is None:
            cluster.start()
        api.http.close()
        server.stop()
    assert server.proc.returncode == 0, server.log.read_text()


def _ok(response: Any) -> dict[str, Any] | None:
    return response.json() if response.status_code == 200 else None
