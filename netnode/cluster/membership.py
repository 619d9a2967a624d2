"""A node's membership of the cluster: its row in the store, its heartbeat, its lock.

``Membership.join`` registers the node (or takes back the row of a node of the same
name that is no longer running) and, on PostgreSQL, takes the node's session-level
advisory lock on a connection of its own; ``start`` beats on that connection from a
thread of its own, four times per timeout, so a long reconcile pass never makes the
node look dead; ``stop`` says the node left, and lets the lock go.

A store outage never stops the heartbeat: a failed beat is logged, the connection
dropped, and the next beat reconnects and takes the lock again. If another process
took the node's name meanwhile (its lock is held by someone else), that is logged on
every beat until it is resolved: two processes must not act as one node.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from sqlalchemy.engine import Connection, Engine

from netnode.cluster.liveness import DEFAULT_TIMEOUT, DEFAULT_ZONE
from netnode.errors import HostError, NetnodeError
from netnode.store import nodes as rows

BEATS_PER_TIMEOUT = 4


class NodeTaken(HostError):
    """Another running process already is this node."""


def version() -> str:
    try:
        return metadata.version("netnode")
    except metadata.PackageNotFoundError:
        return "unknown"


class Membership:
    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        zone: str = DEFAULT_ZONE,
        timeout: float = DEFAULT_TIMEOUT,
        report: Callable[[], dict[str, Any]] = dict,
        log: Callable[[str], None] = print,
    ) -> None:
        self.engine = engine
        self.name = name
        self.zone = zone
        self.timeout = timeout
        self.report = report
        self.log = log
        self.id: int | None = None
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def interval(self) -> float:
        return self.timeout / BEATS_PER_TIMEOUT

    # --- joining and leaving ---------------------------------------------------------

    def join(self) -> None:
        """Register this node; raises ``NodeTaken`` when a live process already is it."""
        conn = self._connect()
        try:
            self._register(conn)
        except BaseException:
            self._drop()
            raise

    def _register(self, conn: Connection) -> None:
        values = self._values()
        with conn.begin():
            existing = rows.find(conn, self.name)
            if existing is None:
                self.id = rows.insert(conn, {"name": self.name, **values})
                # Locked before the row is committed: whoever sees the row sees the lock.
                self._lock(conn, None)
                return
            self.id = existing.id
            self._lock(conn, existing)
            if not rows.postgres(conn):
                self._refuse_if_running(conn, existing)
            rows.restart(conn, self.name, values)

    def _reattach(self, conn: Connection) -> None:
        """After a lost connection: the lock again on the new session (the row, if an
        operator deleted it meanwhile, as a new node)."""
        with conn.begin():
            existing = rows.find(conn, self.name)
            if existing is None:
                self.id = rows.insert(conn, {"name": self.name, **self._values()})
                self._lock(conn, None)
            else:
                self.id = existing.id
                self._lock(conn, existing)

    def _values(self) -> dict[str, Any]:
        return {
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "version": version(),
            "availability_zone": self.zone,
            "timeout": self.timeout,
        }

    def _lock(self, conn: Connection, existing: rows.NodeRow | None) -> None:
        if not rows.postgres(conn):
            return
        assert self.id is not None
        if not rows.try_lock(conn, self.id):
            where = "" if existing is None else f" (pid {existing.pid} on {existing.hostname})"
            raise NodeTaken(
                f"node {self.name!r} is already running{where}: another process holds its "
                "lock in the store",
                hint="give this one another --node, or stop the other first",
            )

    def _refuse_if_running(self, conn: Connection, existing: rows.NodeRow) -> None:
        """SQLite has no session locks: a fresh heartbeat from a live process on this
        host is the same thing said more slowly."""
        if existing.left_at is not None and existing.left_at >= existing.heartbeat_at:
            return
        age = (rows.now(conn) - existing.heartbeat_at).total_seconds()
        if age > existing.timeout or existing.hostname != socket.gethostname():
            return
        if existing.pid != os.getpid() and _running(existing.pid):
            raise NodeTaken(
                f"node {self.name!r} is already running (pid {existing.pid}, heartbeat "
                f"{age:.1f} s ago)",
                hint="give this one another --node, or stop the other first",
            )

    def stop(self) -> None:
        """Stop beating, say the node left, let its lock go (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout)
            self._thread = None
        try:
            conn = self._connect()
            with conn.begin():
                rows.leave(conn, self.name)
            if rows.postgres(conn) and self.id is not None:
                with conn.begin():
                    rows.unlock(conn, self.id)
        except NetnodeError as exc:
            self.log(f"netnode: node {self.name!r}: could not record leaving: {exc}")
        finally:
            self._drop()

    # --- beating ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"netnode-heartbeat-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> bool:
        """One heartbeat; False when it failed (logged once per run of failures)."""
        try:
            reconnected = self._conn is None
            conn = self._connect()
            if reconnected:
                # A new session holds no lock yet.
                self._reattach(conn)
            with conn.begin():
                present = rows.beat(conn, self.name, self.report())
            if not present:
                self.log(f"netnode: node {self.name!r}: its row was deleted; joining again")
                self._reattach(conn)
        except Exception as exc:  # nothing may end the heartbeat: it is the node's life
            self._drop()
            if not self._failing:
                what = str(exc) if isinstance(exc, NetnodeError) else f"{type(exc).__name__}: {exc}"
                self.log(f"netnode: node {self.name!r}: heartbeat failed: {what}; retrying")
            self._failing = True
            return False
        if self._failing:
            self.log(f"netnode: node {self.name!r}: heartbeat back")
        self._failing = False
        return True

    def _connect(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.invalidate()  # its session (and so its lock) ends with it
            conn.close()
        except Exception:  # a broken connection may fail to close too
            pass


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
