"""Octavia's fully populated load balancer create (issue 12, item 4): one POST with
listeners, their default pools (members, monitor), L7 policies with rules redirecting
to a pool of the request's ``pools``; the whole tree lands in one change, answers whole,
and is then each object's own; a refusal names the request's field and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_errors import fault

LB = "/v2/lbaas/loadbalancers"
LISTINGS = {
    "loadbalancers": LB,
    "listeners": "/v2/lbaas/listeners",
    "pools": "/v2/lbaas/pools",
    "healthmonitors": "/v2/lbaas/healthmonitors",
    "l7policies": "/v2/lbaas/l7policies",
}


def tree(api: Api) -> dict[str, Any]:
    """Two listeners (HTTP and TCP), each with a default pool of two members and a
    monitor; the HTTP one's L7 policy sends /api to a pool of ``pools``."""

    def pool(name: str, protocol: str, port: int, first: int, monitor: str) -> dict[str, Any]:
        return {
            "name": name,
            "protocol": protocol,
            "lb_algorithm": "ROUND_ROBIN",
            "healthmonitor": {"type": monitor, "delay": 5, "timeout": 3, "max_retries": 2},
            "members": [
                {"name": f"m{first}", "address": f"10.0.0.{first}", "protocol_port": port},
                {"address": f"10.0.0.{first + 1}", "protocol_port": port},
            ],
        }

    return {
        "loadbalancer": {
            "name": "web",
            "vip_subnet_id": api.subnet_id("tenant1-subnet"),
            "listeners": [
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "default_pool": pool("web-pool", "HTTP", 80, 81, "HTTP"),
                    "l7policies": [
                        {
                            "name": "to-api",
                            "action": "REDIRECT_TO_POOL",
                            "redirect_pool": {"name": "api-pool"},
                            "rules": [
                                {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}
                            ],
                        }
                    ],
                },
                {
                    "name": "db",
                    "protocol": "TCP",
                    "protocol_port": 5432,
                    "default_pool": pool("db-pool", "TCP", 5432, 91, "TCP"),
                },
            ],
            "pools": [
                {
                    "name": "api-pool",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": "10.0.0.85", "protocol_port": 8080}],
                }
            ],
        }
    }


