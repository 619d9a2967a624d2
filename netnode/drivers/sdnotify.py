"""systemd's notification protocol (``sd_notify(3)``) for ``Type=notify`` units: the
service says ``READY=1`` once it serves, ``WATCHDOG=1`` while its loop is alive,
``STATUS=...`` for ``systemctl status``, ``STOPPING=1`` on its way out.

One datagram per message to the unix socket named by ``$NOTIFY_SOCKET`` (a path, or an
abstract name written ``@name``). Without ``$NOTIFY_SOCKET`` (not started by systemd)
every method does nothing. ``$WATCHDOG_USEC`` (set by ``WatchdogSec=``) says how often
systemd expects ``WATCHDOG=1``: ``Notifier.alive`` sends it at half that interval, and
only when it is called, so a loop that stops calling it gets the service restarted.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET") or None
        # Only the process systemd started (NotifyAccess=main) is to speak: a child
        # that inherits the environment is not (WATCHDOG_PID names the main one).
        pid = env.get("WATCHDOG_PID")
        if pid and pid != str(os.getpid()):
            name = None
        self.address = None if name is None else "\0" + name[1:] if name[0] == "@" else name
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog = int(usec) / 1e6 / 2 if usec.isdigit() and int(usec) > 0 else None
        self._last_ping = 0.0
        self._lock = threading.Lock()
        self._ready = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> None:
        """One message of ``KEY=VALUE`` lines; failures to deliver are ignored (systemd
        gone must not stop the service)."""
        if self.address is None:
            return
        message = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, self.address)
        except OSError:
            pass

    def ready(self, status: str | None = None) -> None:
        """``READY=1``, once."""
        with self._lock:
            if self._ready:
                return
            self._ready = True
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def alive(self) -> None:
        """Called by the loop each time round: ``WATCHDOG=1`` at most every half
        ``$WATCHDOG_USEC`` (nothing without a watchdog)."""
        if self.watchdog is None or self.address is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last_ping < self.watchdog:
                return
            self._last_ping = now
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
