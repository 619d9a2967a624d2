"""``netnode draw``: a topology as an SVG picture (``netnode.render.topology_svg``).

From a file (``-f``): the file as it is, nothing coloured. From this node's store
(``--topology NAME``, or every topology recorded on the node when neither is given):
what is desired, coloured by status as ``netnode status`` reads it: load balancers,
listeners, pools and members by their operating status (HAProxy's), routers and
floating IPs by their provisioning status (the reconcile loop's record).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from netnode.cli import cluster as cluster_cli
from netnode.errors import NetnodeError

if TYPE_CHECKING:
    from netnode.model.topology import Topology
    from netnode.reconcile.host import Host


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group()
    what.add_argument("-f", "--file", type=Path, help="a topology file (YAML): drawn uncoloured")
    what.add_argument(
        "--topology",
        metavar="NAME",
        action="append",
        help="a topology recorded on this node (may repeat; default: every one), "
        "coloured by status",
    )
    p.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="FILE",
        help="where to write the SVG (default -: standard output)",
    )


def run(args: argparse.Namespace, host: Host | None) -> int:
    """``host`` None: from ``args.file`` alone."""
    from netnode.model.loading import load_file
    from netnode.render.topology_svg import draw

    if args.file is not None:
        text = draw(load_file(args.file, args.node))
    else:
        assert host is not None
        local = cluster_cli.placed_here(args, host.store.engine)
        topos, statuses = recorded(host, args.node, args.topology, local)
        text = draw(topos, statuses)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text)
    except OSError as exc:
        raise NetnodeError(f"cannot write {args.output}: {exc.strerror}") from exc
    print(f"netnode draw: wrote {args.output}", file=sys.stderr)
    return 0


def recorded(
    host: Host,
    node: str,
    names: list[str] | None,
    local: Callable[[Topology], Topology] = lambda topo: topo,
) -> tuple[list[Topology], dict[str, str]]:
    """The topologies recorded on ``host`` (those ``names``, or every one) and each
    object's status: provisioning from the record, operating from HAProxy over it, for
    the load balancers ``local`` says this node runs (in a cluster, those placed here)."""
    from netnode.model.loading import load_data
    from netnode.reconcile import converge
    from netnode.reconcile.live_rows import read_rows
    from netnode.reconcile.status import loadbalancer_status

    records = converge.desired(host)
    for name in names or []:
        if name not in records:
            known = ", ".join(sorted(records)) or "none"
            raise NetnodeError(
                f"--topology {name}: no such topology is recorded on node {node!r} "
                f"(recorded: {known})"
            )
    topos = []
    statuses: dict[str, str] = {}
    for name, record in sorted(records.items()):
        if names and name not in names:
            continue
        topo = load_data(record.topology, node=node, source=f"record {name}")
        topos.append(topo)
        statuses |= record.status
        for lb in local(topo).load_balancers:
            rows = read_rows(host.haproxy, lb)
            statuses |= loadbalancer_status(lb, rows, record.status).by_id()
    return topos, statuses
