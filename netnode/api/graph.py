"""Octavia's fully populated load balancer create: ``POST /loadbalancers`` with
``listeners`` (each with its ``default_pool``, that pool's ``members`` and
``healthmonitor``, and its ``l7policies`` with their ``rules`` and ``redirect_pool``)
and ``pools``. Every object is built, in the one change that creates the load balancer,
by the builders the one-by-one creates use (``builders.py``): same defaults, metadata,
quotas and rules, and the topology's rules judge the whole; it lands whole or changes
nothing.

Pools, as Octavia's ``_graph_create`` has them: a pool a listener or an L7 policy holds
is named. It is defined once, in ``pools`` or where it is used (with more than its
name), and only named everywhere else. A name defined twice, or named and never
defined, is refused; so is a definition without its protocol or lb_algorithm. Listeners
may share a pool when the topology's rules allow it (one HAProxy mode per pool).

A refusal names the request's field by its path, ``listeners[0].default_pool.members[1]
.address``, also when the topology's rules refuse the document: their paths in it
(``load_balancers[3].pools[0].members[1]``) are told in the request's terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from netnode.api import schemas as s
from netnode.api.auth import Context
from netnode.api.builders import (
    Quotas,
    add_l7policy,
    add_listener,
    add_member,
    add_monitor,
    add_pool,
)
from netnode.api.errors import ApiError, BadRequest, Forbidden
from netnode.api.service import Doc, Service
from netnode.api.world import World

FIELD = "Invalid input for field/attribute "
# What a pool reference may carry besides its name: Octavia's defaults, which every
# pool body has (a body with anything else defines the pool).
REFERENCE_FIELDS = {"name", "admin_state_up", "tls_enabled"}
DOCUMENT_PATH = re.compile(r"load_balancers\[\d+\](?:\.\w+(?:\[\d+\])?)*")


class Views(Protocol):
    """The API's JSON of each object (``octavia.Views``)."""

    w: World

    def loadbalancer(self, lb_id: str) -> dict[str, Any]: ...
    def listener(self, listener_id: str) -> dict[str, Any]: ...
    def pool(self, pool_id: str) -> dict[str, Any]: ...
    def member(self, member_id: str) -> dict[str, Any]: ...
    def monitor(self, hm_id: str) -> dict[str, Any]: ...
    def l7policy(self, policy_id: str) -> dict[str, Any]: ...
    def l7rule(self, rule_id: str) -> dict[str, Any]: ...


# --- pools: where each is defined ------------------------------------------------------------


def pool_definitions(req: s.LoadBalancerCreate) -> list[tuple[str, s.PoolSingleCreate]]:
    """Every pool the request defines, with the path of its definition, in the order
    Octavia creates them (``pools``, then those defined where they are used); refuses
    unnamed, twice-defined, incomplete and undefined pools."""
    defined = [(f"pools[{i}]", p) for i, p in enumerate(req.pools or [])]
    named: list[tuple[str, str]] = []
    for i, listener in enumerate(req.listeners or []):
        path = f"listeners[{i}]"
        if listener.default_pool_id is not None:
            raise BadRequest(
                f"{FIELD}{path}.default_pool_id: a new load balancer has no pool "
                "to name by id; give default_pool (a pool of this request)"
            )
        used = [(f"{path}.default_pool", listener.default_pool)]
        for k, policy in enumerate(listener.l7policies or []):
            if policy.redirect_pool_id is not None:
                raise BadRequest(
                    f"{FIELD}{path}.l7policies[{k}].redirect_pool_id: a new load "
                    "balancer has no pool to name by id; give redirect_pool (a "
                    "pool of this request)"
                )
            used.append((f"{path}.l7policies[{k}].redirect_pool", policy.redirect_pool))
        for where, pool in used:
            if pool is None:
                continue
            if not pool.name:
                raise BadRequest(
                    f"{FIELD}{where}.name: pools must be named when creating a "
                    "fully populated load balancer"
                )
            if pool.model_fields_set - REFERENCE_FIELDS:
                defined.append((where, pool))
            else:
                named.append((where, pool.name))
    first: dict[str, str] = {}
    for where, pool in defined:
        if pool.name and pool.name in first:
            raise BadRequest(
                f"{FIELD}{where}.name: pool {pool.name!r} is defined twice (also "
                f"at {first[pool.name]}); define a pool once and give only its "
                "name everywhere else"
            )
        if pool.name:
            first[pool.name] = where
        for attr in ("protocol", "lb_algorithm"):
            if getattr(pool, attr) is None:
                raise BadRequest(
                    f"{FIELD}{where}.{attr}. Value: 'None'. Mandatory field "
                    f"missing (pool {pool.name or ''!r} is defined here; a pool "
                    "given by name only must be defined elsewhere)"
                )
    for where, name in named:
        if name not in first:
            raise BadRequest(
                f"{FIELD}{where}: pool {name!r} was referenced but no full "
                "definition was found (define it in pools, or where it is "
                "first used, with its protocol and lb_algorithm)"
            )
    return defined


# --- building the tree -----------------------------------------------------------------------


