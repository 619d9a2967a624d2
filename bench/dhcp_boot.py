"""50 instances booting at once: until all have their address from DHCP, beside the same
count of static lab instances.

Each round, from an empty host, times one ``converge.apply`` of a network with N lab
instances and waits until every instance's namespace holds its address on its tap:

- **static**: the instances' addresses set by netnode (``lab.instances[]: {address}``),
  as every lab topology does;
- **dhcp**: the same instances as ports' machines (``lab.instances[]: {port, dhcp:
  true}``) on a subnet with ``enable_dhcp``: netnode starts the network's dnsmasq in
  ``qdhcp-``, then the N instances' DHCP clients (busybox udhcpc) together, and each
  instance is booted when its client has put the leased address on its tap.

The figure is the wall time from the apply's start until the last instance is booted;
the ratio dhcp / static (medians) is what DHCP costs a boot. A DHCP instance is a port's
machine on a network without a router, so it counts as booted once it has also read its
own metadata (``/openstack/latest/meta_data.json`` through 169.254.169.254, answered
in the network's DHCP namespace, its ``uuid`` its port's), as cloud-init would on its
first boot; a static instance is no port and has no metadata to read.

Safety: everything is under this run's names (labkit.lab: node, bridges, state
directory) and destroyed on the way out; DHCP traffic stays on this run's bridge
inside its namespaces.

    .venv/bin/python bench/dhcp_boot.py [--instances 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import labkit
from labkit import BenchError

from netnode.lab.client import http_get
from netnode.model import ids
from netnode.model.topology import Topology

BOOT_TIMEOUT = 60.0
# dhcp / static, medians: the clients' start and one DHCP exchange per instance, in
# parallel, should cost well under the static build itself.
TARGET_RATIO = 1.5

# (description, check(lab, topology, instance index) -> bool): all must pass for an
# instance to count as booted.
ReadyCheck = Callable[[labkit.Lab, Topology, int], bool]


def has_address(lab: labkit.Lab, topo: Topology, i: int) -> bool:
    inst = topo.lab.instances[i]
    ns = ids.lab_namespace(inst.uid)
    try:
        links = lab.host.netlink.observe(ns).links
    except Exception:
        return False
    return any(f"{inst.address}/24" in link.addresses for link in links.values())


def has_metadata(lab: labkit.Lab, topo: Topology, i: int) -> bool:
    inst = topo.lab.instances[i]
    port = next(p for p in topo.ports if p.name == inst.port)
    try:
        answer = http_get(
            ids.lab_namespace(inst.uid),
            "169.254.169.254",
            80,
            path="/openstack/latest/meta_data.json",
            timeout=1.0,
        )
    except OSError:
        return False
    return answer.status == 200 and json.loads(answer.body).get("uuid") == port.uid


STATIC_CHECKS: list[tuple[str, ReadyCheck]] = [("its address on its tap", has_address)]
DHCP_CHECKS: list[tuple[str, ReadyCheck]] = [
    ("its leased address on its tap", has_address),
    ("its own metadata read", has_metadata),
]


def data(suffix: str, count: int, dhcp: bool) -> dict[str, Any]:
    subnet: dict[str, Any] = {"name": "boot-subnet", "cidr": "10.40.0.0/24"}
    subnet["gateway_ip"] = "10.40.0.1"
    subnet["enable_dhcp"] = dhcp
    topo: dict[str, Any] = {
        "name": "boot",
        "integration_bridge": f"nn{suffix}i",
        "networks": [{"name": "boot", "segmentation_id": 40, "subnets": [subnet]}],
    }
    addresses = [f"10.40.0.{10 + i}" for i in range(count)]
    if dhcp:
        topo["ports"] = [
            {"name": f"p{i:02d}", "network": "boot", "fixed_ips": [{"ip_address": a}]}
            for i, a in enumerate(addresses)
        ]
        instances = [
            {"name": f"i{i:02d}", "port": f"p{i:02d}", "dhcp": True, "body": f"i{i:02d}"}
            for i in range(count)
        ]
    else:
        instances = [
            {"name": f"i{i:02d}", "network": "boot", "address": a, "body": f"i{i:02d}"}
            for i, a in enumerate(addresses)
        ]
    topo["lab"] = {"instances": instances}
    return topo


def boot(count: int, dhcp: bool) -> float:
    """One round on a fresh lab: seconds from the apply's start to the last booted."""
    with labkit.lab("boot") as lab:
        lab.data = data(lab.suffix, count, dhcp)
        topo = lab.topology()
        started = time.perf_counter()
        lab.apply()
        checks = DHCP_CHECKS if dhcp else STATIC_CHECKS
        waiting = set(range(count))
        deadline = started + BOOT_TIMEOUT
        while waiting:
            waiting = {i for i in waiting if not all(check(lab, topo, i) for _, check in checks)}
            if not waiting:
                break
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"{len(waiting)} of {count} instances not booted after {BOOT_TIMEOUT:.0f} s"
                )
            time.sleep(0.02)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    problem = labkit.preflight(sys.argv[0], ("haproxy", "ovs-vsctl", "ip", "dnsmasq", "udhcpc"))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    labkit.stop_on_sigterm()
    times: dict[str, list[float]] = {"static": [], "dhcp": []}
    try:
        for _ in range(args.rounds):
            for kind in times:
                times[kind].append(boot(args.instances, kind == "dhcp"))
    except BenchError as exc:
        print(f"dhcp_boot: {exc}", file=sys.stderr)
        return 1
    static, dhcp = (statistics.median(times[k]) for k in ("static", "dhcp"))
    ratio = dhcp / static
    print(
        f"{args.instances} instances booting at once, median of {args.rounds} rounds "
        "(apply's start to the last instance booted):"
    )
    print("  static: " + ", ".join(d for d, _ in STATIC_CHECKS))
    print("  DHCP:   " + ", ".join(d for d, _ in DHCP_CHECKS))
    print(f"  static addresses  {static:7.2f} s   (rounds: {_list(times['static'])})")
    print(f"  DHCP leases       {dhcp:7.2f} s   (rounds: {_list(times['dhcp'])})")
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  DHCP / static     {ratio:7.2f}x   target <= {TARGET_RATIO:g}x: {verdict}")
    return 0


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
