"""Octavia's HTTP and TCP load balancer features on a real host, with real traffic.

Clients are lab instances (namespaces on the VIP's network with addresses of their
own), so that the member sees a real client address; every request starts inside a
namespace the test created (``netnode.lab.client``). Each test builds one load
balancer with several listeners and checks many things on it.
"""

from __future__ import annotations

from netnode.lab.client import HttpConnection, Response, connect, http_request
from netnode.model.topology import LoadBalancer
from netnode.plan.desired import process_name
from netnode.reconcile.status import loadbalancer_status
from tests.functional.conftest import Lab, eventually

VIP = "10.0.0.100"
CLIENT = "10.0.0.51"
OTHER_CLIENT = "10.0.0.52"
VMS = {"vm1": "10.0.0.81", "vm2": "10.0.0.82", "vm3": "10.0.0.83"}
BODIES = {"vm1": "server_81", "vm2": "server_82", "vm3": "server_83"}


def member(vm: str, port: int = 80, **extra: object) -> dict:
    return {"name": vm, "address": VMS[vm], "protocol_port": port, **extra}


def pool(name: str, *members: dict, **extra: object) -> dict:
    return {"name": name, "members": list(members), **extra}


def listener(name: str, port: int, pool_name: str | None, **extra: object) -> dict:
    return {"name": name, "protocol_port": port, "default_pool": pool_name, **extra}


def topology(
    listeners: list[dict], pools: list[dict], vms: tuple[str, ...] = ("vm1", "vm2")
) -> dict:
    instances = [
        {
            "name": vm,
            "network": "tenant1",
            "address": VMS[vm],
            "body": BODIES[vm],
            "proxy_port": 8081,
        }
        for vm in vms
    ]
    clients = [
        {"name": f"client{n}", "network": "tenant1", "address": address, "body": f"client_{n}"}
        for n, address in ((51, CLIENT), (52, OTHER_CLIENT))
    ]
    return {
        "networks": [
            {
                "name": "tenant1",
                "segmentation_id": 1,
                "subnets": [
                    {"name": "tenant1-subnet", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}
                ],
            }
        ],
        "load_balancers": [
            {
                "name": "lb",
                "vip": {"network": "tenant1", "address": VIP},
                "listeners": listeners,
                "pools": pools,
            }
        ],
        "lab": {"instances": instances + clients},
    }


def client_ns(lab: Lab, address: str = CLIENT) -> str:
    return lab.ns_of("instance", "client51" if address == CLIENT else "client52")


def get(lab: Lab, port: int, path: str = "/", *, frm: str = CLIENT, **kwargs: object) -> Response:
    return http_request(client_ns(lab, frm), VIP, port, path, **kwargs)  # type: ignore[arg-type]


def bodies(lab: Lab, port: int, count: int, **kwargs: object) -> list[str]:
    return [get(lab, port, **kwargs).body.strip() for _ in range(count)]  # type: ignore[arg-type]


def the_lb(lab: Lab) -> LoadBalancer:
    return lab.topology(lab.applied or {}).load_balancers[0]


def members_status(lab: Lab, pool_name: str) -> dict[str, str]:
    lb = the_lb(lab)
    status = loadbalancer_status(lb, lab.host.haproxy.stats(process_name("lb", lb.uid)))
    pool_id = next(p.uid for p in lb.pools if p.name == pool_name)
    found = status.pool(pool_id)
    assert found is not None
    return {m.name: m.operating_status for m in found.members}


def connections(lab: Lab, pool_name: str) -> dict[str, int]:
    """The connections HAProxy counts on each member of a pool now."""
    lb = the_lb(lab)
    found = next(p for p in lb.pools if p.name == pool_name)
    names = {m.uid: m.name for m in found.members}
    rows = lab.host.haproxy.stats(process_name("lb", lb.uid))
    return {
        names[r["svname"]]: int(r.get("scur") or 0)
        for r in rows
        if r.get("pxname") == found.uid and r.get("svname") in names
    }


