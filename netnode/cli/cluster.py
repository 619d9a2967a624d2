"""The command line of several nodes: the options of a node that joins the cluster
(``netnode agent``, ``netnode serve``), its membership for as long as its loop runs,
and ``netnode nodes``."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from netnode.cluster.liveness import DEFAULT_TIMEOUT, DEFAULT_ZONE
from netnode.errors import NetnodeError

# Every netnode command builds these options into its parser: the store (SQLAlchemy),
# the model and the host are imported by the functions that use them (see cli.main).
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from netnode.cluster import nodes
    from netnode.cluster.membership import Membership
    from netnode.cluster.scheduler import Cluster
    from netnode.model.topology import Topology
    from netnode.reconcile.host import Host


def add_membership_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--zone",
        default=os.environ.get("NETNODE_ZONE", DEFAULT_ZONE),
        help=f"this node's availability zone (default {DEFAULT_ZONE!r}; env NETNODE_ZONE)",
    )
    p.add_argument(
        "--node-timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="seconds without a heartbeat after which other nodes count this one as dead "
        f"(default {DEFAULT_TIMEOUT:g}); it beats four times within them",
    )

    p.add_argument(
        "--bridge-map",
        dest="bridge_map",
        action="append",
        type=_bridge_entry,
        default=[],
        metavar="FROM=TO",
        help="with --cluster: this node's name for a bridge the topology names (several "
        "nodes simulated on one machine each have bridges of their own); may repeat",
    )


def _bridge_entry(text: str) -> tuple[str, str]:
    from netnode.cluster.local import bridge_map

    try:
        ((name, to),) = bridge_map([text]).items()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name, to


def cluster_of(args: argparse.Namespace, engine: Engine) -> Cluster | None:
    """This node's part in its cluster (``--cluster``), None on its own."""
    # --bridge-map is the agent's and serve's (what builds bridges); a command that only
    # reads, such as status, has none.
    bridges = getattr(args, "bridge_map", [])
    if args.cluster is None:
        if bridges:
            raise NetnodeError("--bridge-map names this node's bridges in a cluster: add --cluster")
        return None
    from netnode.cluster.scheduler import Cluster

    return Cluster(engine, args.cluster, args.node, dict(bridges))


def placed_here(args: argparse.Namespace, engine: Engine) -> Callable[[Topology], Topology]:
    """What of a recorded topology this node runs, as its agent cuts it: in a cluster,
    the objects placed on this node, each named by its instance (its HAProxy, its
    namespace); on its own, all of it."""
    cluster = cluster_of(args, engine)
    if cluster is None:
        return lambda topo: topo
    cluster.refresh()
    return cluster.local


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.2 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"between 0.2 and 3600 seconds, not {text}")
    return value


@contextmanager
def membership(
    args: argparse.Namespace,
    engine: Engine,
    report: Callable[[], dict[str, Any]],
    log: Callable[[str], None],
) -> Iterator[Membership]:
    """This node, joined and beating until the block ends; then it has left."""
    from netnode.cluster.membership import Membership

    member = Membership(
        engine, args.node, zone=args.zone, timeout=args.node_timeout, report=report, log=log
    )
    member.join()
    member.start()
    try:
        yield member
    finally:
        member.stop()


def health_report(health: Any) -> Callable[[], dict[str, Any]]:
    """What a node says of its reconcile loop with each heartbeat (``agent.Health``)."""

    def report() -> dict[str, Any]:
        last = health.last_round_at
        return {
            "rounds": health.rounds,
            "failed_rounds": health.failed_rounds,
            "failing": health.failing,
            "last_error": health.last_error,
            "last_pass_seconds_ago": None if last is None else round(time.monotonic() - last, 1),
        }

    return report


def cmd_nodes(args: argparse.Namespace, engine: Engine) -> int:
    from netnode.cli.listing import Listing, show
    from netnode.cluster import nodes

    found = nodes.read(engine)
    if not found and args.format == "table" and not args.columns:
        print("No node has joined this store yet (netnode agent and netnode serve join it).")
        return 0
    rows = [
        (
            n.name,
            n.verdict.state,
            "up" if n.row.admin_state_up else "down",
            n.row.availability_zone,
            str(n.load_balancers),
            str(n.routers),
            f"{n.row.hostname}:{n.row.pid}",
            n.verdict.reason,
        )
        for n in found
    ]
    headers = ("NODE", "STATE", "ADMIN", "ZONE", "LBS", "ROUTERS", "PROCESS", "WHY")
    listing = Listing(headers, rows, [_json(n) for n in found])
    show(listing, args)
    return 0


def _json(n: nodes.Node) -> dict[str, Any]:
    r = n.row
    return {
        "name": r.name,
        "state": n.verdict.state,
        "reason": n.verdict.reason,
        "heartbeat_age": round(n.verdict.age, 3),
        "admin_state_up": r.admin_state_up,
        "availability_zone": r.availability_zone,
        "load_balancers": n.load_balancers,
        "routers": n.routers,
        "hostname": r.hostname,
        "pid": r.pid,
        "version": r.version,
        "timeout": r.timeout,
        "started_at": r.started_at.isoformat(),
        "heartbeat_at": r.heartbeat_at.isoformat(),
        "report": r.report,
    }


def cmd_apply(args: argparse.Namespace, host: Host) -> int:
    """``netnode --cluster NAME apply``: record the file as the cluster's desired state
    and schedule it; the nodes' agents converge what is placed on each."""
    from netnode.cluster import scheduler
    from netnode.model.loading import load_file

    topo = load_file(args.file, args.cluster)
    assert topo.name is not None  # load_file refuses a file that names none
    store = host.store
    store.set_desired(topo.name, topo.model_dump(mode="json", exclude_none=True))
    print(f"Recorded {args.file} as topology {topo.name!r} of cluster {args.cluster!r}.")
    decisions = scheduler.run_pass(store.engine, args.cluster)
    if decisions is None:
        print("  a node of the cluster is scheduling it (its agent logs where things go)")
    for line in [] if decisions is None else scheduler.describe(decisions):
        print(f"  {line}")
    print("The cluster's nodes (netnode agent/serve --cluster) converge it.")
    return 0
