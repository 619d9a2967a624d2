"""netnode.plan.runtime: which config changes the runtime API can make, and how."""

from __future__ import annotations

import pytest

from netnode.model.topology import HealthMonitor, Listener, LoadBalancer, Member, Pool, Vip
from netnode.plan.runtime import (
    AddServer,
    RemoveServer,
    SetState,
    SetWeight,
    commands,
    parse_config,
    server_changes,
)
from netnode.render.haproxy import render_loadbalancer

POOL = "22222222-2222-4222-8222-222222222222"


def member(n: int, **kwargs: object) -> Member:
    return Member(
        name=f"m{n}",
        id=f"33333333-3333-4333-8333-33333333333{n}",
        address=f"10.0.0.{10 + n}",
        protocol_port=8080,
        **kwargs,  # type: ignore[arg-type]
    )


def sid(n: int) -> str:
    return f"33333333-3333-4333-8333-33333333333{n}"


def cfg(members: list[Member], *, pool: dict[str, object] | None = None, port: int = 80) -> str:
    lb = LoadBalancer(
        name="lb",
        id="44444444-4444-4444-8444-444444444444",
        vip=Vip(network="net", address="10.0.0.5"),
        listeners=[
            Listener(
                name="l",
                id="11111111-1111-4111-8111-111111111111",
                protocol_port=port,
                default_pool="p",
            )
        ],
        pools=[Pool(name="p", id=POOL, members=members, **(pool or {}))],  # type: ignore[arg-type]
    )
    return render_loadbalancer(lb, stats_socket="/run/x/stats.sock", state_file="/run/x/state")


CHECKED = {"healthmonitor": HealthMonitor(type="TCP", delay=2)}


def test_identical_configs_need_nothing() -> None:
    assert server_changes(cfg([member(1)]), cfg([member(1)])) == ()


def test_added_member() -> None:
    changes = server_changes(
        cfg([member(1)], pool=CHECKED), cfg([member(1), member(2, weight=3)], pool=CHECKED)
    )
    options = "check inter 2s fall 3 observe layer4 error-limit 1 on-error mark-down"
    assert changes == (AddServer(POOL, sid(2), "10.0.0.12", 8080, 3, tuple(options.split()), True),)
    assert changes[0].commands() == (
        f"add server {POOL}/{sid(2)} 10.0.0.12:8080 weight 3 check inter 2s fall 3"
        " observe layer4 error-limit 1 on-error mark-down",
        f"enable health {POOL}/{sid(2)}",
        f"set server {POOL}/{sid(2)} state ready",
    )


def test_added_member_without_checks_or_disabled() -> None:
    changes = server_changes(cfg([]), cfg([member(1, admin_state_up=False)]))
    assert changes is not None
    (add,) = changes
    assert isinstance(add, AddServer) and not add.enabled and not add.checks
    # Added as "disabled" (the admin state a start from the file gives), never readied.
    assert add.commands() == (f"add server {POOL}/{sid(1)} 10.0.0.11:8080 weight 1 disabled",)


def test_removed_member() -> None:
    changes = server_changes(cfg([member(1), member(2)]), cfg([member(2)]))
    assert changes == (RemoveServer(POOL, sid(1)),)
    assert changes[0].commands() == (
        f"set server {POOL}/{sid(1)} state drain",
        f"set server {POOL}/{sid(1)} state maint",
        f"shutdown sessions server {POOL}/{sid(1)}",
        f"del server {POOL}/{sid(1)}",
    )


def test_weight_and_admin_state() -> None:
    changes = server_changes(
        cfg([member(1), member(2, admin_state_up=False)]),
        cfg([member(1, weight=0), member(2)]),
    )
    assert changes == (SetWeight(POOL, sid(1), 0), SetState(POOL, sid(2), "ready"))
    assert commands(changes) == [
        f"set server {POOL}/{sid(1)} weight 0",
        f"set server {POOL}/{sid(2)} state ready",
    ]
    assert server_changes(cfg([member(1)]), cfg([member(1, admin_state_up=False)])) == (
        SetState(POOL, sid(1), "maint"),
    )


def test_adds_first_removals_last() -> None:
    changes = server_changes(
        cfg([member(1), member(2)]), cfg([member(2, weight=2), member(3), member(4)])
    )
    assert changes is not None
    assert [type(c).__name__ for c in changes] == [
        "AddServer",
        "AddServer",
        "SetWeight",
        "RemoveServer",
    ]


def test_reordered_members_need_no_runtime_change() -> None:
    assert server_changes(cfg([member(1), member(2)]), cfg([member(2), member(1)])) == ()


@pytest.mark.parametrize(
    "other",
    [
        # a member's address or port cannot change in place
        [Member(name="m1", id=sid(1), address="10.0.0.99", protocol_port=8080)],
        [Member(name="m1", id=sid(1), address="10.0.0.11", protocol_port=8081)],
    ],
)
def test_a_moved_member_reloads(other: list[Member]) -> None:
    assert server_changes(cfg([member(1)]), cfg(other)) is None