def objects(lb: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every object of a full response, with the path to GET it."""
    found = [(f"{LB}/{lb['id']}", lb)]
    for x in lb["listeners"]:
        found.append((f"/v2/lbaas/listeners/{x['id']}", x))
        for p in x["l7policies"]:
            found.append((f"/v2/lbaas/l7policies/{p['id']}", p))
            found += [(f"/v2/lbaas/l7policies/{p['id']}/rules/{r['id']}", r) for r in p["rules"]]
    for p in lb["pools"]:
        found.append((f"/v2/lbaas/pools/{p['id']}", p))
        found += [(f"/v2/lbaas/pools/{p['id']}/members/{m['id']}", m) for m in p["members"]]
        if p["healthmonitor"]:
            found.append(
                (f"/v2/lbaas/healthmonitors/{p['healthmonitor']['id']}", p["healthmonitor"])
            )
    return found


def shown(api: Api, path: str, who: str = "admin") -> dict[str, Any]:
    r = api.get(path, who)
    assert r.status_code == 200, r.text
    body = r.json()
    (kind,) = body
    return dict(body[kind])


def listings(api: Api) -> dict[str, list[str]]:
    return {
        kind: sorted(x["id"] for x in api.get(path).json()[kind]) for kind, path in LISTINGS.items()
    }


def test_one_post_creates_the_whole_tree(api: Api) -> None:
    r = api.post(LB, tree(api), "alpha")
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]

    # The answer: the whole tree, every object with its id, the names the request gave.
    http, db = lb["listeners"]
    pools = {p["name"]: p for p in lb["pools"]}
    assert (http["name"], http["protocol"], db["name"], db["protocol"]) == (
        "http",
        "HTTP",
        "db",
        "TCP",
    )
    assert set(pools) == {"web-pool", "db-pool", "api-pool"}
    assert http["default_pool_id"] == pools["web-pool"]["id"]
    assert db["default_pool_id"] == pools["db-pool"]["id"]
    (policy,) = http["l7policies"]
    assert (policy["name"], policy["position"], policy["listener_id"]) == ("to-api", 1, http["id"])
    assert policy["redirect_pool_id"] == pools["api-pool"]["id"]
    assert [(r["type"], r["value"]) for r in policy["rules"]] == [("PATH", "/api")]
    assert [m["address"] for m in pools["web-pool"]["members"]] == ["10.0.0.81", "10.0.0.82"]
    assert pools["web-pool"]["members"][0]["name"] == "m81"
    assert pools["db-pool"]["healthmonitor"]["type"] == "TCP"
    assert pools["api-pool"]["healthmonitor"] is None
    assert pools["web-pool"]["listeners"] == [{"id": http["id"]}]
    assert {x["id"] for x in lb["listeners"]} == {
        x["id"] for x in shown(api, f"{LB}/{lb['id']}")["listeners"]
    }
    everything = objects(lb)
    assert len(everything) == 1 + 2 + 1 + 1 + 3 + 5 + 2
    assert len({obj["id"] for _, obj in everything}) == len(everything)
    assert {obj["project_id"] for _, obj in everything} == {"alpha"}
    # Everything, L7 policies and rules included, is being created.
    assert {obj["provisioning_status"] for _, obj in everything} == {"PENDING_CREATE"}

    # Each object is then its own: its GET shows what the answer showed, its listing has it.
    for path, obj in everything:
        got = shown(api, path, "alpha")
        flat = {
            k: v
            for k, v in obj.items()
            if k not in ("listeners", "pools", "members", "healthmonitor", "l7policies", "rules")
        }
        assert {k: got[k] for k in flat} == flat, path
    assert listings(api) == {
        "loadbalancers": [lb["id"]],
        "listeners": sorted(x["id"] for x in lb["listeners"]),
        "pools": sorted(p["id"] for p in lb["pools"]),
        "healthmonitors": sorted(
            p["healthmonitor"]["id"] for p in lb["pools"] if p["healthmonitor"]
        ),
        "l7policies": [policy["id"]],
    }
    assert fault(api.get(f"/v2/lbaas/pools/{pools['db-pool']['id']}", "beta"), 403)

    # Converged, everything is ACTIVE together.
    api.converge()
    assert {shown(api, path)["provisioning_status"] for path, _ in everything} == {"ACTIVE"}


def test_a_pool_defined_once_serves_two_listeners(api: Api) -> None:
    body = {
        "loadbalancer": {
            "vip_subnet_id": api.subnet_id("tenant1-subnet"),
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "default_pool": {
                        "name": "shared",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [{"address": "10.0.0.81", "protocol_port": 80}],
                    },
                },
                {"protocol": "HTTP", "protocol_port": 8080, "default_pool": {"name": "shared"}},
            ],
        }
    }
    r = api.post(LB, body)
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    (pool,) = lb["pools"]
    assert [x["default_pool_id"] for x in lb["listeners"]] == [pool["id"], pool["id"]]
    assert sorted(x["id"] for x in pool["listeners"]) == sorted(x["id"] for x in lb["listeners"])


def test_a_plain_create_answers_as_before(api: Api) -> None:
    lb = api.loadbalancer(name="plain")
    assert (lb["listeners"], lb["pools"]) == ([], [])
    again = shown(api, f"{LB}/{lb['id']}")
    assert set(again) == set(lb)
    moving = ("provisioning_status", "updated_at")
    assert {k: again[k] for k in lb if k not in moving} == {k: lb[k] for k in lb if k not in moving}
    # Octavia stamps updated_at when the load balancer leaves PENDING_CREATE.
    assert lb["updated_at"] is None and again["updated_at"] == lb["created_at"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the tree's body: ``path`` (dotted, with list indexes) set to
    ``value``; a path ending in ``[n:]`` drops the items from n on."""

    def change(body: dict[str, Any]) -> None:
        parts = path.replace("[", ".").replace("]", "").split(".")
        node: Any = body["loadbalancer"]
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if ":" in last:  # a slice: what follows it is dropped
            del node[int(last.rstrip(":")) :]
        else:
            node[int(last) if last.isdigit() else last] = value

    return change


REFUSALS = [
    pytest.param(
        _set("listeners[1].default_pool", {"name": "nowhere"}),
        400,
        "listeners[1].default_pool: pool 'nowhere' was referenced but no full definition was found",
        id="undefined-pool",
    ),
    pytest.param(
        _set("listeners[0].default_pool.members[1].address", "10.0.0"),
        400,
        "Invalid input for field/attribute listeners[0].default_pool.members[1].address.",
        id="bad-member-address",
    ),
    pytest.param(
        _set("listeners[0].default_pool.protocol", "TCP"),
        400,
        "listeners[0].default_pool: a HTTP listener cannot use TCP pool 'web-pool'",
        id="http-listener-tcp-pool",
    ),
    pytest.param(
        _set("pools[0].name", "web-pool"),
        400,
        "listeners[0].default_pool.name: pool 'web-pool' is defined twice (also at pools[0])",
        id="pool-defined-twice",
    ),
    pytest.param(
        _set("pools[0].lb_algorithm", None),
        400,
        "pools[0].lb_algorithm. Value: 'None'. Mandatory field missing",
        id="pool-definition-incomplete",
    ),
    pytest.param(
        _set("listeners[0].l7policies[0].redirect_pool", {"protocol": "HTTP"}),
        400,
        "listeners[0].l7policies[0].redirect_pool.name: pools must be named",
        id="unnamed-pool",
    ),
    pytest.param(
        _set("listeners[1].protocol_port", 80),
        409,
        "listeners[1]: Another Listener on this Load Balancer is already using protocol_port 80",
        id="listener-port-taken",
    ),
    pytest.param(
        _set("listeners[0].l7policies[0].rules[0].value", "api"),
        400,
        "listeners[0].l7policies[0].rules[0].value: a PATH starts with '/'",
        id="bad-rule",
    ),
]


@pytest.mark.parametrize(("change", "status", "message"), REFUSALS)
def test_a_refused_tree_changes_nothing(
    api: Api, change: Callable[[dict[str, Any]], None], status: int, message: str
) -> None:
    api.loadbalancer(name="already-there")
    before, generation = listings(api), api.generation()
    body = tree(api)
    change(body)
    text = fault(api.post(LB, body), status)
    assert message in text, text
    assert listings(api) == before
    assert api.generation() == generation


def _one_pool_fewer(body: dict[str, Any]) -> None:
    body["loadbalancer"]["pools"] = []
    _set("listeners[0].l7policies[0]", {"action": "REJECT"})(body)


# Each kind's quota, one below what the tree holds of it, and the tree with one fewer.
QUOTAS = [
    ("member", 4, "Member", _set("listeners[1].default_pool.members[1:]", None)),
    ("listener", 1, "Listener", _set("listeners[1:]", None)),
    ("pool", 2, "Pool", _one_pool_fewer),
    ("health_monitor", 1, "Health Monitor", _set("listeners[1].default_pool.healthmonitor", None)),
    ("l7policy", 0, "L7Policy", _set("listeners[0].l7policies", [])),
    ("l7rule", 0, "L7Rule", _set("listeners[0].l7policies[0].rules", [])),
]


@pytest.mark.parametrize(("kind", "limit", "named", "fewer"), QUOTAS)
def test_every_object_of_the_tree_counts_in_the_quota(
    api: Api, kind: str, limit: int, named: str, fewer: Callable[[dict[str, Any]], None]
) -> None:
    r = api.put("/v2/lbaas/quotas/alpha", {"quota": {kind: limit}})
    assert r.status_code == 202, r.text
    before, generation = listings(api), api.generation()
    text = fault(api.post(LB, tree(api), "alpha"), 403)
    assert text == f"Quota has been met for resources: {named}"
    assert listings(api) == before
    assert api.generation() == generation
    # The same tree with one object of that kind fewer fits the quota.
    body = tree(api)
    fewer(body)
    r = api.post(LB, body, "alpha")
    assert r.status_code == 201, r.text
