"""The UDP load balancer's nftables text, its rotation rules, the conntrack flows it
deletes, the checker's rise/fall and UDP statuses. Pure.

UPDATE_GOLDEN=1 rewrites tests/golden/udp-nftables.nft.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from netnode.model.loading import load_data
from netnode.model.topology import LoadBalancer
from netnode.reconcile.status import loadbalancer_status, udp_rows
from netnode.render.haproxy import render_loadbalancer
from netnode.render.nftables import (
    Flow,
    UdpBackend,
    UdpBalancer,
    UdpService,
    allowed_flows,
    render_removal,
    render_table,
    rotation,
    slots,
    stale_flows,
    udp_balancer,
)
from netnode.udpcheck.config import CheckerConfig, monitors
from netnode.udpcheck.health import MemberHealth

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "udp-nftables.nft"
EXAMPLE = ROOT / "examples" / "udp.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def lb_of(data: dict) -> LoadBalancer:
    return load_data(data, node="netnode").load_balancers[0]


def balancer(data: dict | None = None) -> UdpBalancer:
    result = udp_balancer(lb_of(data or example()))
    assert result is not None
    return result


def member_ids(data: dict | None = None) -> dict[str, str]:
    lb = lb_of(data or example())
    return {m.name: m.uid for m in lb.pools[0].members}


def backend(name: str, weight: int = 1, backup: bool = False) -> UdpBackend:
    return UdpBackend(name, f"10.0.0.{len(name)}", 5353, weight, backup)


def service(*backends: UdpBackend, monitored: bool = True) -> UdpService:
    return UdpService("l", 53, "p", "ROUND_ROBIN", backends, monitored=monitored)


def test_the_example_renders_the_golden_table() -> None:
    text = render_table(balancer())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_the_table_is_replaced_whole_in_one_transaction() -> None:
    lines = render_table(balancer()).splitlines()
    assert lines[1:3] == ["table ip netnode {}", "delete table ip netnode"]
    assert lines[3] == "table ip netnode {"
    assert render_removal() == "table ip netnode {}\ndelete table ip netnode\n"


@pytest.mark.parametrize(
    ("algorithm", "selector"),
    [
        ("ROUND_ROBIN", "numgen inc mod 2"),
        ("SOURCE_IP", "jhash ip saddr mod 2"),
        ("SOURCE_IP_PORT", "jhash ip saddr . udp sport mod 2"),
    ],
)
def test_each_algorithm_picks_its_own_way(algorithm: str, selector: str) -> None:
    data = example()
    pool = data["load_balancers"][0]["pools"][0]
    pool.update(lb_algorithm=algorithm, session_persistence=None)
    pool["members"] = pool["members"][1:]  # vm2 (weight 1) and the backup
    pool["members"].insert(0, {"name": "vm1", "address": "10.0.0.81", "protocol_port": 5353})
    text = render_table(balancer(data))
    assert (
        f"dnat ip addr . port to {selector} map {{ 0 : 10.0.0.81 . 5353, 1 : 10.0.0.82 . 5353 }}"
        in text
    )
    assert "persist_" not in text


def test_weights_repeat_members_interleaved_and_weight_zero_takes_no_new_flow() -> None:
    a, b, z = backend("a", 4), backend("bb", 2), backend("ccc", 0)
    assert [x.member_id for x in slots(rotation(service(a, b, z)))] == ["a", "bb", "a"]
    assert [x.member_id for x in slots((backend("a"), backend("bb")))] == ["a", "bb"]
    # weight 0 keeps its flows, though
    assert z in service(a, b, z).backends and Flow(53, "10.0.0.3", 5353) in allowed_flows(
        UdpBalancer("lb", "10.0.0.100", (service(a, b, z),))
    )


def test_backups_only_while_every_other_member_is_down() -> None:
    a, b, spare = backend("a"), backend("bb"), backend("ccc", backup=True)
    s = service(a, b, spare)
    assert rotation(s) == (a, b)
    assert rotation(s, {"a"}) == (b,)
    assert rotation(s, {"a", "bb"}) == (spare,)
    assert rotation(s, {"a", "bb", "ccc"}) == ()
    # without a monitor, nothing is ever down
    assert rotation(service(a, b, spare, monitored=False), {"a", "bb"}) == (a, b)


def test_down_members_leave_the_map_and_an_empty_rotation_has_no_rule() -> None:
    ids = member_ids()
    text = render_table(balancer(), {ids["vm1"]})
    assert "10.0.0.81" not in text and "mod 1 map { 0 : 10.0.0.82 . 5353 }" in text
    text = render_table(balancer(), set(ids.values()))
    assert "dnat ip addr" not in text and "# no member in rotation" in text


def test_disabled_objects_are_out_and_udp_is_not_haproxys() -> None:
    data = example()
    lb = data["load_balancers"][0]
    lb["pools"][0]["members"][0]["admin_state_up"] = False
    assert "10.0.0.81" not in render_table(balancer(data))
    lb["listeners"][0]["admin_state_up"] = False
    assert balancer(data).services == ()
    # HAProxy gets neither the UDP listener nor its pool
    cfg = render_loadbalancer(lb_of(data), stats_socket="/run/s", state_file="/run/st")
    assert "frontend" not in cfg and "backend" not in cfg


def test_persistence_map_is_keyed_on_the_masked_source() -> None:
    text = render_table(balancer())
    assert "dnat ip addr . port to ip saddr & 255.255.255.0 map @persist_" in text
    assert "timeout 120s" in text
    assert "update @persist_" in text and "ct direction original" in text


def test_allowed_cidrs_limit_who_is_balanced() -> None:
    assert "ip daddr 10.0.0.100 udp dport 53 ip saddr { 10.0.0.0/24 } dnat" in render_table(
        balancer()
    )


def test_a_balancer_survives_its_json_round_trip() -> None:
    b = balancer()
    assert UdpBalancer.from_json(copy.deepcopy(b.to_json())) == b
    config = CheckerConfig("ns", "/state", b, monitors(lb_of(example()), b))
    assert CheckerConfig.loads(config.dumps()) == config


def test_the_checker_checks_monitor_address_and_port() -> None:
    data = example()
    data["load_balancers"][0]["pools"][0]["members"][1].update(
        monitor_address="10.0.0.92", monitor_port=7
    )
    (monitor,) = monitors(lb_of(data), balancer(data))
    assert [(t.address, t.port) for t in monitor.targets] == [
        ("10.0.0.81", 5353),
        ("10.0.0.92", 7),
        ("10.0.0.83", 5353),
    ]
    assert (monitor.type, monitor.delay, monitor.timeout, monitor.rise, monitor.fall) == (
        "UDP-CONNECT",
        2,
        1,
        2,
        2,
    )


CONNTRACK = """\
udp      17 29 src=10.0.0.50 dst=10.0.0.100 sport=40001 dport=53 src=10.0.0.81 dst=10.0.0.100 sport=5353 dport=40001 mark=0 use=1
udp      17 28 src=10.0.0.50 dst=10.0.0.100 sport=40002 dport=53 src=10.0.0.82 dst=10.0.0.100 sport=5353 dport=40002 mark=0 use=1
udp      17 27 src=10.0.0.50 dst=10.0.0.100 sport=40003 dport=54 src=10.0.0.81 dst=10.0.0.100 sport=5353 dport=40003 mark=0 use=1
udp      17 26 src=10.0.0.50 dst=10.0.0.100 sport=40004 dport=53 src=10.0.0.100 dst=10.0.0.50 sport=53 dport=40004 mark=0 use=1
udp      17 25 src=10.0.0.50 dst=10.0.0.7 sport=40005 dport=53 src=10.0.0.7 dst=10.0.0.50 sport=53 dport=40005 mark=0 use=1
"""


def test_stale_flows_are_those_to_members_out_of_rotation() -> None:
    ids = member_ids()
    b = balancer()
    # vm2 down; port 54 is no listener; the VIP's own flow and another address's stay.
    assert stale_flows(CONNTRACK, "10.0.0.100", allowed_flows(b, {ids["vm2"]})) == [
        Flow(53, "10.0.0.82", 5353),
        Flow(54, "10.0.0.81", 5353),
    ]
    assert stale_flows(CONNTRACK, "10.0.0.100", allowed_flows(b)) == [Flow(54, "10.0.0.81", 5353)]


def test_rise_and_fall_count_checks_in_a_row() -> None:
    h = MemberHealth()
    assert h.up
    assert not h.record(False, rise=2, fall=2)
    assert not h.record(True, rise=2, fall=2)  # the streak is broken
    assert not h.record(False, rise=2, fall=2)
    assert h.record(False, rise=2, fall=2) and h.state == "DOWN"
    assert not h.record(True, rise=2, fall=2)
    assert h.record(True, rise=2, fall=2) and h.state == "UP"


def test_udp_statuses_come_from_the_checkers_health() -> None:
    lb = lb_of(example())
    ids = member_ids()
    # HAProxy has no UDP row at all; the checker found vm2 down.
    status = loadbalancer_status(lb, udp_rows(lb, {ids["vm2"]: "DOWN"}))
    members = {m.name: m.operating_status for m in status.pools[0].members}
    assert members == {"vm1": "ONLINE", "vm2": "ERROR", "spare": "ONLINE"}
    assert (status.listeners[0].operating_status, status.pools[0].operating_status) == (
        "ONLINE",
        "DEGRADED",
    )
    assert status.operating_status == "DEGRADED"
    everyone = loadbalancer_status(lb, udp_rows(lb, dict.fromkeys(ids.values(), "DOWN")))
    assert everyone.pools[0].operating_status == "ERROR"
    assert everyone.operating_status == "ERROR"
    data = example()
    del data["load_balancers"][0]["pools"][0]["healthmonitor"]
    unchecked = lb_of(data)
    status = loadbalancer_status(unchecked, udp_rows(unchecked, {ids["vm2"]: "DOWN"}))
    assert {m.operating_status for m in status.pools[0].members} == {"NO_MONITOR"}
