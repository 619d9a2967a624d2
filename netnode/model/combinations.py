"""Which load balancer settings go together: Octavia's rules, checked after the schema.

The schema (``topology.py``) already keeps every value inside its alphabet; these rules
refuse settings that are each valid but meaningless or contradictory together (an L7
rule on a TCP listener, a TERMINATED_HTTPS listener without a certificate, SOURCE_IP_PORT
with cookie persistence...), each with the field path and what to do instead. Two are conflicts (code ``conflict``):
an L7 policy name given twice on a listener, a pool used in two modes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import get_args

from netnode.errors import CONFLICT, Problem
from netnode.model.topology import (
    SSL_CLIENT_HEADERS,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Pool,
    TlsVersion,
)

# Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP: which pools a listener may send to.
LISTENER_POOLS: dict[str, tuple[str, ...]] = {
    "HTTP": ("HTTP", "PROXY", "PROXYV2"),
    "TERMINATED_HTTPS": ("HTTP", "PROXY", "PROXYV2"),
    "HTTPS": ("HTTPS", "PROXY", "PROXYV2", "TCP"),
    "TCP": ("TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2"),
    "UDP": ("UDP",),
    "PROMETHEUS": (),
}
# HAProxy's mode for each listener protocol (a backend has the mode of its frontends).
LISTENER_MODE = {
    "HTTP": "http",
    "TERMINATED_HTTPS": "http",
    "HTTPS": "tcp",
    "TCP": "tcp",
    "PROMETHEUS": "http",
}
L7_LISTENERS = ("HTTP", "TERMINATED_HTTPS")
# Octavia: which monitor types a pool of each protocol takes.
UDP_MONITORS = ("UDP-CONNECT", "TCP", "HTTP", "PING")
HTTP_MONITOR_FIELDS = ("http_method", "url_path", "expected_codes", "http_version", "domain_name")
TLS_FIELDS = (
    "default_tls_container_ref",
    "sni_container_refs",
    "client_ca_tls_container_ref",
    "client_crl_container_ref",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
)
POOL_TLS_FIELDS = (
    "tls_container_ref",
    "ca_tls_container_ref",
    "crl_container_ref",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
)
# The distinguished name fields an SSL_DN_FIELD rule may name (Octavia's list).
DN_FIELDS = (
    "C", "ST", "L", "O", "OU", "CN", "emailAddress", "serialNumber", "UID", "DC",
    "title", "description", "givenName", "surname", "initials", "pseudonym",
)  # fmt: skip
HOST_NAME = re.compile(r"^\*?[A-Za-z0-9.-]{1,253}$")


def check_load_balancer(lb: LoadBalancer, path: str) -> Iterator[Problem]:
    pools = {p.name: p for p in lb.pools}
    for j, listener in enumerate(lb.listeners):
        yield from _listener(listener, pools, f"{path}.listeners[{j}]")
    for j, pool in enumerate(lb.pools):
        yield from _pool(pool, f"{path}.pools[{j}]")
    yield from _shared_pools(lb, path)


def _set(obj: object, field: str) -> bool:
    """Whether ``field`` was given (and not left at its default)."""
    value = getattr(obj, field)
    default = type(obj).model_fields[field].default  # type: ignore[attr-defined]
    return field in obj.model_fields_set and value != default  # type: ignore[attr-defined]


def _listener(x: Listener, pools: dict[str, Pool], path: str) -> Iterator[Problem]:
    proto = x.protocol
    if x.default_pool is not None and proto == "PROMETHEUS":
        yield Problem(f"{path}.default_pool", "a PROMETHEUS listener sends to no pool")
    elif x.default_pool is not None:
        yield from _pool_for(x, x.default_pool, pools, f"{path}.default_pool")
    if x.insert_headers and proto not in L7_LISTENERS:
        yield Problem(
            f"{path}.insert_headers",
            "headers can only be inserted on HTTP and TERMINATED_HTTPS listeners",
        )
    ssl_headers = sorted(h for h in x.insert_headers if h in SSL_CLIENT_HEADERS)
    if ssl_headers and proto != "TERMINATED_HTTPS":
        yield Problem(
            f"{path}.insert_headers",
            f"{', '.join(ssl_headers)} need a TERMINATED_HTTPS listener",
        )
    if proto == "TERMINATED_HTTPS":
        if x.default_tls_container_ref is None:
            yield Problem(
                f"{path}.default_tls_container_ref",
                "a TERMINATED_HTTPS listener needs a certificate (a PEM file with the "
                "certificate, its chain and its private key)",
            )
        if x.client_authentication != "NONE" and x.client_ca_tls_container_ref is None:
            yield Problem(
                f"{path}.client_ca_tls_container_ref",
                f"client_authentication {x.client_authentication} needs the CA that "
                "signs client certificates",
            )
        if x.client_crl_container_ref is not None and x.client_ca_tls_container_ref is None:
            yield Problem(
                f"{path}.client_crl_container_ref", "a CRL needs client_ca_tls_container_ref"
            )
        if (x.hsts_include_subdomains or x.hsts_preload) and x.hsts_max_age is None:
            yield Problem(f"{path}.hsts_max_age", "HSTS options need hsts_max_age (seconds)")
        yield from _tls_versions(x.tls_versions, f"{path}.tls_versions")
    else:
        for field in (*TLS_FIELDS, "client_authentication"):
            if _set(x, field):
                yield Problem(f"{path}.{field}", f"only a TERMINATED_HTTPS listener takes {field}")
    if x.redirect_https and proto != "HTTP":
        yield Problem(f"{path}.redirect_https", "only an HTTP listener redirects to HTTPS")
    if x.l7policies and proto not in L7_LISTENERS:
        yield Problem(
            f"{path}.l7policies",
            f"a {proto} listener takes no L7 policies (HTTP and TERMINATED_HTTPS do)",
        )
    if proto == "UDP":
        for field in ("connection_limit", "timeout_tcp_inspect"):
            if _set(x, field):
                yield Problem(f"{path}.{field}", f"a UDP listener takes no {field}")
    names: dict[str, int] = {}
    for k, policy in enumerate(x.l7policies):
        ppath = f"{path}.l7policies[{k}]"
        if policy.name in names:
            yield Problem(
                f"{ppath}.name",
                f"duplicate L7 policy name {policy.name!r} (also at l7policies[{names[policy.name]}])",
                CONFLICT,
            )
        names.setdefault(policy.name, k)
        yield from _policy(policy, x, pools, ppath)


def _pool_for(
    listener: Listener, name: str, pools: dict[str, Pool], path: str
) -> Iterator[Problem]:
    """A pool the listener sends to (its default one, or an L7 policy's): it exists and
    its protocol is one the listener's takes."""
    pool = pools.get(name)
    if pool is None:
        known = ", ".join(repr(p) for p in pools) or "none defined"
        yield Problem(path, f"unknown pool {name!r} (pools: {known})")
    elif pool.protocol not in LISTENER_POOLS[listener.protocol]:
        yield Problem(
            path,
            f"a {listener.protocol} listener cannot use {pool.protocol} pool {pool.name!r} "
            f"(it takes {', '.join(LISTENER_POOLS[listener.protocol])} pools)",
        )


def _policy(
    policy: L7Policy, listener: Listener, pools: dict[str, Pool], path: str
) -> Iterator[Problem]:
    needs = {
        "REDIRECT_TO_POOL": "redirect_pool",
        "REDIRECT_TO_URL": "redirect_url",
        "REDIRECT_PREFIX": "redirect_prefix",
    }
    wanted = needs.get(policy.action)
    for field in ("redirect_pool", "redirect_url", "redirect_prefix"):
        given = getattr(policy, field) is not None
        if field == wanted and not given:
            yield Problem(f"{path}.{field}", f"action {policy.action} needs {field}")
        elif field != wanted and given:
            yield Problem(f"{path}.{field}", f"action {policy.action} takes no {field}")
    if policy.redirect_http_code is not None and policy.action not in (
        "REDIRECT_TO_URL",
        "REDIRECT_PREFIX",
    ):
        yield Problem(
            f"{path}.redirect_http_code",
            "only REDIRECT_TO_URL and REDIRECT_PREFIX policies take a redirect_http_code",
        )
    if policy.redirect_pool is not None:
        yield from _pool_for(listener, policy.redirect_pool, pools, f"{path}.redirect_pool")
    for k, rule in enumerate(policy.rules):
        yield from _rule(rule, listener, f"{path}.rules[{k}]")


def _rule(rule: L7Rule, listener: Listener, path: str) -> Iterator[Problem]:
    keyed = ("HEADER", "COOKIE", "SSL_DN_FIELD")
    if rule.type in keyed and rule.key is None:
        yield Problem(f"{path}.key", f"a {rule.type} rule needs a key")
    if rule.type not in keyed and rule.key is not None:
        yield Problem(f"{path}.key", f"a {rule.type} rule takes no key")
    if rule.type == "SSL_DN_FIELD" and rule.key is not None and rule.key not in DN_FIELDS:
        yield Problem(f"{path}.key", f"{rule.key!r} is not a DN field ({', '.join(DN_FIELDS)})")
    if rule.type.startswith("SSL_") and listener.protocol != "TERMINATED_HTTPS":
        yield Problem(f"{path}.type", f"{rule.type} rules need a TERMINATED_HTTPS listener")
    if rule.type == "SSL_CONN_HAS_CERT":
        if rule.compare_type != "EQUAL_TO" or rule.value.lower() not in ("true", "false"):
            yield Problem(f"{path}.value", "SSL_CONN_HAS_CERT compares EQUAL_TO 'True' or 'False'")
    elif rule.type == "SSL_VERIFY_RESULT":
        if rule.compare_type != "EQUAL_TO" or not rule.value.isdigit():
            yield Problem(
                f"{path}.value",
                "SSL_VERIFY_RESULT compares EQUAL_TO an OpenSSL verify code (0 is success)",
            )
    elif rule.type == "FILE_TYPE" and rule.compare_type not in ("REGEX", "EQUAL_TO"):
        yield Problem(f"{path}.compare_type", "FILE_TYPE compares with REGEX or EQUAL_TO")
    if rule.compare_type == "REGEX":
        try:
            re.compile(rule.value)
        except re.error as exc:
            yield Problem(f"{path}.value", f"not a valid regular expression: {exc}")
    elif "\\" in rule.value:
        yield Problem(f"{path}.value", "a backslash is only allowed in a REGEX value")
    elif rule.type == "HOST_NAME" and not HOST_NAME.match(rule.value):
        yield Problem(f"{path}.value", f"{rule.value!r} is not a host name")
    elif (
        rule.type == "PATH"
        and rule.compare_type in ("EQUAL_TO", "STARTS_WITH")
        and not (rule.value.startswith("/"))
    ):
        yield Problem(f"{path}.value", "a PATH starts with '/'")


def _pool(pool: Pool, path: str) -> Iterator[Problem]:
    sp = pool.session_persistence
    if sp is not None:
        spath = f"{path}.session_persistence"
        if pool.lb_algorithm == "SOURCE_IP_PORT":
            yield Problem(
                spath,
                "SOURCE_IP_PORT keeps each connection of a source address and port on one "
                "member by itself; it takes no session persistence",
            )
        if sp.type == "APP_COOKIE" and sp.cookie_name is None:
            yield Problem(f"{spath}.cookie_name", "APP_COOKIE persistence needs cookie_name")
        if sp.type != "APP_COOKIE" and sp.cookie_name is not None:
            yield Problem(f"{spath}.cookie_name", "cookie_name is only for APP_COOKIE persistence")
        if sp.type in ("HTTP_COOKIE", "APP_COOKIE") and pool.protocol not in (
            "HTTP",
            "PROXY",
            "PROXYV2",
        ):
            yield Problem(
                f"{spath}.type", f"{sp.type} persistence needs an HTTP pool, not {pool.protocol}"
            )
        if pool.protocol != "UDP":
            for field in ("persistence_timeout", "persistence_granularity"):
                if getattr(sp, field) is not None:
                    yield Problem(f"{spath}.{field}", f"only UDP pools take {field}")
    if pool.protocol == "UDP":
        if pool.lb_algorithm == "LEAST_CONNECTIONS":
            yield Problem(
                f"{path}.lb_algorithm",
                "UDP pools are balanced by the kernel, which counts no connections: "
                "use ROUND_ROBIN, SOURCE_IP or SOURCE_IP_PORT",
            )
        if pool.tls_enabled:
            yield Problem(f"{path}.tls_enabled", "a UDP pool cannot use TLS")
    if not pool.tls_enabled:
        for field in POOL_TLS_FIELDS:
            if getattr(pool, field) is not None:
                yield Problem(f"{path}.{field}", f"{field} needs tls_enabled: true")
    elif pool.crl_container_ref is not None and pool.ca_tls_container_ref is None:
        yield Problem(f"{path}.crl_container_ref", "a CRL needs ca_tls_container_ref")
    if pool.tls_enabled:
        yield from _tls_versions(pool.tls_versions, f"{path}.tls_versions")
    if pool.healthmonitor is not None:
        yield from _monitor(pool.healthmonitor, pool, f"{path}.healthmonitor")
    for k, member in enumerate(pool.members):
        # Without a health monitor they are kept, unused until one is added (Octavia's).
        watched = member.monitor_address is not None or member.monitor_port is not None
        field = "monitor_address" if member.monitor_address else "monitor_port"
        if watched and pool.healthmonitor is not None and pool.healthmonitor.type == "PING":
            # HAProxy hands an external check the member's own address only.
            yield Problem(
                f"{path}.members[{k}].{field}",
                "a PING monitor pings the member's own address; it takes no "
                "monitor_address or monitor_port (use a TCP or HTTP monitor)",
            )


def _tls_versions(versions: list[TlsVersion] | None, path: str) -> Iterator[Problem]:
    """HAProxy takes a range of versions (ssl-min-ver, ssl-max-ver): a list with a hole
    ("TLSv1", "TLSv1.2") would quietly allow the version left out."""
    if versions is None:
        return
    order = list(get_args(TlsVersion))
    if not versions:
        yield Problem(path, "give at least one version, or leave tls_versions out")
        return
    positions = sorted({order.index(v) for v in versions})
    if positions != list(range(positions[0], positions[-1] + 1)):
        missing = [order[k] for k in range(positions[0], positions[-1]) if k not in positions]
        yield Problem(
            path,
            f"versions must follow each other (add {', '.join(missing)} or drop the "
            "versions on one side of it)",
        )


def _monitor(hm: HealthMonitor, pool: Pool, path: str) -> Iterator[Problem]:
    if pool.protocol == "UDP" and hm.type not in UDP_MONITORS:
        yield Problem(
            f"{path}.type",
            f"a UDP pool is checked with {', '.join(UDP_MONITORS)}, not {hm.type}",
        )
    if pool.protocol != "UDP" and hm.type == "UDP-CONNECT":
        yield Problem(f"{path}.type", "UDP-CONNECT monitors are for UDP pools")
    if hm.type not in ("HTTP", "HTTPS"):
        for field in HTTP_MONITOR_FIELDS:
            if _set(hm, field):
                yield Problem(f"{path}.{field}", f"a {hm.type} monitor takes no {field}")
    if hm.domain_name is not None and hm.http_version != 1.1:
        yield Problem(f"{path}.domain_name", "domain_name needs http_version 1.1")


def _shared_pools(lb: LoadBalancer, path: str) -> Iterator[Problem]:
    """A pool is one HAProxy backend with one mode: every listener that reaches it (as
    default pool or through an L7 policy) must speak the same mode."""
    modes: dict[str, tuple[str, str]] = {}
    for j, x in enumerate(lb.listeners):
        mode = LISTENER_MODE.get(x.protocol)
        if mode is None:
            continue
        targets = [(f"listeners[{j}].default_pool", x.default_pool)]
        targets += [
            (f"listeners[{j}].l7policies[{k}].redirect_pool", p.redirect_pool)
            for k, p in enumerate(x.l7policies)
        ]
        for where, pool in targets:
            if pool is None:
                continue
            if pool in modes and modes[pool][0] != mode:
                other_mode, other = modes[pool]
                yield Problem(
                    f"{path}.{where}",
                    f"pool {pool!r} is already used in {other_mode} mode by {path}.{other}; "
                    f"a {x.protocol} listener uses it in {mode} mode (give it a pool of its own)",
                    CONFLICT,
                )
            modes.setdefault(pool, (mode, where))
    # Cookies are HTTP: a pool reached only from TCP or HTTPS listeners (tcp mode) has
    # no cookie to insert or to learn.
    for j, pool in enumerate(lb.pools):
        sp = pool.session_persistence
        used = modes.get(pool.name)
        if sp is None or sp.type == "SOURCE_IP" or used is None or used[0] == "http":
            continue
        yield Problem(
            f"{path}.pools[{j}].session_persistence.type",
            f"{sp.type} persistence needs HTTP, but {path}.{used[1]} sends to this pool "
            "in tcp mode (use SOURCE_IP, or an HTTP listener)",
        )
