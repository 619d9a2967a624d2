"""Octavia's rules for which load balancer settings go together, and the model's
promise that no value reaching haproxy.cfg, an iptables or an nft rule can inject:
a newline, a quote, a space or a '#' in any such field is refused with its path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from netnode.errors import TopologyError
from netnode.model.loading import load_data

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


@pytest.fixture
def seed() -> dict:
    return yaml.safe_load(SEED.read_text())


def lb_of(data: dict) -> dict:
    return data["load_balancers"][0]


def problems(data: dict) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_data(data)
    return [str(p) for p in info.value.problems]


def with_listener(seed: dict, **fields: Any) -> dict:
    data = copy.deepcopy(seed)
    lb_of(data)["listeners"][0].update(fields)
    return data


def with_pool(seed: dict, **fields: Any) -> dict:
    data = copy.deepcopy(seed)
    lb_of(data)["pools"][0].update(fields)
    return data


def test_the_seed_with_every_http_feature_loads(seed: dict) -> None:
    data = with_listener(
        seed,
        timeout_tcp_inspect=0,
        allowed_cidrs=["10.255.253.0/24"],
        insert_headers={
            "X-Forwarded-For": True,
            "X-Forwarded-Port": True,
            "X-Forwarded-Proto": True,
        },
        l7policies=[
            {
                "name": "api",
                "action": "REDIRECT_TO_POOL",
                "redirect_pool": "vms",
                "rules": [
                    {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
                    {
                        "type": "HEADER",
                        "key": "X-Version",
                        "compare_type": "REGEX",
                        "value": r"^v[0-9]+\.[0-9]+$",
                        "invert": True,
                    },
                ],
            },
            {
                "name": "old",
                "action": "REDIRECT_PREFIX",
                "redirect_prefix": "https://new.example",
                "redirect_http_code": 301,
                "rules": [
                    {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".old.example"}
                ],
            },
            {
                "name": "deny",
                "action": "REJECT",
                "rules": [
                    {"type": "COOKIE", "key": "banned", "compare_type": "EQUAL_TO", "value": "yes"}
                ],
            },
        ],
    )
    lb_of(data)["pools"][0].update(
        lb_algorithm="LEAST_CONNECTIONS",
        session_persistence={"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
        healthmonitor={
            "type": "HTTP",
            "http_version": 1.1,
            "domain_name": "app.example",
            "url_path": "/health",
            "expected_codes": "200-204",
        },
    )
    lb_of(data)["pools"][0]["members"][1].update(backup=True, monitor_port=8080)
    topo = load_data(data)
    policies = topo.load_balancers[0].listeners[0].l7policies
    assert [p.name for p in policies] == ["api", "old", "deny"]
    assert all(r.id for p in policies for r in p.rules)
    assert len({r.id for p in policies for r in p.rules}) == 4


@pytest.mark.parametrize(
    ("listener", "pool", "expected"),
    [
        ({"protocol": "TCP"}, {"protocol": "HTTP"}, None),  # Octavia lets a TCP listener use it
        ({"protocol": "HTTP"}, {"protocol": "TCP"}, "cannot use TCP pool"),
        ({"protocol": "HTTP"}, {"protocol": "PROXYV2"}, None),
        ({"protocol": "HTTPS"}, {"protocol": "HTTPS"}, None),
        ({"protocol": "HTTPS"}, {"protocol": "HTTP"}, "cannot use HTTP pool"),
        ({"protocol": "UDP"}, {"protocol": "TCP"}, "cannot use TCP pool"),
    ],
)
def test_listener_and_pool_protocols(
    seed: dict, listener: dict, pool: dict, expected: str | None
) -> None:
    data = copy.deepcopy(seed)
    lb_of(data)["listeners"][0].update(listener)
    lb_of(data)["listeners"][0].pop("insert_headers")
    lb_of(data)["pools"][0].update(pool)
    if pool["protocol"] == "UDP" or listener["protocol"] == "UDP":
        lb_of(data)["pools"][0].pop("healthmonitor")
    if expected is None:
        load_data(data)
    else:
        assert any(expected in p for p in problems(data))


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        (
            {"protocol": "TERMINATED_HTTPS", "insert_headers": {}},
            "default_tls_container_ref",
            "needs a certificate",
        ),
        (
            {"default_tls_container_ref": "/etc/netnode/a.pem"},
            "default_tls_container_ref",
            "only a TERMINATED_HTTPS",
        ),
        ({"insert_headers": {"X-SSL-Client-CN": True}}, "insert_headers", "TERMINATED_HTTPS"),
        (
            {"protocol": "TCP", "insert_headers": {}, "redirect_https": True},
            "redirect_https",
            "only an HTTP listener",
        ),
        (
            {
                "protocol": "TCP",
                "insert_headers": {},
                "l7policies": [{"name": "p", "action": "REJECT"}],
            },
            "l7policies",
            "takes no L7 policies",
        ),
        (
            {"l7policies": [{"name": "p", "action": "REDIRECT_TO_POOL"}]},
            "l7policies[0].redirect_pool",
            "needs redirect_pool",
        ),
        (
            {"l7policies": [{"name": "p", "action": "REDIRECT_TO_POOL", "redirect_pool": "nope"}]},
            "l7policies[0].redirect_pool",
            "unknown pool",
        ),
        (
            {
                "l7policies": [
                    {
                        "name": "p",
                        "action": "REJECT",
                        "rules": [
                            {
                                "type": "SSL_DN_FIELD",
                                "key": "CN",
                                "compare_type": "EQUAL_TO",
                                "value": "x",
                            }
                        ],
                    }
                ]
            },
            "rules[0].type",
            "TERMINATED_HTTPS",
        ),
        (
            {
                "l7policies": [
                    {
                        "name": "p",
                        "action": "REJECT",
                        "rules": [
                            {"type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "jpg"}
                        ],
                    }
                ]
            },
            "rules[0].compare_type",
            "REGEX or EQUAL_TO",
        ),
        (
            {"l7policies": [{"name": "p", "action": "REJECT"}, {"name": "p", "action": "REJECT"}]},
            "l7policies[1].name",
            "duplicate",
        ),
        (
            {
                "protocol": "TERMINATED_HTTPS",
                "insert_headers": {},
                "default_tls_container_ref": "/a.pem",
                "client_authentication": "MANDATORY",
            },
            "client_ca_tls_container_ref",
            "needs the CA",
        ),
    ],
)
def test_listener_combinations_refused(seed: dict, fields: dict, path: str, message: str) -> None:
    data = with_listener(seed, **fields)
    if fields.get("protocol") == "TERMINATED_HTTPS":
        lb_of(data)["listeners"][0].pop("default_pool")
    if fields.get("protocol") == "TCP":
        lb_of(data)["listeners"][0].pop("default_pool")
    found = problems(data)
    assert any(path in p and message in p for p in found), found


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        (
            {"lb_algorithm": "SOURCE_IP_PORT", "session_persistence": {"type": "HTTP_COOKIE"}},
            "session_persistence",
            "takes no session persistence",
        ),
        ({"session_persistence": {"type": "APP_COOKIE"}}, "cookie_name", "needs cookie_name"),
        (
            {"session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 60}},
            "persistence_timeout",
            "only UDP pools",
        ),
        ({"tls_versions": ["TLSv1.3"]}, "tls_versions", "needs tls_enabled"),
        (
            {"tls_enabled": True, "crl_container_ref": "/crl.pem"},
            "crl_container_ref",
            "needs ca_tls_container_ref",
        ),
        (
            {"healthmonitor": {"type": "TCP", "url_path": "/x"}},
            "healthmonitor.url_path",
            "takes no url_path",
        ),
        (
            {"healthmonitor": {"type": "HTTP", "domain_name": "a.example"}},
            "healthmonitor.domain_name",
            "http_version 1.1",
        ),
        ({"healthmonitor": {"type": "UDP-CONNECT"}}, "healthmonitor.type", "for UDP pools"),
    ],
)
def test_pool_combinations_refused(seed: dict, fields: dict, path: str, message: str) -> None:
    found = problems(with_pool(seed, **fields))
    assert any(path in p and message in p for p in found), found


def test_a_pool_keeps_one_mode(seed: dict) -> None:
    data = copy.deepcopy(seed)
    lb_of(data)["listeners"].append(
        {"name": "raw", "protocol": "TCP", "protocol_port": 8080, "default_pool": "vms"}
    )
    found = problems(data)
    assert any("already used in http mode" in p for p in found), found


def test_a_udp_and_a_tcp_listener_share_a_port(seed: dict) -> None:
    data = copy.deepcopy(seed)
    lb_of(data)["listeners"].append({"name": "dns", "protocol": "UDP", "protocol_port": 80})
    load_data(data)
    lb_of(data)["listeners"].append({"name": "dns2", "protocol": "UDP", "protocol_port": 80})
    assert any("duplicate listener port" in p for p in problems(data))


# --- nothing injects ---------------------------------------------------------------------

NASTY = ["a\nb", 'a"b', "a'b", "a b", "a#b", "a\\nb", "a\rb", "", "a\tb"]
# Fields whose alphabet (an RFC token or path) holds the single quote and '#': they are
# rendered as one escaped word (render/quoting.py, proven by test_render_haproxy's
# "cannot_inject" tests and haproxy -c).
ESCAPED = {"cookie_name", "rule key", "url_path"}


def _rule(value: str, compare: str = "EQUAL_TO", **extra: Any) -> dict:
    return {
        "name": "p",
        "action": "REJECT",
        "rules": [{"type": "PATH", "compare_type": compare, "value": value, **extra}],
    }


SETTERS = {
    "url_path": lambda d, v: lb_of(d)["pools"][0].update(
        healthmonitor={"type": "HTTP", "url_path": "/" + v}
    ),
    "domain_name": lambda d, v: lb_of(d)["pools"][0].update(
        healthmonitor={"type": "HTTP", "http_version": 1.1, "domain_name": v}
    ),
    "expected_codes": lambda d, v: lb_of(d)["pools"][0].update(
        healthmonitor={"type": "HTTP", "expected_codes": "200" + v}
    ),
    "cookie_name": lambda d, v: lb_of(d)["pools"][0].update(
        session_persistence={"type": "APP_COOKIE", "cookie_name": v}
    ),
    "rule value": lambda d, v: lb_of(d)["listeners"][0].update(l7policies=[_rule("/" + v)]),
    "regex value": lambda d, v: lb_of(d)["listeners"][0].update(l7policies=[_rule(v, "REGEX")]),
    "rule key": lambda d, v: lb_of(d)["listeners"][0].update(
        l7policies=[
            {
                "name": "p",
                "action": "REJECT",
                "rules": [{"type": "HEADER", "key": v, "compare_type": "EQUAL_TO", "value": "x"}],
            }
        ]
    ),
    "redirect_url": lambda d, v: lb_of(d)["listeners"][0].update(
        l7policies=[
            {"name": "p", "action": "REDIRECT_TO_URL", "redirect_url": "http://a.example/" + v}
        ]
    ),
    "redirect_prefix": lambda d, v: lb_of(d)["listeners"][0].update(
        l7policies=[{"name": "p", "action": "REDIRECT_PREFIX", "redirect_prefix": "https://a" + v}]
    ),
    "tls_ciphers": lambda d, v: lb_of(d)["pools"][0].update(
        tls_enabled=True, tls_ciphers="ALL" + v
    ),
    "container ref": lambda d, v: lb_of(d)["pools"][0].update(
        tls_enabled=True, ca_tls_container_ref="/etc/ca" + v
    ),
    "policy name": lambda d, v: lb_of(d)["listeners"][0].update(
        l7policies=[{"name": "p" + v, "action": "REJECT"}]
    ),
}


@pytest.mark.parametrize("field", sorted(SETTERS))
@pytest.mark.parametrize("nasty", NASTY, ids=repr)
def test_no_value_can_inject(seed: dict, field: str, nasty: str) -> None:
    data = copy.deepcopy(seed)
    SETTERS[field](data, nasty)
    if field == "regex value" and nasty in ("a\\nb",):
        # A regex may hold a backslash (escaped when rendered); it must compile.
        load_data(data)
        return
    appended = (
        "rule value",
        "url_path",
        "expected_codes",
        "redirect_url",
        "tls_ciphers",
        "container ref",
        "policy name",
        "redirect_prefix",
    )
    if nasty == "" and field in appended:
        load_data(data)  # the value is the valid one with nothing appended
        return
    if (nasty == "a'b" or (nasty == "a#b" and field != "url_path")) and field in ESCAPED:
        load_data(data)
        return
    with pytest.raises(TopologyError):
        load_data(data)
