"""HAProxy's own Prometheus exporter, for netnode's eyes only. Pure.

Every load balancer's haproxy.cfg gets one more frontend, ``netnode-metrics``, bound on
a UNIX socket in its process directory (``prom.sock``, mode 0600, beside the stats
socket) and answering every request with HAProxy's built-in exporter
(``http-request use-service prometheus-exporter``, built into Debian's 2.6: ``haproxy
-vv`` lists ``prometheus-exporter``). No address, no port: no tenant, and nothing on any
network, can reach it. netnode reads it over the socket (``netnode.drivers.haproxy``)
and re-exports it with Octavia's ids (``netnode.reconcile.exporter``).

A PROMETHEUS listener (Octavia API 2.25) is the same exporter on ``VIP:protocol_port``
for the load balancer's tenant: ``/metrics`` only, of its own HAProxy, which serves this
load balancer alone, and behind the listener's ``allowed_cidrs`` like any listener
(``netnode.render.lb_filter``).
"""

from __future__ import annotations

from netnode.model.topology import Listener

# The path a PROMETHEUS listener answers (Octavia's), anything else is 404.
METRICS_PATH = "/metrics"

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


def listener(x: Listener, vip: str, *, enabled: bool) -> str:
    """The frontend of a PROMETHEUS listener."""
    lines = [
        f"bind {vip}:{x.protocol_port}",
        "mode http",
        f"timeout client {x.timeout_client_data}",
    ]
    if x.connection_limit != -1:
        lines.append(f"maxconn {x.connection_limit}")
    lines += [
        f"http-request use-service prometheus-exporter if {{ path {METRICS_PATH} }}",
        f'http-request return status 404 content-type text/plain string "{METRICS_PATH} only\\n"',
    ]
    if not enabled:
        lines.append("disabled")
    return f"frontend {x.uid}\n" + "".join(f"    {line}\n" for line in lines)
