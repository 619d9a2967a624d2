"""HAProxy processes: the only place netnode starts, reloads and stops HAProxy.

One master-worker HAProxy per managed name ("lb-<uuid>", "lab-<uuid>"), each with a
directory ``<run_dir>/<name>/`` holding its files::

    haproxy.cfg         the running configuration (0600)
    haproxy.cfg.new     the candidate, while it is validated
    haproxy.cfg-failed  the last candidate HAProxy refused, kept for the operator
    haproxy.pid         the master's pid (written by HAProxy, -p)
    stats.sock          the runtime API (level admin, expose-fd listeners)
    master.sock         the master CLI (-S)
    prom.sock           HAProxy's Prometheus exporter, for netnode alone (a load
                        balancer's; ``netnode.render.exporter``)
    server-state        "show servers state", saved before every reload and after
                        every change over the runtime API
    tls/<sha256>.pem    certificates, CAs and CRLs the config names (0600), copies of
                        the topology's files (``install_files``)

Processes are found through their pid file only, and a pid is trusted only when the
process is alive and its command line names HAProxy and this directory's config: a
recycled pid is never signalled. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

from netnode.drivers.procfs import (
    alive,
    managed_names,
    naming,
    parent,
    process_dir,
    read_pid,
    terminate,
    wait_for,
    wait_gone,
    write_private,
)
from netnode.errors import HostError, MissingTool, Refused
from netnode.plan import desired as desired_paths
from netnode.plan.runtime import RemoveServer, ServerChange, parse_config
from netnode.plan.spec import ProcessFile

CFG = "haproxy.cfg"
NEW_CFG = "haproxy.cfg.new"
FAILED_CFG = "haproxy.cfg-failed"
# An empty server-state file (version line only): HAProxy warns when it is missing.
EMPTY_STATE = "1\n"

START_TIMEOUT = 10.0
READY_INTERVAL = 0.002
RELOAD_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# How long an orphaned master may take to finish its connections (see start()).
SOFT_STOP_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
# How long a removed member's connections may take to finish before they are shut.
DRAIN_TIMEOUT = 10.0
# How long "del server" is retried while HAProxy still counts a connection on it.
DELETE_TIMEOUT = 2.0
# The longest UNIX socket path HAProxy takes, in bytes: sun_path holds 108 with the
# terminating NUL, and HAProxy keeps room for the temporary name it binds first,
# "<path>.<pid>.tmp" (str2sa_range in src/tools.c: 107 - (1 + 5 + 1 + 3)). HAProxy 2.6
# refuses a 98-byte stats socket or master CLI path with "too long (max 97)".
MAX_SOCKET_PATH = 97


Outcome = Literal["created", "changed", "unchanged"]


@dataclass(frozen=True)
class HAProxyPaths:
    dir: Path
    cfg: Path
    pid: Path
    stats_socket: Path
    master_socket: Path
    state_file: Path
    metrics_socket: Path  # HAProxy's Prometheus exporter, for netnode alone

    @property
    def new_cfg(self) -> Path:
        return self.dir / NEW_CFG

    @property
    def failed_cfg(self) -> Path:
        return self.dir / FAILED_CFG


@dataclass(frozen=True)
class MasterState:
    """What the master CLI's ``show proc`` says."""

    pid: int
    reloads: int
    failed: int
    workers: tuple[int, ...]


