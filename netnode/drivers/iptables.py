"""netnode's iptables rules in a namespace (a router's NAT, a load balancer's filter) and
a router's conntrack entries.

Neutron's way (``neutron.agent.linux.iptables_manager``): read the table with
``iptables-save``, compare netnode's part with the desired rules, and when they differ
apply the whole of netnode's part in ONE ``iptables-restore --noflush`` per table, an
atomic transaction that leaves everyone else's chains and rules alone. Afterwards read
the table again and fail if it still differs (Neutron does this in debug mode): a rule
written in a spelling ``iptables-save`` does not print back would otherwise be
re-applied on every pass.

Every command runs as ``ip netns exec NAMESPACE ...`` from an argument list.
"""

from __future__ import annotations

import ipaddress
import itertools
import subprocess

from netnode.drivers.netns import run_in
from netnode.errors import HostError
from netnode.render.iptables import (
    PROTOCOLS,
    ROUTER_LAYOUT,
    Layout,
    Ruleset,
    desired_rules,
    diff_rules,
    owned_rules,
    render_removal,
    restore_input,
)


class Iptables:
    """iptables and conntrack inside network namespaces."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout

    # -- primitives ----------------------------------------------------------------------

    def _run(
        self, namespace: str, args: list[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_in(
            namespace,
            args,
            timeout=self.timeout,
            stdin=stdin,
            hint="another process may hold the xtables lock; see 'ps -ef | grep iptables'",
        )

    def save(self, namespace: str, table: str) -> str:
        """``iptables-save -t TABLE`` in the namespace."""
        proc = self._run(namespace, ["iptables-save", "-t", table])
        if proc.returncode != 0:
            raise HostError(
                f"iptables-save -t {table} failed in namespace {namespace}: "
                f"{proc.stderr.strip() or proc.stdout.strip()}",
                hint=f"does the namespace exist? 'ip netns list' should show {namespace}",
            )
        return proc.stdout

    def restore(self, namespace: str, text: str) -> None:
        """One ``iptables-restore --noflush`` with ``text`` on stdin: all or nothing."""
        proc = self._run(namespace, ["iptables-restore", "-w", "10", "--noflush"], stdin=text)
        if proc.returncode != 0:
            message = proc.stderr.strip() or proc.stdout.strip()
            raise HostError(
                f"iptables-restore failed in namespace {namespace}: {message}"
                f"{_failed_line(message, text)}",
                hint="nothing of this table was changed (the restore is one transaction); "
                "'ip netns exec NS iptables-save' shows the rules as they are",
            )

    # -- netnode's rules -----------------------------------------------------------------

    def differences(self, namespace: str, rules: Ruleset) -> dict[str, list[str]]:
        """Per table, a unified diff from the rules in place to the desired ones (empty
        lists when nothing would change)."""
        layout = rules.layout
        return {
            table: diff_rules(
                desired_rules(rules, table),
                owned_rules(self.save(namespace, table), table, layout),
            )
            for table in layout.tables
        }

    def apply(self, namespace: str, rules: Ruleset) -> bool:
        """Converge netnode's chains and jumps in ``namespace`` to ``rules``.

        Returns False when ``iptables-save`` already showed exactly the desired rules (no
        restore was run), True when a table was rewritten. Raises HostError if a table
        still differs after its restore.
        """
        changed = False
        layout = rules.layout
        for table in layout.tables:
            desired = desired_rules(rules, table)
            saved = self.save(namespace, table)
            if owned_rules(saved, table, layout) == desired:
                continue
            self.restore(namespace, restore_input(rules, table, saved))
            changed = True
            diff = diff_rules(desired, owned_rules(self.save(namespace, table), table, layout))
            if diff:
                raise HostError(
                    f"the {table} table in namespace {namespace} still differs after "
                    "iptables-restore:\n" + "\n".join(diff),
                    hint="a rule is written in a spelling iptables-save does not print back; "
                    "netnode.render.iptables must use iptables-save's spelling",
                )
        return changed

    def remove(self, namespace: str, layout: Layout = ROUTER_LAYOUT) -> bool:
        """Delete netnode's jumps and chains, one restore per table; others' rules stay.

        Returns False when there was nothing to delete.
        """
        changed = False
        for table in layout.tables:
            text = render_removal(self.save(namespace, table), table, layout)
            if text is None:
                continue
            self.restore(namespace, text)
            changed = True
            left = owned_rules(self.save(namespace, table), table, layout)
            if left:
                raise HostError(
                    f"netnode's {table} rules in namespace {namespace} are still there after "
                    "removal:\n" + "\n".join(left),
                    hint="another rule may jump to one of netnode's chains; "
                    "'ip netns exec NS iptables-save' shows which",
                )
        return changed

    # -- conntrack -----------------------------------------------------------------------

    def flush_conntrack(self, namespace: str, address: str) -> None:
        """Forget the connections of a floating address: entries whose original
        destination is ``address`` (DNATed to the fixed address) and entries whose replies
        go to it (SNATed to it). Existing entries keep their NAT after the rules are gone,
        so without this a removed floating IP keeps working for established flows.

        ``conntrack -D`` exits 1 when no entry matched; that is not an error.
        """
        ip = str(ipaddress.IPv4Address(address))
        for selector in ("--orig-dst", "--reply-dst"):
            proc = self._run(namespace, ["conntrack", "-D", selector, ip])
            if proc.returncode not in (0, 1):
                raise HostError(
                    f"conntrack -D {selector} {ip} failed in namespace {namespace}: "
                    f"{proc.stderr.strip() or proc.stdout.strip()}",
                    hint="is the nf_conntrack module loaded? 'conntrack -L' should answer",
                )

    def flush_port_conntrack(self, namespace: str, address: str, protocol: str, port: int) -> None:
        """Forget the connections to one forwarded port, ``address:port/protocol`` (the
        original destination, before DNAT), as Neutron's port forwarding extension does
        when a forwarding goes away or changes. The floating address's other flows stay.
        """
        ip = str(ipaddress.IPv4Address(address))
        if protocol not in PROTOCOLS or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"not a forwarded port: {protocol!r} {port!r}")
        argv = ["conntrack", "-D", "-p", protocol, "--orig-dst", ip, "--orig-port-dst", str(port)]
        proc = self._run(namespace, argv)
        if proc.returncode not in (0, 1):
            raise HostError(
                f"{' '.join(argv)} failed in namespace {namespace}: "
                f"{proc.stderr.strip() or proc.stdout.strip()}",
                hint="is the nf_conntrack module loaded? 'conntrack -L' should answer",
            )


def _failed_line(message: str, text: str) -> str:
    """iptables-restore says 'line N failed'; quote line N of what it was given."""
    words = message.replace(":", " ").split()
    for before, word in itertools.pairwise(words):
        if before == "line" and word.isdigit():
            lines = text.splitlines()
            number = int(word)
            if 0 < number <= len(lines):
                return f"\n  line {number}: {lines[number - 1]}"
    return ""
