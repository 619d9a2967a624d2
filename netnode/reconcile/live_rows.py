"""What a load balancer's HAProxy says of it now: its ``show stat`` rows, with its UDP
checker's health as rows of the same shape. The one reading of them that ``netnode
status``, ``netnode draw``, the API's live statistics and the metrics share."""

from __future__ import annotations

from pathlib import Path

from netnode.drivers.haproxy import HAProxyProcesses
from netnode.drivers.nftables import UdpTables
from netnode.errors import NetnodeError
from netnode.model.ids import lb_namespace
from netnode.model.topology import LoadBalancer
from netnode.plan.desired import process_name, udp_root
from netnode.reconcile.status import udp_rows

Rows = list[dict[str, str]]


def read_rows(haproxy: HAProxyProcesses, lb: LoadBalancer) -> Rows | None:
    """The load balancer's HAProxy ``show stat`` rows and its UDP checker's, read now
    (None: its HAProxy is not running)."""
    name = process_name("lb", lb.host_id)
    try:
        rows = haproxy.stats(name) if haproxy.running_pid(name) else None
    except (NetnodeError, OSError):
        rows = None
    if rows is not None:
        # UDP listeners and pools: the UDP checker's health, beside HAProxy's run dir.
        udp = UdpTables(Path(udp_root(haproxy.run_dir)))
        rows += udp_rows(lb, udp.health(lb_namespace(lb.host_id)))
    return rows