# --- algorithms and persistence ------------------------------------------------------------


def test_algorithms_and_session_persistence(lab: Lab) -> None:
    two = (member("vm1"), member("vm2"))
    lab.apply(
        topology(
            [
                listener("source-ip", 80, "source-ip"),
                listener("source-ip-port", 81, "source-ip-port"),
                listener("least-conn", 82, "least-conn", protocol="TCP"),
                listener("http-cookie", 83, "http-cookie"),
                listener("app-cookie", 84, "app-cookie"),
                listener("sticky-src", 85, "sticky-src"),
                listener("round-robin", 86, "round-robin"),
            ],
            [
                pool("source-ip", *two, lb_algorithm="SOURCE_IP"),
                pool("source-ip-port", *two, lb_algorithm="SOURCE_IP_PORT"),
                pool("least-conn", *two, protocol="TCP", lb_algorithm="LEAST_CONNECTIONS"),
                pool("http-cookie", *two, session_persistence={"type": "HTTP_COOKIE"}),
                pool(
                    "app-cookie",
                    *two,
                    session_persistence={"type": "APP_COOKIE", "cookie_name": "lab_session"},
                ),
                pool("sticky-src", *two, session_persistence={"type": "SOURCE_IP"}),
                pool("round-robin", *two),
            ],
        )
    )
    both = {"server_81", "server_82"}
    # Round robin alternates: what the others must not do.
    assert set(bodies(lab, 86, 4)) == both

    # SOURCE_IP: each client keeps its member.
    for frm in (CLIENT, OTHER_CLIENT):
        assert len(set(bodies(lab, 80, 6, frm=frm))) == 1

    # SOURCE_IP_PORT: a source address and port keeps its member; ports spread.
    ns = client_ns(lab)
    by_port = {}
    for port in range(40001, 40017):
        by_port[port] = http_request(ns, VIP, 81, source=(CLIENT, port)).body.strip()
    # (in the reverse order: round robin would not give each port its member again)
    for port in reversed(range(40001, 40017)):
        assert http_request(ns, VIP, 81, source=(CLIENT, port)).body.strip() == by_port[port]
    assert set(by_port.values()) == both, by_port

    # LEAST_CONNECTIONS: while one connection stays open on a member, new ones go to
    # the other.
    # (each request waits until the previous one has left the member: a connection
    # HAProxy still counts would make a tie)
    with HttpConnection(ns, VIP, 82) as held:
        busy = held.request().body.strip()
        idle = {"server_81": "vm2", "server_82": "vm1"}[busy]
        for _ in range(6):
            eventually(lambda: connections(lab, "least-conn")[idle] == 0, timeout=5)
            assert get(lab, 82).body.strip() != busy
        assert held.request().body.strip() == busy

    # HTTP_COOKIE: HAProxy's SRV cookie names the member and brings the client back.
    first = get(lab, 83)
    srv = first.cookies["SRV"]
    assert srv in {m.uid for p in the_lb(lab).pools for m in p.members}
    assert set(bodies(lab, 83, 4, cookies={"SRV": srv})) == {first.body.strip()}
    assert set(bodies(lab, 83, 4)) == both  # no cookie: balanced
    # The member never sees HAProxy's cookie ("indirect").
    assert "srv=" not in get(lab, 83, cookies={"SRV": srv}).request_headers().get("cookie", "")

    # APP_COOKIE: the application's cookie, learned from its answers, pins the client.
    sessions = {}
    for _ in range(4):
        answer = get(lab, 84)
        sessions[answer.body.strip()] = answer.cookies["lab_session"]
    assert set(sessions) == both
    for body, session in sessions.items():
        assert set(bodies(lab, 84, 4, cookies={"lab_session": session})) == {body}

    # SOURCE_IP persistence on a round-robin pool: the stick table pins the client.
    assert len(set(bodies(lab, 85, 6))) == 1


# --- PROXY protocol, HTTPS passthrough, headers, redirect to HTTPS ---------------------


