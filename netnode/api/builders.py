"""Octavia's objects onto the API's topology document, one at a time: a listener, a pool,
a member, a health monitor, an L7 policy or rule, each with its defaults, its metadata
(name, project, timestamps) and its place in the project's quota.

The one-by-one create routes (``octavia/``) and the fully populated load balancer
create (``graph.py``) build every object through these functions, so both follow the
same rules; the topology's own rules then judge the whole document
(``Service.change``). Each ``add_*`` takes the parent's document item, the request's
object (pydantic) and the change's ``Quotas``, and returns the new item.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel

from netnode.api.auth import Context
from netnode.api.errors import BadRequest, Conflict, Forbidden, NotFound
from netnode.api.service import Doc, Service, new_id
from netnode.api.world import World
from netnode.model.combinations import LISTENER_POOLS

# Each quota's kind and the world's table of the objects it counts.
QUOTA_TABLES = {
    "load_balancer": "lbs",
    "listener": "listeners",
    "pool": "pools",
    "member": "members",
    "health_monitor": "monitors",
    "l7policy": "l7policies",
    "l7rule": "l7rules",
}


class Quotas:
    """What one change may still create in a project: its quota of each kind, less what
    the project holds (in the world read before the change), less what this change has
    already added. One per change, so a change that adds many objects (a populated load
    balancer, a batch of members) is counted whole."""

    def __init__(self, svc: Service, w: World, project: str) -> None:
        self.project = project
        self._limits = svc.quotas.get(project)
        self._w = w
        self._added: Counter[str] = Counter()

    def take(self, kind: str, more: int = 1) -> None:
        """Count ``more`` new objects of ``kind`` (fewer when negative); refuse them when
        that passes the project's quota."""
        limit = self._limits.get(kind, -1)
        if limit >= 0 and self._held(kind) + self._added[kind] + more > limit:
            raise Forbidden(f"Quota has been met for resources: {kind.replace('_', ' ').title()}")
        self._added[kind] += more

    def _held(self, kind: str) -> int:
        return self._w.held(QUOTA_TABLES[kind], self.project)


def given(req: BaseModel) -> dict[str, Any]:
    """The fields a request object gave (its defaults left to the schema's attributes)."""
    return req.model_dump(exclude_unset=True)


# --- listeners ------------------------------------------------------------------------------


def add_listener(
    svc: Service, ctx: Context, doc: Doc, quotas: Quotas, lb: dict[str, Any], req: Any
) -> dict[str, Any]:
    """A listener on load balancer item ``lb`` (``req``: a listener create body)."""
    data = given(req)
    quotas.take("listener")
    udp = req.protocol == "UDP"
    if any(
        x["protocol_port"] == req.protocol_port and (x["protocol"] == "UDP") == udp
        for x in lb.get("listeners", [])
    ):
        raise Conflict(
            f"Another Listener on this Load Balancer is already using "
            f"protocol_port {req.protocol_port}"
        )
    listener_id = new_id()
    item: dict[str, Any] = {
        "id": listener_id,
        "name": listener_id,
        "protocol": req.protocol,
        "protocol_port": req.protocol_port,
        "admin_state_up": req.admin_state_up,
    }
    listener_fields(svc, ctx, quotas.project, item, data, lb)
    lb.setdefault("listeners", []).append(item)
    doc.set_meta(listener_id, ctx, data, quotas.project)
    return item


LISTENER_FIELDS = (
    "connection_limit",
    "timeout_client_data",
    "timeout_member_connect",
    "timeout_member_data",
    "timeout_tcp_inspect",
    "client_authentication",
    "tls_ciphers",
    "tls_versions",
    "alpn_protocols",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
)
CONTAINER_FIELDS = (
    "default_tls_container_ref",
    "client_ca_tls_container_ref",
    "client_crl_container_ref",
)


def listener_fields(
    svc: Service,
    ctx: Context,
    project: str,
    item: dict[str, Any],
    data: dict[str, Any],
    lb: dict[str, Any],
) -> None:
    """A listener's settings from a create or update body onto its document item; the
    topology's rules (netnode.model.combinations) then refuse what does not go together."""
    for key in LISTENER_FIELDS:
        if key in data:
            put(item, key, data[key])
    if data.get("insert_headers") is not None:
        item["insert_headers"] = {
            k: str(v).lower() == "true" for k, v in data["insert_headers"].items()
        }
    if "allowed_cidrs" in data:
        item["allowed_cidrs"] = [str(c) for c in data["allowed_cidrs"] or []]
    for key in CONTAINER_FIELDS:
        if key in data:
            put(item, key, container(svc, ctx, project, key, data[key]))
    if "sni_container_refs" in data:
        item["sni_container_refs"] = [
            container(svc, ctx, project, "sni_container_refs", ref)
            for ref in data["sni_container_refs"] or []
        ]
    if "default_pool_id" in data:
        pool_id = data["default_pool_id"]
        if pool_id is None:
            item.pop("default_pool", None)
            return
        pool = next((p for p in lb.get("pools", []) if p["id"] == pool_id), None)
        if pool is None:
            raise NotFound.of("Pool", pool_id)
        check_pool_protocol(item["protocol"], pool["protocol"])
        item["default_pool"] = pool["name"]


