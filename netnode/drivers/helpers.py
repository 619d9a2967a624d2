"""netnode's own helper processes: Python modules run inside a namespace, by pid.

HAProxy does what it can (``drivers/haproxy.py``); what it cannot is done by small
Python programs of netnode's: the UDP health checker of a load balancer
(``netnode.udpcheck``) and a lab instance's UDP responder (``netnode.lab.udp_server``).
Each runs as ``ip netns exec NS <this python> -m MODULE <dir>/config.json`` with a
directory ``<run_dir>/<name>/``::

    config.json   what it runs with (0600); a change restarts it
    pid           its pid, written by the helper once it serves (``announce_ready``)
    log           its stdout and stderr

A pid is trusted only when that process is alive and its command line names the
module and this directory's config: a recycled pid is never signalled, and nothing is
ever killed by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from netnode.drivers.procfs import (
    alive,
    log_tail,
    process_dir,
    read_pid,
    terminate,
    wait_for,
    write_private,
)
from netnode.errors import HostError, MissingTool

CONFIG = "config.json"
PID = "pid"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class HelperProcesses:
    def __init__(self, run_dir: Path, python: str = sys.executable) -> None:
        self.run_dir = Path(run_dir).absolute()
        self.python = python

    def dir(self, name: str) -> Path:
        return process_dir(self.run_dir, name)

    def installed_config(self, name: str) -> str | None:
        try:
            return (self.dir(name) / CONFIG).read_text()
        except FileNotFoundError:
            return None

    def running_pid(self, name: str) -> int | None:
        d = self.dir(name)
        pid = read_pid(d / PID)
        return pid if pid is not None and _is_ours(pid, d / CONFIG) else None

    def start(self, name: str, namespace: str | None, module: str, config: str) -> int:
        """Write the config and start ``module`` in ``namespace`` (None: the host's, as
        the metadata service runs), detached (it outlives this process); return its pid
        once it says it is ready. A helper already running under ``name`` is stopped
        first."""
        self.launch(name, namespace, module, config)
        return self.wait_ready(name, namespace, module)

    def launch(self, name: str, namespace: str | None, module: str, config: str) -> None:
        """``start`` without waiting: the helper starts (a Python interpreter and its
        imports, about 0.1 s) while the caller goes on; ``wait_ready`` then."""
        self.stop(name, keep_dir=True)
        d = self.dir(name)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(d / CONFIG, config)
        (d / PID).unlink(missing_ok=True)
        for program, package in (("ip", "iproute2"), ("setsid", "util-linux")):
            if shutil.which(program) is None:
                raise MissingTool(program, package)
        # setsid --fork: a session of its own, and not this process's child (nobody here
        # waits for it); "ip netns exec" execs the module, which writes its own pid.
        inside = [] if namespace is None else ["ip", "netns", "exec", namespace]
        argv = [
            "setsid", "--fork", *inside,
            self.python, "-m", module, str(d / CONFIG),
        ]  # fmt: skip
        with open(d / "log", "ab") as log:
            subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=30, check=True
            )

    def wait_ready(self, name: str, namespace: str | None, module: str) -> int:
        """The pid of the helper ``launch`` started, once it wrote its pid file (woken by
        inotify when the file appears, not by polling); HostError after START_TIMEOUT."""
        d = self.dir(name)
        pid = _wait_for_file(d, PID, lambda: self.running_pid(name), START_TIMEOUT)
        if pid is not None:
            return pid
        raise HostError(
            f"{module} for {name} did not become ready in namespace {namespace or 'of the host'} within "
            f"{START_TIMEOUT:.0f}s: {log_tail(d / 'log')}",
            hint=f"its configuration is {d / CONFIG}, its log {d / 'log'}",
        )

    def stop(self, name: str, *, keep_dir: bool = False) -> bool:
        """Stop the helper (SIGTERM, then SIGKILL) and remove its directory. True if a
        process was stopped."""
        d = self.dir(name)
        pid = self.running_pid(name)
        if pid is not None:
            _terminate(pid, d / CONFIG)
        if not keep_dir and d.is_dir():
            shutil.rmtree(d)
        return pid is not None


def announce_ready(config: Path) -> None:
    """Called by a helper once it serves: its pid beside its config."""
    write_private(config.parent / PID, f"{os.getpid()}\n")


IN_CLOEXEC, IN_NONBLOCK = 0o2000000, 0o4000
IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x8, 0x80, 0x100


def _wait_for_file(
    directory: Path, name: str, probe: Callable[[], int | None], timeout: float
) -> int | None:
    """``probe()``'s first value that is not None, tried again each time a file named
    ``name`` is created or renamed into ``directory`` (inotify), and at least every
    half second (a process that died writes nothing); None after ``timeout``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        return wait_for(probe, timeout, 0.01)
    try:
        mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
        if libc.inotify_add_watch(fd, str(directory).encode(), mask) < 0:
            return wait_for(probe, timeout, 0.01)
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value is not None:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(fd, 4096):
                        pass
    finally:
        os.close(fd)


def _is_ours(pid: int, config: Path) -> bool:
    if pid <= 1 or not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(config).encode() in argv


def _terminate(pid: int, config: Path) -> None:
    terminate(pid, lambda p: _is_ours(p, config), STOP_TIMEOUT)
