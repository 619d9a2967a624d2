"""A load balancer namespace's nftables table (UDP balancing) and its UDP conntrack flows.

The table is replaced whole, in one ``nft -f`` transaction (``render.nftables``), by
two writers: ``netnode apply`` (the table is missing, changed, or the topology changed)
and the load balancer's UDP health checker (a member went down or came back). Both go
through ``UdpTables.converge`` under one lock per namespace, which reads the members'
health, renders, applies, records what nft printed back, and deletes the conntrack
flows of members that left the rotation. Files, per namespace, under ``root/NS/``::

    lock          flock'ed around health + table changes
    health.json   {"members": {member id: "UP" | "DOWN"}}, written by the checker
    applied.json  {"sha256": of the rendered text, "listing": ``nft -t list table``}

Drift is a table whose listing (``-t``: without the persistence maps' dynamic
elements) is no longer the one recorded when it was applied, or a record made from
another rendering (the topology or the health changed). nft prints rules in its own
spelling, so the listing recorded is nft's, never netnode's input.

Every command is an argument list run as ``ip netns exec NAMESPACE ...``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from netnode.drivers.netns import run_in
from netnode.errors import HostError
from netnode.render.nftables import (
    FAMILY,
    TABLE,
    UdpBalancer,
    allowed_flows,
    render_removal,
    render_table,
    stale_flows,
)

UP, DOWN = "UP", "DOWN"


class UdpTables:
    """netnode's nftables table and UDP flows in load balancer namespaces."""

    def __init__(self, root: Path, *, timeout: float = 30.0) -> None:
        self.root = Path(root).absolute()
        self.timeout = timeout

    # --- files ---------------------------------------------------------------------------

    def dir(self, namespace: str) -> Path:
        if not namespace or "/" in namespace or namespace.startswith("."):
            raise ValueError(f"not a usable namespace name: {namespace!r}")
        return self.root / namespace

    def recorded(self) -> frozenset[str]:
        """The namespaces with a record (whose table netnode applied once)."""
        if not self.root.is_dir():
            return frozenset()
        return frozenset(p.name for p in self.root.iterdir() if p.is_dir())

    @contextlib.contextmanager
    def locked(self, namespace: str) -> Iterator[None]:
        d = self.dir(namespace)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(d / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def health(self, namespace: str) -> dict[str, str]:
        """member id -> UP or DOWN, as the checker last wrote it ({} when it never did)."""
        try:
            data = json.loads((self.dir(namespace) / "health.json").read_text())
        except (OSError, ValueError):
            return {}
        members = data.get("members", {}) if isinstance(data, dict) else {}
        return {str(k): str(v) for k, v in members.items() if v in (UP, DOWN)}

    def down(self, namespace: str) -> frozenset[str]:
        return frozenset(m for m, state in self.health(namespace).items() if state == DOWN)

    def _record(self, namespace: str) -> dict[str, str]:
        try:
            data = json.loads((self.dir(namespace) / "applied.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    # --- observe -------------------------------------------------------------------------

    def listing(self, namespace: str) -> str | None:
        """``nft -t list table ip netnode``; None when there is no such table."""
        proc = self._run(namespace, ["nft", "-t", "list", "table", FAMILY, TABLE])
        if proc.returncode != 0:
            if "No such file or directory" in proc.stderr:
                return None
            raise HostError(
                f"nft list table {FAMILY} {TABLE} failed in namespace {namespace}: "
                f"{proc.stderr.strip() or proc.stdout.strip()}",
                hint=f"does the namespace exist? 'ip netns list' should show {namespace}",
            )
        return proc.stdout

    def in_sync(self, namespace: str, balancer: UdpBalancer) -> bool:
        """Whether the table in place is the one ``balancer`` and the members' current
        health render, as applied (nobody changed or deleted it since)."""
        record = self._record(namespace)
        text = render_table(balancer, self.down(namespace))
        if record.get("sha256") != _sha(text):
            return False
        return self.listing(namespace) == record.get("listing")

    # --- change --------------------------------------------------------------------------

    def converge(
        self, namespace: str, balancer: UdpBalancer, health: Mapping[str, str] | None = None
    ) -> bool:
        """Apply ``balancer`` with the members' health (``health`` is written first when
        given: the checker's news), unless the table is already exactly that; then
        delete the flows to members out of rotation. True when the table was rewritten."""
        with self.locked(namespace):
            if health is not None:
                _write(self.dir(namespace) / "health.json", {"members": dict(health)})
            down = self.down(namespace)
            text = render_table(balancer, down)
            record = self._record(namespace)
            changed = False
            if record.get("sha256") != _sha(text) or self.listing(namespace) != record.get(
                "listing"
            ):
                self._apply(namespace, text)
                _write(
                    self.dir(namespace) / "applied.json",
                    {"sha256": _sha(text), "listing": self.listing(namespace)},
                )
                changed = True
            self.flush_stale(namespace, balancer, down)
            return changed

    def remove(self, namespace: str, exists: bool = True) -> None:
        """Delete the table (when the namespace ``exists``) and the namespace's record."""
        with self.locked(namespace):
            if exists:
                self._apply(namespace, render_removal())
        shutil.rmtree(self.dir(namespace), ignore_errors=True)

    def flush_stale(
        self, namespace: str, balancer: UdpBalancer, down: frozenset[str] = frozenset()
    ) -> None:
        """Delete the UDP flows to the VIP that conntrack still binds to a member no longer
        enabled, healthy or in the pool (they would go on reaching it until they time
        out). ``conntrack -D`` exits 1 when nothing matched: not an error."""
        listed = self._run(namespace, ["conntrack", "-L", "-p", "udp", "--orig-dst", balancer.vip])
        if listed.returncode not in (0, 1):
            raise HostError(
                f"conntrack -L failed in namespace {namespace}: {listed.stderr.strip()}",
                hint="is the nf_conntrack module loaded? 'conntrack -L' should answer",
            )
        for flow in stale_flows(listed.stdout, balancer.vip, allowed_flows(balancer, down)):
            argv = [
                "conntrack", "-D", "-p", "udp",
                "--orig-dst", balancer.vip, "--dport", str(flow.port),
                "--reply-src", flow.member, "--reply-port-src", str(flow.member_port),
            ]  # fmt: skip
            proc = self._run(namespace, argv)
            if proc.returncode not in (0, 1):
                raise HostError(
                    f"{' '.join(argv)} failed in namespace {namespace}: {proc.stderr.strip()}"
                )

    # --- primitives ----------------------------------------------------------------------

    def _apply(self, namespace: str, text: str) -> None:
        proc = self._run(namespace, ["nft", "-f", "-"], stdin=text)
        if proc.returncode != 0:
            raise HostError(
                f"nft -f failed in namespace {namespace}: {proc.stderr.strip()}",
                hint="nothing was changed (nft -f is one transaction); "
                f"'ip netns exec {namespace} nft list ruleset' shows the rules as they are",
            )

    def _run(
        self, namespace: str, args: list[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_in(namespace, args, timeout=self.timeout, stdin=stdin)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write(path: Path, data: object) -> None:
    """Write JSON atomically (readers never see half a file), mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)