def put(item: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or drop it (back to its default) when the request says null."""
    if value is None:
        item.pop(key, None)
    else:
        item[key] = value


def check_pool_protocol(listener_protocol: str, pool_protocol: str) -> None:
    allowed = LISTENER_POOLS[listener_protocol]
    if pool_protocol not in allowed:
        raise Conflict(
            f"Pool protocol {pool_protocol} is not compatible with listener "
            f"protocol {listener_protocol} (it takes {', '.join(allowed) or 'no'} pools)"
        )


def container(svc: Service, ctx: Context, project: str, field: str, ref: str | None) -> str | None:
    """A TLS container reference: netnode has no Barbican, a reference is a PEM file on
    this node under the API's certificates directory, in the owning project's folder
    (an admin may name any file there)."""
    if ref is None:
        return None
    root = svc.certificates_dir
    if root is None:
        raise BadRequest(
            f"Invalid input for field/attribute {field}: this API takes no TLS "
            "containers (start 'netnode serve' with --certificates-dir)"
        )
    base = root if ctx.is_admin else root / project
    path = PurePosixPath(ref)
    if ".." in path.parts or not path.is_relative_to(base):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: '{ref}'. A "
            f"container is a PEM file under {base}/"
        )
    return ref


# --- pools ---------------------------------------------------------------------------------


def add_pool(
    svc: Service, ctx: Context, doc: Doc, quotas: Quotas, lb: dict[str, Any], req: Any
) -> dict[str, Any]:
    """A pool of load balancer item ``lb`` (``req``: a pool create body); no listener
    uses it yet."""
    data = given(req)
    quotas.take("pool")
    pool_id = new_id()
    item: dict[str, Any] = {
        "id": pool_id,
        "name": pool_id,
        "protocol": req.protocol,
        "lb_algorithm": req.lb_algorithm,
        "admin_state_up": req.admin_state_up,
    }
    pool_fields(svc, ctx, quotas.project, item, data)
    lb.setdefault("pools", []).append(item)
    doc.set_meta(pool_id, ctx, data, quotas.project)
    return item


POOL_FIELDS = ("tls_enabled", "tls_ciphers", "tls_versions", "alpn_protocols")
POOL_CONTAINERS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref")


def pool_fields(
    svc: Service, ctx: Context, project: str, item: dict[str, Any], data: dict[str, Any]
) -> None:
    for key in POOL_FIELDS:
        if key in data:
            put(item, key, data[key])
    for key in POOL_CONTAINERS:
        if key in data:
            put(item, key, container(svc, ctx, project, key, data[key]))
    if "session_persistence" in data:
        sp = data["session_persistence"]
        put(
            item,
            "session_persistence",
            None
            if sp is None
            else {
                k: str(v) if k == "persistence_granularity" else v
                for k, v in sp.items()
                if v is not None
            },
        )


# --- members -------------------------------------------------------------------------------


def add_member(
    ctx: Context, doc: Doc, w: World, quotas: Quotas, pool: dict[str, Any], req: Any
) -> dict[str, Any]:
    """A member of pool item ``pool`` (``req``: a member create body)."""
    data = given(req)
    quotas.take("member")
    key = (str(req.address), req.protocol_port)
    if any((m["address"], m["protocol_port"]) == key for m in pool.get("members", [])):
        raise Conflict(
            f"Another member on this pool is already using ip address "
            f"{key[0]} on protocol_port {key[1]}"
        )
    member_id = new_id()
    item = member_item(w, data, member_id)
    pool.setdefault("members", []).append(item)
    doc.set_meta(member_id, ctx, data, quotas.project, subnet_id=data.get("subnet_id"))
    return item


def member_item(w: World, data: dict[str, Any], member_id: str) -> dict[str, Any]:
    if data.get("subnet_id") is not None and data["subnet_id"] not in w.subnets:
        raise BadRequest(
            f"Invalid input for field/attribute subnet_id. Value: "
            f"'{data['subnet_id']}'. Subnet not found"
        )
    item = {
        "id": member_id,
        "name": member_id,
        "address": str(data["address"]),
        "protocol_port": data["protocol_port"],
        "admin_state_up": data.get("admin_state_up", True),
    }
    member_fields(item, data)
    return item


def member_fields(item: dict[str, Any], data: dict[str, Any]) -> None:
    for key in ("admin_state_up", "weight", "backup"):
        if data.get(key) is not None:
            item[key] = data[key]
    for key in ("monitor_address", "monitor_port"):
        if key in data:
            put(
                item,
                key,
                None
                if data[key] is None
                else str(data[key])
                if key == "monitor_address"
                else data[key],
            )


# --- health monitors -------------------------------------------------------------------------


def add_monitor(
    ctx: Context, doc: Doc, quotas: Quotas, pool: dict[str, Any], req: Any
) -> dict[str, Any]:
    """The health monitor of pool item ``pool`` (``req``: a monitor create body)."""
    data = given(req)
    quotas.take("health_monitor")
    if pool.get("healthmonitor"):
        raise Conflict(f"Pool {pool['id']} already has a health monitor")
    hm_id = new_id()
    item: dict[str, Any] = {"id": hm_id, "type": req.type}
    monitor_fields(item, {**data, "max_retries_down": req.max_retries_down})
    pool["healthmonitor"] = item
    doc.set_meta(hm_id, ctx, data, quotas.project)
    return item


MONITOR_FIELDS = (
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "admin_state_up",
    "http_method",
    "url_path",
    "expected_codes",
    "http_version",
    "domain_name",
)


def monitor_fields(item: dict[str, Any], data: dict[str, Any]) -> None:
    for key in MONITOR_FIELDS:
        if key in data:
            if data[key] is None and key in (
                "delay",
                "timeout",
                "max_retries",
                "max_retries_down",
                "admin_state_up",
            ):
                continue
            put(item, key, data[key])


# --- L7 policies and rules ----------------------------------------------------------------


def add_l7policy(
    ctx: Context, doc: Doc, quotas: Quotas, lb: dict[str, Any], listener: dict[str, Any], req: Any
) -> dict[str, Any]:
    """An L7 policy of listener item ``listener`` on load balancer item ``lb``, with the
    rules its body holds (``req``: an L7 policy create body)."""
    data = given(req)
    quotas.take("l7policy")
    policy_id = new_id()
    item: dict[str, Any] = {"id": policy_id, "name": policy_id, "action": req.action}
    policy_fields(item, data, lb)
    item["rules"] = []
    for rule in req.rules or []:
        add_l7rule(ctx, doc, quotas, item, rule)
    place(listener.setdefault("l7policies", []), item, req.position)
    doc.set_meta(policy_id, ctx, data, quotas.project)
    return item


def add_l7rule(
    ctx: Context, doc: Doc, quotas: Quotas, policy: dict[str, Any], req: Any
) -> dict[str, Any]:
    """An L7 rule of policy item ``policy`` (``req``: an L7 rule create body)."""
    data = given(req)
    quotas.take("l7rule")
    rule_id = new_id()
    item = rule_item(rule_id, data)
    policy.setdefault("rules", []).append(item)
    doc.set_meta(rule_id, ctx, data, quotas.project)
    return item


def policy_fields(item: dict[str, Any], data: dict[str, Any], lb: dict[str, Any]) -> None:
    for key in ("action", "admin_state_up"):
        if data.get(key) is not None:
            item[key] = data[key]
    for key in ("redirect_url", "redirect_prefix", "redirect_http_code"):
        if key in data:
            put(item, key, data[key])
    if "redirect_pool_id" in data:
        pool_id = data["redirect_pool_id"]
        if pool_id is not None and not any(p["id"] == pool_id for p in lb.get("pools", [])):
            raise NotFound.of("Pool", pool_id)
        put(item, "redirect_pool", pool_id)
    # Octavia clears what the new action does not use.
    keep = {
        "REDIRECT_TO_POOL": "redirect_pool",
        "REDIRECT_TO_URL": "redirect_url",
        "REDIRECT_PREFIX": "redirect_prefix",
    }.get(item["action"])
    for key in ("redirect_pool", "redirect_url", "redirect_prefix"):
        if key != keep and key not in data:
            item.pop(key, None)
    redirect = item["action"] in ("REDIRECT_TO_URL", "REDIRECT_PREFIX")
    if not redirect and "redirect_http_code" not in data:
        item.pop("redirect_http_code", None)


def place(items: list[dict[str, Any]], item: dict[str, Any], position: int | None) -> None:
    """Put ``item`` at Octavia's 1-based ``position`` (None or past the end: last)."""
    if item in items:
        items.remove(item)
    index = len(items) if position is None else min(position - 1, len(items))
    items.insert(index, item)


def rule_item(rule_id: str, data: dict[str, Any]) -> dict[str, Any]:
    item = {"id": rule_id}
    for key in ("type", "compare_type", "key", "value", "invert", "admin_state_up"):
        if data.get(key) is not None:
            item[key] = data[key]
    return item