def test_anything_else_reloads() -> None:
    base = cfg([member(1)])
    assert server_changes(base, cfg([member(1)], port=81)) is None
    assert (
        server_changes(base, cfg([member(1)], pool={"lb_algorithm": "LEAST_CONNECTIONS"})) is None
    )
    # a health monitor added changes the backend and every server line
    assert server_changes(base, cfg([member(1)], pool=CHECKED)) is None
    assert server_changes(base, cfg([member(1)], pool={"failover": {"retries": 1}})) is None
    assert server_changes(base, base.replace("hard-stop-after 30s", "hard-stop-after 5s")) is None
    assert server_changes(base, base + "backend extra\n    mode http\n") is None


def test_a_changed_check_option_reloads() -> None:
    before = cfg([member(1)], pool=CHECKED)
    after = before.replace(" error-limit 1 ", " error-limit 2 ")
    assert server_changes(before, after) is None


def test_source_ip_hashes_consistently_so_members_change_live() -> None:
    pool = {"lb_algorithm": "SOURCE_IP"}
    changes = server_changes(cfg([member(1)], pool=pool), cfg([member(1), member(2)], pool=pool))
    assert changes is not None and len(changes) == 1


def test_source_ip_port_hashes_consistently_so_members_change_live() -> None:
    pool = {"lb_algorithm": "SOURCE_IP_PORT"}
    changes = server_changes(cfg([member(1)], pool=pool), cfg([member(1), member(2)], pool=pool))
    assert changes is not None and len(changes) == 1


def test_new_member_options_travel_with_add_server() -> None:
    # backup, send-proxy(-v2), addr and port are what "add server" takes in 2.6.
    pool = {"protocol": "PROXYV2", **CHECKED}
    new = member(2, backup=True, monitor_address="10.0.0.99", monitor_port=9000)
    changes = server_changes(cfg([member(1)], pool=pool), cfg([member(1), new], pool=pool))
    assert changes is not None
    (add,) = changes
    assert isinstance(add, AddServer)
    assert add.commands()[0] == (
        f"add server {POOL}/{sid(2)} 10.0.0.12:8080 weight 1 backup send-proxy-v2"
        " check inter 2s fall 3 addr 10.0.0.99 port 9000"
        " observe layer4 error-limit 1 on-error mark-down"
    )
    proxy = {"protocol": "PROXY"}
    changes = server_changes(cfg([member(1)], pool=proxy), cfg([member(1), member(2)], pool=proxy))
    assert changes is not None and " send-proxy" in changes[0].commands()[0]


def test_a_member_with_a_persistence_cookie_is_added_by_a_reload() -> None:
    # HAProxy 2.6: "'cookie' option is not accepted for dynamic server".
    pool = {"session_persistence": {"type": "HTTP_COOKIE"}}
    assert (
        server_changes(cfg([member(1)], pool=pool), cfg([member(1), member(2)], pool=pool)) is None
    )
    # Removing one or changing a weight still goes live.
    changes = server_changes(cfg([member(1), member(2)], pool=pool), cfg([member(1)], pool=pool))
    assert changes == (RemoveServer(POOL, sid(2)),)


def test_backup_and_monitor_address_changes_reload() -> None:
    assert server_changes(cfg([member(1)]), cfg([member(1, backup=True)])) is None
    before = cfg([member(1)], pool=CHECKED)
    assert server_changes(before, cfg([member(1, monitor_port=81)], pool=CHECKED)) is None


def test_a_static_algorithm_reloads() -> None:
    before = cfg([member(1)]).replace("balance roundrobin", "balance source")
    after = cfg([member(1), member(2)]).replace("balance roundrobin", "balance source")
    assert server_changes(before, after) is None
    static_rr = cfg([member(1)]).replace("balance roundrobin", "balance static-rr")
    assert server_changes(static_rr, static_rr.replace(" weight 1", " weight 2")) is None


def test_a_disabled_pool_reloads() -> None:
    pool = {"admin_state_up": False}
    assert server_changes(cfg([member(1)], pool=pool), cfg([member(2)], pool=pool)) is None


def test_unreadable_server_lines_reload() -> None:
    base = cfg([member(1)])
    assert server_changes(base, base.replace(":8080 weight 1", " weight 1")) is None
    assert server_changes(base, base.replace("weight 1", "weight x")) is None
    twice = base + base[base.index("    server ") :]
    assert server_changes(base, twice) is None


def test_parse_config_sections() -> None:
    sections = parse_config(cfg([member(1, weight=4, admin_state_up=False)], pool=CHECKED))
    assert sections is not None
    assert [s.header.split()[0] for s in sections] == ["global", "defaults", "frontend", "backend"]
    backend = sections[-1]
    assert backend.backend == POOL and backend.dynamic
    (server,) = backend.servers
    assert (server.name, server.address, server.port, server.weight, server.enabled) == (
        sid(1),
        "10.0.0.11",
        8080,
        4,
        False,
    )
    assert server.args[:5] == ("check", "inter", "2s", "fall", "3")
    assert not any(line.startswith("server ") for line in backend.lines)
