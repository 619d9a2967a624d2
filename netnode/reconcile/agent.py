"""The reconcile loop: keep the host converged to every desired topology, for ever.

What is desired comes from two places: the topologies recorded on this node (by
``netnode apply``, later by the API) and the topology files the agent was given, which
it re-reads when they change. Each round the agent runs one pass per topology:

- a **full** pass every ``period`` seconds: observe everything the topology owns,
  repair any drift (a killed HAProxy, a deleted namespace or OVS port, flushed
  iptables rules, a restarted ovs-vswitchd), remove orphans;
- a **changes** pass as soon as something changes (a watched file, the node's
  records, ``trigger()``): only the units whose desired state changed, nothing else;
- a **retry** of the units that failed with a temporary error, with exponential
  back-off (``BACKOFF_FIRST`` doubling up to ``BACKOFF_MAX``). A permanent error (the
  host refused the desired state) waits for the desired state to change, or for the
  next full pass.

One topology failing does not stop the others, nor does one unit (namespace) of a
topology stop its other units (``Host.execute``).

Nothing a round meets ends the loop: a store that does not answer (``StoreUnavailable``:
PostgreSQL restarting, SQLite locked) and any unexpected exception are caught per round,
logged with their cause, counted in ``health`` and retried with the same back-off; the
store's pool reconnects by itself once it answers again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from netnode.cluster.scheduler import Cluster, describe
from netnode.cluster.takeover import VrrpState
from netnode.drivers.flow_logs import FlowLogReceiver
from netnode.errors import HostError, NetnodeError, StoreUnavailable
from netnode.model.loading import load_data, load_file
from netnode.model.topology import Topology
from netnode.plan.desired import flow_log_socket, flow_logs_dir, process_name
from netnode.plan.operations import unit_of
from netnode.plan.uplinks import ProviderMappings
from netnode.reconcile import converge
from netnode.reconcile.converge import Outcome
from netnode.reconcile.host import Host
from netnode.reconcile.metrics import Metrics, Target
from netnode.reconcile.sources import TopologyCache
from netnode.store.notify import CHANNEL, ChangeListener

DEFAULT_PERIOD = 10.0
WATCH_INTERVAL = 0.05
# How often a node of a cluster looks whether nodes died or placements moved.
CLUSTER_WATCH = 0.2
# While the store's writers wake this agent (PostgreSQL NOTIFY, netnode.store.notify),
# how often it still reads the topologies' generations: the backstop for a wake-up
# lost with a dropped connection (WATCH_INTERVAL otherwise).
NOTIFIED_WATCH = 2.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0

log = logging.getLogger("netnode.agent")


@dataclass(frozen=True)
class Report:
    """One topology's part of a round: its outcome, or why there was none."""

    topology: str
    kind: str  # "full" | "changes"
    outcome: Outcome | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.outcome is None or self.outcome.ok)

    def fields(self) -> dict[str, object]:
        """The report as the structured log's fields (``--log-format json``): the unit
        is the topology, the action its kind of pass."""
        duration = None if self.outcome is None else round(self.outcome.seconds, 6)
        outcome = "ok" if self.ok else ("not run" if self.error is not None else "failed")
        return {
            "unit": self.topology,
            "action": f"{self.kind} pass",
            "duration": duration,
            "outcome": outcome,
        }

    def units(self) -> list[tuple[str, str, str]]:
        """Each unit (namespace, or "host" for the bridges) the pass acted on: the
        unit, its action (create, change or delete: the weightiest of its operations)
        and its outcome (ok, failed, refused)."""
        if self.outcome is None:
            return []
        rank = {"change": 1, "delete": 2, "create": 3}
        actions: dict[str, str] = {}
        for operation in self.outcome.plan.operations:
            unit = unit_of(operation) or "host"
            if rank[operation.action] > rank.get(actions.get(unit, ""), 0):
                actions[unit] = operation.action
        outcomes: dict[str, str] = {}
        for failure in self.outcome.failures:
            unit = failure.unit or "host"
            actions.setdefault(unit, "change")
            outcomes[unit] = "refused" if failure.permanent else "failed"
        return [(unit, action, outcomes.get(unit, "ok")) for unit, action in actions.items()]

    def __str__(self) -> str:
        if self.error is not None:
            return f"{self.topology}: {self.kind} pass not run: {self.error}"
        assert self.outcome is not None
        o = self.outcome
        counts = o.plan.summary()
        what = (
            "no changes"
            if o.plan.empty
            else f"{counts['create']} created, {counts['change']} changed, "
            f"{counts['delete']} deleted"
        )
        scope = "" if o.scope is None else f" ({len(o.scope)} units)"
        line = f"{self.topology}: {self.kind} pass{scope}: {what} in {o.seconds:.3f} s"
        for failure in o.failures:
            line += f"\n  ! {failure}"
        return line


