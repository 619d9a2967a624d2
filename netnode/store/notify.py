"""Waking the nodes when the desired state changes: PostgreSQL's LISTEN/NOTIFY.

A writer that changes what a scope's nodes converge (a topology's document, where its
objects are placed) calls ``changed(conn, scope)`` inside its transaction: PostgreSQL
delivers ``NOTIFY netnode, '<scope>'`` to every listener when, and only if, the
transaction commits (the same payload twice in one transaction is delivered once).

A node's agent runs a ``ChangeListener``: a connection of its own, outside the pool, in
autocommit, that LISTENs and sets the agent's wake-up event for each notification of
its scope. While it listens, the agent asks the store for changes only now and then (a
backstop: a notification lost with a dropped connection is found by the next look);
while it does not (SQLite, which has no NOTIFY, or the connection is down and being
made again), the agent polls as before. A listener that (re)connects wakes the agent
once, for what may have been written while nobody listened.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

CHANNEL = "netnode"
# Seconds between attempts to listen again after the connection failed.
RETRY = 1.0
# How long one wait for notifications lasts (so that ``stop`` is seen).
WAIT = 0.5


def changed(conn: Connection, scope: str) -> None:
    """Tell ``scope``'s listeners, at commit, that its desired state changed."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_notify(CHANNEL, scope)))


class ChangeListener:
    """LISTENs on a connection of its own; sets ``wake`` for each notification of
    ``scope``. ``listening`` is True while a LISTEN is in place."""

    def __init__(self, engine: Engine, scope: str, wake: threading.Event) -> None:
        self.url = engine.url.set(drivername="postgresql")
        self.scope = scope
        self.wake = wake
        self.listening = False
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netnode-listen", daemon=True)

    @staticmethod
    def available(engine: Engine) -> bool:
        return engine.dialect.name == "postgresql"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT * 4)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                conninfo = self.url.render_as_string(hide_password=False)
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening, self.error = True, None
                    self.wake.set()  # whatever was written while nobody listened
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=WAIT):
                            if note.payload == self.scope:
                                self.wake.set()
            except Exception as exc:  # a listener must outlive any store trouble
                self.error = f"{type(exc).__name__}: {exc}".strip()
            finally:
                self.listening = False
            self._stop.wait(RETRY)


def wait_listening(listener: ChangeListener, timeout: float) -> bool:
    """True once ``listener`` listens (for tests and start-up logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listener.listening:
            return True
        time.sleep(0.01)
    return listener.listening