@dataclass
class Built:
    """What a populated create built, to tell a refusal in the request's terms: each
    object's request path by its document path, each pool's request name by its id."""

    paths: dict[str, str] = field(default_factory=dict)
    pool_names: dict[str, str] = field(default_factory=dict)

    def told(self, exc: ApiError) -> ApiError:
        """``exc`` (a refusal of the topology's rules) with the document paths of the
        objects built, and their pools' ids (the document's names), as the request
        gave them."""
        if not self.paths:
            return exc
        message = DOCUMENT_PATH.sub(self._path, exc.message)
        for pool_id, name in self.pool_names.items():
            message = message.replace(f"'{pool_id}'", repr(name))
        return type(exc)(message)

    def _path(self, match: re.Match[str]) -> str:
        text = match.group(0)
        for end in range(len(text), 0, -1):
            if (end == len(text) or text[end] in ".[") and text[:end] in self.paths:
                return self.paths[text[:end]] + text[end:]
        return text


def populate(
    svc: Service,
    ctx: Context,
    doc: Doc,
    w: World,
    quotas: Quotas,
    lb: dict[str, Any],
    req: s.LoadBalancerCreate,
) -> Built:
    """Build the request's pools, then its listeners, onto load balancer item ``lb``."""
    pool_ids: dict[str, str] = {}
    paths: dict[str, str] = {}  # object id -> request path
    for where, body in pool_definitions(req):
        with _at(where):
            pool = add_pool(svc, ctx, doc, quotas, lb, body)
        paths[pool["id"]] = where
        if body.name:
            pool_ids[body.name] = pool["id"]
        if body.healthmonitor is not None:
            with _at(f"{where}.healthmonitor"):
                hm = add_monitor(ctx, doc, quotas, pool, body.healthmonitor)
            paths[hm["id"]] = f"{where}.healthmonitor"
        for k, member_body in enumerate(body.members or []):
            with _at(f"{where}.members[{k}]"):
                member = add_member(ctx, doc, w, quotas, pool, member_body)
            paths[member["id"]] = f"{where}.members[{k}]"
    for i, listener_body in enumerate(req.listeners or []):
        where = f"listeners[{i}]"
        with _at(where):
            listener = add_listener(svc, ctx, doc, quotas, lb, listener_body)
        paths[listener["id"]] = where
        if listener_body.default_pool is not None:
            # The topology's rules judge the pair (protocols, modes), as in a file.
            listener["default_pool"] = pool_ids[str(listener_body.default_pool.name)]
        for k, policy_body in enumerate(listener_body.l7policies or []):
            ppath = f"{where}.l7policies[{k}]"
            with _at(ppath):
                policy = add_l7policy(ctx, doc, quotas, lb, listener, policy_body)
            if policy_body.redirect_pool is not None:
                policy["redirect_pool"] = pool_ids[str(policy_body.redirect_pool.name)]
            paths[policy["id"]] = ppath
            for r, rule in enumerate(policy["rules"]):
                paths[rule["id"]] = f"{ppath}.rules[{r}]"
    return Built(_document_paths(doc, w, lb, paths), {i: n for n, i in pool_ids.items()})


@contextmanager
def _at(path: str) -> Iterator[None]:
    """A refusal of what is built inside names the request's path (a quota names a
    kind, not a field, as Octavia's do)."""
    try:
        yield
    except Forbidden:
        raise
    except ApiError as exc:
        message = exc.message
        if message.startswith(FIELD):
            message = f"{FIELD}{path}.{message[len(FIELD) :]}"
        else:
            message = f"{path}: {message}"
        raise type(exc)(message) from exc


def _document_paths(
    doc: Doc, w: World, lb: dict[str, Any], paths: dict[str, str]
) -> dict[str, str]:
    """``paths`` (request path by object id) by each object's path in the document."""
    index = doc.index_of("load_balancers", str(lb["id"]), w)
    base = f"load_balancers[{index}]"
    found: dict[str, str] = {}
    for j, listener in enumerate(lb.get("listeners", [])):
        lpath = f"{base}.listeners[{j}]"
        found[lpath] = paths[listener["id"]]
        for k, policy in enumerate(listener.get("l7policies", [])):
            found[f"{lpath}.l7policies[{k}]"] = paths[policy["id"]]
            for r, rule in enumerate(policy.get("rules", [])):
                found[f"{lpath}.l7policies[{k}].rules[{r}]"] = paths[rule["id"]]
    for j, pool in enumerate(lb.get("pools", [])):
        ppath = f"{base}.pools[{j}]"
        found[ppath] = paths[pool["id"]]
        if pool.get("healthmonitor"):
            found[f"{ppath}.healthmonitor"] = paths[pool["healthmonitor"]["id"]]
        for k, member in enumerate(pool.get("members", [])):
            found[f"{ppath}.members[{k}]"] = paths[member["id"]]
    return found


# --- the answer ------------------------------------------------------------------------------


def full_view(v: Views, lb_id: str) -> dict[str, Any]:
    """Octavia's LoadBalancerFullResponse: the load balancer with its listeners (their
    L7 policies and rules) and pools (their members and health monitor), each as its
    own GET shows it."""
    _, lb = v.w.lbs[lb_id]
    view = v.loadbalancer(lb_id)
    view["listeners"] = [
        {
            **v.listener(x.uid),
            "l7policies": [
                {**v.l7policy(p.uid), "rules": [v.l7rule(r.uid) for r in p.rules]}
                for p in x.l7policies
            ],
        }
        for x in lb.listeners
    ]
    view["pools"] = [
        {
            **v.pool(p.uid),
            "members": [v.member(m.uid) for m in p.members],
            "healthmonitor": v.monitor(p.healthmonitor.uid) if p.healthmonitor else None,
        }
        for p in lb.pools
    ]
    return view
