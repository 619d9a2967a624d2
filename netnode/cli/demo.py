"""``netnode demo``: the seed scenario built, shown working with real traffic, removed."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from netnode.errors import NetnodeError
from netnode.lab.client import http_get
from netnode.model import ids
from netnode.model.loading import load_file
from netnode.model.topology import Topology
from netnode.reconcile import converge
from netnode.reconcile.host import Host

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


def run_demo(args: argparse.Namespace) -> int:
    path: Path = args.file or SEED
    if args.file is None and not SEED.exists():
        raise NetnodeError(f"the seed topology is not at {SEED}; pass one with -f")
    topo = load_file(path, args.node)
    host = Host(state_dir=args.state_dir, node=args.node)
    from netnode.cli.main import _print_summary, _Reporter

    print(f"netnode demo: building {path.name} on node {args.node!r}")
    try:
        outcome = converge.apply(host, topo, _Reporter())
        _print_summary("Apply", path, outcome)
        failures = 0
        for title, namespace, address, port in checks(topo):
            print(f"\n{title}")
            for i in range(args.requests):
                try:
                    answer = http_get(namespace, address, port).body.strip()
                except OSError as exc:
                    answer = f"FAILED ({exc})"
                    failures += 1
                print(f"  request {i + 1}: {answer}")
        if failures:
            print(f"\n{failures} request(s) failed")
        return 1 if failures else 0
    finally:
        if args.keep:
            print(f"\nKept. Remove it with: netnode --node {args.node} destroy -f {path}")
        else:
            done = converge.destroy(host, topo)
            print(
                f"\nCleaned up: {done.plan.summary()['delete']} objects removed in {done.seconds:.2f} s"
            )
        host.close()


def checks(topo: Topology) -> Iterator[tuple[str, str, str, int]]:
    """(title, namespace to send from, address, port) for every path the seed proves."""
    for lb in topo.load_balancers:
        for listener in lb.listeners:
            if listener.protocol != "HTTP":
                continue
            yield (
                f"§8.1: from inside {ids.lb_namespace(lb.uid)[:20]}…, GET http://{lb.vip.address}:{listener.protocol_port}/",
                ids.lb_namespace(lb.uid),
                str(lb.vip.address),
                listener.protocol_port,
            )
    for fip in topo.floating_ips:
        if fip.fixed_ip_address is None:
            continue
        port = _port_behind(topo, fip.fixed_ip_address)
        for client in topo.lab.clients:
            if client.network == fip.network:
                yield (
                    f"§8.2: from the external client {client.name!r} ({client.address}), "
                    f"GET http://{fip.floating_ip_address}:{port}/ (floating IP -> {fip.fixed_ip_address})",
                    ids.lab_namespace(client.uid),
                    str(fip.floating_ip_address),
                    port,
                )


def _port_behind(topo: Topology, address: object) -> int:
    for lb in topo.load_balancers:
        if lb.vip.address == address and lb.listeners:
            return lb.listeners[0].protocol_port
    for inst in topo.lab.instances:
        if inst.address == address:
            return inst.protocol_port
    return 80
