"""HAProxy configuration text from the model. Pure: no subprocess, no I/O.

``render_loadbalancer`` reproduces the seed's haproxy.cfg (docs/seed.md §8.1) for one
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

Octavia's feature set beyond the seed:

- a frontend's mode follows its listener (``combinations.LISTENER_MODE``: HTTP and
  TERMINATED_HTTPS are http, TCP and HTTPS, TLS passed through, are tcp) and a
  backend's mode follows the listeners that send to it, as default pool or through an
  L7 policy; PROXY and PROXYV2 pools add ``send-proxy``/``send-proxy-v2``;
- session persistence as Octavia's amphora renders it (a stick table on the source,
  HAProxy's ``SRV`` cookie, or the application's cookie learned from its answers);
- HTTP monitors in HTTP/1.1 with the domain as Host, PING monitors through an external
  check shipped with netnode (``netnode/checks/ping-check``);
- backup members, monitor address and port, Octavia's inserted headers, a redirect to
  HTTPS, and L7 policies and rules (``netnode.render.l7``);
- an ACTIVE_STANDBY instance replicates its stick tables to the other instance through
  a ``peers`` section (``netnode.render.peers``), so a takeover keeps every client's
  member; a SINGLE load balancer has neither the section nor ``localpeer``.

Every value of the topology written here goes through ``netnode.render.quoting``
unless its alphabet cannot inject (ids, addresses, integers, the model's names).
UDP listeners and pools are the kernel's, not HAProxy's: they are left out.

Section names are the Octavia ids: frontend = listener id, backend = pool id,
server = member id. Output is deterministic and ends with a newline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from netnode.model.combinations import LISTENER_MODE
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
    SessionPersistence,
)
from netnode.render import exporter, l7, tls
from netnode.render import peers as ha_peers
from netnode.render.flow_log import FlowLog
from netnode.render.quoting import fetch_arg, word

INDENT = "    "

# Each algorithm as backend lines. All of them are dynamic, which HAProxy requires for
# "add server" over the runtime API: SOURCE_IP hashes consistently, so a member added
# or removed moves only its share of the clients instead of reshuffling all of them.
ALGORITHMS = {
    "ROUND_ROBIN": ("balance roundrobin",),
    "LEAST_CONNECTIONS": ("balance leastconn",),
    "SOURCE_IP": ("balance source", "hash-type consistent"),
    # The client's address and port, hashed consistently too: every connection keeps
    # its member, a client's connections spread over the pool. HAProxy's "hash" takes
    # one sample expression; the port joins the address through a variable, set in
    # the backend before the member is chosen (see _balance).
    "SOURCE_IP_PORT": ("balance hash src,concat(:,txn.src_port)", "hash-type consistent"),
}
SOURCE_PORT_VAR = "set-var(txn.src_port) src_port"

# Octavia's stick table size, and its key length for APP_COOKIE values.
STICK_TABLE_SIZE = "10k"
STICK_COOKIE_LEN = 64
# The cookie HAProxy inserts for HTTP_COOKIE persistence (Octavia's name).
HTTP_COOKIE_NAME = "SRV"

# The external check a PING monitor runs (shipped with netnode, see the script). It
# pings the member's address once; HAProxy runs it as its own user, with no PATH.
PING_CHECK = str(Path(__file__).parent.parent / "checks" / "ping-check")
PING_CHECK_PATH = "/usr/bin:/bin"

# How long the workers a reload replaced may finish their connections: a client that
# keeps a connection open forever cannot keep an old worker (and its old config) alive.
HARD_STOP_AFTER = "30s"

# What one load balancer's HAProxy may use of the host (issue 17's memory at 1,000 load
# balancers; measured with bench/scale.py --memory):
# - One thread. HAProxy starts one per CPU otherwise: 64 on a 64-core host, per load
#   balancer, each with its own pools (about 0.25 MB a thread measured here). One
#   tenant's load balancer on a shared network node gets a core's worth, as Octavia's
#   default single-vCPU amphora does.
# - File descriptors bounded by what its listeners may hold. Without a bound HAProxy
#   raises its soft limit to the hard one and sizes its tables from it: under systemd
#   (hard limit 524,288) that is about 262,000 connections and some 30 MB per load
#   balancer (126 bytes a connection slot, measured), touched at start. ``fd-hard-limit`` caps it (and unlike a global
#   ``maxconn`` never fails to start where the host's limit is lower: HAProxy then
#   takes what the host allows). Each connection needs two descriptors (client and
#   server side); a listener without ``connection_limit`` counts for
#   UNLIMITED_LISTENER_CONNECTIONS.
THREADS = 1
# HAProxy's internal HTTP client (Lua, the "httpclient" CLI command: netnode uses neither)
# loads the system's CA store at every start and reload to verify the servers it talks
# to: 145 files here, about 25 ms of the 30 ms HAProxy spends starting (issue 17's
# apply). Its verification is off instead; nothing netnode renders makes HAProxy use
# that client, and every server line of netnode's sets its own ``verify``.
NO_HTTPCLIENT_CA = "httpclient.ssl.verify none"
UNLIMITED_LISTENER_CONNECTIONS = 10_000
FD_MARGIN = 1_000


def fd_hard_limit(listeners: Iterable[Listener]) -> int:
    """The descriptors one load balancer's HAProxy may use: two per connection its
    listeners may hold, and a margin for listening sockets, health checks, peers and
    the runtime API."""
    connections = sum(
        UNLIMITED_LISTENER_CONNECTIONS if x.connection_limit == -1 else x.connection_limit
        for x in listeners
    )
    return 2 * max(connections, 1) + FD_MARGIN


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
    ping_check: str = PING_CHECK,
    tls_files: Mapping[str, str] | None = None,
    metrics_socket: str | None = None,
    flow_log: FlowLog | None = None,
) -> str:
    """The haproxy.cfg of one load balancer.

    ``log_target`` (for example ``/dev/log``) adds ``log <target> local0`` and the
    seed's ``local1 notice``; None (the default) renders no logging at all.
    ``flow_log`` sends the tenant's flow log and the administrative messages apart to
    netnode's socket instead (``netnode.render.flow_log``).
    ``ping_check`` is the command PING health monitors run. ``tls_files`` maps the
    certificate files the topology names to the copies HAProxy reads (see
    ``netnode.render.tls``). ``metrics_socket`` adds HAProxy's Prometheus exporter on
    that UNIX socket (``netnode.render.exporter``), for netnode alone.

    UDP listeners and pools are not HAProxy's (the kernel balances them) and are left
    out.
    """
    for path in (state_file, user, group, ping_check, *([log_target] if log_target else [])):
        _check_path(path)
    files = tls_files or {}
    listeners = [x for x in lb.listeners if x.protocol in LISTENER_MODE]
    pools = {pool.name: pool for pool in lb.pools if pool.protocol != "UDP"}
    peers = ha_peers.of(lb)
    glob = [
        f"user {user}",
        f"group {group}",
        f"nbthread {THREADS}",
        f"fd-hard-limit {fd_hard_limit(listeners)}",
        NO_HTTPCLIENT_CA,
    ]
    if peers is not None:
        # Which peer of the section this HAProxy is (not its host name, not -L: the
        # command line stays the one keepalived tracks).
        glob.append(f"localpeer {peers.local}")
    if log_target is not None:
        glob += [f"log {log_target} local0", f"log {log_target} local1 notice"]
    elif flow_log is not None:
        glob += flow_log.global_lines()
    glob += [
        _stats_socket(stats_socket),
        f"server-state-file {state_file}",
        f"hard-stop-after {HARD_STOP_AFTER}",
    ]
    if any((m := _checking(pool)) is not None and m.type == "PING" for pool in pools.values()):
        # External checks fork a process (HAProxy refuses to unless told), and ping
        # needs its file capability (cap_net_raw), which HAProxy's no_new_privs lock
        # would otherwise strip from it.
        glob += ["external-check", "insecure-fork-wanted", "insecure-setuid-wanted"]
    # The seed's retries, redispatch and timeouts are per pool and per listener now.
    logged = log_target is not None or flow_log is not None
    defaults = (["log global"] if logged else []) + [
        "load-server-state-from-file global",
    ]
    sections = [_section("global", glob), _section("defaults", defaults)]
    if peers is not None:
        sections.append(_section(f"peers {peers.section}", peers.lines()))
    for listener in listeners:
        pool = pools.get(listener.default_pool) if listener.default_pool else None
        sections.append(
            _frontend(
                listener,
                pool,
                pools,
                vip=str(lb.vip.address),
                lb_enabled=lb.admin_state_up,
                logging=log_target is not None,
                files=files,
                flow_log=None if log_target is not None else flow_log,
            )
        )
    if metrics_socket is not None:
        sections.append(exporter.frontend(metrics_socket))
    for pool in pools.values():
        sections.append(
            _backend(
                pool,
                _users(pool, listeners),
                files,
                ping_check,
                peers=None if peers is None else peers.section,
            )
        )
    return "".join(sections)


def _users(pool: Pool, listeners: list[Listener]) -> list[Listener]:
    """The listeners that send to ``pool``: those whose default pool it is first (their
    member timeouts are the pool's), then those that reach it through an L7 policy."""
    default = [x for x in listeners if x.default_pool == pool.name]
    redirected = [
        x
        for x in listeners
        if x not in default and any(p.redirect_pool == pool.name for p in x.l7policies)
    ]
    return default + redirected


def _checking(pool: Pool) -> HealthMonitor | None:
    """The pool's health monitor when it is enabled."""
    monitor = pool.healthmonitor
    return monitor if monitor is not None and monitor.admin_state_up else None


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
    pools: dict[str, Pool],
    *,
    vip: str,
    lb_enabled: bool,
    logging: bool,
    files: Mapping[str, str],
    flow_log: FlowLog | None = None,
) -> str:
    if listener.protocol == "PROMETHEUS":
        return exporter.listener(listener, vip, enabled=listener.admin_state_up and lb_enabled)
    mode = LISTENER_MODE[listener.protocol]
    http = mode == "http"
    lines = []
    # A log format without a log target only earns a warning from "haproxy -c".
    if logging:
        lines.append("option httplog" if http else "option tcplog")
    elif flow_log is not None:
        lines += flow_log.frontend_lines(http=http)
    bind = f"bind {vip}:{listener.protocol_port}"
    lines.append(" ".join([bind, *tls.bind_options(listener, files)]))
    lines.append(f"mode {mode}")
    lines.append(f"timeout client {listener.timeout_client_data}")
    if listener.timeout_tcp_inspect:
        lines.append(f"tcp-request inspect-delay {listener.timeout_tcp_inspect}")
    if http:
        # When a reload replaces this worker, idle keep-alive clients are told to
        # close ("Connection: close" on the last response) instead of being cut.
        lines.append("option idle-close-on-response")
    if pool is not None:
        lines.append(f"default_backend {pool.uid}")
    if listener.connection_limit != -1:
        lines.append(f"maxconn {listener.connection_limit}")
    if http:
        lines += _http_requests(listener, pools)
    if not (listener.admin_state_up and lb_enabled):
        lines.append("disabled")
    return _section(f"frontend {listener.uid}", lines)