def test_proxy_members_passthrough_and_inserted_headers(lab: Lab) -> None:
    lab.apply(
        topology(
            [
                listener("proxy", 80, "proxy"),
                listener("proxy-v2", 81, "proxy-v2", protocol="TCP"),
                listener("passthrough", 443, "passthrough", protocol="HTTPS"),
                listener(
                    "headers",
                    82,
                    "plain",
                    insert_headers={
                        "X-Forwarded-For": True,
                        "X-Forwarded-Port": True,
                        "X-Forwarded-Proto": True,
                    },
                ),
                listener("no-headers", 83, "plain"),
                listener("to-https", 84, "plain", redirect_https=True),
            ],
            [
                pool("proxy", member("vm1", 8081), protocol="PROXY"),
                pool("proxy-v2", member("vm2", 8081), protocol="PROXYV2"),
                pool("passthrough", member("vm1"), protocol="HTTPS"),
                pool("plain", member("vm2")),
            ],
        )
    )
    # The members behind PROXY (v1 over HTTP, v2 under a TCP listener) see the client.
    for port, body in ((80, "server_81"), (81, "server_82")):
        answer = get(lab, port)
        assert answer.body.strip() == body
        assert answer.headers["x-client-addr"] == CLIENT
    # Without PROXY the member sees the load balancer.
    assert get(lab, 83).headers["x-client-addr"] == VIP

    # HTTPS passthrough: bytes go through untouched (mode tcp), so what is not HTTP at
    # all reaches the member, which counts it as a bad request; an HTTP load balancer
    # would have refused it itself.
    vm1 = next(i for i in lab.topology(lab.applied or {}).lab.instances if i.name == "vm1")

    def bad_requests() -> int:
        rows = lab.host.haproxy.stats(process_name("lab", vm1.uid))
        return sum(int(r.get("ereq") or 0) for r in rows if r.get("svname") == "FRONTEND")

    before = bad_requests()
    with connect(client_ns(lab), VIP, 443) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello\r\n\r\n")
        try:
            while sock.recv(4096):
                pass
        except (TimeoutError, ConnectionResetError):
            pass
    eventually(lambda: bad_requests() > before, timeout=5)
    assert get(lab, 443).body.strip() == "server_81"

    # Inserted headers arrive at the member; a listener without them adds none.
    seen = get(lab, 82).request_headers()
    assert seen["x-forwarded-for"] == CLIENT
    assert seen["x-forwarded-port"] == "82"
    assert seen["x-forwarded-proto"] == "http"
    assert not [h for h in get(lab, 83).request_headers() if h.startswith("x-forwarded")]

    # redirect_https: same host and path, https scheme.
    answer = get(lab, 84, "/a/b?c=d", headers={"Host": "www.example.com"})
    assert answer.status == 302
    assert answer.headers["location"] == "https://www.example.com/a/b?c=d"


# --- members: weight 0, backup ---------------------------------------------------------------


def test_weight_zero_and_backup_members(lab: Lab) -> None:
    data = topology(
        [listener("weights", 80, "weights"), listener("backup", 81, "backup")],
        [
            pool("weights", member("vm1", weight=0), member("vm2"), member("vm3")),
            pool("backup", member("vm1"), member("vm2", backup=True)),
        ],
        vms=("vm1", "vm2", "vm3"),
    )
    lab.apply(data)
    assert set(bodies(lab, 80, 6)) == {"server_82", "server_83"}
    assert set(bodies(lab, 81, 4)) == {"server_81"}
    # The primary disabled: the backup serves (a runtime change, no reload).
    data["load_balancers"][0]["pools"][1]["members"][0]["admin_state_up"] = False
    lab.apply(data)
    assert set(bodies(lab, 81, 4)) == {"server_82"}
    # The primary back: the backup is idle again.
    data["load_balancers"][0]["pools"][1]["members"][0]["admin_state_up"] = True
    lab.apply(data)
    assert set(bodies(lab, 81, 4)) == {"server_81"}