@dataclass
class Health:
    """How the loop is doing, for whoever supervises it (``netnode serve``, a health
    check): rounds completed and failed, the failures in a row, the last error."""

    rounds: int = 0
    failed_rounds: int = 0
    failing: int = 0
    last_error: str | None = None
    # time.monotonic() of the last round that ran to its end (None: none yet).
    last_round_at: float | None = None


def log_info(line: str) -> None:
    log.info("%s", line)


def backoff(count: int) -> float:
    """Seconds before retrying a unit that failed ``count`` passes in a row."""
    return min(BACKOFF_FIRST * 2 ** max(count - 1, 0), BACKOFF_MAX)


class Agent:
    def __init__(
        self,
        host: Host,
        *,
        files: Sequence[Path] = (),
        period: float = DEFAULT_PERIOD,
        log: Callable[[str], None] | None = None,
        cluster: Cluster | None = None,
        alive: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        mappings: ProviderMappings | None = None,
    ) -> None:
        self.host = host
        # The node's provider mappings: the API's external network's uplink.
        self.mappings = mappings
        # Called each time round the loop, between rounds: a supervisor's watchdog
        # (systemd's, netnode.drivers.sdnotify) that a stuck loop stops feeding.
        self.alive = alive
        # Counts the passes (``netnode.reconcile.metrics``); None: nothing is counted.
        self.metrics = metrics
        # The topologies the last pass converged (what a metrics scrape reads).
        self.converged: dict[str, Topology] = {}
        self.files = [Path(f) for f in files]
        self.period = period
        # Where the loop's lines go: the "netnode.agent" logger unless a caller (a
        # test) takes them itself.
        self._own_log = log
        self.log: Callable[[str], None] = log or log_info
        self.store = host.store
        self._wake = threading.Event()
        self._seen: dict[Path, int] = {}
        self._store_seen: dict[str, object] | None = None
        self._file_topologies: set[str] = set()
        self._retry_at: float | None = None
        self.health = Health()
        # One node of several (``--cluster``): schedules, and converges what is placed
        # on it of the cluster's desired state.
        self.cluster = cluster
        self._cluster_checked = 0.0
        self._cluster_stamp: tuple[object, ...] | None = None
        # The generations as last read, and when (see NOTIFIED_WATCH).
        self._generations: dict[str, int] | None = None
        self._generations_at = 0.0
        self.listener: ChangeListener | None = None
        # Each recorded topology as last read: read whole once, then row by row as its
        # rows change (a write of one load balancer is one row parsed, not a topology).
        self._sources = TopologyCache()

    # --- what is desired ------------------------------------------------------------

    def desired(
        self, generations: dict[str, int] | None = None
    ) -> tuple[dict[str, Topology], list[Report]]:
        """Every desired topology by name; a file that does not load is reported and
        its last recorded state (if any) stays desired. A recorded topology is read
        once per generation, and then only the rows that changed (``reconcile.sources``).
        ``generations``: the store's, as just read (None: read them)."""
        topologies: dict[str, Topology] = {}
        problems: list[Report] = []
        self._file_topologies = set()
        if generations is None:
            generations = self.store.generations()
        for name, generation in generations.items():
            parsed = self._sources.get(self.store, name, generation, self.host.scope)
            if parsed is not None:
                topo = parsed.topo
                if self.mappings is not None:
                    topo = self.mappings.apply(name, topo)
                topologies[name] = topo if self.cluster is None else self.cluster.local(topo)
                continue
            document, _ = self.store.document(name)
            if document is None:
                continue
            try:  # what is wrong with it, for the report
                load_data(document, self.host.scope, f"record {name}")
            except NetnodeError as exc:
                problems.append(Report(name, "load", error=str(exc)))
        for path in self.files:
            try:
                topo = load_file(path, self.host.scope)
            except (NetnodeError, OSError) as exc:
                problems.append(Report(str(path), "load", error=str(exc)))
                continue
            assert topo.name is not None  # load_file refuses a file that names none
            topologies[topo.name] = topo
            self._file_topologies.add(topo.name)
        return topologies, problems

    # --- passes -----------------------------------------------------------------------

    def run_once(self, *, changed_only: bool = False) -> list[Report]:
        """One pass over every desired topology."""
        kind = "changes" if changed_only else "full"
        # Stamped before reading: a document written during the pass is a change the
        # next round sees, not one this pass already covered.
        stamp = self._store_stamp(fresh=True)
        if self.cluster is not None:
            self._schedule()
        # The generations just stamped (a write since is the next round's change).
        topologies, reports = self.desired(self._generations)
        from_files = self._file_topologies
        for name, topo in topologies.items():
            try:
                outcome = converge.apply(
                    self.host, topo, changed_only=changed_only, record_desired=name in from_files
                )
            except StoreUnavailable:
                raise  # every topology would meet it: the round fails and backs off
            except (NetnodeError, OSError) as exc:
                reports.append(Report(name, kind, error=str(exc)))
                continue
            except Exception as exc:  # one topology's bug stops no other
                reports.append(
                    Report(
                        name,
                        kind,
                        error=f"unexpected error: {exc!r}\n{traceback.format_exc().rstrip()}",
                    )
                )
                continue
            reports.append(Report(name, kind, outcome))
        self.converged = topologies
        if self.metrics is not None:
            for report in reports:
                self.metrics.record_pass(report.topology, report.kind, report.outcome, report.error)
            self.metrics.forget(topologies)
        self._plan_retry(reports)
        self._store_seen = stamp
        return reports

    def targets(self) -> list[Target]:
        """The load balancers the last pass converged, for a metrics scrape."""
        provisioning = {} if self.metrics is None else self.metrics.provisioning()
        return [
            Target(lb, provisioning=provisioning)
            for topo in self.converged.values()
            for lb in topo.load_balancers
        ]

    def trigger(self) -> None:
        """Ask for a changes pass now (the API calls this after writing)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set: a full pass at once and every ``period`` seconds,
        a changes pass whenever something changes, retries with back-off."""
        self._stamp_files()
        self._listen()
        receiver = self._receive_flow_logs()
        try:
            self._loop(stop)
        finally:
            if self.listener is not None:
                self.listener.stop()
            if receiver is not None:
                receiver.stop()

    def _receive_flow_logs(self) -> FlowLogReceiver | None:
        """The node's HAProxies log to a socket this loop's process owns: receive and
        write each load balancer's flow log (``drivers.flow_logs``) while the loop runs."""
        run_dir = self.host.run_dir
        receiver = FlowLogReceiver(
            Path(flow_log_socket(run_dir)), Path(flow_logs_dir(run_dir)), self.host.state_dir
        )
        try:
            receiver.start()
        except (HostError, OSError) as exc:
            self._warn(f"tenant flow logs are not received: {exc}")
            return None
        return receiver

    def _listen(self) -> None:
        """On PostgreSQL, a listener that wakes this loop when a writer commits a
        change of this node's scope (``netnode.store.notify``)."""
        engine = self.store.engine
        if ChangeListener.available(engine):
            self.listener = ChangeListener(engine, self.host.scope, self._wake)
            self.listener.start()
            self.log(
                f"watching the store: LISTEN {CHANNEL} for {self.host.scope!r}, and a look "
                f"every {NOTIFIED_WATCH:g} s"
            )

    def _loop(self, stop: threading.Event) -> None:
        next_full = time.monotonic()
        while not stop.is_set():
            if self.alive is not None:
                self.alive()
            now = time.monotonic()
            due = self._retry_at if self._retry_at is not None else next_full
            if self.health.failing and now < due:
                # Backing off after a failed round: nothing runs before its time (a
                # wake-up meanwhile stays set, for the round after).
                stop.wait(due - now)
                continue
            if now >= next_full:
                ok = self._round(full=True)
                next_full = time.monotonic() + (self.period if ok else 0)
                continue
            changed = (
                self._wake.is_set() or self._files_changed() or self._guarded(self._store_changed)
            )
            retry = self._retry_at is not None and now >= self._retry_at
            if changed or retry:
                self._wake.clear()
                self._round(full=False)
                continue
            deadline = min(next_full, self._retry_at or next_full, now + WATCH_INTERVAL)
            self._wake.wait(max(deadline - now, 0))

    def _round(self, *, full: bool) -> bool:
        """One round that cannot end the loop: True when it ran to its end. A round that
        raised is logged and counted, and the next one waits for the back-off (a full
        round that failed is retried as a full round: it still owes the drift repair)."""
        try:
            reports = self.run_once(changed_only=not full)
        except Exception as exc:  # nothing a round meets may stop the loop
            self._round_failed(exc)
            return False
        self.health.rounds += 1
        self.health.failing = 0
        self.health.last_round_at = time.monotonic()
        self._emit(reports, quiet_if_empty=not full)
        return True

    def _round_failed(self, exc: Exception) -> None:
        h = self.health
        h.failed_rounds += 1
        h.failing += 1
        h.last_error = f"{type(exc).__name__}: {exc}"
        wait = backoff(h.failing)
        if isinstance(exc, NetnodeError):
            # Expected trouble (the store restarting, a host error outside any unit):
            # its message says what it is.
            self._warn(f"round failed ({h.failing} in a row), retrying in {wait:.1f} s: {exc}")
        else:
            self._warn(
                f"round failed ({h.failing} in a row) with an unexpected error, retrying in "
                f"{wait:.1f} s:\n{traceback.format_exc().rstrip()}"
            )
        self._retry_at = time.monotonic() + wait

    def _warn(self, line: str) -> None:
        if self._own_log is not None:
            self._own_log(line)
        else:
            log.warning("%s", line)

    def _guarded(self, question: Callable[[], bool]) -> bool:
        """A question to the store between rounds; if it cannot be answered (the store
        does not answer, or anything else went wrong), the answer is "changed": a round
        will meet the same trouble, and count it, log it and back off. Nothing asked
        between rounds may end the loop."""
        try:
            return question()
        except Exception:
            return True

    # --- helpers ----------------------------------------------------------------------

    def _emit(self, reports: list[Report], quiet_if_empty: bool = False) -> None:
        for report in reports:
            quiet = report.ok and report.outcome is not None and report.outcome.plan.empty
            if not (quiet and quiet_if_empty):
                if self._own_log is not None:
                    self._own_log(str(report))
                else:
                    level = logging.INFO if report.ok else logging.WARNING
                    log.log(level, "%s", report, extra=report.fields())
                    for unit, action, outcome in report.units():
                        log.log(
                            logging.INFO if outcome == "ok" else logging.WARNING,
                            "%s: %s: %s %s",
                            report.topology,
                            unit,
                            action,
                            outcome,
                            extra={"unit": unit, "action": action, "outcome": outcome},
                        )

    def _plan_retry(self, reports: list[Report]) -> None:
        """When to retry the units that failed with a temporary error."""
        waits = []
        for report in reports:
            if report.error is not None and report.kind != "load":
                waits.append(BACKOFF_FIRST)
            if report.outcome is not None:
                failures = report.outcome.unit_failures.values()
                waits += [backoff(f.count) for f in failures if not f.permanent]
        self._retry_at = time.monotonic() + min(waits) if waits else None

    def _stamp(self, path: Path) -> int:
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return 0

    def _stamp_files(self) -> None:
        self._seen = {path: self._stamp(path) for path in self.files}

    def _files_changed(self) -> bool:
        stamps = {path: self._stamp(path) for path in self.files}
        changed = stamps != self._seen
        self._seen = stamps
        return changed

    def _store_stamp(self, fresh: bool = False) -> dict[str, object]:
        """The generations of the scope's topologies (read again each time, or, while
        a listener is woken by every write, every NOTIFIED_WATCH seconds unless
        ``fresh``) and, on a node of a cluster, the cluster's stamp."""
        now = time.monotonic()
        notified = self.listener is not None and self.listener.listening
        if (
            fresh
            or not notified
            or self._generations is None
            or now - self._generations_at >= NOTIFIED_WATCH
        ):
            self._generations, self._generations_at = dict(self.store.generations()), now
        stamp: dict[str, object] = dict(self._generations)
        if self.cluster is not None:
            # Nodes living and dying, placements made and dropped: looked at less often
            # than the generations (a pass is due at once either way).
            if self._cluster_stamp is None or now - self._cluster_checked >= CLUSTER_WATCH:
                self._cluster_checked = now
                # Its keepalived's states too: an instance that took the VIP over is a
                # takeover to record at once (``_schedule``).
                self._cluster_stamp = (*self.cluster.stamp(), self._vrrp_states())
            stamp["#cluster"] = self._cluster_stamp
        return stamp

    def _schedule(self) -> None:
        """The cluster's scheduling pass (whichever node holds the turn decides), then
        where everything is placed, for this round."""
        assert self.cluster is not None
        decisions = self.cluster.schedule()
        if decisions is not None:
            for line in describe(decisions):
                self.log(f"{self.cluster.scope}: {line}")
        self.cluster.refresh()
        # The roles of an HA pair follow VRRP: an instance here that took the VIP over
        # becomes MASTER (the other BACKUP), and this pass renders the new priorities.
        taken = self.cluster.follow_vrrp(self._vrrp_states())
        for takeover in taken:
            self.log(f"{self.cluster.scope}: {takeover}")
        if taken:
            self.cluster.refresh()

    def _vrrp_states(self) -> dict[str, VrrpState]:
        """What this node's keepalived last said of each HA instance placed on it (as
        last read), by placement id; an instance whose keepalived does not run or has
        not said yet is missing."""
        assert self.cluster is not None
        found = {}
        for p in self.cluster.pairs_here():
            roles = self.host.keepalived.roles(process_name("vrrp", p.id))
            if len(roles) == 1:
                (role,) = roles.values()
                found[p.id] = VrrpState(role.state, role.since)
        return found

    def _store_changed(self) -> bool:
        # A topology's generation moves when its document is written: netnode apply,
        # or the API, recorded a new desired state (a topology forgotten counts too).
        return self._store_seen is not None and self._store_stamp() != self._store_seen
