"""dnsmasq processes: the only place netnode starts, reloads and stops a DHCP server.

One dnsmasq per network with DHCP, in the network's ``qdhcp-`` namespace, with a
directory ``<run_dir>/<name>/`` (``netnode.render.dnsmasq.DnsmasqFiles``)::

    config.json   what it runs with (``render.dnsmasq.bundle``: its arguments and files)
    host, opts    its hosts and options files (0600), re-read on SIGHUP
    leases        its leases, kept across reloads and restarts
    dnsmasq.pid   its pid
    dnsmasq.log   what it says (stderr: ``--log-facility=-``)

How it runs: ``setsid --fork ip netns exec NS dnsmasq --keep-in-foreground ...``: a
session of its own, not netnode's child; dnsmasq writes its pid file. A port's change is a
reload: the files rewritten, then SIGHUP. Anything on its command line changed is a
restart.

A pid is trusted only when that process is alive and its command line names dnsmasq
and this directory's hosts file. Nothing is ever killed by name.
"""

from __future__ import annotations

import os
import shutil
import signal
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
from netnode.render.dnsmasq import DnsmasqFiles, files, unbundle

CONFIG = "config.json"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class DnsmasqProcesses:
    def __init__(self, run_dir: Path, binary: str = "dnsmasq") -> None:
        self.run_dir = Path(run_dir).absolute()
        self.binary = binary

    def files(self, name: str) -> DnsmasqFiles:
        return files(str(process_dir(self.run_dir, name)))

    def names(self) -> list[str]:
        return managed_names(self.run_dir)

    def installed_config(self, name: str) -> str | None:
        try:
            return (Path(self.files(name).dir) / CONFIG).read_text()
        except FileNotFoundError:
            return None

    def running_pid(self, name: str) -> int | None:
        f = self.files(name)
        pid = read_pid(Path(f.pid))
        return pid if pid is not None and _is_ours(pid, f) else None

    def runs_in(self, name: str, namespace: str) -> bool:
        pid = self.running_pid(name)
        return pid is not None and in_namespace(pid, namespace)

    def ensure(self, name: str, namespace: str, config: str) -> int:
        """dnsmasq running in ``namespace`` with ``config``: reloaded when only its
        files changed, started (again) when its command line did or it does not run."""
        pid = self.running_pid(name)
        installed = self.installed_config(name)
        if (
            pid is not None
            and installed is not None
            and in_namespace(pid, namespace)
            and unbundle(installed)[0] == unbundle(config)[0]
        ):
            if installed != config:
                self.reload(name, namespace, config)
            return pid
        return self.start(name, namespace, config)

    def reload(self, name: str, namespace: str, config: str) -> None:
        """Rewrite the hosts and options files and have dnsmasq re-read them (SIGHUP):
        its leases and its pid stay. Started instead if it does not run."""
        pid = self.running_pid(name)
        if pid is None or not in_namespace(pid, namespace):
            self.start(name, namespace, config)
            return
        self._install(name, config)
        os.kill(pid, signal.SIGHUP)

    def _install(self, name: str, config: str) -> list[str]:
        f = self.files(name)
        argv, hosts, opts = unbundle(config)
        Path(f.dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(Path(f.hosts), hosts)
        write_private(Path(f.opts), opts)
        write_private(Path(f.dir) / CONFIG, config)
        return argv

    def start(self, name: str, namespace: str, config: str) -> int:
        """Install the files, start dnsmasq and return its pid once it serves (its
        lease file open, still running)."""
        binary = shutil.which(self.binary)
        if binary is None:
            raise MissingTool(self.binary, "dnsmasq-base")
        self.stop(name, keep_dir=True)
        f = self.files(name)
        argv = self._install(name, config)
        Path(f.pid).unlink(missing_ok=True)
        if shutil.which("setsid") is None:
            raise MissingTool("setsid", "util-linux")
        # setsid --fork: a session of its own, and not this process's child (nobody
        # here waits for it); dnsmasq writes its pid file once it has read its files.
        with open(f.log, "ab") as log:
            subprocess.run(
                ["setsid", "--fork", "ip", "netns", "exec", namespace, binary, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=30,
                check=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            pid = self.running_pid(name)
            if pid is not None and Path(f.leases).exists():
                return pid
            time.sleep(0.01)
        self.stop(name, keep_dir=True)
        raise HostError(
            f"dnsmasq {name} in {namespace} did not start within {START_TIMEOUT:.0f} s: "
            f"{log_tail(Path(f.log))}",
            hint=f"see {f.log}; its arguments are in {Path(f.dir) / CONFIG}",
        )

    def stop(self, name: str, keep_dir: bool = False) -> None:
        f = self.files(name)
        pid = self.running_pid(name)
        if pid is not None:
            terminate(pid, lambda p: _is_ours(p, f), STOP_TIMEOUT)
        if not keep_dir:
            shutil.rmtree(f.dir, ignore_errors=True)


def _is_ours(pid: int, f: DnsmasqFiles) -> bool:
    if not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(argv)
        and Path(argv[0].decode(errors="replace")).name == "dnsmasq"
        and f"--dhcp-hostsfile={f.hosts}".encode() in argv
    )
