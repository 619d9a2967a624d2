"""netnode.render.haproxy: the seed's config (golden file), each option, and that every
rendered config passes ``haproxy -c``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from netnode.model.loading import load_file
from netnode.model.topology import (
    Client,
    HealthMonitor,
    Instance,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Vip,
)
from netnode.render.haproxy import (
    FD_MARGIN,
    NO_HTTPCLIENT_CA,
    PING_CHECK,
    UNLIMITED_LISTENER_CONNECTIONS,
    expect_status,
    quoted,
    render_lab_client,
    render_lab_instance,
    render_loadbalancer,
)
from netnode.render.tls import lab_echo_words

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "seed-haproxy.cfg"
RUN = "/var/lib/netnode/netnode/haproxy/lb"
STATS = f"{RUN}/stats.sock"
STATE = f"{RUN}/server-state"

POOL_ID = "22222222-2222-4222-8222-222222222222"
LISTENER_ID = "11111111-1111-4111-8111-111111111111"


def seed_lb() -> LoadBalancer:
    return load_file(ROOT / "examples" / "seed.yaml").load_balancers[0]


def render(lb: LoadBalancer, **kwargs: object) -> str:
    return render_loadbalancer(lb, stats_socket=STATS, state_file=STATE, **kwargs)  # type: ignore[arg-type]


def member(n: int, **kwargs: object) -> Member:
    return Member(
        name=f"m{n}",
        id=f"33333333-3333-4333-8333-33333333333{n}",
        address=f"10.0.0.{10 + n}",
        protocol_port=8080,
        **kwargs,  # type: ignore[arg-type]
    )


def make_lb(
    *,
    pool: dict[str, object] | None = None,
    listener: dict[str, object] | None = None,
    members: list[Member] | None = None,
) -> LoadBalancer:
    return LoadBalancer(
        name="lb",
        id="44444444-4444-4444-8444-444444444444",
        vip=Vip(network="net", address="10.0.0.5"),
        listeners=[
            Listener(
                name="l",
                id=LISTENER_ID,
                protocol_port=80,
                **{"default_pool": "p", **(listener or {})},  # type: ignore[arg-type]
            )
        ],
        pools=[
            Pool(
                name="p",
                id=POOL_ID,
                members=members if members is not None else [member(1), member(2)],
                **(pool or {}),  # type: ignore[arg-type]
            )
        ],
    )


def section(text: str, header: str) -> list[str]:
    """The lines of one section, unindented."""
    lines = text.splitlines()
    start = lines.index(header)
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        body.append(line.strip())
    return body


# --- the seed ------------------------------------------------------------------------------


def test_seed_matches_golden_file() -> None:
    text = render(seed_lb())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_seed_keeps_the_seed_sections_with_safe_differences() -> None:
    text = render(seed_lb())
    assert text.endswith("\n")
    assert "daemon" not in text
    assert "0666" not in text and "level user" not in text
    assert f"    stats socket {STATS} mode 600 level admin expose-fd listeners\n" in text
    assert f"    server-state-file {STATE}\n" in text
    assert "    hard-stop-after 30s\n" in text
    assert section(text, "defaults") == ["load-server-state-from-file global"]
    lb = seed_lb()
    listener, pool = lb.listeners[0], lb.pools[0]
    assert section(text, f"frontend {listener.uid}") == [
        "bind 10.0.0.100:80",
        "mode http",
        "timeout client 50000",
        "option idle-close-on-response",
        f"default_backend {pool.uid}",
        "maxconn 100",
        "option forwardfor",
    ]
    backend = section(text, f"backend {pool.uid}")
    # The seed's retries and redispatch, per pool, with a short member connect timeout.
    assert backend[:10] == [
        "mode http",
        "balance roundrobin",
        "option forwardfor",
        "timeout connect 1000",
        "timeout server 50000",
        "retries 3",
        "option redispatch 1",
        "retry-on conn-failure empty-response response-timeout",
        "http-request disable-l7-retry if !METH_GET",
        "timeout check 5s",
    ]
    servers = [x for x in backend if x.startswith("server ")]
    assert servers == [
        f"server {m.uid} {m.address}:80 weight 1 check inter 5s fall 3"
        " observe layer4 error-limit 1 on-error mark-down"
        for m in pool.members
    ]


def test_rendering_is_deterministic() -> None:
    assert render(seed_lb()) == render(seed_lb())


def test_logging_is_a_parameter() -> None:
    plain = render(seed_lb())
    assert "log" not in plain.replace("load-server-state", "")
    logged = render(seed_lb(), log_target="/dev/log")
    assert "    log /dev/log local0\n    log /dev/log local1 notice\n" in logged
    assert "    log global\n" in logged
    assert "    option httplog\n" in logged


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "lines"),
    [
        ("ROUND_ROBIN", ["balance roundrobin"]),
        ("LEAST_CONNECTIONS", ["balance leastconn"]),
        # Consistent hashing: a dynamic algorithm ("add server" works) that moves only
        # the added or removed member's share of the clients.
        ("SOURCE_IP", ["balance source", "hash-type consistent"]),
    ],
)
def test_algorithms(algorithm: str, lines: list[str]) -> None:
    backend = section(render(make_lb(pool={"lb_algorithm": algorithm})), f"backend {POOL_ID}")
    assert backend[1 : 1 + len(lines)] == lines
    assert "hash-type consistent" in backend or algorithm != "SOURCE_IP"


def test_no_monitor_no_check() -> None:
    backend = section(render(make_lb()), f"backend {POOL_ID}")
    assert "timeout check" not in " ".join(backend)
    assert backend[-1] == f"server {member(2).uid} 10.0.0.12:8080 weight 1"


def test_disabled_monitor_no_check() -> None:
    monitor = HealthMonitor(type="TCP", admin_state_up=False)
    backend = section(render(make_lb(pool={"healthmonitor": monitor})), f"backend {POOL_ID}")
    assert not any("check" in line for line in backend)


def test_tcp_monitor_with_rise() -> None:
    monitor = HealthMonitor(type="TCP", delay=2, timeout=1, max_retries=2, max_retries_down=4)
    backend = section(render(make_lb(pool={"healthmonitor": monitor})), f"backend {POOL_ID}")
    assert "timeout check 1s" in backend
    assert "option httpchk" not in " ".join(backend)
    assert (
        f"server {member(1).uid} 10.0.0.11:8080 weight 1 check inter 2s fall 4 rise 2"
        " observe layer4 error-limit 1 on-error mark-down"
    ) in backend


def test_http_monitor() -> None:
    monitor = HealthMonitor(
        type="HTTP", http_method="HEAD", url_path="/health", expected_codes="204"
    )
    backend = section(render(make_lb(pool={"healthmonitor": monitor})), f"backend {POOL_ID}")
    assert backend[backend.index("timeout check 5s") + 1 :][:2] == [
        "option httpchk HEAD /health",
        "http-check expect status 204",
    ]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ("200", "status 200"),
        ("200,202", "rstatus ^(200|202)$"),
        ("200-204", "rstatus ^(200|201|202|203|204)$"),
        ("200,200", "status 200"),
    ],
)
def test_expected_codes(codes: str, expected: str) -> None:
    assert expect_status(codes) == expected


def test_disabled_member_and_weight() -> None:
    members = [member(1, admin_state_up=False), member(2, weight=7)]
    backend = section(render(make_lb(members=members)), f"backend {POOL_ID}")
    assert f"server {member(1).uid} 10.0.0.11:8080 weight 1 disabled" in backend
    assert f"server {member(2).uid} 10.0.0.12:8080 weight 7" in backend


def test_pool_without_members_is_valid() -> None:
    backend = section(render(make_lb(members=[])), f"backend {POOL_ID}")
    assert not [line for line in backend if line.startswith("server ")]
    assert backend[:2] == ["mode http", "balance roundrobin"]


# --- failover and timeouts ---------------------------------------------------------------


def test_failover_defaults_without_a_monitor_do_not_observe() -> None:
    backend = section(render(make_lb()), f"backend {POOL_ID}")
    assert backend[2:8] == [
        "timeout connect 1000",
        "timeout server 50000",
        "retries 3",
        "option redispatch 1",
        "retry-on conn-failure empty-response response-timeout",
        "http-request disable-l7-retry if !METH_GET",
    ]
    # Without health checks nothing would ever bring a marked-down member back.
    assert not any("observe" in line for line in backend)


def test_failover_overrides() -> None:
    failover = {"retries": 1, "redispatch": False, "observe": True, "error_limit": 5}
    monitor = HealthMonitor(type="TCP")
    backend = section(
        render(make_lb(pool={"failover": failover, "healthmonitor": monitor})), f"backend {POOL_ID}"
    )
    assert "retries 1" in backend
    assert not any("redispatch" in line for line in backend)
    assert "retry-on conn-failure empty-response response-timeout" in backend
    servers = [line for line in backend if line.startswith("server ")]
    assert all(
        line.endswith(" observe layer4 error-limit 5 on-error mark-down") for line in servers
    )


def test_failover_off() -> None:
    failover = {"retries": 0, "observe": False}
    monitor = HealthMonitor(type="TCP")
    backend = section(
        render(make_lb(pool={"failover": failover, "healthmonitor": monitor})), f"backend {POOL_ID}"
    )
    assert "retries 0" in backend
    assert not [x for x in backend if "redispatch" in x or "retry" in x.replace("retries", "")]
    assert not any("observe" in line for line in backend)


def test_tcp_pool_has_no_http_retries() -> None:
    text = render(make_lb(pool={"protocol": "TCP"}, listener={"protocol": "TCP"}))
    backend = section(text, f"backend {POOL_ID}")
    assert "retries 3" in backend and "option redispatch 1" in backend
    assert not any(x.startswith(("retry-on", "http-request")) for x in backend)
    assert "option idle-close-on-response" not in section(text, f"frontend {LISTENER_ID}")


def test_listener_timeouts() -> None:
    listener = {
        "timeout_client_data": 30000,
        "timeout_member_connect": 250,
        "timeout_member_data": 90000,
    }
    text = render(make_lb(listener=listener))
    assert "timeout client 30000" in section(text, f"frontend {LISTENER_ID}")
    backend = section(text, f"backend {POOL_ID}")
    assert "timeout connect 250" in backend and "timeout server 90000" in backend


def test_a_pool_without_listener_gets_the_default_timeouts() -> None:
    backend = section(render(make_lb(listener={"default_pool": None})), f"backend {POOL_ID}")
    assert "timeout connect 1000" in backend and "timeout server 50000" in backend


def test_disabled_pool_listener_and_lb() -> None:
    text = render(make_lb(pool={"admin_state_up": False}, listener={"admin_state_up": False}))
    assert section(text, f"backend {POOL_ID}")[-1] == "disabled"
    assert section(text, f"frontend {LISTENER_ID}")[-1] == "disabled"
    lb = make_lb()
    lb.admin_state_up = False
    assert section(render(lb), f"frontend {LISTENER_ID}")[-1] == "disabled"


def test_maxconn_only_when_limited() -> None:
    assert "maxconn" not in render(make_lb())
    frontend = section(
        render(make_lb(listener={"connection_limit": 5000})), f"frontend {LISTENER_ID}"
    )
    assert "maxconn 5000" in frontend


def test_one_thread_and_descriptors_bounded_by_the_listeners() -> None:
    """HAProxy would otherwise start a thread per CPU and size its tables from the
    host's descriptor limit (systemd's 524,288): both are bounded per load balancer."""
    unlimited = section(render(make_lb()), "global")
    assert "nbthread 1" in unlimited
    assert f"fd-hard-limit {2 * UNLIMITED_LISTENER_CONNECTIONS + FD_MARGIN}" in unlimited
    limited = section(render(make_lb(listener={"connection_limit": 500})), "global")
    assert f"fd-hard-limit {2 * 500 + FD_MARGIN}" in limited


def test_forwardfor() -> None:
    assert "forwardfor" not in render(make_lb())
    text = render(make_lb(listener={"insert_headers": {"X-Forwarded-For": True}}))
    assert "option forwardfor" in section(text, f"frontend {LISTENER_ID}")
    assert "option forwardfor" in section(text, f"backend {POOL_ID}")
    off = render(make_lb(listener={"insert_headers": {"X-Forwarded-For": False}}))
    assert "forwardfor" not in off


def test_forwardfor_not_forced_through_a_shared_backend() -> None:
    lb = make_lb(listener={"insert_headers": {"X-Forwarded-For": True}})
    lb.listeners.append(
        Listener(
            name="l2", id="55555555-5555-4555-8555-555555555555", protocol_port=81, default_pool="p"
        )
    )
    text = render(lb)
    assert "option forwardfor" in section(text, f"frontend {LISTENER_ID}")
    assert "option forwardfor" not in section(text, "frontend 55555555-5555-4555-8555-555555555555")
    assert "option forwardfor" not in section(text, f"backend {POOL_ID}")


def test_tcp_listener_and_pool() -> None:
    text = render(
        make_lb(pool={"protocol": "TCP"}, listener={"protocol": "TCP"}), log_target="/dev/log"
    )
    assert section(text, f"frontend {LISTENER_ID}")[:3] == [
        "option tcplog",
        "bind 10.0.0.5:80",
        "mode tcp",
    ]
    assert section(text, f"backend {POOL_ID}")[0] == "mode tcp"


def test_listener_without_pool() -> None:
    text = render(make_lb(listener={"default_pool": None}))
    assert "default_backend" not in text


def test_paths_with_spaces_are_refused() -> None:
    with pytest.raises(ValueError, match="unusable word"):
        render_loadbalancer(make_lb(), stats_socket="/tmp/a b", state_file=STATE)


# --- pools: algorithms, persistence, PROXY, members -----------------------------------------


def test_source_ip_port_hashes_address_and_port_consistently() -> None:
    backend = section(
        render(make_lb(pool={"lb_algorithm": "SOURCE_IP_PORT"})), f"backend {POOL_ID}"
    )
    assert backend[1:4] == [
        "http-request set-var(txn.src_port) src_port",
        "balance hash src,concat(:,txn.src_port)",
        "hash-type consistent",
    ]
    tcp = render(
        make_lb(
            pool={"lb_algorithm": "SOURCE_IP_PORT", "protocol": "TCP"},
            listener={"protocol": "TCP"},
        )
    )
    assert (
        section(tcp, f"backend {POOL_ID}")[1]
        == "tcp-request content set-var(txn.src_port) src_port"
    )


def test_source_ip_persistence_sticks_on_the_address() -> None:
    pool = {"session_persistence": {"type": "SOURCE_IP"}}
    backend = section(render(make_lb(pool=pool)), f"backend {POOL_ID}")
    assert [x for x in backend if x.startswith("stick")] == [
        "stick-table type ip size 10k",
        "stick on src",
    ]
    assert not any(" cookie " in x for x in backend)


def test_http_cookie_persistence_inserts_srv_naming_the_member() -> None:
    pool = {"session_persistence": {"type": "HTTP_COOKIE"}}
    backend = section(render(make_lb(pool=pool)), f"backend {POOL_ID}")
    assert "cookie SRV insert indirect nocache" in backend
    assert f"server {member(1).uid} 10.0.0.11:8080 weight 1 cookie {member(1).uid}" in backend


def test_app_cookie_persistence_learns_the_application_cookie() -> None:
    pool = {"session_persistence": {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}}
    backend = section(render(make_lb(pool=pool)), f"backend {POOL_ID}")
    assert [x for x in backend if x.startswith("stick")] == [
        "stick-table type string len 64 size 10k",
        "stick store-response res.cook(JSESSIONID)",
        "stick match req.cook(JSESSIONID)",
    ]


def test_app_cookie_name_cannot_inject() -> None:
    # RFC 6265 token characters that mean something to HAProxy: quotes, '#', '$', '%'.
    name = "a'b#c$d%e`f"
    pool = {"session_persistence": {"type": "APP_COOKIE", "cookie_name": name}}
    backend = section(render(make_lb(pool=pool)), f"backend {POOL_ID}")
    assert 'stick match "req.cook(a\\x5c\\x27b\\x23c\\x24d%e\\x60f)"' in backend, backend


@pytest.mark.parametrize(
    ("protocol", "keyword"), [("PROXY", "send-proxy"), ("PROXYV2", "send-proxy-v2")]
)
def test_proxy_protocol_pools(protocol: str, keyword: str) -> None:
    text = render(make_lb(pool={"protocol": protocol}))
    backend = section(text, f"backend {POOL_ID}")
    # Behind an HTTP listener the pool is HTTP (the PROXY header, then the request).
    assert backend[0] == "mode http"
    assert f"server {member(1).uid} 10.0.0.11:8080 weight 1 {keyword}" in backend
    tcp = render(make_lb(pool={"protocol": protocol}, listener={"protocol": "TCP"}))
    assert section(tcp, f"backend {POOL_ID}")[0] == "mode tcp"


def test_https_listener_passes_tls_through() -> None:
    text = render(make_lb(pool={"protocol": "HTTPS"}, listener={"protocol": "HTTPS"}))
    frontend = section(text, f"frontend {LISTENER_ID}")
    assert frontend[:2] == ["bind 10.0.0.5:80", "mode tcp"]
    assert "option idle-close-on-response" not in frontend
    backend = section(text, f"backend {POOL_ID}")
    assert backend[0] == "mode tcp"
    assert not any(x.startswith(("retry-on", "http-request", "option forwardfor")) for x in backend)
    # TLS passes through: no TLS word anywhere (the httpclient line of the global section aside).
    assert "ssl" not in text.replace(NO_HTTPCLIENT_CA, "")


def test_backup_member_and_weight_zero() -> None:
    members = [member(1, weight=0), member(2, backup=True)]
    backend = section(render(make_lb(members=members)), f"backend {POOL_ID}")
    assert f"server {member(1).uid} 10.0.0.11:8080 weight 0" in backend
    assert f"server {member(2).uid} 10.0.0.12:8080 weight 1 backup" in backend


def test_monitor_address_and_port() -> None:
    monitor = HealthMonitor(type="TCP", delay=1)
    members = [
        member(1, monitor_address="10.0.0.99", monitor_port=9000),
        member(2, monitor_port=81),
    ]
    backend = section(
        render(make_lb(pool={"healthmonitor": monitor}, members=members)), f"backend {POOL_ID}"
    )
    tail = " observe layer4 error-limit 1 on-error mark-down"
    assert (
        f"server {member(1).uid} 10.0.0.11:8080 weight 1 check inter 1s fall 3"
        f" addr 10.0.0.99 port 9000{tail}"
    ) in backend
    assert (
        f"server {member(2).uid} 10.0.0.12:8080 weight 1 check inter 1s fall 3 port 81{tail}"
        in backend
    )


# --- health monitors ------------------------------------------------------------------------


def test_http_11_monitor_sends_the_domain_as_host() -> None:
    monitor = HealthMonitor(
        type="HTTP",
        url_path="/expect-host/www.example.com",
        http_version=1.1,
        domain_name="www.example.com",
    )
    backend = section(render(make_lb(pool={"healthmonitor": monitor})), f"backend {POOL_ID}")
    i = backend.index("timeout check 5s")
    assert backend[i + 1 : i + 4] == [
        "option httpchk GET /expect-host/www.example.com HTTP/1.1",
        "http-check send hdr Host www.example.com",
        "http-check expect status 200",
    ]


def test_http_monitor_path_cannot_inject() -> None:
    # The model's URL path alphabet holds a quote and a dollar sign.
    monitor = HealthMonitor(type="HTTP", url_path="/it's/$HOME")
    backend = section(render(make_lb(pool={"healthmonitor": monitor})), f"backend {POOL_ID}")
    assert 'option httpchk GET "/it\\x27s/\\x24HOME"' in backend


def test_ping_monitor_runs_the_shipped_external_check() -> None:
    monitor = HealthMonitor(type="PING", delay=2, timeout=1)
    text = render(make_lb(pool={"healthmonitor": monitor}))
    for line in ("external-check", "insecure-fork-wanted", "insecure-setuid-wanted"):
        assert line in section(text, "global")
    backend = section(text, f"backend {POOL_ID}")
    assert backend[backend.index("timeout check 1s") + 1 :][:3] == [
        "option external-check",
        'external-check path "/usr/bin:/bin"',
        f"external-check command {PING_CHECK}",
    ]
    assert os.access(PING_CHECK, os.X_OK), f"{PING_CHECK} must be executable"
    # Without a PING monitor HAProxy keeps its fork and setuid locks.
    assert "insecure" not in render(make_lb(pool={"healthmonitor": HealthMonitor(type="TCP")}))
    off = HealthMonitor(type="PING", admin_state_up=False)
    assert "external-check" not in render(make_lb(pool={"healthmonitor": off}))


# --- listeners ---------------------------------------------------------------------------------


def test_inserted_headers() -> None:
    headers = {"X-Forwarded-For": True, "X-Forwarded-Port": True, "X-Forwarded-Proto": True}
    frontend = section(
        render(make_lb(listener={"insert_headers": headers})), f"frontend {LISTENER_ID}"
    )
    assert frontend[-3:] == [
        "option forwardfor",
        "http-request set-header X-Forwarded-Port %[dst_port]",
        "http-request set-header X-Forwarded-Proto http",
    ]
    off = {"X-Forwarded-Port": False, "X-Forwarded-Proto": False}
    assert "set-header" not in render(make_lb(listener={"insert_headers": off}))


def test_redirect_https_and_tcp_inspect_delay() -> None:
    frontend = section(
        render(make_lb(listener={"redirect_https": True, "timeout_tcp_inspect": 3000})),
        f"frontend {LISTENER_ID}",
    )
    assert "http-request redirect scheme https" in frontend
    assert frontend[3] == "tcp-request inspect-delay 3000"
    assert "inspect-delay" not in render(make_lb())


def test_udp_listeners_and_pools_are_not_haproxys() -> None:
    lb = make_lb()
    lb.listeners.append(
        Listener(
            name="u",
            id="55555555-5555-4555-8555-555555555555",
            protocol="UDP",
            protocol_port=53,
            default_pool="up",
        )
    )
    lb.pools.append(Pool(name="up", id="66666666-6666-4666-8666-666666666661", protocol="UDP"))
    text = render(lb)
    assert "55555555-5555-4555-8555-555555555555" not in text
    assert "66666666-6666-4666-8666-666666666661" not in text


def test_a_pool_reached_only_through_l7_is_a_backend_with_its_listeners_mode() -> None:
    lb = make_lb(
        listener={
            "insert_headers": {"X-Forwarded-For": True},
            "l7policies": [
                {
                    "name": "to-p2",
                    "action": "REDIRECT_TO_POOL",
                    "redirect_pool": "p2",
                    "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}],
                }
            ],
        }
    )
    lb.pools.append(Pool(name="p2", id="66666666-6666-4666-8666-666666666662", protocol="PROXY"))
    lb.listeners[0].l7policies[0].id = "77777777-7777-4777-8777-777777777771"
    lb.listeners[0].l7policies[0].rules[0].id = "77777777-7777-4777-8777-777777777772"
    text = render(lb)
    backend = section(text, "backend 66666666-6666-4666-8666-666666666662")
    assert backend[0] == "mode http" and "option forwardfor" in backend
    frontend = section(text, f"frontend {LISTENER_ID}")
    assert frontend[-1] == (
        "use_backend 66666666-6666-4666-8666-666666666662 if { var(txn.l7_policy) -m int 1 }"
    )


# --- lab ---------------------------------------------------------------------------------------


def instance(body: str = "server_81") -> Instance:
    return Instance(
        name="vm1",
        id="66666666-6666-4666-8666-666666666666",
        network="net",
        address="10.0.0.81",
        body=body,
    )


def test_lab_instance() -> None:
    text = render_lab_instance(instance(), stats_socket=STATS)
    frontend = section(text, f"frontend {instance().uid}")
    assert frontend[0] == "bind 10.0.0.81:80"
    # The body first and unchanged; what the test wants to see of the request after.
    assert frontend[-1] == (
        'http-request return status 200 content-type text/plain string "server_81\\n"'
        " hdr X-Client-Addr %[src] hdr X-Request-Headers %[req.hdrs,base64]"
        f" hdr Set-Cookie lab_session={instance().uid} " + " ".join(lab_echo_words())
    )
    assert "mode http" in section(text, "defaults")
    assert "accept-proxy" not in text


def test_lab_instance_behind_the_proxy_protocol() -> None:
    inst = instance()
    inst.proxy_port = 8081
    frontend = section(render_lab_instance(inst, stats_socket=STATS), f"frontend {inst.uid}")
    assert frontend[:2] == ["bind 10.0.0.81:80", "bind 10.0.0.81:8081 accept-proxy"]


def test_lab_client() -> None:
    client = Client(
        name="out", id="77777777-7777-4777-8777-777777777777", network="pub", address="10.255.253.1"
    )
    text = render_lab_client(client, stats_socket=STATS)
    assert section(text, f"frontend {client.uid}") == [
        "bind 10.255.253.1:80",
        'http-request return status 200 content-type text/plain lf-string "%[src]\\n"',
    ]


def test_body_quoting_defuses_haproxy_expansion() -> None:
    assert quoted("a b") == '"a b\\n"'
    assert quoted("${HOME}#'%") == '"\\x24\\x7bHOME\\x7d\\x23\\x27\\x25\\n"'


# --- haproxy -c -------------------------------------------------------------------------------


def all_configs(tmp: Path) -> dict[str, str]:
    stats, state = str(tmp / "stats.sock"), str(tmp / "server-state")

    def lb_cfg(lb: LoadBalancer, **kwargs: object) -> str:
        return render_loadbalancer(lb, stats_socket=stats, state_file=state, **kwargs)  # type: ignore[arg-type]

    http = HealthMonitor(type="HTTP", expected_codes="200,204,302", max_retries=2)
    no_failover = make_lb(
        pool={
            "failover": {"retries": 0, "redispatch": False, "observe": False},
            "healthmonitor": http,
        },
        listener={"timeout_member_connect": 1, "timeout_client_data": 2_147_483_647},
    )
    tcp_lb = make_lb(
        pool={"protocol": "TCP", "lb_algorithm": "SOURCE_IP", "healthmonitor": http},
        listener={"protocol": "TCP", "connection_limit": 10},
    )
    disabled = make_lb(
        pool={"admin_state_up": False, "healthmonitor": HealthMonitor(type="TCP")},
        listener={"admin_state_up": False},
        members=[member(1, admin_state_up=False), member(2, weight=0)],
    )
    return {
        "seed": lb_cfg(seed_lb()),
        "seed-logged": lb_cfg(seed_lb(), log_target="/dev/log"),
        "http-monitor": lb_cfg(
            make_lb(pool={"healthmonitor": http, "lb_algorithm": "LEAST_CONNECTIONS"})
        ),
        "tcp": lb_cfg(tcp_lb, log_target="/dev/log"),
        "disabled": lb_cfg(disabled),
        "empty-pool": lb_cfg(make_lb(members=[])),
        "no-failover": lb_cfg(no_failover),
        "tcp-observe": lb_cfg(
            make_lb(
                pool={"protocol": "TCP", "healthmonitor": HealthMonitor(type="TCP")},
                listener={"protocol": "TCP"},
            )
        ),
        "no-pool": lb_cfg(make_lb(listener={"default_pool": None})),
        "source-ip-port-http": lb_cfg(
            make_lb(
                pool={
                    "lb_algorithm": "SOURCE_IP_PORT",
                    "protocol": "PROXYV2",
                    "healthmonitor": HealthMonitor(
                        type="HTTP", http_version=1.1, domain_name="a.example", url_path="/it's"
                    ),
                },
                members=[member(1, backup=True, monitor_port=81), member(2, weight=0)],
                listener={
                    "insert_headers": {"X-Forwarded-Port": True, "X-Forwarded-Proto": True},
                    "redirect_https": True,
                    "timeout_tcp_inspect": 500,
                },
            )
        ),
        "source-ip-port-tcp-ping": lb_cfg(
            make_lb(
                pool={
                    "lb_algorithm": "SOURCE_IP_PORT",
                    "protocol": "PROXY",
                    "healthmonitor": HealthMonitor(type="PING"),
                },
                listener={"protocol": "TCP", "timeout_tcp_inspect": 500},
            )
        ),
        "source-ip-persistence": lb_cfg(
            make_lb(
                pool={"session_persistence": {"type": "SOURCE_IP"}, "protocol": "HTTPS"},
                listener={"protocol": "HTTPS"},
            )
        ),
        "http-cookie": lb_cfg(make_lb(pool={"session_persistence": {"type": "HTTP_COOKIE"}})),
        "metrics-exporter": lb_cfg(seed_lb(), metrics_socket=str(tmp / "prom.sock")),
        "app-cookie": lb_cfg(
            make_lb(pool={"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a'b#$%`"}})
        ),
        "instance": render_lab_instance(instance("it's $HOME #1 %[src] ok!"), stats_socket=stats),
        "instance-proxy": render_lab_instance(
            Instance(**{**instance().model_dump(), "proxy_port": 8081}), stats_socket=stats
        ),
        "client": render_lab_client(
            Client(
                name="c",
                id="77777777-7777-4777-8777-777777777777",
                network="pub",
                address="10.1.1.1",
            ),
            stats_socket=stats,
        ),
    }


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_every_rendered_config_passes_haproxy_check(tmp_path: Path) -> None:
    # A state file with only its version line: HAProxy warns when it is missing.
    (tmp_path / "server-state").write_text("1\n")
    for name, text in all_configs(tmp_path).items():
        cfg = tmp_path / f"{name}.cfg"
        cfg.write_text(text)
        # -dW: zero-warning mode, a warning fails the check too.
        result = subprocess.run(
            ["haproxy", "-dW", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}:\n{text}\n{result.stderr}"
