"""keepalived processes: the only place netnode starts, reloads and stops keepalived.

One keepalived per managed name (one namespace, one VRRP instance), each with a
directory ``<run_dir>/<name>/`` holding its files (``netnode.render.keepalived.
KeepalivedFiles``)::

    keepalived.conf       the running configuration (0600)
    keepalived.conf.new   the candidate, while ``keepalived -t`` checks it
    keepalived.conf-failed  the last candidate keepalived refused
    keepalived.pid        the parent's pid (-p), vrrp.pid the VRRP child's (-r)
    keepalived.log        its log (-l: to the console, which is this file; no syslog)
    notify.sh             the vrrp_notify_fifo_script (0700), notify.fifo its fifo
    role.<instance>       the last state keepalived notified: "MASTER 100"

How it runs: ``setsid --fork keepalived -n -l -D -G -P -f CFG -p PID -r VRRP_PID -c
CHECKERS_PID``: in the foreground of a session of its own (not this process's child),
VRRP only, logging to its file. The configuration says ``net_namespace``: keepalived
enters the namespace itself, after opening the kernel's process-event connector that
``vrrp_track_process`` needs (under ``ip netns exec`` it would open it inside the
namespace, where it does not exist, and never see a tracked process die). keepalived
then bind-mounts ``/run/keepalived/<namespace>`` (which it creates) over
``/run/keepalived`` in a mount namespace of its own; ``stop`` removes that directory
when it is left empty. ``/etc/keepalived`` is never read.

Processes are found through their pid files only, and a pid is trusted only when the
process is alive and its command line names keepalived and this directory's config: a
recycled pid is never signalled. Nothing is ever killed by name.

A reload is SIGHUP to the parent, which passes it to the VRRP child. Reloads are
throttled: one at a time (each waits until keepalived has started its new notify
reader, which it does once it has read the configuration again) and at least
``reload_interval`` apart, since a storm of SIGHUPs can delay adverts until the backup
takes over (Neutron's HA routers lost their master that way).

Realtime scheduling (the fast profile) is set by this driver with sched_setscheduler,
not by keepalived's ``vrrp_rt_priority`` (see ``set_rt_priority``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from netnode.drivers.haproxy import in_namespace
from netnode.drivers.procfs import (
    alive,
    log_tail,
    managed_names,
    process_dir,
    read_pid,
    terminate,
    wait_for,
    write_private,
)
from netnode.errors import HostError, MissingTool, Refused
from netnode.render.keepalived import KeepalivedFiles, files, parse_role, render_notify_script

START_TIMEOUT = 10.0
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
RELOAD_INTERVAL = 1.0
# Where keepalived (net_namespace) makes /run/keepalived/<namespace>.
KEEPALIVED_RUN = Path("/run/keepalived")

Outcome = Literal["created", "changed", "unchanged"]


@dataclass(frozen=True)
class Role:
    """What keepalived last notified for an instance, and when netnode learned it."""

    state: str  # MASTER, BACKUP, FAULT (STOP while it shuts down)
    priority: int
    since: float  # time.time() of the notification (its file's mtime)


class KeepalivedProcesses:
    """Start, reload, observe and stop the keepalived processes under ``run_dir``."""

    def __init__(
        self,
        run_dir: Path,
        binary: str = "keepalived",
        reload_interval: float = RELOAD_INTERVAL,
    ) -> None:
        self.run_dir = Path(run_dir).absolute()
        self.binary = binary
        self.reload_interval = reload_interval
        self._last_reload: dict[str, float] = {}

    # --- paths and observation ----------------------------------------------------------

    def files(self, name: str) -> KeepalivedFiles:
        return files(str(process_dir(self.run_dir, name)))

    def names(self) -> list[str]:
        """Every managed name with a directory, running or not (for orphan detection)."""
        return managed_names(self.run_dir)

    def running_pid(self, name: str) -> int | None:
        """The parent's pid, if that process is alive and is our keepalived."""
        f = self.files(name)
        return _our_pid(Path(f.pid), Path(f.config))

    def vrrp_pid(self, name: str) -> int | None:
        """The VRRP child's pid (the process that sends adverts and holds the VIP)."""
        f = self.files(name)
        return _our_pid(Path(f.vrrp_pid), Path(f.config))

    def runs_in(self, name: str, namespace: str) -> bool:
        pid = self.vrrp_pid(name)
        return pid is not None and in_namespace(pid, namespace)

    def installed_config(self, name: str) -> str | None:
        try:
            return Path(self.files(name).config).read_text()
        except FileNotFoundError:
            return None

    def roles(self, name: str) -> dict[str, Role]:
        """Each instance's last notified state, while keepalived runs (a file left by a
        keepalived that was killed says nothing: {})."""
        if self.running_pid(name) is None or self.vrrp_pid(name) is None:
            return {}
        found = {}
        d = Path(self.files(name).dir)
        for path in d.glob("role.*"):
            try:
                text, mtime = path.read_text(), path.stat().st_mtime
            except OSError:
                continue
            parsed = parse_role(text)
            if parsed is not None:
                found[path.name.removeprefix("role.")] = Role(parsed[0], parsed[1], mtime)
        return found

    def role(self, name: str) -> str | None:
        """The state of ``name``'s one instance (MASTER, BACKUP, FAULT), None when
        keepalived is not running or has not said yet."""
        roles = self.roles(name)
        if len(roles) != 1:
            return None
        return next(iter(roles.values())).state

    # --- configuration ------------------------------------------------------------------

    def validate(self, name: str, config: str) -> None:
        """Write ``keepalived.conf.new`` and have keepalived check it (``-t``); on
        failure keep it as ``keepalived.conf-failed`` and raise Refused."""
        f = self.files(name)
        self._prepare_dir(f)
        new, failed = Path(f"{f.config}.new"), Path(f"{f.config}-failed")
        write_private(new, config)
        try:
            result = subprocess.run(
                [self._binary(), "-t", "-l", "-G", "-P", "-f", str(new)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            os.replace(new, failed)
            raise HostError(f"keepalived -t on {failed} did not finish") from exc
        if result.returncode != 0:
            os.replace(new, failed)
            message = (result.stderr or result.stdout).strip()
            raise Refused(
                f"keepalived refused the configuration for {name}, kept in {failed}:\n{message}",
                hint=f"check it with 'keepalived -t -l -f {failed}'; the running configuration is unchanged",
            )

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, name: str, config: str, rt_priority: int | None = None) -> int:
        """Validate, install and start keepalived; return the parent's pid once the VRRP
        child runs and has notified its first state (BACKUP, or FAULT while a tracked
        process is missing). A keepalived already running under ``name`` is stopped.
        ``rt_priority``: see ``set_rt_priority``."""
        self.stop(name, keep_dir=True)
        f = self.files(name)
        self.validate(name, config)
        os.replace(f"{f.config}.new", f.config)
        for stale in (f.pid, f.vrrp_pid, f.checkers_pid, f.notify_pid):
            Path(stale).unlink(missing_ok=True)
        for stale_role in Path(f.dir).glob("role.*"):
            stale_role.unlink(missing_ok=True)
        if shutil.which("setsid") is None:
            raise MissingTool("setsid", "util-linux")
        argv = [
            "setsid", "--fork",
            self._binary(),
            "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
            "--use-file", str(f.config),
            "--pid", str(f.pid),
            "--vrrp_pid", str(f.vrrp_pid),
            "--checkers_pid", str(f.checkers_pid),
        ]  # fmt: skip
        fd = os.open(f.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "ab") as log:
            subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=30, check=True
            )

        def ready() -> int | None:
            pid = self.running_pid(name)
            if pid is None or self.vrrp_pid(name) is None or not self.roles(name):
                return None
            return pid

        pid = wait_for(ready, START_TIMEOUT)
        if pid is None:
            self.stop(name, keep_dir=True)
            raise HostError(
                f"keepalived for {name} did not start and notify a state within "
                f"{START_TIMEOUT:.0f}s: {log_tail(Path(f.log))}",
                hint=f"its configuration is {f.config}, its log {f.log}",
            )
        self._last_reload[name] = time.monotonic()
        self.set_rt_priority(name, rt_priority)
        return pid

    def set_rt_priority(self, name: str, rt_priority: int | None) -> None:
        """Run ``name``'s keepalived (parent and VRRP child: a child the parent respawns
        inherits it) with SCHED_RR at ``rt_priority`` (1-99), or normal scheduling for
        None. Done here rather than with keepalived's ``vrrp_rt_priority``: keepalived
        2.2.7 drops RLIMIT_RTTIME to 0 at every reload and needs CAP_SYS_RESOURCE to raise
        it again; without it the kernel SIGKILLs the VRRP child after the first reload.
        keepalived leaves a scheduling it did not set alone across reloads."""
        if rt_priority is not None and not 1 <= rt_priority <= 99:
            raise ValueError(f"rt_priority {rt_priority} is not in 1-99")
        policy = os.SCHED_OTHER if rt_priority is None else os.SCHED_RR
        param = os.sched_param(rt_priority or 0)
        for pid in (self.running_pid(name), self.vrrp_pid(name)):
            if pid is None:
                continue
            try:
                if os.sched_getscheduler(pid) & ~os.SCHED_RESET_ON_FORK != policy or (
                    os.sched_getparam(pid).sched_priority != param.sched_priority
                ):
                    os.sched_setscheduler(pid, policy, param)
            except ProcessLookupError:
                continue
            except OSError as exc:
                raise HostError(
                    f"cannot set the scheduling of keepalived {name} (pid {pid}): {exc}",
                    hint="realtime scheduling needs root (CAP_SYS_NICE)",
                ) from exc

    def reload(self, name: str, config: str) -> None:
        """Validate and install ``config``, then SIGHUP keepalived; return once it has
        read it (its notify reader is a new process then). Waits first until
        ``reload_interval`` has passed since the last start or reload."""
        f = self.files(name)
        pid = self.running_pid(name)
        if pid is None:
            raise HostError(f"keepalived for {name} is not running; nothing to reload")
        self.validate(name, config)
        previous = self.installed_config(name)
        os.replace(f"{f.config}.new", f.config)
        last = self._last_reload.get(name)
        if last is not None:
            time.sleep(max(0.0, last + self.reload_interval - time.monotonic()))
        before = read_pid(Path(f.notify_pid))
        os.kill(pid, signal.SIGHUP)
        self._last_reload[name] = time.monotonic()

        def reloaded() -> bool | None:
            # keepalived starts a new notify reader once it has read the configuration
            # again and reopened its fifo.
            now = read_pid(Path(f.notify_pid))
            return True if now is not None and now != before and alive(now) else None

        if wait_for(reloaded, RELOAD_TIMEOUT) is None:
            if previous is not None:
                os.replace(f.config, f"{f.config}-failed")
                write_private(Path(f.config), previous)
            raise HostError(
                f"keepalived for {name} did not finish a reload within "
                f"{RELOAD_TIMEOUT:.0f}s: {log_tail(Path(f.log))}",
                hint=f"its log is {f.log}",
            )

    def ensure(
        self, name: str, namespace: str, config: str, rt_priority: int | None = None
    ) -> Outcome:
        """Make ``name`` run ``config`` in ``namespace`` with ``rt_priority``: start it,
        reload it, or leave it. A namespace cannot change on a reload: a keepalived
        elsewhere is restarted."""
        pid = self.running_pid(name)
        if pid is None or not self.runs_in(name, namespace):
            self.start(name, config, rt_priority)
            return "created" if pid is None else "changed"
        self.set_rt_priority(name, rt_priority)
        if self.installed_config(name) == config:
            return "unchanged"
        self.reload(name, config)
        return "changed"

    def stop(self, name: str, *, keep_dir: bool = False) -> bool:
        """Stop keepalived (SIGTERM: the VRRP child sends a priority-0 advert and removes
        the VIPs, so a backup takes over after its skew time), SIGKILL after
        STOP_TIMEOUT; then remove the directory unless ``keep_dir``. True if a process
        was stopped."""
        f = self.files(name)
        config = Path(f.config)
        stopped = False
        for pid in (self.running_pid(name), self.vrrp_pid(name)):
            # The VRRP child alone when its parent was killed (it gets SIGTERM then,
            # PR_SET_PDEATHSIG, and may still be on its way out).
            if pid is not None and _is_ours(pid, config):
                _terminate(pid, config)
                stopped = True
        namespace = _namespace_of(self.installed_config(name) or "")
        if namespace is not None:
            # keepalived removes it on a clean exit, not after SIGKILL; only when empty.
            with contextlib.suppress(OSError):
                (KEEPALIVED_RUN / namespace).rmdir()
        self._last_reload.pop(name, None)
        if not keep_dir and Path(f.dir).is_dir():
            shutil.rmtree(f.dir)
        return stopped

    # --- helpers ------------------------------------------------------------------------

    def _binary(self) -> str:
        found = shutil.which(self.binary)
        if found is None:
            raise MissingTool("keepalived", "keepalived")
        return found

    def _prepare_dir(self, f: KeepalivedFiles) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        d = Path(f.dir)
        d.mkdir(mode=0o700, exist_ok=True)
        script = Path(f.notify_script)
        text = render_notify_script(f)
        if not script.is_file() or script.read_text() != text:
            write_private(script, text)
        # enable_script_security: root's, and writable by nobody else.
        script.chmod(0o700)


# --- module helpers (no state) ------------------------------------------------------------


def _namespace_of(config: str) -> str | None:
    for line in config.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "net_namespace":
            return fields[1]
    return None


def _our_pid(pid_file: Path, config: Path) -> int | None:
    pid = read_pid(pid_file)
    return pid if pid is not None and _is_ours(pid, config) else None


def _is_ours(pid: int, config: Path) -> bool:
    if pid <= 1 or not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(argv) and os.path.basename(argv[0]) == b"keepalived" and str(config).encode() in argv
    )


def _terminate(pid: int, config: Path) -> None:
    terminate(pid, lambda p: _is_ours(p, config), STOP_TIMEOUT)
