"""One command inside a network namespace (``ip netns exec``), as the firewall drivers
(iptables, nftables) run theirs: argv lists, a bound on time, a clear error when the
tool is missing."""

from __future__ import annotations

import shutil
import subprocess

from netnode.errors import HostError, MissingTool

# The Debian package of each tool the drivers run.
PACKAGES = {
    "ip": "iproute2",
    "iptables-save": "iptables",
    "iptables-restore": "iptables",
    "nft": "nftables",
    "conntrack": "conntrack",
}


def run_in(
    namespace: str,
    args: list[str],
    *,
    timeout: float,
    stdin: str | None = None,
    hint: str = "",
) -> subprocess.CompletedProcess[str]:
    """``args`` run in ``namespace``; its exit status is the caller's to judge."""
    for program in ("ip", args[0]):
        if shutil.which(program) is None:
            raise MissingTool(program, PACKAGES.get(program, program))
    try:
        return subprocess.run(
            ["ip", "netns", "exec", namespace, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HostError(
            f"{args[0]} in namespace {namespace} did not finish in {timeout}s", hint=hint
        ) from exc
