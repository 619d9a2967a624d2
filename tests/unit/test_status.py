"""netnode.reconcile.status on synthetic ``show stat`` rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from netnode.model.loading import load_file
from netnode.model.topology import Listener, LoadBalancer
from netnode.reconcile.status import (
    frontend_status,
    loadbalancer_status,
    server_status,
    to_octavia_json,
)

ROOT = Path(__file__).resolve().parents[2]


def seed_lb() -> LoadBalancer:
    return load_file(ROOT / "examples" / "seed.yaml").load_balancers[0]


def rows(
    lb: LoadBalancer,
    servers: tuple[str, ...] = ("UP", "UP"),
    backend: str | None = None,
    frontend: str = "OPEN",
) -> list[dict[str, str]]:
    """show stat rows for the seed's load balancer, as HAProxy names them."""
    listener, pool = lb.listeners[0], lb.pools[0]
    if backend is None:
        backend = (
            "UP" if any(s.startswith(("UP", "no check", "DRAIN")) for s in servers) else "DOWN"
        )
    out = [{"pxname": listener.uid, "svname": "FRONTEND", "status": frontend, "type": "0"}]
    out += [
        {"pxname": pool.uid, "svname": m.uid, "status": s, "type": "2"}
        for m, s in zip(pool.members, servers, strict=True)
    ]
    out.append({"pxname": pool.uid, "svname": "BACKEND", "status": backend, "type": "1"})
    return out


@pytest.mark.parametrize(
    ("haproxy", "octavia"),
    [
        ("UP", "ONLINE"),
        ("UP 1/3", "ONLINE"),
        ("DOWN", "ERROR"),
        ("DOWN 1/2", "ERROR"),
        ("DRAIN", "DRAINING"),
        ("NOLB", "DRAINING"),
        ("MAINT", "OFFLINE"),
        ("MAINT (via a/b)", "OFFLINE"),
        ("MAINT(resolution)", "OFFLINE"),
        ("no check", "NO_MONITOR"),
        ("something new", "ERROR"),
    ],
)
def test_server_status(haproxy: str, octavia: str) -> None:
    assert server_status(haproxy) == octavia


@pytest.mark.parametrize(
    ("haproxy", "octavia"), [("OPEN", "ONLINE"), ("FULL", "DEGRADED"), ("STOP", "OFFLINE")]
)
def test_frontend_status(haproxy: str, octavia: str) -> None:
    assert frontend_status(haproxy) == octavia


def test_all_up_is_online() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, rows(lb))
    assert status.operating_status == "ONLINE"
    assert status.provisioning_status == "ACTIVE"
    assert [x.operating_status for x in status.listeners] == ["ONLINE"]
    pool = status.pools[0]
    assert pool.operating_status == "ONLINE"
    assert [m.operating_status for m in pool.members] == ["ONLINE", "ONLINE"]
    assert status.listeners[0].default_pool_id == lb.pools[0].uid


def test_no_check_is_no_monitor_and_pool_online() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, rows(lb, ("no check", "no check")))
    assert [m.operating_status for m in status.pools[0].members] == ["NO_MONITOR", "NO_MONITOR"]
    assert status.pools[0].operating_status == "ONLINE"
    assert status.operating_status == "ONLINE"


def test_one_member_down_degrades_pool_and_lb() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, rows(lb, ("UP", "DOWN")))
    assert [m.operating_status for m in status.pools[0].members] == ["ONLINE", "ERROR"]
    assert status.pools[0].operating_status == "DEGRADED"
    assert status.operating_status == "DEGRADED"


def test_all_members_down_is_error() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, rows(lb, ("DOWN", "DOWN 1/2")))
    assert status.pools[0].operating_status == "ERROR"
    assert status.operating_status == "ERROR"


def test_drain_and_maint() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, rows(lb, ("DRAIN", "MAINT")))
    assert [m.operating_status for m in status.pools[0].members] == ["DRAINING", "OFFLINE"]
    assert status.pools[0].operating_status == "ONLINE"


