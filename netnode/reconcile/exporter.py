"""HAProxy's exporter page, re-exported under Octavia's ids. Pure: text in, metric
families out.

HAProxy names its sections after the Octavia ids (``netnode.render.haproxy``: frontend
= listener id, backend = pool id, server = member id; ``netnode.reconcile.status``
reads ``show stat`` by the same rule), so a sample's ``proxy`` label is a listener or a
pool of its load balancer and its ``server`` label a member of that pool. Samples of
any other section (the exporter's own frontend) are left out, and so are the families
not in ``FAMILIES``: a few useful ones, renamed ``netnode_<object>_...``, with the labels

- ``loadbalancer``, ``project`` on every sample,
- ``listener`` (from a frontend), ``pool`` (a backend), ``pool`` and ``member`` (a
  server),
- and HAProxy's own ``state`` (``UP``, ``DOWN``, ``MAINT``...) or ``code`` (``2xx``...)
  where it has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from netnode.model.topology import LoadBalancer


@dataclass(frozen=True)
class Family:
    name: str  # netnode's, without a counter's _total
    kind: str  # "counter" | "gauge"
    help: str


def _counter(name: str, help: str) -> Family:
    return Family(name, "counter", help)


def _gauge(name: str, help: str) -> Family:
    return Family(name, "gauge", help)


# HAProxy's sample name -> netnode's family. Frontends are listeners, backends pools,
# servers members.
FAMILIES: dict[str, Family] = {
    "haproxy_frontend_current_sessions": _gauge(
        "netnode_listener_current_sessions", "Connections open on the listener"
    ),
    "haproxy_frontend_sessions_total": _counter(
        "netnode_listener_sessions", "Connections the listener accepted"
    ),
    "haproxy_frontend_bytes_in_total": _counter(
        "netnode_listener_bytes_in", "Bytes received from clients"
    ),
    "haproxy_frontend_bytes_out_total": _counter(
        "netnode_listener_bytes_out", "Bytes sent to clients"
    ),
    "haproxy_frontend_http_requests_total": _counter(
        "netnode_listener_http_requests", "HTTP requests the listener received"
    ),
    "haproxy_frontend_http_responses_total": _counter(
        "netnode_listener_http_responses", "HTTP responses by class of status code"
    ),
    "haproxy_frontend_request_errors_total": _counter(
        "netnode_listener_request_errors", "Requests in error (Octavia's request_errors)"
    ),
    "haproxy_backend_status": _gauge(
        "netnode_pool_status", "1 for the pool's current state (UP: some member serves)"
    ),
    "haproxy_backend_active_servers": _gauge(
        "netnode_pool_active_members", "Members up and serving (not backup)"
    ),
    "haproxy_backend_backup_servers": _gauge(
        "netnode_pool_backup_members", "Backup members up and serving"
    ),
    "haproxy_backend_current_sessions": _gauge(
        "netnode_pool_current_sessions", "Connections open to the pool's members"
    ),
    "haproxy_backend_connection_errors_total": _counter(
        "netnode_pool_connection_errors", "Failed connections to the pool's members"
    ),
    "haproxy_server_status": _gauge(
        "netnode_member_status", "1 for the member's current state (UP, DOWN, MAINT, DRAIN...)"
    ),
    "haproxy_server_check_status": _gauge(
        "netnode_member_check_status", "1 for the result of the member's last health check"
    ),
    "haproxy_server_current_sessions": _gauge(
        "netnode_member_current_sessions", "Connections open to the member"
    ),
    "haproxy_server_sessions_total": _counter(
        "netnode_member_sessions", "Connections made to the member"
    ),
    "haproxy_server_bytes_in_total": _counter(
        "netnode_member_bytes_in", "Bytes sent to the member"
    ),
    "haproxy_server_bytes_out_total": _counter(
        "netnode_member_bytes_out", "Bytes received from the member"
    ),
    "haproxy_server_response_time_average_seconds": _gauge(
        "netnode_member_response_time_average_seconds",
        "Average response time of the member's last 1024 requests",
    ),
}
# HAProxy's labels kept as they are.
KEPT_LABELS = ("state", "code")


@dataclass(frozen=True)
class Sections:
    """What ``lb``'s HAProxy section names stand for."""

    listeners: frozenset[str]
    # pool id -> its members' ids
    pools: dict[str, frozenset[str]]

    @classmethod
    def of(cls, lb: LoadBalancer) -> Sections:
        return cls(
            frozenset(x.uid for x in lb.listeners),
            {p.uid: frozenset(m.uid for m in p.members) for p in lb.pools},
        )

    def labels(self, proxy: str, server: str | None) -> dict[str, str] | None:
        """Octavia's labels for a sample of section ``proxy`` (and ``server``), or None
        when it is none of the load balancer's objects."""
        if server is None:
            if proxy in self.listeners:
                return {"listener": proxy}
            if proxy in self.pools:
                return {"pool": proxy}
            return None
        if server in self.pools.get(proxy, ()):
            return {"pool": proxy, "member": server}
        return None


def empty() -> dict[str, Metric]:
    """Every re-exported family, without samples yet."""
    return {f.name: Metric(f.name, f.help, f.kind) for f in FAMILIES.values()}


def relabel(
    text: str, lb: LoadBalancer, project: str, into: dict[str, Metric] | None = None
) -> dict[str, Metric]:
    """Add the samples of HAProxy's exporter page ``text`` (``lb``'s HAProxy) to
    ``into`` (netnode's families, ``empty()`` when None) and return it."""
    families = empty() if into is None else into
    sections = Sections.of(lb)
    for sample in _samples(text):
        family = FAMILIES.get(sample.name)
        if family is None:
            continue
        objects = sections.labels(sample.labels.get("proxy", ""), sample.labels.get("server"))
        if objects is None:
            continue
        labels = {"loadbalancer": lb.uid, "project": project, **objects}
        labels |= {k: sample.labels[k] for k in KEPT_LABELS if k in sample.labels}
        suffix = "_total" if family.kind == "counter" else ""
        families[family.name].add_sample(family.name + suffix, labels, sample.value)
    return families


def _samples(text: str) -> Iterable[Sample]:
    for parsed in text_string_to_metric_families(text):
        yield from parsed.samples
