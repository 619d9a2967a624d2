"""Tenant flow logs in Octavia's format: the HAProxy lines that send each load
balancer's connection log, and its administrative messages apart, to the unix datagram
socket of the netnode process that runs it (``drivers/flow_logs.py``). Pure.

Octavia's amphora logs one line per connection or request in its ``user_log_format``,
the project and load balancer ids first; TCP listeners log ``-`` for the request line
and the status, which HAProxy only knows in HTTP mode. The tenant's lines go out on
facility ``local0`` at level info from each frontend; everything else HAProxy says
(servers going up and down, proxies stopping, alerts) goes out from the global section
on ``local1`` at notice and above, as Octavia's administrative log does. The syslog tag
is the load balancer's id, so that one socket serves every load balancer of a node.
"""

from __future__ import annotations

from dataclasses import dataclass

# Octavia's default [haproxy_amphora] user_log_format.
USER_LOG_FORMAT = (
    "{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] "
    "%{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"
)
# What HAProxy can only fill in HTTP mode (it refuses the format elsewhere).
HTTP_ONLY = ("%{+Q}r", "%r", "%{+Q}ST", "%ST")
TENANT_FACILITY = "local0"
ADMIN_FACILITY = "local1"
# A project that owns nothing through the API (a load balancer of a topology file).
NO_PROJECT = "-"


@dataclass(frozen=True)
class FlowLog:
    """Where one load balancer's HAProxy sends its logs, and whose they are."""

    socket: str
    project_id: str
    lb_id: str

    def global_lines(self) -> list[str]:
        return [f"log-tag {self.lb_id}", f"log unix@{self.socket} {ADMIN_FACILITY} notice"]

    def frontend_lines(self, *, http: bool) -> list[str]:
        """A frontend's own log target (not the global section's) and its format."""
        return [
            "no log",
            f"log unix@{self.socket} {TENANT_FACILITY} info",
            f"log-format {log_format(self.project_id, self.lb_id, http=http)}",
        ]


def log_format(project_id: str, lb_id: str, *, http: bool) -> str:
    """Octavia's user log format for one load balancer, spaces escaped for haproxy.cfg."""
    text = USER_LOG_FORMAT.replace("{{ project_id }}", project_id).replace("{{ lb_id }}", lb_id)
    if not http:
        for field in HTTP_ONLY:
            text = text.replace(field, "-")
    return text.replace(" ", "\\ ")
