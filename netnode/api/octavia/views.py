"""Octavia's JSON for the objects of a world: one view per resource, with live
operating statuses (the status tree, cached per request)."""

from __future__ import annotations

from typing import Any

from netnode.api.octavia.providers import DEFAULT_PROVIDER
from netnode.api.service import Service
from netnode.api.world import Source, World
from netnode.model.topology import ApiMeta, LoadBalancer


class Views:
    """Octavia's JSON for objects of a world, with live operating statuses."""

    def __init__(self, world: World, operating: Any) -> None:
        self.w = world
        self.operating = operating  # (lb) -> status tree of that LB, cached per request
        self._trees: dict[str, Any] = {}

    def tree(self, src: Source, lb: LoadBalancer) -> Any:
        if lb.uid not in self._trees:
            self._trees[lb.uid] = self.operating(lb, src.status)
        return self._trees[lb.uid]

    def _common(self, src: Source, obj: Any) -> dict[str, Any]:
        meta = src.topo.metadata.get(obj.uid)
        project = self.w.project_of(src, obj.uid)
        return {
            "id": obj.uid,
            "name": self.w.name_of(src, obj),
            "description": meta.description if meta else "",
            "project_id": project,
            "tenant_id": project,
            "provisioning_status": (status := self.w.status(src, obj.uid)),
            "created_at": meta.created_at if meta else None,
            "updated_at": updated_at(meta, status),
            "tags": list(meta.tags) if meta else [],
        }

    def loadbalancer(self, lb_id: str) -> dict[str, Any]:
        src, lb = self.w.lbs[lb_id]
        net_id = next(n.uid for n in src.topo.networks if n.name == lb.vip.network)
        port = self.w.port_of_address(net_id, lb.vip.address)
        return {
            **self._common(src, lb),
            "operating_status": self.tree(src, lb).operating_status,
            "admin_state_up": lb.admin_state_up,
            "vip_address": str(lb.vip.address),
            "vip_port_id": port.id if port else None,
            "vip_subnet_id": self.w.subnet_holding(net_id, lb.vip.address),
            "vip_network_id": net_id,
            "vip_qos_policy_id": None,
            "listeners": [{"id": x.uid} for x in lb.listeners],
            "pools": [{"id": p.uid} for p in lb.pools],
            "provider": (meta.provider if (meta := src.topo.metadata.get(lb.uid)) else None)
            or DEFAULT_PROVIDER,
            "flavor_id": meta.flavor_id if meta else None,
            "availability_zone": lb.availability_zone,
        }

    def listener(self, listener_id: str) -> dict[str, Any]:
        src, lb, x = self.w.listeners[listener_id]
        tree = self.tree(src, lb)
        op = next((ls.operating_status for ls in tree.listeners if ls.id == x.uid), "OFFLINE")
        pool_ids = {p.name: p.uid for p in lb.pools}
        return {
            **self._common(src, x),
            "operating_status": op,
            "admin_state_up": x.admin_state_up,
            "protocol": x.protocol,
            "protocol_port": x.protocol_port,
            "connection_limit": x.connection_limit,
            "default_pool_id": pool_ids.get(x.default_pool) if x.default_pool else None,
            "loadbalancers": [{"id": lb.uid}],
            "insert_headers": {k: str(v).lower() for k, v in x.insert_headers.items()},
            "timeout_client_data": x.timeout_client_data,
            "timeout_member_connect": x.timeout_member_connect,
            "timeout_member_data": x.timeout_member_data,
            "timeout_tcp_inspect": x.timeout_tcp_inspect,
            "default_tls_container_ref": x.default_tls_container_ref,
            "sni_container_refs": list(x.sni_container_refs),
            "l7policies": [{"id": p.uid} for p in x.l7policies],
            "allowed_cidrs": [str(c) for c in x.allowed_cidrs] or None,
            "client_ca_tls_container_ref": x.client_ca_tls_container_ref,
            "client_authentication": x.client_authentication,
            "client_crl_container_ref": x.client_crl_container_ref,
            "tls_ciphers": x.tls_ciphers,
            "tls_versions": x.tls_versions,
            "alpn_protocols": x.alpn_protocols,
            "hsts_max_age": x.hsts_max_age,
            "hsts_include_subdomains": x.hsts_include_subdomains,
            "hsts_preload": x.hsts_preload,
        }

    def pool(self, pool_id: str) -> dict[str, Any]:
        src, lb, p = self.w.pools[pool_id]
        status = self.tree(src, lb).pool(p.uid)
        return {
            **self._common(src, p),
            "operating_status": status.operating_status if status else "OFFLINE",
            "admin_state_up": p.admin_state_up,
            "protocol": p.protocol,
            "lb_algorithm": p.lb_algorithm,
            "session_persistence": (
                p.session_persistence.model_dump(mode="json") if p.session_persistence else None
            ),
            "loadbalancers": [{"id": lb.uid}],
            "listeners": [{"id": x.uid} for x in lb.listeners if x.default_pool == p.name],
            "members": [{"id": m.uid} for m in p.members],
            "healthmonitor_id": p.healthmonitor.uid if p.healthmonitor else None,
            "tls_enabled": p.tls_enabled,
            "tls_container_ref": p.tls_container_ref,
            "ca_tls_container_ref": p.ca_tls_container_ref,
            "crl_container_ref": p.crl_container_ref,
            "tls_ciphers": p.tls_ciphers,
            "tls_versions": p.tls_versions,
            "alpn_protocols": p.alpn_protocols,
        }

    def member(self, member_id: str) -> dict[str, Any]:
        src, lb, p, m = self.w.members[member_id]
        status = self.tree(src, lb).pool(p.uid)
        op = (
            next((x.operating_status for x in status.members if x.id == m.uid), "OFFLINE")
            if status
            else "OFFLINE"
        )
        meta = src.topo.metadata.get(m.uid)
        return {
            **self._common(src, m),
            "operating_status": op,
            "admin_state_up": m.admin_state_up,
            "address": str(m.address),
            "protocol_port": m.protocol_port,
            "weight": m.weight,
            "backup": m.backup,
            "subnet_id": meta.subnet_id if meta else None,
            "monitor_address": str(m.monitor_address) if m.monitor_address else None,
            "monitor_port": m.monitor_port,
        }

    def monitor(self, hm_id: str) -> dict[str, Any]:
        src, _, p, hm = self.w.monitors[hm_id]
        http = hm.type in ("HTTP", "HTTPS")
        meta = src.topo.metadata.get(hm.uid)
        project = self.w.project_of(src, hm.uid)
        return {
            "id": hm.uid,
            "name": meta.name if meta else "",
            "project_id": project,
            "tenant_id": project,
            "provisioning_status": (status := self.w.status(src, hm.uid)),
            "operating_status": "ONLINE" if hm.admin_state_up else "OFFLINE",
            "created_at": meta.created_at if meta else None,
            "updated_at": updated_at(meta, status),
            "tags": list(meta.tags) if meta else [],
            "type": hm.type,
            "delay": hm.delay,
            "timeout": hm.timeout,
            "max_retries": hm.max_retries or hm.max_retries_down,
            "max_retries_down": hm.max_retries_down,
            "http_method": hm.http_method if http else None,
            "url_path": hm.url_path if http else None,
            "expected_codes": hm.expected_codes if http else None,
            "admin_state_up": hm.admin_state_up,
            "pools": [{"id": p.uid}],
            "http_version": hm.http_version if http else None,
            "domain_name": hm.domain_name if http else None,
        }

    def l7policy(self, policy_id: str) -> dict[str, Any]:
        src, lb, x, policy = self.w.l7policies[policy_id]
        pool_ids = {p.name: p.uid for p in lb.pools}
        redirect = policy.action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX")
        return {
            **self._common(src, policy),
            "operating_status": "ONLINE" if policy.admin_state_up else "OFFLINE",
            "admin_state_up": policy.admin_state_up,
            "listener_id": x.uid,
            "action": policy.action,
            "position": x.l7policies.index(policy) + 1,
            "redirect_pool_id": pool_ids.get(policy.redirect_pool or ""),
            "redirect_url": policy.redirect_url,
            "redirect_prefix": policy.redirect_prefix,
            "redirect_http_code": (policy.redirect_http_code or 302) if redirect else None,
            "rules": [{"id": r.uid} for r in policy.rules],
        }

    def l7rule(self, rule_id: str) -> dict[str, Any]:
        src, _, _, _, rule = self.w.l7rules[rule_id]
        common = self._common(src, rule)
        del common["name"], common["description"]  # Octavia's rules have neither
        return {
            **common,
            "operating_status": "ONLINE" if rule.admin_state_up else "OFFLINE",
            "type": rule.type,
            "compare_type": rule.compare_type,
            "key": rule.key,
            "value": rule.value,
            "invert": rule.invert,
            "admin_state_up": rule.admin_state_up,
        }


def views(svc: Service, world: World) -> Views:
    return Views(world, svc.operating)


def updated_at(meta: ApiMeta | None, status: str) -> str | None:
    """Octavia's updated_at: its worker stamps an object when it leaves PENDING_CREATE.
    netnode keeps no time of that pass: a provisioned object that was never updated
    shows its creation time; one still PENDING_CREATE shows none, as Octavia's."""
    if meta is None:
        return None
    if meta.updated_at is not None or status == "PENDING_CREATE":
        return meta.updated_at
    return meta.created_at
