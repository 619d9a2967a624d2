"""HAProxy configuration text from the model. Pure: no subprocess, no I/O.

``render_loadbalancer`` reproduces the seed's haproxy.cfg (SEED.md §8.1) for one
Octavia-style load balancer, with deliberate differences:

- the stats socket is ``mode 600 level admin expose-fd listeners`` (never the seed's
  world-writable 0666), so the driver can use the runtime API and seamless reloads;
- no ``daemon``: the driver starts HAProxy with ``-W -D`` (master-worker);
- ``server-state-file`` (a global keyword) and ``load-server-state-from-file global``
  keep health and runtime state across reloads;
- logging only when a target is given (a pure function cannot know whether
  ``/dev/log`` exists);
- ``option httplog`` on HTTP frontends, ``option tcplog`` on TCP ones (the seed has
  ``tcplog`` everywhere), and only with logging: HAProxy warns about a log format
  without a log target;
- live changes drop nothing: ``hard-stop-after`` bounds how long the workers a reload
  replaced may linger, HTTP frontends close idle keep-alive connections cleanly when
  their worker is replaced (``option idle-close-on-response``), and every algorithm is
  dynamic (SOURCE_IP hashes consistently), so members can be added and removed over the
  runtime API without a reload at all (``netnode.plan.runtime``);
- fast failover (``Pool.failover``, in each backend instead of the seed's defaults
  section): ``retries``, ``option redispatch 1`` (every retry goes to another
  member), for HTTP ``retry-on`` with ``disable-l7-retry`` for all but GET/HEAD,
  ``observe layer4`` + ``on-error mark-down`` on checked servers, and Octavia's listener
  timeouts, with a 1 s member connect timeout.

Section names are the Octavia ids: frontend = listener id, backend = pool id,
server = member id. Output is deterministic and ends with a newline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netnode.model.topology import (
    DEFAULT_TIMEOUT_MEMBER_CONNECT,
    DEFAULT_TIMEOUT_MEMBER_DATA,
    Client,
    Failover,
    HealthMonitor,
    Instance,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)
from netnode.render import tls

INDENT = "    "

# Each algorithm as backend lines. All of them are dynamic, which HAProxy requires for
# "add server" over the runtime API: SOURCE_IP hashes consistently, so a member added
# or removed moves only its share of the clients instead of reshuffling all of them.
ALGORITHMS = {
    "ROUND_ROBIN": ("balance roundrobin",),
    "LEAST_CONNECTIONS": ("balance leastconn",),
    "SOURCE_IP": ("balance source", "hash-type consistent"),
}

# How long the workers a reload replaced may finish their connections: a client that
# keeps a connection open forever cannot keep an old worker (and its old config) alive.
HARD_STOP_AFTER = "30s"

# The connection errors HTTP requests are retried on. Only GET and HEAD are replayed
# (HAProxy's METH_GET matches both): another method may already have had its effect.
HTTP_RETRY_ON = "conn-failure empty-response response-timeout"


def render_loadbalancer(
    lb: LoadBalancer,
    *,
    stats_socket: str,
    state_file: str,
    user: str = "haproxy",
    group: str = "haproxy",
    log_target: str | None = None,
    tls_files: Mapping[str, str] | None = None,
) -> str:
    """The haproxy.cfg of one load balancer.

    ``log_target`` (for example ``/dev/log``) adds ``log <target> local0`` and the
    seed's ``local1 notice``; None (the default) renders no logging at all.
    ``tls_files`` maps the certificate files the topology names to the copies HAProxy
    reads (see ``netnode.render.tls``).
    """
    files = tls_files or {}
    for word in (state_file, user, group, *([log_target] if log_target is not None else [])):
        _check_path(word)
    glob = [f"user {user}", f"group {group}"]
    if log_target is not None:
        glob += [f"log {log_target} local0", f"log {log_target} local1 notice"]
    glob += [
        _stats_socket(stats_socket),
        f"server-state-file {state_file}",
        f"hard-stop-after {HARD_STOP_AFTER}",
    ]
    # The seed's retries, redispatch and timeouts are per pool and per listener now.
    defaults = (["log global"] if log_target is not None else []) + [
        "load-server-state-from-file global",
    ]
    sections = [_section("global", glob), _section("defaults", defaults)]
    pools = {pool.name: pool for pool in lb.pools}
    # UDP listeners and pools are the kernel's (render/nftables.py), not HAProxy's.
    for listener in lb.listeners:
        if listener.protocol == "UDP":
            continue
        pool = pools.get(listener.default_pool) if listener.default_pool else None
        sections.append(
            _frontend(
                listener,
                pool,
                vip=str(lb.vip.address),
                lb_enabled=lb.admin_state_up,
                logging=log_target is not None,
                files=files,
            )
        )
    for pool in lb.pools:
        if pool.protocol == "UDP":
            continue
        users = [x for x in lb.listeners if x.default_pool == pool.name]
        sections.append(_backend(pool, users, files))
    return "".join(sections)


def _stats_socket(path: str) -> str:
    _check_path(path)
    return f"stats socket {path} mode 600 level admin expose-fd listeners"


def _check_path(path: str) -> None:
    # Paths, users and log targets come from the caller, not the topology; still, a
    # space or a quote would break the line, so refuse them rather than render
    # something else.
    if not path or any(c.isspace() or c in "\"'#\\$" for c in path):
        raise ValueError(f"unusable word for haproxy.cfg: {path!r}")


def _section(header: str, lines: Iterable[str]) -> str:
    return header + "\n" + "".join(f"{INDENT}{line}\n" for line in lines)


def _frontend(
    listener: Listener,
    pool: Pool | None,
    *,
    vip: str,
    lb_enabled: bool,
    logging: bool,
    files: Mapping[str, str],
) -> str:
    http = listener.protocol in ("HTTP", "TERMINATED_HTTPS")
    lines = []
    # A log format without a log target only earns a warning from "haproxy -c".
    if logging:
        lines.append("option httplog" if http else "option tcplog")
    lines.append(
        " ".join([f"bind {vip}:{listener.protocol_port}", *tls.bind_options(listener, files)])
    )
    lines.append(f"mode {'http' if http else 'tcp'}")
    lines.append(f"timeout client {listener.timeout_client_data}")
    if http:
        # When a reload replaces this worker, idle keep-alive clients are told to
        # close ("Connection: close" on the last response) instead of being cut.
        lines.append("option idle-close-on-response")
    if pool is not None:
        lines.append(f"default_backend {pool.uid}")
    if listener.connection_limit != -1:
        lines.append(f"maxconn {listener.connection_limit}")
    if http and listener.insert_headers.get("X-Forwarded-For"):
        lines.append("option forwardfor")
    # TLS: X-Forwarded-Proto https, X-SSL-* headers, HSTS (TERMINATED_HTTPS only).
    lines += tls.frontend_lines(listener)
    if not (listener.admin_state_up and lb_enabled):
        lines.append("disabled")
    return _section(f"frontend {listener.uid}", lines)


def _backend(pool: Pool, listeners: list[Listener], files: Mapping[str, str]) -> str:
    http = pool.protocol == "HTTP"
    lines = [f"mode {'http' if http else 'tcp'}", *ALGORITHMS[pool.lb_algorithm]]
    # The seed repeats "option forwardfor" in the backend. HAProxy adds the header once
    # when either side asks, so it is only repeated here when every listener using this
    # pool wants it (a listener that does not must not get it through the backend).
    if http and listeners and all(x.insert_headers.get("X-Forwarded-For") for x in listeners):
        lines.append("option forwardfor")
    # Octavia's member timeouts belong to the listener; listeners sharing a pool agree
    # on them (validation), a pool no listener uses gets the defaults.
    connect, data = (
        (listeners[0].timeout_member_connect, listeners[0].timeout_member_data)
        if listeners
        else (DEFAULT_TIMEOUT_MEMBER_CONNECT, DEFAULT_TIMEOUT_MEMBER_DATA)
    )
    lines += [f"timeout connect {connect}", f"timeout server {data}"]
    lines += _retries(pool.failover, http)
    monitor = pool.healthmonitor
    checking = monitor is not None and monitor.admin_state_up
    if monitor is not None and checking:
        lines.append(f"timeout check {monitor.timeout}s")
        if monitor.type in ("HTTP", "HTTPS"):
            lines.append(f"option httpchk {monitor.http_method} {monitor.url_path}")
            lines.append(f"http-check expect {expect_status(monitor.expected_codes)}")
    # TLS-HELLO checks (a TLS pool's own TLS options go on its server lines).
    lines += tls.check_lines(pool, monitor if checking else None)
    tls_words = tls.server_options(pool, monitor if checking else None, files)
    for member in pool.members:
        lines.append(_server(member, monitor if checking else None, pool.failover, tls_words))
    if not pool.admin_state_up:
        lines.append("disabled")
    return _section(f"backend {pool.uid}", lines)


def _retries(failover: Failover, http: bool) -> list[str]:
    lines = [f"retries {failover.retries}"]
    if failover.retries == 0:
        return lines
    if failover.redispatch:
        # 1: every retry picks another member (HAProxy's default is the last one only).
        lines.append("option redispatch 1")
    if http:
        lines.append(f"retry-on {HTTP_RETRY_ON}")
        lines.append("http-request disable-l7-retry if !METH_GET")
    return lines


def _server(
    member: Member, monitor: HealthMonitor | None, failover: Failover, tls_words: list[str]
) -> str:
    line = f"server {member.uid} {member.address}:{member.protocol_port} weight {member.weight}"
    # TLS towards the member (re-encryption) or only for its checks.
    line += "".join(f" {word}" for word in tls_words)
    if monitor is not None:
        line += f" check inter {monitor.delay}s fall {monitor.max_retries_down}"
        if monitor.max_retries is not None:
            line += f" rise {monitor.max_retries}"
        # Layer 4 (connection refused, reset or timed out), for HTTP pools too: layer 7
        # would also count every 500/502-504 the application answers, and with
        # error-limit 1 a single error page would take a healthy member out of the
        # pool. Only with checks: a member marked down comes back by passing them,
        # without them it would stay down for good.
        if failover.observe:
            line += f" observe layer4 error-limit {failover.error_limit} on-error mark-down"
    if not member.admin_state_up:
        line += " disabled"
    return line


def expected_codes(codes: str) -> list[int]:
    """Octavia's expected_codes ("200", "200,202", "200-204") as a sorted list.

    A range with more than two ends ("200-204-206", which the model's pattern lets
    through) spans its lowest to its highest code.
    """
    result: set[int] = set()
    for part in codes.split(","):
        ends = [int(x) for x in part.split("-")]
        result.update(range(min(ends), max(ends) + 1))
    return sorted(result)


def expect_status(codes: str) -> str:
    """The ``http-check expect`` argument: ``status 200`` or ``rstatus ^(200|202)$``.

    Built only from integers parsed out of the validated string, so nothing of the
    input reaches the regex as text.
    """
    values = expected_codes(codes)
    if len(values) == 1:
        return f"status {values[0]}"
    return "rstatus ^(" + "|".join(str(v) for v in values) + ")$"


# --- lab ---------------------------------------------------------------------------------


LAB_DEFAULTS = (
    "mode http",
    "timeout connect 5s",
    "timeout client 30s",
    "timeout server 30s",
    "timeout http-request 10s",
)


def _lab(stats_socket: str, user: str, group: str, frontend: str) -> str:
    return (
        _section("global", [f"user {user}", f"group {group}", _stats_socket(stats_socket)])
        + _section("defaults", LAB_DEFAULTS)
        + frontend
    )


def quoted(text: str) -> str:
    """``text`` as an HAProxy double-quoted string with a trailing newline.

    Inside double quotes HAProxy expands ``${VAR}`` and interprets backslash escapes;
    anything but letters, digits and a few harmless marks is written as ``\\xNN`` so
    the body comes out byte for byte.
    """
    if any(ord(c) > 0x7E or ord(c) < 0x20 for c in text):
        raise ValueError(f"not printable ASCII: {text!r}")
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-:/,;+=@!?()[]")
    out = "".join(c if c in safe else f"\\x{ord(c):02x}" for c in text)
    return f'"{out}\\n"'


def render_lab_instance(
    inst: Instance,
    *,
    stats_socket: str,
    user: str = "haproxy",
    group: str = "haproxy",
    tls_files: Mapping[str, str] | None = None,
) -> str:
    """A simulated VM's HTTP server: answers ``<body>\\n`` (the seed's ``nc`` loop) with
    the caller's address in ``X-Client-Addr``, on ``<address>:<protocol_port>``.

    With ``https_port``, the same over TLS there with the instance's certificate
    (``tls_files`` maps it to the copy HAProxy reads). The TLS headers a load balancer
    inserts come back as ``Echo-<header>`` (``netnode.render.tls.ECHOED``)."""
    binds = [f"bind {inst.address}:{inst.protocol_port}"]
    if inst.https_port is not None and inst.tls_container_ref is not None:
        crt = tls.path_of(inst.tls_container_ref, tls_files or {})
        binds.append(f"bind {inst.address}:{inst.https_port} ssl crt {crt}")
    frontend = _section(
        f"frontend {inst.uid}",
        [
            *binds,
            "http-request return status 200 content-type text/plain"
            f" string {quoted(inst.body)} hdr X-Client-Addr %[src] "
            + " ".join(tls.lab_echo_words()),
        ],
    )
    return _lab(stats_socket, user, group, frontend)


def render_lab_client(
    client: Client, *, stats_socket: str, user: str = "haproxy", group: str = "haproxy"
) -> str:
    """An external host's HTTP server answering with the caller's source address, so
    that SNAT (which address the cloud's traffic comes from) can be observed."""
    frontend = _section(
        f"frontend {client.uid}",
        [
            f"bind {client.address}:{client.protocol_port}",
            'http-request return status 200 content-type text/plain lf-string "%[src]\\n"',
        ],
    )
    return _lab(stats_socket, user, group, frontend)