def _http_requests(listener: Listener, pools: dict[str, Pool]) -> list[str]:
    """What an HTTP frontend does to requests: Octavia's inserted headers, the
    redirect to HTTPS, then the L7 policies (``netnode.render.l7``)."""
    headers = listener.insert_headers
    lines = []
    if headers.get("X-Forwarded-For"):
        lines.append("option forwardfor")
    if headers.get("X-Forwarded-Port"):
        lines.append("http-request set-header X-Forwarded-Port %[dst_port]")
    if headers.get("X-Forwarded-Proto") and not tls.terminates(listener):
        lines.append("http-request set-header X-Forwarded-Proto http")
    # TERMINATED_HTTPS: X-Forwarded-Proto https, the X-SSL-* headers, HSTS.
    lines += tls.frontend_lines(listener)
    if listener.redirect_https:
        lines.append("http-request redirect scheme https")
    return lines + l7.frontend_lines(listener.l7policies, pools)


def _backend(
    pool: Pool,
    listeners: list[Listener],
    files: Mapping[str, str] | None = None,
    ping_check: str = PING_CHECK,
    *,
    peers: str | None = None,
) -> str:
    """One pool's backend; ``peers`` names the section its stick table (if any) is
    replicated through."""
    # A pool has the mode of the listeners that send to it (validation keeps them
    # agreeing): a PROXY or HTTPS pool behind a TCP listener is plain TCP.
    if listeners:
        mode = LISTENER_MODE[listeners[0].protocol]
    else:
        mode = "http" if pool.protocol == "HTTP" else "tcp"
    http = mode == "http"
    lines = [f"mode {mode}", *_balance(pool.lb_algorithm, mode)]
    # The seed repeats "option forwardfor" in the backend. HAProxy adds the header once
    # when either side asks, so it is only repeated here when every listener using this
    # pool wants it (a listener that does not must not get it through the backend).
    if http and listeners and all(x.insert_headers.get("X-Forwarded-For") for x in listeners):
        lines.append("option forwardfor")
    lines += _persistence(pool.session_persistence, mode, peers)
    # Octavia's member timeouts belong to the listener; listeners sharing a pool agree
    # on them (validation), a pool no listener uses gets the defaults.
    connect, data = (
        (listeners[0].timeout_member_connect, listeners[0].timeout_member_data)
        if listeners
        else (DEFAULT_TIMEOUT_MEMBER_CONNECT, DEFAULT_TIMEOUT_MEMBER_DATA)
    )
    lines += [f"timeout connect {connect}", f"timeout server {data}"]
    lines += _retries(pool.failover, http)
    monitor = _checking(pool)
    if monitor is not None:
        lines += _monitor(monitor, ping_check)
    # TLS-HELLO checks; a TLS pool's own TLS options go on its server lines.
    lines += tls.check_lines(pool, monitor)
    tls_words = tls.server_options(pool, monitor, files or {})
    cookies = http and _cookie_persistence(pool.session_persistence)
    for member in pool.members:
        lines.append(
            _server(
                member,
                monitor,
                pool.failover,
                proxy=pool.protocol,
                cookie=member.uid if cookies else None,
                tls_words=tls_words,
            )
        )
    if not pool.admin_state_up:
        lines.append("disabled")
    return _section(f"backend {pool.uid}", lines)


