"""``netnode logs LB``: a load balancer's tenant flow log (Octavia's format), or with
``--admin`` its HAProxy's administrative messages, as the node's reconcile loop writes
them (``drivers/flow_logs.py``). LB is a name (a topology file's, or the API's) or an
id; ``-n`` lines from the end, ``--follow`` for what comes next."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from netnode.errors import NetnodeError

if TYPE_CHECKING:
    from netnode.reconcile.host import Host


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("loadbalancer", metavar="LB", help="the load balancer's name or id")
    p.add_argument("-n", "--lines", type=_count, default=20, help="lines from the end (default 20)")
    p.add_argument("-f", "--follow", action="store_true", help="then print lines as they come")
    p.add_argument(
        "--admin",
        action="store_true",
        help="HAProxy's administrative log (servers up and down, alerts) instead of the "
        "tenant's flow log",
    )


def run(args: argparse.Namespace, host: Host) -> int:
    from netnode.drivers.flow_logs import follow, last_lines, log_file
    from netnode.plan.desired import flow_logs_dir

    lb_id, name = find(host, args.loadbalancer)
    path = log_file(Path(flow_logs_dir(host.run_dir)), lb_id, admin=args.admin)
    if not path.exists() and not args.follow:
        print(
            f"netnode: no {'administrative' if args.admin else 'flow'} log of load balancer "
            f"{name} ({lb_id}) yet: {path}. The node's reconcile loop (netnode agent or "
            "netnode serve) writes it as HAProxy sends it.",
            file=sys.stderr,
        )
        return 0
    for line in last_lines(path, args.lines):
        print(line)
    if not args.follow:
        return 0
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    try:
        for line in follow(path, stop):
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def find(host: Host, key: str) -> tuple[str, str]:
    """The id and the name of the load balancer named or identified by ``key`` among
    those desired on this node."""
    from netnode.model.loading import load_data
    from netnode.reconcile import converge

    found: dict[str, str] = {}
    known: list[str] = []
    for topology, record in converge.desired(host).items():
        topo = load_data(record.topology, host.scope, f"record {topology}")
        for lb in topo.load_balancers:
            meta = topo.metadata.get(lb.uid)
            name = meta.name if meta is not None and meta.name else lb.name
            known.append(name)
            if key in (lb.uid, lb.name, name):
                found[lb.uid] = name
    if not found:
        raise NetnodeError(
            f"no load balancer {key!r} on node {host.node!r} "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        )
    if len(found) > 1:
        raise NetnodeError(
            f"{len(found)} load balancers are named {key!r}: give one of their ids, "
            + ", ".join(sorted(found))
        )
    ((lb_id, name),) = found.items()
    return lb_id, name


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of lines: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"0 or more lines, not {value}")
    return value