class HAProxyProcesses:
    """Start, reload, observe and stop the HAProxy processes under ``run_dir``."""

    def __init__(self, run_dir: Path, binary: str = "haproxy") -> None:
        self.run_dir = Path(run_dir).absolute()
        self.binary = binary

    # --- paths and observation ----------------------------------------------------------

    def paths(self, name: str) -> HAProxyPaths:
        return _paths(self.run_dir, name)

    def names(self) -> list[str]:
        """Every managed name with a directory, running or not (for orphan detection)."""
        return managed_names(self.run_dir)

    def running_pid(self, name: str) -> int | None:
        """The master's pid, if that process is alive and is our HAProxy."""
        p = self.paths(name)
        pid = read_pid(p.pid)
        return pid if pid is not None and _is_our_haproxy(pid, p.cfg) else None

    def runs_in(self, name: str, namespace: str) -> bool:
        """Whether ``name``'s master runs in the named network namespace (False when it
        is not running, or runs in a namespace deleted and re-created since)."""
        pid = self.running_pid(name)
        return pid is not None and in_namespace(pid, namespace)

    def installed_config(self, name: str) -> str | None:
        try:
            return self.paths(name).cfg.read_text()
        except FileNotFoundError:
            return None

    # --- configuration ------------------------------------------------------------------

    def validate(self, name: str, config: str) -> None:
        """Write ``haproxy.cfg.new`` and have HAProxy check it; on failure keep it as
        ``haproxy.cfg-failed`` and raise. The running config is never touched."""
        p = self.paths(name)
        self._prepare_dir(p)
        write_private(p.new_cfg, config)
        try:
            # Not -q: it silences the [ALERT] lines that say why.
            result = subprocess.run(
                [self._binary(), "-c", "-f", str(p.new_cfg)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            os.replace(p.new_cfg, p.failed_cfg)
            raise HostError(f"haproxy -c on {p.failed_cfg} did not finish") from exc
        if result.returncode != 0:
            os.replace(p.new_cfg, p.failed_cfg)
            why = check_alerts(f"{result.stderr}\n{result.stdout}", p.new_cfg)
            if not why:
                why = [f"haproxy -c exited with status {result.returncode} and said nothing"]
            reasons = "".join(f"\n  {line}" for line in why)
            raise Refused(
                f"HAProxy refused the configuration for {name}, kept in {p.failed_cfg}:{reasons}",
                hint=f"check it with 'haproxy -c -f {p.failed_cfg}'; the running configuration is unchanged",
            )

    # --- files ------------------------------------------------------------------------

    def install_files(self, name: str, files: tuple[ProcessFile, ...]) -> None:
        """Copy each file into ``name``'s directory (0600; the directory is 0700), unless
        its copy is there already. HAProxy reads them as root when it starts or reloads;
        its workers (user haproxy) never do. A source whose content is no longer the
        one that was checked is not installed: the next pass checks it again."""
        if not files:
            return
        p = self.paths(name)
        self._prepare_dir(p)
        for f in files:
            target = p.dir / f.name
            if target.parent != p.dir / "tls" or target.name != f"{f.sha256}.pem":
                raise ValueError(f"not a netnode TLS file name: {f.name!r}")
            if target.is_file():
                continue
            try:
                data = Path(f.source).read_bytes()
            except OSError as exc:
                raise HostError(
                    f"cannot read {f.source} for HAProxy {name}: {exc.strerror or exc}",
                    hint="the file was readable when the topology was checked; put it back",
                ) from exc
            if hashlib.sha256(data).hexdigest() != f.sha256:
                raise HostError(
                    f"{f.source} changed while HAProxy {name} was being configured",
                    hint="the next pass (netnode apply, or the agent) checks and installs it",
                )
            target.parent.mkdir(mode=0o700, exist_ok=True)
            write_private(target, data)

    def prune_files(self, name: str, files: tuple[ProcessFile, ...]) -> None:
        """Remove the TLS files ``name``'s running config no longer names (after a start
        or reload succeeded: until then, the previous config may be put back)."""
        tls_dir = self.paths(name).dir / "tls"
        if not tls_dir.is_dir():
            return
        wanted = {PurePath(f.name).name for f in files}
        for path in tls_dir.iterdir():
            if path.name not in wanted:
                path.unlink(missing_ok=True)

    # --- lifecycle ----------------------------------------------------------------------

    def start(
        self,
        name: str,
        namespace: str,
        config: str,
        files: tuple[ProcessFile, ...] = (),
        executable: str | None = None,
    ) -> int:
        """Validate, install and start HAProxy (master-worker, daemon) in ``namespace``;
        return the master's pid once the stats socket answers. ``files`` (certificates)
        are installed first.

        ``executable``: a name of this process's own ("haproxy" and 8 characters of
        its id), a symlink to HAProxy in its directory that it runs under. keepalived
        tracks an HA load balancer's HAProxy by that name (the process name, as
        /proc/PID/status shows it: its master and workers keep it across reloads),
        not by its command line, which a reload changes: the re-executed master is
        "haproxy -sf <old workers> -x <socket> -W -D -f ...", its arguments moved."""
        p = self.paths(name)
        self.install_files(name, files)
        # No "haproxy -c" first: HAProxy checks the configuration as it starts, and a
        # start it refuses is told apart below (one HAProxy process instead of two,
        # about 40 ms of CPU each, most of it HAProxy's own initialisation).
        self._prepare_dir(p)
        previous = self.installed_config(name)
        write_private(p.new_cfg, config)
        os.replace(p.new_cfg, p.cfg)
        for stale in (p.pid, p.stats_socket, p.master_socket, p.metrics_socket):
            stale.unlink(missing_ok=True)
        binary = self._binary()  # installed, or MissingTool
        program = self.binary
        if executable is not None:
            program = str(self._link(p.dir, executable, binary))
        argv = [
            "ip", "netns", "exec", namespace,
            program, "-W", "-D",
            "-f", str(p.cfg),
            "-p", str(p.pid),
            "-S", f"{p.master_socket},mode,600",
        ]  # fmt: skip
        with tempfile.TemporaryFile(mode="w+") as err:
            try:
                result = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, timeout=30, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise HostError(f"starting HAProxy for {name} in {namespace} timed out") from exc
            except FileNotFoundError as exc:
                raise MissingTool("ip", "iproute2") from exc
            err.seek(0)
            output = err.read().strip()
        if result.returncode != 0:
            # The configuration refused (Refused, kept as haproxy.cfg-failed, the
            # previous one put back, as when it was checked first), or the start failed.
            self._put_back(p, previous)
            self.validate(name, config)
            write_private(p.new_cfg, config)
            os.replace(p.new_cfg, p.cfg)
            raise HostError(
                f"HAProxy for {name} did not start in namespace {namespace} "
                f"(exit {result.returncode}):\n{output}",
                hint=f"its configuration is {p.cfg}",
            )

        def ready() -> int | None:
            pid = self.running_pid(name)
            if pid is None:
                return None
            try:
                info = self.runtime(name, "show info")
                # The master CLI too: a reload right after the start needs it, and it
                # may answer a moment after the worker's stats socket.
                self.master_state(name)
            except (OSError, HostError):
                return None
            return pid if "Pid:" in info else None

        # The launcher returns once the worker serves; the master's CLI answers 5-9 ms
        # later (measured), with no file or signal to wait on: probed every 2 ms, not
        # every 10 (a start waited 10 ms more than it needed, most of the time).
        pid = wait_for(ready, START_TIMEOUT, READY_INTERVAL)
        if pid is None:
            # Do not leave a half-started process for ensure() to call "unchanged".
            stale = self.running_pid(name)
            if stale is not None:
                _terminate(stale, p.cfg)
            raise HostError(
                f"HAProxy for {name} started but did not answer on {p.stats_socket} "
                f"within {START_TIMEOUT:.0f}s",
                hint=output or f"its configuration is {p.cfg}",
            )
        self.prune_files(name, files)
        # A master whose directory was taken from under it (its pid file, sockets and
        # config gone) still serves the VIP's port beside the new one (SO_REUSEPORT):
        # now that the new one listens, the orphan finishes its connections and goes.
        for orphan in self.orphans(name, pid):
            _soft_stop(orphan, p.cfg)
        return pid

    @staticmethod
    def _put_back(p: HAProxyPaths, previous: str | None) -> None:
        """``previous`` back as ``p``'s installed configuration (None: none)."""
        if previous is None:
            p.cfg.unlink(missing_ok=True)
        else:
            write_private(p.cfg, previous)

    def orphans(self, name: str, keep: int | None = None) -> list[int]:
        """Masters running ``name``'s configuration path that its pid file does not
        name (``keep``, the one it names, is left out)."""
        cfg = str(self.paths(name).cfg)
        pids = set(naming(self._binary_name(), cfg))
        # A master's workers carry its command line: the masters are those whose
        # parent is not one of them.
        return sorted(p for p in pids if p != keep and parent(p) not in pids)

    def _binary_name(self) -> str:
        return os.path.basename(self.binary)

    @staticmethod
    def _link(directory: Path, executable: str, binary: str) -> Path:
        """``directory/executable``, a symlink to ``binary`` (made again if it names
        anything else)."""
        if not re.fullmatch(r"haproxy[0-9a-z]{1,8}", executable):
            raise ValueError(f"not an HAProxy process name: {executable!r}")
        link = directory / executable
        if not (link.is_symlink() and os.readlink(link) == binary):
            link.unlink(missing_ok=True)
            link.symlink_to(binary)
        return link

    @staticmethod
    def runs_as(pid: int) -> str | None:
        """The process name a running master has (its argv[0]'s basename), by the pid
        the caller already holds (``running_pid``)."""
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            return None
        return os.path.basename(argv0).decode(errors="replace")

    def reload(self, name: str, config: str, files: tuple[ProcessFile, ...] = ()) -> None:
        """Validate and install ``config``, then reload the master without dropping a
        connection (listening sockets pass to the new worker). Returns when a new
        worker answers on the stats socket.

        If the master cannot load the new config (a VIP that is not there to bind, say),
        it keeps the old workers serving; the candidate is kept as haproxy.cfg-failed,
        the previous haproxy.cfg is put back and HostError is raised.

        ``files`` (certificates) are installed first; those the previous config alone
        named are removed once the new one runs.
        """
        p = self.paths(name)
        pid = self.running_pid(name)
        if pid is None:
            raise HostError(f"HAProxy for {name} is not running; nothing to reload")
        self.install_files(name, files)
        self.validate(name, config)
        before = self.master_state(name)
        previous = self.installed_config(name)
        self._save_server_state(name)
        os.replace(p.new_cfg, p.cfg)
        # The master answers "reload" by re-executing itself, which drops the CLI
        # connection; SIGUSR2 does the same if the master CLI is unusable.
        if not _master_reload(p.master_socket):
            os.kill(pid, signal.SIGUSR2)

        def settled() -> tuple[str, int] | None:
            try:
                now = self.master_state(name)
            except HostError:
                return None  # the master is re-executing
            if now.failed > before.failed:
                return ("failed", 0)
            fresh = [w for w in now.workers if w not in before.workers]
            if not fresh:
                return None
            try:
                served_by = _parse_info(self.runtime(name, "show info")).get("Pid", "")
            except HostError:
                return None
            return (
                ("ok", int(served_by)) if served_by.isdigit() and int(served_by) in fresh else None
            )

        outcome = wait_for(settled, RELOAD_TIMEOUT)
        if outcome is not None and outcome[0] == "ok":
            self.prune_files(name, files)
            return
        os.replace(p.cfg, p.failed_cfg)
        if previous is not None:
            write_private(p.cfg, previous)
        why = "refused" if outcome is not None else f"did not finish within {RELOAD_TIMEOUT:.0f}s"
        raise HostError(
            f"HAProxy for {name} {why} a reload with the configuration kept in {p.failed_cfg}; "
            "the previous workers keep serving",
            hint=f"'show proc' on {p.master_socket} shows the master's state; "
            f"'haproxy -c -f {p.failed_cfg}' cannot catch a VIP that is not there to bind",
        )

    def ensure(
        self,
        name: str,
        namespace: str,
        config: str,
        files: tuple[ProcessFile, ...] = (),
        executable: str | None = None,
    ) -> Outcome:
        """Make ``name`` run ``config`` (with ``files``) in ``namespace``, under
        ``executable`` (see ``start``): start it, reload it, or leave it."""
        pid = self.running_pid(name)
        if pid is None:
            self.start(name, namespace, config, files, executable)
            return "created"
        if not in_namespace(pid, namespace):
            self.stop(name)
            self.start(name, namespace, config, files, executable)
            return "changed"
        if self.runs_as(pid) != (executable or self._binary_name()):
            # A reload keeps the process's name: a new one takes over the sockets.
            self.start(name, namespace, config, files, executable)
            return "changed"
        if self.installed_config(name) == config:
            # Its certificates are loaded; copies lost since are put back for the next
            # reload.
            self.install_files(name, files)
            return "unchanged"
        self.reload(name, config, files)
        return "changed"

    def stop(self, name: str) -> bool:
        """Stop the master (and with it its workers) and remove the directory. True if a
        process was stopped."""
        p = self.paths(name)
        pid = self.running_pid(name)
        stopped = False
        if pid is not None:
            _terminate(pid, p.cfg)
            stopped = True
        for orphan in self.orphans(name):
            _terminate(orphan, p.cfg)
            stopped = True
        if p.dir.is_dir():
            shutil.rmtree(p.dir)
        return stopped

    def change_servers(
        self,
        name: str,
        changes: tuple[ServerChange, ...],
        config: str,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        """Make member changes over the runtime API, without a reload, then install
        ``config`` (the configuration those changes lead to) as haproxy.cfg and save the
        server state, so that a later reload or restart runs exactly these members.

        Adds, weights and admin states first; removals last: each removed member is
        drained, its connections are given ``drain_timeout`` seconds to finish (then
        shut), and it is deleted. Raises HostError on the first refusal; the running
        process may then be half-way, and haproxy.cfg is still the old file: the
        caller reloads with ``config``, which reaches the same end.
        """
        if self.running_pid(name) is None:
            raise HostError(f"HAProxy for {name} is not running; no server to change")
        for change in changes:
            if not isinstance(change, RemoveServer):
                for command in change.commands():
                    self._command(
                        name, command, _ADDED if command.startswith("add server ") else ""
                    )
        removals = [c for c in changes if isinstance(c, RemoveServer)]
        if removals:
            self._remove(name, removals, drain_timeout)
        state = self.runtime(name, "show servers state")
        touched = {(c.backend, c.server) for c in changes if not isinstance(c, RemoveServer)}
        problem = _differences(config, state, touched)
        if problem:
            raise HostError(
                f"HAProxy for {name} does not run the expected servers after runtime "
                f"changes: {problem}"
            )
        write_private(self.paths(name).cfg, config)
        self._save_server_state(name, state)

    def _remove(self, name: str, removals: list[RemoveServer], drain_timeout: float) -> None:
        targets = [f"{r.backend}/{r.server}" for r in removals]
        for target in targets:
            self._command(name, f"set server {target} state drain")

        def busy() -> list[str]:
            rows = {(r.get("pxname"), r.get("svname")): r for r in self.stats(name)}
            left = []
            for r, target in zip(removals, targets, strict=True):
                row = rows.get((r.backend, r.server), {})
                if (row.get("scur") or "0") != "0" or (row.get("qcur") or "0") != "0":
                    left.append(target)
            return left

        wait_for(lambda: True if not busy() else None, drain_timeout)
        for target in targets:
            self._command(name, f"set server {target} state maint")
        # Sessions still there after the drain time are cut; in maintenance the
        # server's idle (reusable) connections are closed by HAProxy itself.
        for target in busy():
            self._command(name, f"shutdown sessions server {target}")
        for target in targets:
            answers: list[str] = []

            def deleted(target: str = target, answers: list[str] = answers) -> bool | None:
                answer = self.runtime(name, f"del server {target}").strip()
                answers.append(answer)
                return True if answer == "Server deleted." else None

            if wait_for(deleted, DELETE_TIMEOUT) is None:
                raise HostError(
                    f"HAProxy for {name} did not delete server {target}: {answers[-1]!r}"
                )

    def _command(self, name: str, command: str, expected: str = "") -> None:
        """One runtime command whose success is a known answer (HAProxy answers an
        error as text: "No such server.", "Backend must use a dynamic load balancing
        to support dynamic servers.", ...)."""
        answer = self.runtime(name, command).strip()
        if answer != expected:
            raise HostError(f"HAProxy for {name} refused {command!r}: {answer or '(nothing)'}")

    # --- runtime API --------------------------------------------------------------------

    def runtime(self, name: str, command: str) -> str:
        """Send one runtime-API command over the stats socket; return the answer."""
        if not command or any(c in command for c in "\n\r;"):
            raise ValueError(f"one runtime command, without newline or ';': {command!r}")
        path = self.paths(name).stats_socket
        try:
            return _unix_command(path, command)
        except OSError as exc:
            raise HostError(f"HAProxy for {name} does not answer on {path}: {exc}") from exc

    def stats(self, name: str) -> list[dict[str, str]]:
        """``show stat``: one dict per frontend, backend and server row."""
        return parse_stat_csv(self.runtime(name, "show stat"))

    def exporter(self, name: str) -> str:
        """HAProxy's Prometheus exporter's page (text format 0.0.4), read over its
        UNIX socket."""
        path = self.paths(name).metrics_socket
        try:
            # Its proxies only (not the process-wide "global" scope).
            return _unix_http_get(path, "/metrics?scope=frontend&scope=backend&scope=server")
        except (OSError, http.client.HTTPException) as exc:
            raise HostError(f"HAProxy for {name} does not answer on {path}: {exc}") from exc

    def master_state(self, name: str) -> MasterState:
        """The master CLI's ``show proc``: reload counts and current worker pids."""
        path = self.paths(name).master_socket
        try:
            state = parse_show_proc(_unix_command(path, "show proc"))
        except OSError as exc:
            raise HostError(
                f"HAProxy's master for {name} does not answer on {path}: {exc}"
            ) from exc
        if state is None:
            raise HostError(f"HAProxy's master for {name} gave no process list on {path}")
        return state

    def workers(self, name: str) -> list[int]:
        """The current (not the old, finishing) workers' pids."""
        return list(self.master_state(name).workers)

    # --- helpers ------------------------------------------------------------------------

    def _binary(self) -> str:
        found = shutil.which(self.binary)
        if found is None:
            raise MissingTool("haproxy", "haproxy")
        return found

    def _prepare_dir(self, p: HAProxyPaths) -> None:
        for path in (p.stats_socket, p.master_socket, p.metrics_socket):
            check_socket_path(path)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        p.dir.mkdir(mode=0o700, exist_ok=True)
        if not p.state_file.exists():
            write_private(p.state_file, EMPTY_STATE)

    def _save_server_state(self, name: str, state: str | None = None) -> None:
        """Dump ``show servers state`` where ``server-state-file`` points, so health and
        runtime changes (weights, drain, maint) survive the reload.

        Each server's "configured" admin bit and weight are set to what the installed
        haproxy.cfg says (see ``normalize_server_state``): HAProxy tells a change of
        the configuration from a change made at runtime by comparing them with the new
        config's, and servers changed over the runtime API must look as if they had
        been started from the file they were changed to."""
        p = self.paths(name)
        if state is None:
            try:
                state = self.runtime(name, "show servers state")
            except HostError:
                return
        if state.startswith("1\n"):
            write_private(
                p.state_file, normalize_server_state(state, self.installed_config(name) or "")
            )


# --- module helpers (no state) ------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _paths(run_dir: Path, name: str) -> HAProxyPaths:
    """A process's paths (kept: a pass asks for them about ten times a load balancer,
    and building the Path objects was about 2 ms of a member change)."""
    d = process_dir(run_dir, name)
    # The paths the rendered config names come from the plan, the one place that
    # says where they are.
    return HAProxyPaths(
        dir=d,
        cfg=d / CFG,
        pid=d / "haproxy.pid",
        stats_socket=Path(desired_paths.stats_socket(run_dir, name)),
        master_socket=d / "master.sock",
        state_file=Path(desired_paths.state_file(run_dir, name)),
        metrics_socket=Path(desired_paths.metrics_socket(run_dir, name)),
    )


def check_socket_path(path: Path) -> None:
    """Refuse a socket path HAProxy would refuse (longer than MAX_SOCKET_PATH bytes),
    before any file is written or HAProxy is run."""
    length = len(os.fsencode(path))
    if length > MAX_SOCKET_PATH:
        raise Refused(
            f"socket path {path} is {length} bytes long; "
            f"HAProxy takes at most {MAX_SOCKET_PATH} bytes for a UNIX socket path",
            hint="use a shorter --state-dir (or --node): the longest socket path is "
            "<state dir>/<node>/haproxy/client-<36-character id>/master.sock",
        )


# How many of HAProxy's alerts a refusal carries, and how long each may be.
MAX_ALERTS = 10
MAX_ALERT_LENGTH = 300
# "[ALERT]    (1234) : config : " before each of HAProxy's alerts.
_ALERT = re.compile(r"\[ALERT\]\s*(?:\(\d+\)\s*)?:\s*(?:config\s*:\s*)?(?P<text>.*)")
# HAProxy's closing lines, which say only that there were errors.
_ALERT_SUMMARIES = ("Error(s) found in configuration file", "Fatal errors found in configuration")


def check_alerts(output: str, cfg: Path) -> list[str]:
    """The reasons in ``haproxy -c``'s output, one line each: its [ALERT] lines without
    the pid, with "parsing [<cfg>:17] :" (once or twice) shortened to "line 17:", the
    closing summaries left out unless nothing else was said, at most MAX_ALERTS lines
    of at most MAX_ALERT_LENGTH characters. Other lines (NOTICE, WARNING) are left out;
    with no alert at all, every non-empty line that is not a NOTICE is kept."""
    where = re.compile(rf"(?:(?:parsing\s+)?\[{re.escape(str(cfg))}:(\d+)\]\s*:\s*)+")
    alerts: list[str] = []
    others: list[str] = []
    for raw in output.splitlines():
        line = raw.strip()
        match = _ALERT.match(line)
        if match is None:
            if line and not line.startswith("[NOTICE]") and line != "Configuration file is valid":
                others.append(line)
            continue
        text = where.sub(lambda m: f"line {m[1]}: ", match["text"]).strip()
        if text:
            alerts.append(text)
    reasons = [a for a in alerts if not a.startswith(_ALERT_SUMMARIES)] or alerts or others
    shown = [r if len(r) <= MAX_ALERT_LENGTH else r[: MAX_ALERT_LENGTH - 1] + "…" for r in reasons]
    if len(shown) > MAX_ALERTS:
        shown = [*shown[: MAX_ALERTS - 1], f"(and {len(shown) - MAX_ALERTS + 1} more)"]
    return shown


def parse_stat_csv(text: str) -> list[dict[str, str]]:
    """Parse ``show stat`` output (a CSV whose header line starts with "# ")."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise HostError(f"unexpected 'show stat' answer: {text[:200]!r}")
    reader = csv.reader([lines[0][2:], *lines[1:]])
    header = next(reader)
    # Empty names (the trailing comma) and "-" (the separator before per-module
    # counters) are not fields.
    return [{k: v for k, v in zip(header, row, strict=False) if k and k != "-"} for row in reader]


# "show servers state" (version 1): the columns netnode reads or rewrites.
_BE_NAME, _SRV_NAME, _ADMIN, _UWEIGHT, _IWEIGHT = 1, 3, 6, 7, 8
# HAProxy's admin flags: forced (runtime) and configured ("disabled") maintenance.
_FMAINT, _CMAINT = 0x01, 0x04
_ADDED = "New server registered."


def normalize_server_state(state: str, config: str) -> str:
    """``show servers state`` with, for every server the config names, the configured
    maintenance bit (CMAINT) and the initial weight (srv_iweight) set from the config.

    When HAProxy loads the state file, it applies the saved admin state and weight only
    where the config did not change them since the save, and it decides that by
    comparing CMAINT and srv_iweight with the new config's. Servers started from the
    config carry them already; a server disabled over the runtime API carries only
    FMAINT, one enabled carries a stale CMAINT, one re-weighted its old initial weight,
    and the next reload would then keep a member in maintenance, or at its old weight,
    that the new config wants otherwise.
    """
    sections = parse_config(config) or []
    servers = {(s.backend, x.name): x for s in sections if s.backend for x in s.servers}
    lines = state.split("\n")
    for i, line in enumerate(lines):
        fields = line.split(" ")
        if line.startswith("#") or len(fields) <= _IWEIGHT or not fields[0].isdigit():
            continue
        server = servers.get((fields[_BE_NAME], fields[_SRV_NAME]))
        if server is None or not fields[_ADMIN].isdigit():
            continue
        admin = int(fields[_ADMIN]) & ~_CMAINT
        fields[_ADMIN] = str(admin | (0 if server.enabled else _CMAINT))
        fields[_IWEIGHT] = str(server.weight)
        lines[i] = " ".join(fields)
    return "\n".join(lines)


def _differences(config: str, state: str, touched: set[tuple[str, str]]) -> str:
    """How the running servers (``show servers state``) differ from ``config``'s: the
    set of servers per backend, and for the ``touched`` ones their weights and whether
    they are in maintenance. (The others keep what the state file or an operator gave
    them, as they would across a reload.)"""
    sections = parse_config(config)
    if sections is None:
        return "the configuration is not one netnode rendered"
    wanted = {(s.backend, x.name): x for s in sections if s.backend for x in s.servers}
    backends = {s.backend for s in sections if s.backend}
    running: dict[tuple[str, str], tuple[int, bool]] = {}
    for line in state.splitlines():
        fields = line.split()
        if line.startswith("#") or len(fields) <= _IWEIGHT or not fields[0].isdigit():
            continue
        if fields[_BE_NAME] in backends:
            maint = bool(int(fields[_ADMIN]) & _FMAINT) if fields[_ADMIN].isdigit() else True
            weight = int(fields[_UWEIGHT]) if fields[_UWEIGHT].isdigit() else -1
            running[(fields[_BE_NAME], fields[_SRV_NAME])] = (weight, maint)
    problems = [f"{b}/{s} is not running" for b, s in sorted(set(wanted) - set(running))]
    problems += [f"{b}/{s} still runs" for b, s in sorted(set(running) - set(wanted))]
    for key, server in sorted(wanted.items()):
        if (
            key in touched
            and key in running
            and running[key] != (server.weight, not server.enabled)
        ):
            weight, maint = running[key]
            problems.append(
                f"{key[0]}/{key[1]} runs with weight {weight}{' in maintenance' if maint else ''}"
            )
    return "; ".join(problems)


def parse_show_proc(text: str) -> MasterState | None:
    """Parse the master CLI's ``show proc``; None if it holds no master line."""
    master: MasterState | None = None
    workers: list[int] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.strip("# ").lower()
            continue
        fields = line.split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        if fields[1] == "master":
            match = re.search(r"\[failed:\s*(\d+)\]", line)
            reloads = int(fields[2]) if fields[2].isdigit() else 0
            master = MasterState(int(fields[0]), reloads, int(match[1]) if match else 0, ())
        elif section == "workers" and fields[1] == "worker":
            workers.append(int(fields[0]))
    if master is None:
        return None
    return MasterState(master.pid, master.reloads, master.failed, tuple(workers))


def _parse_info(text: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _unix_command(path: Path, command: str, timeout: float = SOCKET_TIMEOUT) -> str:
    """One command on an HAProxy CLI socket (non-interactive: it answers and closes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        # The master CLI answers only once it has seen the end of the input.
        sock.shutdown(socket.SHUT_WR)
        chunks: list[bytes] = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 (chunked answers included) over a UNIX socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _unix_http_get(path: Path, target: str, timeout: float = SOCKET_TIMEOUT) -> str:
    connection = _UnixHTTPConnection(path, timeout)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise http.client.HTTPException(f"HTTP {response.status} for {target}")
        return body
    finally:
        connection.close()


def _master_reload(path: Path) -> bool:
    """Send ``reload`` to the master CLI; True once the command was delivered (the
    master then re-executes and drops the connection, so no answer is awaited)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(SOCKET_TIMEOUT)
            sock.connect(str(path))
            sock.sendall(b"reload\n")
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
                sock.recv(65536)
    except OSError:
        return False
    return True


def _is_our_haproxy(pid: int, cfg: Path) -> bool:
    if pid <= 1 or not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and b"haproxy" in os.path.basename(argv[0]) and str(cfg).encode() in argv


def in_namespace(pid: int, namespace: str) -> bool:
    """Whether ``pid`` runs in the named network namespace (same nsfs inode)."""
    try:
        ours = os.stat(f"/proc/{pid}/ns/net")
        named = os.stat(f"/run/netns/{namespace}")
    except OSError:
        return False
    return (ours.st_dev, ours.st_ino) == (named.st_dev, named.st_ino)


def _terminate(pid: int, cfg: Path) -> None:
    """SIGTERM a verified master (it stops its workers), SIGKILL it after STOP_TIMEOUT."""
    terminate(pid, lambda p: _is_our_haproxy(p, cfg), STOP_TIMEOUT)


def _soft_stop(pid: int, cfg: Path) -> None:
    """SIGUSR1 a verified master: its workers stop listening and finish their
    connections; after SOFT_STOP_TIMEOUT it is terminated."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGUSR1)
    if not wait_gone(pid, SOFT_STOP_TIMEOUT) and _is_our_haproxy(pid, cfg):
        _terminate(pid, cfg)
