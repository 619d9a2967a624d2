"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from netnode.reconcile.status import LoadBalancerStatus


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


STATUS_HEADERS = ("TYPE", "NAME", "ID", "PROVISIONING", "OPERATING")


def status_table(statuses: Sequence[LoadBalancerStatus]) -> str:
    """One row per object of each load balancer's tree, indented by depth."""
    return table(STATUS_HEADERS, status_rows(statuses))


def status_rows(statuses: Sequence[LoadBalancerStatus]) -> list[tuple[str, str, str, str, str]]:
    """The objects of each load balancer's tree, in order, the type indented by depth."""
    rows: list[tuple[str, str, str, str, str]] = []
    for lb in statuses:
        rows.append(("loadbalancer", lb.name, lb.id, lb.provisioning_status, lb.operating_status))
        for listener in lb.listeners:
            rows.append(
                (
                    "  listener",
                    listener.name,
                    listener.id,
                    listener.provisioning_status,
                    listener.operating_status,
                )
            )
        for pool in lb.pools:
            rows.append(
                ("  pool", pool.name, pool.id, pool.provisioning_status, pool.operating_status)
            )
            for m in pool.members:
                rows.append(
                    (
                        "    member",
                        f"{m.name} {m.address}:{m.protocol_port}",
                        m.id,
                        m.provisioning_status,
                        m.operating_status,
                    )
                )
    return rows


def stats_table(stats: Sequence[tuple[str, dict[str, int]]]) -> str:
    """Octavia's load balancer statistics, one row per load balancer."""
    headers = ("LOADBALANCER", "BYTES IN", "BYTES OUT", "ACTIVE CONN", "TOTAL CONN", "REQ ERRORS")
    keys = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
    return table(headers, [(name, *(str(numbers[k]) for k in keys)) for name, numbers in stats])
