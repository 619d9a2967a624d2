"""HAProxy's own Prometheus exporter, for netnode's eyes only. Pure.

Every load balancer's haproxy.cfg gets one more frontend, ``netnode-metrics``, bound on
a UNIX socket in its process directory (``prom.sock``, mode 0600, beside the stats
socket) and answering every request with HAProxy's built-in exporter
(``http-request use-service prometheus-exporter``, built into Debian's 2.6: ``haproxy
-vv`` lists ``prometheus-exporter``). No address, no port: no tenant, and nothing on any
network, can reach it. netnode reads it over the socket (``netnode.drivers.haproxy``)
and re-exports it with Octavia's ids (``netnode.reconcile.exporter``).
"""

from __future__ import annotations

# Not an Octavia id (ids are UUIDs), so the re-export never mistakes it for a listener.
FRONTEND = "netnode-metrics"


def frontend(socket: str) -> str:
    """The exporter's frontend section, bound on ``socket`` (a path)."""
    if not socket.startswith("/") or any(c.isspace() or c in "\"'#\\$" for c in socket):
        raise ValueError(f"unusable socket path for haproxy.cfg: {socket!r}")
    lines = [
        f"bind unix@{socket} mode 600",
        "mode http",
        "no log",
        "timeout client 10s",
        "http-request use-service prometheus-exporter",
    ]
    return f"frontend {FRONTEND}\n" + "".join(f"    {line}\n" for line in lines)
