"""The operating statuses the API shows, read from HAProxy by one watcher thread and
not by the requests: a listing of a thousand load balancers asks no stats socket.

The watcher (``StatusCache.start``, run by ``netnode serve``) reads every load
balancer's rows once per ``interval`` seconds (HAProxy's ``show stat`` plus the UDP
checker's health, ``Service.live_rows``) and replaces the whole table at once, so a
load balancer that is gone leaves it at the next refresh and a reader always sees one
consistent refresh. A load balancer the watcher has not seen yet is unobserved: every
object of it OFFLINE, as Octavia shows an object before its first status.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from netnode.model.topology import LoadBalancer
from netnode.reconcile.status import OFFLINE, LoadBalancerStatus

Rows = list[dict[str, str]]

DEFAULT_INTERVAL = 1.0

log = logging.getLogger("netnode.api.status")


class StatusCache:
    """Load balancer id -> its rows (None: its HAProxy is not running), as last read."""

    def __init__(
        self, read: Callable[[LoadBalancer], Rows | None], interval: float = DEFAULT_INTERVAL
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the status interval must be positive, not {interval}")
        self.read = read
        self.interval = interval
        self._rows: dict[str, Rows | None] = {}
        self._seen: dict[str, tuple[tuple[str, str, str], ...] | None] = {}
        # Counts the refreshes that changed a status (not a counter): what is derived
        # from the statuses is kept while it stays the same.
        self.version = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self, lb_id: str) -> tuple[bool, Rows | None]:
        """(observed, rows): observed False when no refresh has seen ``lb_id`` yet."""
        with self._lock:
            if lb_id not in self._rows:
                return False, None
            return True, self._rows[lb_id]

    def refresh(self, lbs: Iterable[LoadBalancer]) -> None:
        """Read every one of ``lbs`` and make that the whole table."""
        fresh = {lb.uid: self.read(lb) for lb in lbs}
        seen = {uid: _statuses(rows) for uid, rows in fresh.items()}
        with self._lock:
            self._rows = fresh
            if seen != self._seen:
                self._seen = seen
                self.version += 1

    # --- the watcher ----------------------------------------------------------------

    def start(self, lbs: Callable[[], Iterable[LoadBalancer]]) -> None:
        """Refresh from ``lbs()`` now and every ``interval`` seconds, in a daemon thread,
        until ``stop``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch, args=(lbs,), name="netnode-status", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _watch(self, lbs: Callable[[], Iterable[LoadBalancer]]) -> None:
        while not self._stop.is_set():
            try:
                self.refresh(lbs())
            except Exception:  # a failed refresh keeps the last one; the next may work
                log.exception("refreshing the load balancers' statuses failed")
            self._stop.wait(self.interval)


def _statuses(rows: Rows | None) -> tuple[tuple[str, str, str], ...] | None:
    if rows is None:
        return None
    return tuple((r.get("pxname", ""), r.get("svname", ""), r.get("status", "")) for r in rows)


def interval_seconds(text: str) -> float:
    """``--status-interval``: seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def unobserved(status: LoadBalancerStatus) -> LoadBalancerStatus:
    """``status`` with every object OFFLINE: nothing was observed of it yet."""
    return replace(
        status,
        operating_status=OFFLINE,
        listeners=[replace(x, operating_status=OFFLINE) for x in status.listeners],
        pools=[
            replace(
                p,
                operating_status=OFFLINE,
                members=[replace(m, operating_status=OFFLINE) for m in p.members],
            )
            for p in status.pools
        ],
    )