# --- health monitors -----------------------------------------------------------------------------


def test_health_monitors_mark_dead_members_down(lab: Lab) -> None:
    fast = {"delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1}
    domain = "www.example.com"
    data = topology(
        [
            listener("tcp", 80, "tcp"),
            listener("http11", 81, "http11"),
            listener("http10", 82, "http10"),
            listener("ping", 83, "ping"),
            listener("monitor-port", 84, "monitor-port"),
        ],
        [
            pool("tcp", member("vm1"), member("vm2"), healthmonitor={"type": "TCP", **fast}),
            # HTTP/1.1 with the domain as Host: the lab answers /expect-host/<name> with
            # 200 only when the Host header is <name>.
            pool(
                "http11",
                member("vm1"),
                member("vm2"),
                healthmonitor={
                    "type": "HTTP",
                    "url_path": f"/expect-host/{domain}",
                    "http_version": 1.1,
                    "domain_name": domain,
                    **fast,
                },
            ),
            # The same check in HTTP/1.0 sends no Host: 404, every member down.
            pool(
                "http10",
                member("vm1"),
                member("vm2"),
                healthmonitor={"type": "HTTP", "url_path": f"/expect-host/{domain}", **fast},
            ),
            pool("ping", member("vm1"), member("vm3"), healthmonitor={"type": "PING", **fast}),
            # vm1 serves, but its checks go to a closed port.
            pool(
                "monitor-port",
                member("vm1", monitor_port=9999),
                member("vm2"),
                healthmonitor={"type": "TCP", **fast},
            ),
        ],
        vms=("vm1", "vm2", "vm3"),
    )
    lab.apply(data)
    up = "ONLINE"
    eventually(lambda: members_status(lab, "tcp") == {"vm1": up, "vm2": up})
    eventually(lambda: members_status(lab, "http11") == {"vm1": up, "vm2": up})
    eventually(lambda: members_status(lab, "http10") == {"vm1": "ERROR", "vm2": "ERROR"})
    eventually(lambda: members_status(lab, "ping") == {"vm1": up, "vm3": up})
    eventually(lambda: members_status(lab, "monitor-port") == {"vm1": "ERROR", "vm2": up})
    assert set(bodies(lab, 84, 4)) == {"server_82"}

    # PING: vm3 gone from the lab (its namespace and address too) is down.
    without_vm3 = dict(
        data, lab={"instances": [i for i in data["lab"]["instances"] if i["name"] != "vm3"]}
    )
    lab.apply(without_vm3)
    eventually(lambda: members_status(lab, "ping") == {"vm1": up, "vm3": "ERROR"})
    assert set(bodies(lab, 83, 4)) == {"server_81"}

    # TCP and HTTP: vm1's server stopped is down, and traffic avoids it.
    vm1 = next(i for i in lab.topology(without_vm3).lab.instances if i.name == "vm1")
    lab.host.haproxy.stop(process_name("lab", vm1.uid))
    eventually(lambda: members_status(lab, "tcp") == {"vm1": "ERROR", "vm2": up})
    eventually(lambda: members_status(lab, "http11") == {"vm1": "ERROR", "vm2": up})
    assert set(bodies(lab, 80, 4)) == {"server_82"}
    assert set(bodies(lab, 81, 4)) == {"server_82"}


# --- L7 policies and rules ---------------------------------------------------------------------


def rule(kind: str, compare: str, value: str, **extra: object) -> dict:
    return {"type": kind, "compare_type": compare, "value": value, **extra}


def test_l7_policies_and_rules(lab: Lab) -> None:
    to_pool = {"action": "REDIRECT_TO_POOL", "redirect_pool": "other"}
    policies = [
        # position 1 beats position 2 though both match, and REDIRECT_TO_POOL is a
        # use_backend (which HAProxy runs after every http-request rule)
        {"name": "order-pool", **to_pool, "rules": [rule("PATH", "STARTS_WITH", "/order")]},
        {
            "name": "order-reject",
            "action": "REJECT",
            "rules": [rule("PATH", "STARTS_WITH", "/order")],
        },
        {"name": "reject", "action": "REJECT", "rules": [rule("PATH", "CONTAINS", "admin")]},
        {
            "name": "url",
            "action": "REDIRECT_TO_URL",
            "redirect_url": "http://new.example.com/a%20b",
            "redirect_http_code": 301,
            "rules": [rule("HOST_NAME", "EQUAL_TO", "old.example.com")],
        },
        {
            "name": "prefix",
            "action": "REDIRECT_PREFIX",
            "redirect_prefix": "https://prefix.example.com",
            "rules": [rule("HOST_NAME", "ENDS_WITH", ".moved.example.com")],
        },
        {"name": "header", **to_pool, "rules": [rule("HEADER", "EQUAL_TO", "two", key="X-Pool")]},
        {"name": "cookie", **to_pool, "rules": [rule("COOKIE", "CONTAINS", "choc", key="flavour")]},
        {"name": "file-type", **to_pool, "rules": [rule("FILE_TYPE", "EQUAL_TO", "png")]},
        {"name": "file-regex", **to_pool, "rules": [rule("FILE_TYPE", "REGEX", "^(gif|jpe?g)$")]},
        {"name": "regex", **to_pool, "rules": [rule("PATH", "REGEX", r"^/api/v\d+/")]},
        {"name": "ends", **to_pool, "rules": [rule("PATH", "ENDS_WITH", ".json")]},
        # rules are ANDed; invert
        {
            "name": "and-invert",
            "action": "REJECT",
            "rules": [
                rule("PATH", "STARTS_WITH", "/private"),
                rule("HEADER", "EQUAL_TO", "yes", key="X-Trusted", invert=True),
            ],
        },
        # never match: disabled, or only disabled rules
        {
            "name": "off",
            "action": "REJECT",
            "admin_state_up": False,
            "rules": [rule("PATH", "STARTS_WITH", "/")],
        },
        {
            "name": "rules-off",
            "action": "REJECT",
            "rules": [rule("PATH", "STARTS_WITH", "/", admin_state_up=False)],
        },
    ]
    lab.apply(
        topology(
            [listener("l7", 80, "default", l7policies=policies)],
            [pool("default", member("vm1")), pool("other", member("vm2"))],
        )
    )

    def body(path: str = "/", **kwargs: object) -> str:
        answer = get(lab, 80, path, **kwargs)
        assert answer.status == 200, (path, kwargs, answer)
        return answer.body.strip()

    default, other = "server_81", "server_82"
    assert body("/") == default  # nothing matches; the disabled policies neither
    assert body("/order/1") == other

    assert get(lab, 80, "/x/admin/y").status == 403

    url = get(lab, 80, "/anything", headers={"Host": "old.example.com"})
    assert (url.status, url.headers["location"]) == (301, "http://new.example.com/a%20b")
    assert body("/", headers={"Host": "new.example.com"}) == default

    moved = get(lab, 80, "/p/q?r=1", headers={"Host": "www.moved.example.com"})
    assert (moved.status, moved.headers["location"]) == (302, "https://prefix.example.com/p/q?r=1")

    assert body("/", headers={"X-Pool": "two"}) == other
    assert body("/", headers={"X-Pool": "twofold"}) == default  # EQUAL_TO is exact
    assert body("/", cookies={"flavour": "dark-choc-chip"}) == other
    assert body("/", cookies={"flavour": "vanilla"}) == default
    assert body("/img/a.png") == other
    assert body("/img/a.png.txt") == default
    assert body("/img/b.jpeg") == other
    assert body("/api/v2/items") == other
    assert body("/api/vX/items") == default
    assert body("/data/items.json") == other

    assert get(lab, 80, "/private/x").status == 403
    assert body("/private/x", headers={"X-Trusted": "yes"}) == default
