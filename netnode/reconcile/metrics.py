"""netnode's Prometheus metrics: its own, and its load balancers' HAProxy re-exported.

One ``Metrics`` per process (``netnode agent --metrics-listen``, ``netnode serve``'s
``/metrics``), with its own registry (never prometheus_client's global one):

- ``netnode_reconcile_passes_total{kind,result}``: passes per topology, ``kind`` full or
  changes, ``result`` ok, failed (some unit failed) or error (the pass did not run);
- ``netnode_reconcile_pass_duration_seconds{kind}``: their duration (histogram);
- ``netnode_units_failing{topology,unit,reason}``: the units whose last pass failed, the
  value the passes in a row; ``reason`` is ``failed`` (temporary, retried) or
  ``refused`` (permanent: the host refused the desired state), never the free text;
- ``netnode_haproxy_changes_total{how}``: HAProxy changes the passes made, ``runtime``
  (members over the runtime API, no reload), ``reload`` or ``start``;
- ``netnode_objects{kind,provisioning_status,operating_status}``: load balancers,
  listeners, pools and members per status, read at scrape time;
- the families of ``netnode.reconcile.exporter`` (HAProxy's exporter under Octavia's
  ids), read at scrape time from each local load balancer's ``prom.sock``;
- ``netnode_api_request_duration_seconds{method,route,status}`` (``netnode.api.metrics``).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from netnode.drivers.haproxy import HAProxyProcesses
from netnode.errors import NetnodeError
from netnode.model.topology import LoadBalancer
from netnode.plan import operations as op
from netnode.plan.desired import process_name
from netnode.reconcile import exporter
from netnode.reconcile.converge import Outcome
from netnode.reconcile.live_rows import Rows, read_rows
from netnode.reconcile.status import LoadBalancerStatus, loadbalancer_status

log = logging.getLogger("netnode.metrics")

PASS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Target:
    """A load balancer this process observes: its project and its objects'
    provisioning statuses (by id; missing ids are ACTIVE)."""

    lb: LoadBalancer
    project: str = ""
    provisioning: Mapping[str, str] = field(default_factory=dict)


class Metrics:
    """The registry of one process and what the reconcile passes feed into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.passes = Counter(
            "netnode_reconcile_passes",
            "Reconcile passes per topology",
            ["kind", "result"],
            registry=self.registry,
        )
        self.pass_seconds = Histogram(
            "netnode_reconcile_pass_duration_seconds",
            "Duration of reconcile passes",
            ["kind"],
            buckets=PASS_BUCKETS,
            registry=self.registry,
        )
        self.haproxy_changes = Counter(
            "netnode_haproxy_changes",
            "HAProxy changes made by reconcile passes: runtime API, reload or start",
            ["how"],
            registry=self.registry,
        )
        for how in ("runtime", "reload", "start"):
            self.haproxy_changes.labels(how)
        self._lock = threading.Lock()
        # topology -> unit -> (reason, passes in a row)
        self._failing: dict[str, dict[str, tuple[str, int]]] = {}
        # topology -> object id -> provisioning status, as its last pass left them
        self._provisioning: dict[str, dict[str, str]] = {}
        self.registry.register(_Failing(self))

    def record_pass(
        self, topology: str, kind: str, outcome: Outcome | None, error: str | None = None
    ) -> None:
        """Count one topology's pass (``outcome`` None: it did not run, ``error`` why)."""
        if outcome is None:
            self.passes.labels(kind, "error").inc()
            return
        self.passes.labels(kind, "ok" if outcome.ok else "failed").inc()
        self.pass_seconds.labels(kind).observe(outcome.seconds)
        for how, count in haproxy_changes(outcome).items():
            self.haproxy_changes.labels(how).inc(count)
        with self._lock:
            self._failing[topology] = {
                unit: ("refused" if f.permanent else "failed", f.count)
                for unit, f in outcome.unit_failures.items()
            }
            self._provisioning[topology] = dict(outcome.status)

    def forget(self, keep: Iterable[str]) -> None:
        """Drop what is known of topologies no longer desired."""
        kept = set(keep)
        with self._lock:
            for table in (self._failing, self._provisioning):
                for name in set(table) - kept:
                    del table[name]

    def provisioning(self) -> dict[str, str]:
        """Every object's provisioning status as the last passes left it."""
        with self._lock:
            return {k: v for table in self._provisioning.values() for k, v in table.items()}

    def failing(self) -> list[tuple[str, str, str, int]]:
        with self._lock:
            return [
                (topology, unit or "(host)", reason, count)
                for topology, units in self._failing.items()
                for unit, (reason, count) in units.items()
            ]


