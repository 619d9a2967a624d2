"""The two combination rules the HTTP features added: PING monitors take no monitor
address or port, and cookie persistence needs a pool used in http mode."""

from __future__ import annotations

import pytest

from netnode.errors import TopologyError
from netnode.model.loading import load_data


def topology(listener: dict, pool: dict) -> dict:
    return {
        "networks": [
            {"name": "n", "segmentation_id": 1, "subnets": [{"name": "s", "cidr": "10.0.0.0/24"}]}
        ],
        "load_balancers": [
            {
                "name": "lb",
                "vip": {"network": "n", "address": "10.0.0.5"},
                "listeners": [{"name": "l", "protocol_port": 80, "default_pool": "p", **listener}],
                "pools": [{"name": "p", **pool}],
            }
        ],
    }


def problems(data: dict) -> list[str]:
    try:
        load_data(data)
    except TopologyError as exc:
        return [f"{p.path}: {p.message}" for p in exc.problems]
    return []


def test_a_ping_monitor_takes_no_monitor_port() -> None:
    pool = {
        "healthmonitor": {"type": "PING"},
        "members": [{"name": "m", "address": "10.0.0.9", "protocol_port": 80, "monitor_port": 81}],
    }
    (problem,) = problems(topology({}, pool))
    assert problem.startswith("load_balancers[0].pools[0].members[0].monitor_port: a PING")
    pool["healthmonitor"] = {"type": "TCP"}
    assert problems(topology({}, pool)) == []


@pytest.mark.parametrize("kind", ["HTTP_COOKIE", "APP_COOKIE"])
def test_cookie_persistence_needs_http_mode(kind: str) -> None:
    sp = {"type": kind, **({"cookie_name": "c"} if kind == "APP_COOKIE" else {})}
    pool = {"protocol": "HTTP", "session_persistence": sp}
    (problem,) = problems(topology({"protocol": "TCP"}, pool))
    assert "session_persistence.type" in problem and "tcp mode" in problem
    assert problems(topology({}, pool)) == []