def test_stopped_frontend() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, rows(lb, frontend="STOP"))
    assert status.listeners[0].operating_status == "OFFLINE"
    assert status.operating_status == "ERROR"


def test_full_frontend_degrades() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, rows(lb, frontend="FULL"))
    assert status.listeners[0].operating_status == "DEGRADED"
    assert status.operating_status == "DEGRADED"


def test_admin_down_objects_are_offline() -> None:
    lb = seed_lb()
    lb.pools[0].members[0].admin_state_up = False
    status = loadbalancer_status(lb, rows(lb, ("MAINT", "UP")))
    assert [m.operating_status for m in status.pools[0].members] == ["OFFLINE", "ONLINE"]
    assert status.operating_status == "ONLINE"

    lb.admin_state_up = False
    status = loadbalancer_status(lb, rows(lb))
    assert status.operating_status == "OFFLINE"
    assert status.listeners[0].operating_status == "OFFLINE"
    assert status.pools[0].operating_status == "OFFLINE"


def test_unreported_objects_are_offline() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, [])
    assert status.listeners[0].operating_status == "OFFLINE"
    assert status.pools[0].operating_status == "OFFLINE"
    assert status.operating_status == "ERROR"


def test_not_running() -> None:
    lb = seed_lb()
    status = loadbalancer_status(lb, None, provisioning_status="PENDING_UPDATE")
    assert status.operating_status == "ERROR"
    assert status.provisioning_status == "PENDING_UPDATE"
    assert status.listeners[0].operating_status == "ERROR"
    assert status.pools[0].members[0].provisioning_status == "PENDING_UPDATE"

    lb.admin_state_up = False
    assert loadbalancer_status(lb, None).operating_status == "OFFLINE"
    lb.admin_state_up = True
    lb.listeners = []
    assert loadbalancer_status(lb, None).operating_status == "OFFLINE"


def test_second_listener_degraded_when_first_works() -> None:
    lb = seed_lb()
    lb.listeners.append(
        Listener(name="other", id="11111111-1111-4111-8111-111111111111", protocol_port=81)
    )
    table = rows(lb)
    table.append({"pxname": lb.listeners[1].uid, "svname": "FRONTEND", "status": "STOP"})
    status = loadbalancer_status(lb, table)
    assert [x.operating_status for x in status.listeners] == ["ONLINE", "OFFLINE"]
    assert status.operating_status == "DEGRADED"


def test_octavia_json_shape() -> None:
    lb = seed_lb()
    body = to_octavia_json(loadbalancer_status(lb, rows(lb, ("UP", "DOWN"))))
    tree = body["statuses"]["loadbalancer"]
    assert tree["id"] == lb.uid
    assert tree["name"] == "01"
    assert tree["operating_status"] == "DEGRADED"
    assert tree["provisioning_status"] == "ACTIVE"
    (listener,) = tree["listeners"]
    assert listener["id"] == lb.listeners[0].uid
    assert listener["operating_status"] == "ONLINE"
    (pool,) = listener["pools"]
    assert pool["id"] == lb.pools[0].uid
    assert pool["operating_status"] == "DEGRADED"
    assert pool["health_monitor"] == {"type": "TCP", "provisioning_status": "ACTIVE"}
    assert pool["members"][1] == {
        "id": lb.pools[0].members[1].uid,
        "name": "vm2",
        "operating_status": "ERROR",
        "provisioning_status": "ACTIVE",
        "address": "10.0.0.82",
        "protocol_port": 80,
    }


def test_octavia_json_listener_without_pool() -> None:
    lb = seed_lb()
    lb.listeners[0].default_pool = None
    tree = to_octavia_json(loadbalancer_status(lb, rows(lb)))["statuses"]["loadbalancer"]
    assert tree["listeners"][0]["pools"] == []