def haproxy_changes(outcome: Outcome) -> dict[str, int]:
    """How the pass changed HAProxy processes: members over the runtime API
    (``ChangeServers``, which falls back to a reload only when HAProxy refuses), a
    reload, or a start. Operations of units that failed are not counted."""
    failed = {f.unit for f in outcome.failures}
    counts: collections.Counter[str] = collections.Counter()
    for operation in outcome.plan.operations:
        if op.unit_of(operation) in failed:
            continue
        match operation:
            case op.ChangeServers():
                counts["runtime"] += 1
            case op.EnsureProcess(process=proc, start=start) if proc.haproxy:
                counts["start" if start else "reload"] += 1
    return dict(counts)


class _Failing(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "netnode_units_failing",
            "Units whose last pass failed, by passes in a row (reason: failed, refused)",
            labels=["topology", "unit", "reason"],
        )
        for topology, unit, reason, count in self.metrics.failing():
            family.add_metric([topology, unit, reason], count)
        yield family


class LoadBalancers(Collector):
    """At each scrape: every target's objects per status, and its HAProxy's exporter
    re-exported (``netnode.reconcile.exporter``). ``rows`` reads a load balancer's
    ``show stat`` rows (``read_rows`` by default; ``netnode serve`` passes its status
    cache), ``status`` makes its status tree from them (``loadbalancer_status`` by
    default; ``netnode serve`` passes the one its API shows). Without ``haproxy``, no
    exporter is read."""

    def __init__(
        self,
        haproxy: HAProxyProcesses | None,
        targets: Callable[[], Iterable[Target]],
        rows: Callable[[LoadBalancer], Rows | None] | None = None,
        status: Callable[[Target, Rows | None], LoadBalancerStatus] | None = None,
    ) -> None:
        self.haproxy = haproxy
        self.targets = targets
        if rows is None:
            rows = (lambda lb: None) if haproxy is None else (lambda lb: read_rows(haproxy, lb))
        self.rows = rows
        self.status = status or (lambda t, r: loadbalancer_status(t.lb, r, t.provisioning))

    def collect(self) -> Iterator[Metric]:
        families = exporter.empty()
        objects: collections.Counter[tuple[str, str, str]] = collections.Counter()
        unreadable = 0
        for target in self.targets():
            rows = self.rows(target.lb)
            objects.update(_objects(self.status(target, rows)))
            if rows is None or self.haproxy is None:
                continue
            try:
                page = self.haproxy.exporter(process_name("lb", target.lb.host_id))
            except NetnodeError as exc:
                log.warning("%s", exc)
                unreadable += 1
                continue
            exporter.relabel(page, target.lb, target.project, families)
        yield from families.values()
        family = GaugeMetricFamily(
            "netnode_objects",
            "Load balancers, listeners, pools and members by provisioning and operating status",
            labels=["kind", "provisioning_status", "operating_status"],
        )
        for labels, count in sorted(objects.items()):
            family.add_metric(list(labels), count)
        yield family
        yield GaugeMetricFamily(
            "netnode_haproxy_exporter_unreadable",
            "Running load balancers whose HAProxy exporter did not answer this scrape",
            value=unreadable,
        )


def _objects(tree: LoadBalancerStatus) -> Iterator[tuple[str, str, str]]:
    yield ("loadbalancer", tree.provisioning_status, tree.operating_status)
    for x in tree.listeners:
        yield ("listener", x.provisioning_status, x.operating_status)
    for p in tree.pools:
        yield ("pool", p.provisioning_status, p.operating_status)
        for m in p.members:
            yield ("member", m.provisioning_status, m.operating_status)
