"""A listener's L7 policies and rules as frontend lines (Octavia's l7policies). Pure.

Each enabled rule becomes an ACL named by its id (as Octavia names them)::

    acl <rule-id> <fetch> [-i] -m <match> -- <value>

Policies apply in list order (Octavia's position) and the first whose rules all match
wins. HAProxy runs every ``http-request`` rule before any ``use_backend``, so rendering
each action with its own condition (as Octavia does) would let a later REJECT beat an
earlier REDIRECT_TO_POOL. Instead the first matching policy records its position in a
variable, and each action runs only for its own position::

    http-request set-var(txn.l7_policy) int(1) if !{ var(txn.l7_policy) -m found } <acl> !<acl>
    http-request deny deny_status 403 if { var(txn.l7_policy) -m int 1 }
    use_backend <pool-id> if { var(txn.l7_policy) -m int 2 }

A disabled policy, a policy whose rules are all disabled (or that has none) and a
REDIRECT_TO_POOL policy whose pool is disabled never match, as in Octavia.

Rule types and their fetches:

- HOST_NAME: ``req.hdr(host)``, case-insensitive;
- PATH: ``path`` (without the query string);
- FILE_TYPE: what follows the last ``.`` of the path (``path,field(-1,.)``): "png"
  for ``/img/a.png``;
- HEADER: ``req.hdr(<key>)``; COOKIE: ``req.cook(<key>)``;
- SSL_CONN_HAS_CERT: ``ssl_c_used`` (the value "False" inverts it);
- SSL_VERIFY_RESULT: ``ssl_c_verify`` equal to the value (an OpenSSL verify code);
- SSL_DN_FIELD: ``ssl_c_s_dn(<key>)``, a field of the client certificate's subject.

Compare types: REGEX ``-m reg``, STARTS_WITH ``-m beg``, ENDS_WITH ``-m end``, CONTAINS
``-m sub``, EQUAL_TO ``-m str``. Values are quoted by ``quoting.word`` (a backslash in a
REGEX reaches the regex engine as one backslash) after ``--``, so a value starting with
``-`` is never read as a flag.
"""

from __future__ import annotations

from collections.abc import Mapping

from netnode.model.topology import L7Policy, L7Rule, Pool
from netnode.render.quoting import fetch_arg, log_format_literal, word

# The variable that holds the position of the policy that matched.
POLICY_VAR = "txn.l7_policy"

MATCH = {
    "REGEX": "reg",
    "STARTS_WITH": "beg",
    "ENDS_WITH": "end",
    "CONTAINS": "sub",
    "EQUAL_TO": "str",
}
# Octavia's default for the redirect actions.
DEFAULT_REDIRECT_CODE = 302


def enabled_rules(policy: L7Policy) -> list[L7Rule]:
    return [r for r in policy.rules if r.admin_state_up]


def active_policies(
    policies: list[L7Policy], pools: Mapping[str, Pool]
) -> list[tuple[int, L7Policy]]:
    """The policies that can match, with their 1-based positions in the list."""
    active = []
    for position, policy in enumerate(policies, start=1):
        if not policy.admin_state_up or not enabled_rules(policy):
            continue
        if policy.action == "REDIRECT_TO_POOL":
            pool = pools.get(policy.redirect_pool or "")
            if pool is None or not pool.admin_state_up:
                continue
        active.append((position, policy))
    return active


def frontend_lines(policies: list[L7Policy], pools: Mapping[str, Pool]) -> list[str]:
    """The ACLs, the policy selection and the actions, in that order."""
    active = active_policies(policies, pools)
    acls: list[str] = []
    select: list[str] = []
    actions: list[str] = []
    for position, policy in active:
        rules = enabled_rules(policy)
        acls += [rule_acl(rule) for rule in rules]
        condition = " ".join(_reference(rule) for rule in rules)
        select.append(
            f"http-request set-var({POLICY_VAR}) int({position})"
            f" if !{{ var({POLICY_VAR}) -m found }} {condition}"
        )
        actions.append(_action(policy, pools, f"{{ var({POLICY_VAR}) -m int {position} }}"))
    # http-request rules first (in their order), then use_backend: HAProxy would move
    # them there anyway and warns when they are written the other way round.
    ordered = [a for a in actions if not a.startswith("use_backend ")]
    ordered += [a for a in actions if a.startswith("use_backend ")]
    return acls + select + ordered


def rule_acl(rule: L7Rule) -> str:
    """One rule as an ``acl`` line (the rule's invert is applied where it is used)."""
    name = rule.uid
    if rule.type == "SSL_CONN_HAS_CERT":
        return f"acl {name} ssl_c_used"
    if rule.type == "SSL_VERIFY_RESULT":
        return f"acl {name} ssl_c_verify -m int eq {int(rule.value)}"
    fetch, flags = _fetch(rule)
    return f"acl {name} {word(fetch)}{flags} -m {MATCH[rule.compare_type]} -- {word(rule.value)}"


def _fetch(rule: L7Rule) -> tuple[str, str]:
    if rule.type == "HOST_NAME":
        return "req.hdr(host)", " -i"
    if rule.type == "PATH":
        return "path", ""
    if rule.type == "FILE_TYPE":
        return "path,field(-1,.)", ""
    key = rule.key or ""
    if rule.type == "HEADER":
        return f"req.hdr({fetch_arg(key)})", ""
    if rule.type == "COOKIE":
        return f"req.cook({fetch_arg(key)})", ""
    if rule.type == "SSL_DN_FIELD":
        return f"ssl_c_s_dn({fetch_arg(key)})", ""
    raise ValueError(f"unknown L7 rule type {rule.type!r}")


def _reference(rule: L7Rule) -> str:
    inverted = rule.invert
    if rule.type == "SSL_CONN_HAS_CERT" and rule.value.lower() == "false":
        inverted = not inverted
    return f"!{rule.uid}" if inverted else rule.uid


def _action(policy: L7Policy, pools: Mapping[str, Pool], condition: str) -> str:
    code = policy.redirect_http_code or DEFAULT_REDIRECT_CODE
    if policy.action == "REJECT":
        return f"http-request deny deny_status 403 if {condition}"
    if policy.action == "REDIRECT_TO_URL":
        url = word(log_format_literal(policy.redirect_url or ""))
        return f"http-request redirect location {url} code {code} if {condition}"
    if policy.action == "REDIRECT_PREFIX":
        prefix = word(log_format_literal(policy.redirect_prefix or ""))
        return f"http-request redirect prefix {prefix} code {code} if {condition}"
    if policy.action == "REDIRECT_TO_POOL":
        return f"use_backend {pools[policy.redirect_pool or ''].uid} if {condition}"
    raise ValueError(f"unknown L7 policy action {policy.action!r}")
