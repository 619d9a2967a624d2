"""Open vSwitch: read straight from its database (``netnode.drivers.ovsdb``), written
through ovs-vsctl, one process per transaction.

``ovs-vsctl`` joins every ``--``-separated command of one invocation into a single
OVSDB transaction, so an apply's bridges, ports and tags go in at once and either all
land or none do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from netnode.drivers.ovsdb import Ovsdb
from netnode.drivers.procfs import alive, read_pid
from netnode.errors import HostError, MissingTool
from netnode.plan.observed import OvsBridge, OvsPort, OvsState

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
# Where Open vSwitch keeps its pid files (and sockets): OVS_RUNDIR, as its own tools read it.
DEFAULT_RUNDIR = "/var/run/openvswitch"


def vswitchd_alive() -> bool:
    """ovs-vswitchd's pid file names a live process (read, not forked: this is asked on
    every pass; ``ovs-appctl version`` cost 3.3 ms a time)."""
    rundir = Path(os.environ.get("OVS_RUNDIR", DEFAULT_RUNDIR))
    pid = read_pid(rundir / "ovs-vswitchd.pid")
    if pid is None:
        return False
    try:
        # A pid file left by a vswitchd that died may name a recycled pid.
        named = Path(f"/proc/{pid}/comm").read_text().strip() == "ovs-vswitchd"
    except OSError:
        return False
    return named and alive(pid)


class OVS:
    def __init__(self, vsctl: str = "ovs-vsctl", timeout: int = 10) -> None:
        self.vsctl = vsctl
        self.timeout = timeout
        # Reads go straight to the database (netnode.drivers.ovsdb); writes through
        # ovs-vsctl, one transaction per apply.
        self.db = Ovsdb(timeout)

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if shutil.which(self.vsctl) is None:
            raise MissingTool(self.vsctl, "openvswitch-switch")
        proc = subprocess.run(
            [self.vsctl, f"--timeout={self.timeout}", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise HostError(
                f"ovs-vsctl failed: {proc.stderr.strip() or proc.stdout.strip()}",
                hint="is Open vSwitch running? 'ovs-vsctl show' should answer; netnode starts it with "
                f"{OVS_CTL} start when it is not",
            )
        return proc

    def is_running(self) -> bool:
        """Both daemons answer: ovsdb-server (the configuration) and ovs-vswitchd (the
        datapath, which holds every internal port's tap device: with it gone, the ports
        are in the database but nothing forwards, and ovs-vsctl waits in vain)."""
        if shutil.which(self.vsctl) is None:
            raise MissingTool(self.vsctl, "openvswitch-switch")
        return self.db.answers() and vswitchd_alive()

    def ensure_running(self) -> bool:
        """Start ovsdb-server and ovs-vswitchd if they are not answering. True if started."""
        if self.is_running():
            return False
        proc = subprocess.run([OVS_CTL, "start"], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not self.is_running():
            raise HostError(
                f"could not start Open vSwitch: {proc.stderr.strip() or proc.stdout.strip()}",
                hint=f"run '{OVS_CTL} start' by hand and read its messages",
            )
        return True

    def observe(self) -> OvsState:
        bridges, ports, interfaces = (
            [_row(cells) for cells in rows]
            for rows in self.db.select(
                ("Bridge", ["name", "datapath_type", "external_ids", "ports"]),
                ("Port", ["_uuid", "name", "tag", "external_ids"]),
                ("Interface", ["name", "ofport", "external_ids"]),
            )
        )
        port_rows = {row["_uuid"]: row for row in ports}
        ofports = {row["name"]: row["ofport"] for row in interfaces}
        iface_ids = {
            row["name"]: (row.get("external_ids") or {}).get("iface-id") for row in interfaces
        }
        state = OvsState()
        for row in bridges:
            names = tuple(sorted(port_rows[u]["name"] for u in row["ports"] if u in port_rows))
            state.bridges[row["name"]] = OvsBridge(
                row["name"], row["datapath_type"], row["external_ids"], names
            )
            for uuid in row["ports"]:
                prow = port_rows.get(uuid)
                if prow is None:
                    continue
                tag = prow["tag"] if isinstance(prow["tag"], int) else None
                ofport = ofports.get(prow["name"])
                state.ports[prow["name"]] = OvsPort(
                    prow["name"],
                    row["name"],
                    tag,
                    prow["external_ids"],
                    ofport if isinstance(ofport, int) else None,
                    iface_ids.get(prow["name"]),
                )
        return state

    def bridge_names(self) -> set[str]:
        """The bridges' names alone (one small read, for a check made on every pass)."""
        (rows,) = self.db.select(("Bridge", ["name"]))
        return {row["name"] for row in rows}

    def close(self) -> None:
        self.db.close()

    def transact(self, commands: list[list[str]]) -> None:
        """Run ovs-vsctl commands as one transaction."""
        if not commands:
            return
        args: list[str] = []
        for command in commands:
            args += ["--", *command]
        self._run(args)


def _value(cell: Any) -> Any:
    """OVSDB JSON: ["uuid", u], ["set", [...]], ["map", [[k, v], ...]] or a scalar.

    Atoms (strings, numbers) inside sets and maps are taken as they are, without a
    call each: a pass reads every port's and interface's ``external_ids``, about
    60,000 cells at 1,000 load balancers."""
    if type(cell) is not list or len(cell) != 2:
        return cell
    kind, body = cell
    if kind == "uuid":
        return body
    if kind == "set":
        return [_value(v) if type(v) is list else v for v in body]
    if kind == "map":
        return {k: _value(v) if type(v) is list else v for k, v in body}
    return cell


def _row(cells: dict[str, Any]) -> dict[str, Any]:
    """A row's cells as Python values: a set of one is its member (OVSDB's notation),
    ``ports`` always a list, an optional ``tag``/``ofport`` None when empty."""
    row = {}
    for column, cell in cells.items():
        value = _value(cell)
        if column == "ports" and isinstance(value, str):
            value = [value]
        if column in ("tag", "ofport") and isinstance(value, list):
            value = value[0] if value else None
        row[column] = value
    return row


def kernel_module(root: Path = Path("/")) -> tuple[bool, bool]:
    """Whether the openvswitch kernel module is loaded (or built in), and whether it can
    be loaded: module loading enabled and the module among this kernel's modules."""
    release = os.uname().release
    modules = root / "lib" / "modules" / release
    if (root / "sys" / "module" / "openvswitch").exists() or _lists_openvswitch(
        modules / "modules.builtin"
    ):
        return True, True
    try:
        disabled = (root / "proc" / "sys" / "kernel" / "modules_disabled").read_text().strip()
    except OSError:
        disabled = "1"  # no module support in this kernel at all
    if disabled != "0" or not (root / "proc" / "modules").exists():
        return False, False
    return False, _lists_openvswitch(modules / "modules.dep")


def _lists_openvswitch(listing: Path) -> bool:
    try:
        lines = listing.read_text().splitlines()
    except OSError:
        return False
    return any(line.split(":")[0].rsplit("/", 1)[-1].startswith("openvswitch.ko") for line in lines)