def _balance(algorithm: str, mode: str) -> list[str]:
    lines = list(ALGORITHMS[algorithm])
    if algorithm == "SOURCE_IP_PORT":
        rules = "http-request" if mode == "http" else "tcp-request content"
        lines.insert(0, f"{rules} {SOURCE_PORT_VAR}")
    return lines


def _cookie_persistence(sp: SessionPersistence | None) -> bool:
    return sp is not None and sp.type == "HTTP_COOKIE"


def _persistence(sp: SessionPersistence | None, mode: str, peers: str | None = None) -> list[str]:
    """Octavia's session persistence. The cookie kinds need HTTP (validation allows
    them on HTTP, PROXY and PROXYV2 pools, which an HTTP listener runs in http mode).
    With ``peers`` (an ACTIVE_STANDBY instance) the stick tables are replicated through
    that section; HTTP_COOKIE needs none: the member is in the client's cookie."""
    if sp is None:
        return []
    replicated = "" if peers is None else f" peers {peers}"
    if sp.type == "SOURCE_IP":
        return [f"stick-table type ip size {STICK_TABLE_SIZE}{replicated}", "stick on src"]
    if mode != "http":
        return []
    if sp.type == "HTTP_COOKIE":
        # The cookie names the member (its id); "indirect": the member never sees it,
        # "nocache": no shared cache keeps one client's cookie for everyone.
        return [f"cookie {HTTP_COOKIE_NAME} insert indirect nocache"]
    # APP_COOKIE: learn which member set the application's cookie, send the requests
    # that carry it there.
    name = fetch_arg(sp.cookie_name or "")
    return [
        f"stick-table type string len {STICK_COOKIE_LEN} size {STICK_TABLE_SIZE}{replicated}",
        f"stick store-response {word(f'res.cook({name})')}",
        f"stick match {word(f'req.cook({name})')}",
    ]


