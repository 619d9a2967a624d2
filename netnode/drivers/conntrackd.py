"""conntrackd processes: the only place netnode starts and stops conntrackd.

One conntrackd per HA router instance, in the router's namespace, with a directory
``<run_dir>/<name>/`` (``netnode.render.conntrackd.ConntrackdFiles``)::

    conntrackd.conf   its configuration (0600); a change restarts it (it has no reload)
    conntrackd.pid    its pid, written here (conntrackd writes none)
    conntrackd.log    its log, and the transitions keepalived had it make
    transition.sh     keepalived's notify script for the instance (0700)
    ctl, lock         its control socket and lock file

How it runs: ``ip netns exec NS conntrackd -C CFG`` in the foreground of a session of
its own (``ip netns exec`` execs conntrackd, so the pid is conntrackd's). It is ready
when its control socket answers. A conntrackd killed leaves its lock file, which makes
the next one refuse to start: the lock is removed when no conntrackd of ours runs.

A pid is trusted only when that process is alive and its command line names conntrackd
and this directory's configuration. Nothing is ever killed by name.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from netnode.drivers.haproxy import in_namespace
from netnode.drivers.procfs import (
    alive,
    log_tail,
    managed_names,
    process_dir,
    read_pid,
    terminate,
    write_private,
)
from netnode.errors import HostError, MissingTool
from netnode.render.conntrackd import (
    ConntrackdFiles,
    files,
    render_transition_script,
    transition_script,
)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class ConntrackdProcesses:
    def __init__(self, run_dir: Path, binary: str = "conntrackd") -> None:
        self.run_dir = Path(run_dir).absolute()
        self.binary = binary

    def files(self, name: str) -> ConntrackdFiles:
        return files(str(process_dir(self.run_dir, name)))

    def names(self) -> list[str]:
        return managed_names(self.run_dir)

    def installed_config(self, name: str) -> str | None:
        try:
            return Path(self.files(name).config).read_text()
        except FileNotFoundError:
            return None

    def running_pid(self, name: str) -> int | None:
        f = self.files(name)
        pid = read_pid(Path(f.pid))
        return pid if pid is not None and _is_ours(pid, Path(f.config)) else None

    def runs_in(self, name: str, namespace: str) -> bool:
        pid = self.running_pid(name)
        return pid is not None and in_namespace(pid, namespace)

    def ensure(self, name: str, namespace: str, config: str) -> int:
        """conntrackd running in ``namespace`` with ``config``: started (again) unless
        it already is."""
        pid = self.running_pid(name)
        if (
            pid is not None
            and self.installed_config(name) == config
            and in_namespace(pid, namespace)
        ):
            return pid
        return self.start(name, namespace, config)

    def start(self, name: str, namespace: str, config: str) -> int:
        """Install ``config`` and keepalived's transition script, start conntrackd and
        return its pid once its control socket exists."""
        binary = shutil.which(self.binary)
        if binary is None:
            raise MissingTool(self.binary, "conntrackd")
        self.stop(name, keep_dir=True)
        f = self.files(name)
        d = Path(f.dir)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(Path(f.config), config)
        script = Path(transition_script(f))
        write_private(script, render_transition_script(f))
        script.chmod(0o700)
        for stale in (f.lock, f.socket, f.pid):
            Path(stale).unlink(missing_ok=True)
        with open(f.log, "ab") as log:
            child = subprocess.Popen(
                ["ip", "netns", "exec", namespace, binary, "-C", str(f.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        write_private(Path(f.pid), f"{child.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise HostError(
                    f"conntrackd {name} in {namespace} exited at start "
                    f"(status {child.returncode}): {log_tail(Path(f.log))}",
                    hint=f"see {f.log}; check the configuration with 'cat {f.config}'",
                )
            if Path(f.socket).exists():
                return child.pid
            time.sleep(0.01)
        self.stop(name, keep_dir=True)
        raise HostError(
            f"conntrackd {name} in {namespace} did not open its control socket within "
            f"{START_TIMEOUT:.0f} s: {log_tail(Path(f.log))}"
        )

    def stop(self, name: str, keep_dir: bool = False) -> None:
        f = self.files(name)
        pid = self.running_pid(name)
        if pid is not None:
            terminate(pid, lambda p: _is_ours(p, Path(f.config)), STOP_TIMEOUT)
        if not keep_dir:
            shutil.rmtree(f.dir, ignore_errors=True)


def _is_ours(pid: int, config: Path) -> bool:
    if not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(argv)
        and Path(argv[0].decode(errors="replace")).name == "conntrackd"
        and (str(config).encode() in argv)
    )
