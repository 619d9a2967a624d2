"""netnode.render.l7: L7 rules as ACLs, policies in position order, values that cannot
inject, and that every rendered config passes ``haproxy -c``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netnode.model.loading import load_data
from netnode.model.topology import L7Policy, L7Rule, LoadBalancer, Pool
from netnode.render.haproxy import render_loadbalancer
from netnode.render.l7 import frontend_lines, rule_acl
from netnode.render.quoting import fetch_arg, log_format_literal, word
from tests.functional.certs import make_certs

RULE_ID = "88888888-8888-4888-8888-888888888888"


def rule(**kwargs: object) -> L7Rule:
    return L7Rule(id=RULE_ID, **kwargs)  # type: ignore[arg-type]


def pools(*names: str, **disabled: bool) -> dict[str, Pool]:
    return {
        n: Pool(
            name=n,
            id=f"99999999-9999-4999-8999-99999999999{i}",
            admin_state_up=not disabled.get(n, False),
        )
        for i, n in enumerate(names)
    }


def policy(name: str, action: str, rules: list[L7Rule], **kwargs: object) -> L7Policy:
    return L7Policy(name=name, action=action, rules=rules, **kwargs)  # type: ignore[arg-type]


# --- rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "acl"),
    [
        (
            {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "www.example.com"},
            "req.hdr(host) -i -m str -- www.example.com",
        ),
        (
            {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"},
            "req.hdr(host) -i -m end -- .example.com",
        ),
        (
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
            "path -m beg -- /api",
        ),
        (
            {"type": "PATH", "compare_type": "CONTAINS", "value": "admin"},
            "path -m sub -- admin",
        ),
        (
            {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "png"},
            "path,field(-1,.) -m str -- png",
        ),
        (
            {"type": "FILE_TYPE", "compare_type": "REGEX", "value": "^(jpe?g|gif)$"},
            'path,field(-1,.) -m reg -- "^(jpe?g|gif)\\x24"',
        ),
        (
            {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Pool", "value": "two"},
            "req.hdr(X-Pool) -m str -- two",
        ),
        (
            {"type": "COOKIE", "compare_type": "CONTAINS", "key": "flavour", "value": "choc"},
            "req.cook(flavour) -m sub -- choc",
        ),
        (
            {"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "CN", "value": "alice"},
            "ssl_c_s_dn(CN) -m str -- alice",
        ),
        ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True"}, "ssl_c_used"),
        (
            {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
            "ssl_c_verify -m int eq 0",
        ),
    ],
)
def test_each_rule_type_and_compare_type(kwargs: dict[str, object], acl: str) -> None:
    assert rule_acl(rule(**kwargs)) == f"acl {RULE_ID} {acl}"


def test_a_regex_backslash_reaches_the_regex_engine_as_one_backslash() -> None:
    acl = rule_acl(rule(type="PATH", compare_type="REGEX", value=r"^/v\d+/a\.json$"))
    # After HAProxy's tokenizer: ^/v\d+/a\.json$ (\x5c is one backslash).
    assert acl.endswith(' -m reg -- "^/v\\x5cd+/a\\x5c.json\\x24"')


@pytest.mark.parametrize(
    "value",
    [
        "-f",  # would be a flag without "--"
        "${HOME}",  # environment expansion inside double quotes
        "%[src]",
        "a\\b",  # a backslash (REGEX only, by validation)
        "x;y|z&w",
        "{",
    ],
)
def test_nasty_values_are_one_inert_word(value: str) -> None:
    acl = rule_acl(rule(type="PATH", compare_type="REGEX", value=value))
    written = acl.split(" -- ", 1)[1]
    assert " " not in written and "#" not in written and "'" not in written
    assert "$" not in written and "\\\\" not in written
    # The tokenizer's view: \xNN back to the character, quotes dropped.
    assert unquote(written) == value


def unquote(text: str) -> str:
    if not text.startswith('"'):
        return text
    body, out, i = text[1:-1], "", 0
    while i < len(body):
        if body[i] == "\\":
            assert body[i + 1] == "x", body
            out += chr(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            out += body[i]
            i += 1
    return out


def test_header_and_cookie_names_are_escaped_for_the_fetch_argument() -> None:
    acl = rule_acl(rule(type="HEADER", compare_type="EQUAL_TO", key="a'b#c$d`e", value="v"))
    assert acl == f'acl {RULE_ID} "req.hdr(a\\x5c\\x27b\\x23c\\x24d\\x60e)" -m str -- v'
    assert fetch_arg("it's") == "it\\'s"
    with pytest.raises(ValueError, match="sample fetch argument"):
        fetch_arg("a,b")


def test_quoting_refuses_what_it_cannot_write() -> None:
    for bad in ("", "a\nb", "caf\u00e9"):
        with pytest.raises(ValueError):
            word(bad)
    assert log_format_literal("http://x/a%20b") == "http://x/a%%20b"


def test_ssl_conn_has_cert_false_is_the_inverted_acl() -> None:
    rules = [rule(type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="False")]
    lines = frontend_lines([policy("p", "REJECT", rules)], {})
    assert f"!{{ var(txn.l7_policy) -m found }} !{RULE_ID}" in lines[1]
    rules[0].invert = True
    lines = frontend_lines([policy("p", "REJECT", rules)], {})
    assert lines[1].endswith(f"-m found }} {RULE_ID}")


# --- policies ----------------------------------------------------------------------------------


def rules_of(*pairs: tuple[str, bool]) -> list[L7Rule]:
    return [
        L7Rule(
            id=f"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaa{n:02d}",
            type="PATH",
            compare_type="STARTS_WITH",
            value=value,
            invert=invert,
        )
        for n, (value, invert) in enumerate(pairs)
    ]


def rid(n: int) -> str:
    return f"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaa{n:02d}"


def test_policies_in_position_order_first_match_wins() -> None:
    rules = rules_of(("/a", False), ("/a/b", True), ("/r", False), ("/u", False), ("/p", False))
    listed = [
        policy("to-pool", "REDIRECT_TO_POOL", rules[0:2], redirect_pool="p2"),
        policy("deny", "REJECT", rules[2:3]),
        policy("url", "REDIRECT_TO_URL", rules[3:4], redirect_url="http://x.example/a%20b"),
        policy(
            "prefix",
            "REDIRECT_PREFIX",
            rules[4:5],
            redirect_prefix="https://y.example",
            redirect_http_code=308,
        ),
    ]
    found = "!{ var(txn.l7_policy) -m found }"
    assert frontend_lines(listed, pools("p1", "p2")) == [
        f"acl {rid(0)} path -m beg -- /a",
        f"acl {rid(1)} path -m beg -- /a/b",
        f"acl {rid(2)} path -m beg -- /r",
        f"acl {rid(3)} path -m beg -- /u",
        f"acl {rid(4)} path -m beg -- /p",
        # rules ANDed, invert as "!"
        f"http-request set-var(txn.l7_policy) int(1) if {found} {rid(0)} !{rid(1)}",
        f"http-request set-var(txn.l7_policy) int(2) if {found} {rid(2)}",
        f"http-request set-var(txn.l7_policy) int(3) if {found} {rid(3)}",
        f"http-request set-var(txn.l7_policy) int(4) if {found} {rid(4)}",
        "http-request deny deny_status 403 if { var(txn.l7_policy) -m int 2 }",
        # Octavia's default code, '%' doubled for the log-format location
        "http-request redirect location http://x.example/a%%20b code 302"
        " if { var(txn.l7_policy) -m int 3 }",
        "http-request redirect prefix https://y.example code 308 if { var(txn.l7_policy) -m int 4 }",
        # last, though first in position: the variable keeps position 1 winning
        "use_backend 99999999-9999-4999-8999-999999999991 if { var(txn.l7_policy) -m int 1 }",
    ]


def test_disabled_policies_rules_and_pools_never_match() -> None:
    rules = rules_of(("/a", False), ("/b", False), ("/c", False), ("/d", False))
    rules[1].admin_state_up = False
    listed = [
        policy("off", "REJECT", rules[0:1], admin_state_up=False),
        policy("no-enabled-rule", "REJECT", rules[1:2]),
        policy("no-rules", "REJECT", []),
        policy("pool-off", "REDIRECT_TO_POOL", rules[2:3], redirect_pool="p2"),
        policy("on", "REJECT", rules[3:4]),
    ]
    lines = frontend_lines(listed, pools("p1", "p2", p2=True))
    # Position 5 keeps its number: positions are the list's.
    assert lines == [
        f"acl {rid(3)} path -m beg -- /d",
        f"http-request set-var(txn.l7_policy) int(5) if !{{ var(txn.l7_policy) -m found }} {rid(3)}",
        "http-request deny deny_status 403 if { var(txn.l7_policy) -m int 5 }",
    ]


# --- haproxy -c ---------------------------------------------------------------------------------


def everything() -> LoadBalancer:
    """One load balancer with every L7 rule type and action, and nasty values."""
    data = {
        "networks": [
            {
                "name": "n",
                "segmentation_id": 1,
                "subnets": [{"name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
            }
        ],
        "load_balancers": [
            {
                "name": "lb",
                "vip": {"network": "n", "address": "10.0.0.5"},
                "listeners": [
                    {
                        "name": "l",
                        "protocol_port": 80,
                        "default_pool": "p1",
                        "insert_headers": {"X-Forwarded-Port": True, "X-Forwarded-Proto": True},
                        "redirect_https": False,
                        "l7policies": [
                            {
                                "name": "a",
                                "action": "REDIRECT_TO_POOL",
                                "redirect_pool": "p2",
                                "rules": [
                                    {
                                        "type": "HEADER",
                                        "compare_type": "REGEX",
                                        "key": "X-a'b$c",
                                        "value": "^-\\d{2,}\\.$",
                                    },
                                    {
                                        "type": "COOKIE",
                                        "compare_type": "CONTAINS",
                                        "key": "c#o%o`k|ie",
                                        "value": "${HOME}%[src]{}",
                                        "invert": True,
                                    },
                                ],
                            },
                            {
                                "name": "b",
                                "action": "REDIRECT_TO_URL",
                                "redirect_url": "http://ex.example/a%20b?c=$d&e=[f]",
                                "redirect_http_code": 301,
                                "rules": [
                                    {
                                        "type": "HOST_NAME",
                                        "compare_type": "ENDS_WITH",
                                        "value": "*.example.com",
                                    },
                                    {
                                        "type": "FILE_TYPE",
                                        "compare_type": "EQUAL_TO",
                                        "value": "-png",
                                    },
                                ],
                            },
                            {
                                "name": "c",
                                "action": "REDIRECT_PREFIX",
                                "redirect_prefix": "https://ex.example:8443",
                                "rules": [
                                    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x;y"}
                                ],
                            },
                            {
                                "name": "d",
                                "action": "REJECT",
                                "rules": [
                                    {
                                        "type": "PATH",
                                        "compare_type": "STARTS_WITH",
                                        "value": "/adm!n",
                                    }
                                ],
                            },
                        ],
                    },
                    {
                        "name": "tls",
                        "protocol": "TERMINATED_HTTPS",
                        "protocol_port": 443,
                        "default_pool": "p1",
                        "default_tls_container_ref": "/etc/ssl/x.pem",
                        "l7policies": [
                            {
                                "name": "ssl",
                                "action": "REJECT",
                                "rules": [
                                    {
                                        "type": "SSL_CONN_HAS_CERT",
                                        "compare_type": "EQUAL_TO",
                                        "value": "False",
                                    },
                                    {
                                        "type": "SSL_VERIFY_RESULT",
                                        "compare_type": "EQUAL_TO",
                                        "value": "0",
                                        "invert": True,
                                    },
                                    {
                                        "type": "SSL_DN_FIELD",
                                        "compare_type": "STARTS_WITH",
                                        "key": "CN",
                                        "value": "alice",
                                    },
                                ],
                            }
                        ],
                    },
                ],
                "pools": [
                    {
                        "name": "p1",
                        "members": [{"name": "m", "address": "10.0.0.9", "protocol_port": 80}],
                    },
                    {"name": "p2", "protocol": "PROXY"},
                ],
            }
        ],
    }
    return load_data(data).load_balancers[0]


def test_everything_renders_deterministically() -> None:
    lb = everything()
    text = render_loadbalancer(lb, stats_socket="/x/s.sock", state_file="/x/state")
    assert text == render_loadbalancer(
        everything(), stats_socket="/x/s.sock", state_file="/x/state"
    )
    assert (
        'http-request redirect location "http://ex.example/a%%20b?c=\\x24d&e=[f]" code 301' in text
    )


@pytest.mark.skipif(
    shutil.which("haproxy") is None or shutil.which("openssl") is None,
    reason="haproxy or openssl is not installed",
)
def test_every_l7_construct_passes_haproxy_check(tmp_path: Path) -> None:
    lb = everything()
    # The TERMINATED_HTTPS listener binds with a real certificate in place of its copy.
    bundle = make_certs(tmp_path / "certs").default.bundle
    (tmp_path / "server-state").write_text("1\n")
    text = render_loadbalancer(
        lb,
        stats_socket=str(tmp_path / "s.sock"),
        state_file=str(tmp_path / "server-state"),
        tls_files={"/etc/ssl/x.pem": str(bundle)},
    )
    cfg = tmp_path / "l7.cfg"
    cfg.write_text(text)
    result = subprocess.run(
        ["haproxy", "-dW", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{text}\n{result.stderr}"