def _monitor(monitor: HealthMonitor, ping_check: str) -> list[str]:
    lines = [f"timeout check {monitor.timeout}s"]
    if monitor.type in ("HTTP", "HTTPS"):
        request = f"option httpchk {monitor.http_method} {word(monitor.url_path)}"
        if monitor.http_version == 1.1:
            lines.append(f"{request} HTTP/1.1")
            if monitor.domain_name is not None:
                lines.append(f"http-check send hdr Host {word(monitor.domain_name)}")
        else:
            lines.append(request)
        lines.append(f"http-check expect {expect_status(monitor.expected_codes)}")
    elif monitor.type == "PING":
        lines += [
            "option external-check",
            f'external-check path "{PING_CHECK_PATH}"',
            f"external-check command {ping_check}",
        ]
    # TCP: the connection is the check. HTTPS checks over TLS and TLS-HELLO sends a
    # hello (netnode.render.tls: check_lines, server_options).
    return lines


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
    member: Member,
    monitor: HealthMonitor | None,
    failover: Failover,
    *,
    proxy: str = "HTTP",
    cookie: str | None = None,
    tls_words: list[str] | None = None,
) -> str:
    line = f"server {member.uid} {member.address}:{member.protocol_port} weight {member.weight}"
    if member.backup:
        line += " backup"
    if cookie is not None:
        line += f" cookie {cookie}"
    if proxy == "PROXY":
        line += " send-proxy"
    elif proxy == "PROXYV2":
        line += " send-proxy-v2"
    # TLS towards the member (re-encryption) or only for its checks.
    line += "".join(f" {word}" for word in tls_words or [])
    if monitor is not None:
        line += f" check inter {monitor.delay}s fall {monitor.max_retries_down}"
        if monitor.max_retries is not None:
            line += f" rise {monitor.max_retries}"
        # Checks go to monitor_address/monitor_port when given (and then without the
        # PROXY header, which HAProxy sends to checks of the member's own port only).
        if member.monitor_address is not None:
            line += f" addr {member.monitor_address}"
        if member.monitor_port is not None:
            line += f" port {member.monitor_port}"
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
    """Octavia's expected_codes as a sorted list: one code ("200"), a comma list
    ("200, 202") or one upward range ("200-204"), as the model has validated them."""
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
        _section(
            "global",
            [f"user {user}", f"group {group}", NO_HTTPCLIENT_CA, _stats_socket(stats_socket)],
        )
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


# The cookie a lab instance sets on every answer (its id as the value), as an
# application would set its session cookie: APP_COOKIE persistence learns it.
LAB_COOKIE = "lab_session"
# A request for /expect-host/<name> is answered 200 only when its Host header is <name>
# (404 otherwise): an HTTP health monitor's Host header can be seen working.
LAB_EXPECT_HOST = "/expect-host/"


def render_lab_instance(
    inst: Instance,
    *,
    stats_socket: str,
    user: str = "haproxy",
    group: str = "haproxy",
    tls_files: Mapping[str, str] | None = None,
) -> str:
    """A simulated VM's HTTP server: answers ``<body>\\n`` (the seed's ``nc`` loop) on
    ``<address>:<protocol_port>``, and on ``proxy_port`` behind the PROXY protocol (v1
    or v2), with what a test wants to see of the request:

    - ``X-Client-Addr``: the caller's address (behind PROXY: the one the header
      carried);
    - ``X-Request-Headers``: the request's header block as it arrived, base64
      (``netnode.lab.client.Response.request_headers`` decodes it);
    - ``Set-Cookie: lab_session=<instance id>``;
    - the TLS headers a load balancer inserts, back as ``Echo-<header>``
      (``netnode.render.tls.ECHOED``).

    With ``https_port``, the same over TLS there with the instance's certificate
    (``tls_files`` maps it to the copy HAProxy reads).
    """
    binds = [f"bind {inst.address}:{inst.protocol_port}"]
    if inst.proxy_port is not None:
        binds.append(f"bind {inst.address}:{inst.proxy_port} accept-proxy")
    if inst.https_port is not None and inst.tls_container_ref is not None:
        crt = tls.path_of(inst.tls_container_ref, tls_files or {})
        binds.append(f"bind {inst.address}:{inst.https_port} ssl crt {crt}")
    frontend = _section(
        f"frontend {inst.uid}",
        [
            *binds,
            "http-request set-var(txn.host) req.hdr(host)",
            "acl expected_host path,field(3,/),strcmp(txn.host) eq 0",
            "http-request return status 404 content-type text/plain"
            f' string "unexpected host\\n" if {{ path_beg {LAB_EXPECT_HOST} }} !expected_host',
            "http-request return status 200 content-type text/plain"
            f" string {quoted(inst.body)} hdr X-Client-Addr %[src]"
            " hdr X-Request-Headers %[req.hdrs,base64]"
            f" hdr Set-Cookie {LAB_COOKIE}={inst.uid} " + " ".join(tls.lab_echo_words()),
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
