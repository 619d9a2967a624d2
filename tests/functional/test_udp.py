"""UDP listeners on a real host: the kernel balances (nftables in the load balancer's
namespace), netnode's checker takes dead members out, lab instances answer UDP.

Every datagram is sent from the lab client's namespace to the VIP on the lab network.
"""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from pathlib import Path

from netnode.drivers.helpers import HelperProcesses
from netnode.lab.udp import udp_request
from netnode.plan.desired import process_name
from tests.functional.conftest import Lab, eventually

VIP = "10.0.0.100"
PORT = 53
MEMBER_PORT = 5353


def topology(members: list[dict], **pool: object) -> dict:
    """A UDP listener on VIP:53 whose pool holds ``members`` (vm1..vm3 at .81-.83 answer
    UDP 5353 with their name), and a lab client at .50 to send from."""
    instances = [
        {
            "name": f"vm{i}",
            "network": "tenant1",
            "address": f"10.0.0.8{i}",
            "body": f"vm{i}",
            "udp_port": MEMBER_PORT,
        }
        for i in (1, 2, 3)
    ]
    instances.append({"name": "cl", "network": "tenant1", "address": "10.0.0.50", "body": "cl"})
    return {
        "networks": [
            {
                "name": "tenant1",
                "segmentation_id": 1,
                "subnets": [{"name": "s1", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
            }
        ],
        "load_balancers": [
            {
                "name": "lb",
                "vip": {"network": "tenant1", "address": VIP},
                "listeners": [
                    {"name": "dns", "protocol": "UDP", "protocol_port": PORT, "default_pool": "p"}
                ],
                "pools": [
                    {
                        "name": "p",
                        "protocol": "UDP",
                        "members": [_member(**m) for m in members],
                        **pool,
                    }
                ],
            }
        ],
        "lab": {"instances": instances},
    }


def _member(vm: int, **settings: object) -> dict:
    return {
        "name": f"vm{vm}",
        "address": f"10.0.0.8{vm}",
        "protocol_port": MEMBER_PORT,
        **settings,
    }


CHECKED = {
    "healthmonitor": {
        "type": "UDP-CONNECT",
        "delay": 1,
        "timeout": 1,
        "max_retries": 1,
        "max_retries_down": 1,
    }
}


def answers(lab: Lab, count: int, **kwargs: object) -> list[str]:
    """``count`` datagrams to the VIP from the client, each from a fresh source port."""
    ns = lab.ns_of("instance", "cl")
    return [udp_request(ns, VIP, PORT, **kwargs) for _ in range(count)]  # type: ignore[arg-type]


def answered(lab: Lab, count: int) -> set[str] | None:
    """The set of members that answered, or None when a datagram got no answer."""
    try:
        return set(answers(lab, count, timeout=1.0))
    except OSError:
        return None


def conntrack(namespace: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", namespace, "conntrack", "-L", "-p", "udp"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout


def stop_responder(lab: Lab, vm: str) -> None:
    inst = next(i for i in lab.topology(lab.applied or {}).lab.instances if i.name == vm)
    assert lab.host.helpers.stop(process_name("udplab", inst.uid))


def alive(pid: int) -> bool:
    """Running (a zombie, not yet reaped by init, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def member_statuses(lab: Lab) -> dict[str, str]:
    """What ``netnode status`` says of the members (HAProxy knows nothing of them)."""
    out = subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), "status", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)[0]["statuses"]["loadbalancer"]
    members = doc["listeners"][0]["pools"][0]["members"]
    return {m["name"]: m["operating_status"] for m in members}


def test_round_robin_alternates_between_two_members(lab: Lab) -> None:
    data = topology([{"vm": 1}, {"vm": 2}])
    lab.apply(data)
    got = answers(lab, 6)
    assert sorted(set(got)) == ["vm1", "vm2"]
    assert all(a != b for a, b in itertools.pairwise(got)), got
    # HAProxy has no UDP frontend; the kernel does it all, and nothing is left to do.
    lb_ns = lab.ns_of("lb", "lb")
    lb = lab.topology(data).load_balancers[0]
    cfg = lab.host.haproxy.installed_config(process_name("lb", lb.uid)) or ""
    assert f":{PORT}" not in cfg
    assert lab.host.netlink.observe(lb_ns, ("net.ipv4.ip_forward",)).sysctls == {
        "net.ipv4.ip_forward": "1"
    }
    assert lab.apply(data).plan.empty
    assert member_statuses(lab) == {"vm1": "NO_MONITOR", "vm2": "NO_MONITOR"}


def test_source_ip_sticks_to_one_member(lab: Lab) -> None:
    lab.apply(topology([{"vm": 1}, {"vm": 2}, {"vm": 3}], lb_algorithm="SOURCE_IP"))
    assert len(set(answers(lab, 8))) == 1


def test_source_ip_persistence_sticks_under_round_robin(lab: Lab) -> None:
    persistence = {"type": "SOURCE_IP", "persistence_timeout": 60}
    lab.apply(topology([{"vm": 1}, {"vm": 2}], session_persistence=persistence))
    assert len(set(answers(lab, 8))) == 1


def test_udp_connect_takes_a_silent_member_out_and_brings_it_back(lab: Lab) -> None:
    data = topology([{"vm": 1}, {"vm": 2}], **CHECKED)
    lab.apply(data)
    assert answered(lab, 4) == {"vm1", "vm2"}
    stop_responder(lab, "vm2")
    eventually(lambda: answered(lab, 6) == {"vm1"})
    assert member_statuses(lab) == {"vm1": "ONLINE", "vm2": "ERROR"}
    # The next apply starts the responder again; the checker puts vm2 back.
    assert not lab.apply(data).plan.empty
    eventually(lambda: answered(lab, 6) == {"vm1", "vm2"})
    assert member_statuses(lab) == {"vm1": "ONLINE", "vm2": "ONLINE"}
    # The table the checker wrote is the one apply wants: nothing to do.
    assert lab.apply(data).plan.empty


def test_a_backup_member_serves_only_while_the_others_are_down(lab: Lab) -> None:
    data = topology([{"vm": 1}, {"vm": 2, "backup": True}], **CHECKED)
    lab.apply(data)
    assert answered(lab, 6) == {"vm1"}
    stop_responder(lab, "vm1")
    eventually(lambda: answered(lab, 4) == {"vm2"})
    lab.apply(data)
    eventually(lambda: answered(lab, 6) == {"vm1"})


def test_a_member_of_weight_zero_gets_nothing(lab: Lab) -> None:
    lab.apply(topology([{"vm": 1}, {"vm": 2, "weight": 0}, {"vm": 3, "weight": 2}]))
    got = answers(lab, 9)
    assert set(got) == {"vm1", "vm3"}
    assert got.count("vm3") == 2 * got.count("vm1")


def test_a_removed_member_keeps_no_flow(lab: Lab) -> None:
    data = topology([{"vm": 1}, {"vm": 2}])
    lab.apply(data)
    ns = lab.ns_of("instance", "cl")
    # Two long-lived flows (fixed source ports): round robin gives one to each member.
    flows = {port: udp_request(ns, VIP, PORT, source_port=port) for port in (40001, 40002)}
    assert set(flows.values()) == {"vm1", "vm2"}
    lb_ns = lab.ns_of("lb", "lb")
    assert "src=10.0.0.82" in conntrack(lb_ns)
    removed = copy.deepcopy(data)
    removed["load_balancers"][0]["pools"][0]["members"].pop(1)
    lab.apply(removed)
    assert "src=10.0.0.82" not in conntrack(lb_ns)
    # The flow that went to vm2 is a new flow now, to vm1.
    assert {udp_request(ns, VIP, PORT, source_port=port) for port in flows} == {"vm1"}


def test_a_deleted_table_is_put_back_by_the_next_apply(lab: Lab) -> None:
    data = topology([{"vm": 1}, {"vm": 2}])
    lab.apply(data)
    lb_ns = lab.ns_of("lb", "lb")
    subprocess.run(
        ["ip", "netns", "exec", lb_ns, "nft", "delete", "table", "ip", "netnode"], check=True
    )
    assert answered(lab, 1) is None
    outcome = lab.apply(data)
    assert outcome.plan.changes() == {f"nftables {lb_ns}": "change"}
    assert answered(lab, 4) == {"vm1", "vm2"}
    assert lab.apply(data).plan.empty


def test_destroy_removes_tables_checkers_and_responders(lab: Lab) -> None:
    data = topology([{"vm": 1}, {"vm": 2}], **CHECKED)
    lab.apply(data)
    topo = lab.topology(data)
    helpers: HelperProcesses = lab.host.helpers
    names = [process_name("udpcheck", topo.load_balancers[0].uid)] + [
        process_name("udplab", i.uid) for i in topo.lab.instances if i.udp_port
    ]
    pids = [helpers.running_pid(n) for n in names]
    assert all(pids), pids
    lab.destroy()
    assert not [p for p in pids if p is not None and alive(p)]
    assert not lab.host.udp.recorded()
    uids = [topo.load_balancers[0].uid, *(i.uid for i in topo.lab.instances)]
    assert not [ns for ns in lab.host.netlink.namespaces() if any(u in ns for u in uids)]


def test_tcp_and_http_monitors_check_the_monitor_port(lab: Lab) -> None:
    # vm1 is checked over TCP, vm2 over HTTP, both on their HTTP port (80): stopping
    # vm2's HTTP server takes it out though its UDP service still answers.
    for monitor in ("TCP", "HTTP"):
        checked = copy.deepcopy(CHECKED)
        checked["healthmonitor"]["type"] = monitor
        data = topology([{"vm": 1, "monitor_port": 80}, {"vm": 2, "monitor_port": 80}], **checked)
        lab.apply(data)
        eventually(lambda: member_statuses(lab) == {"vm1": "ONLINE", "vm2": "ONLINE"})
        assert answered(lab, 4) == {"vm1", "vm2"}
        vm2 = next(i for i in lab.topology(data).lab.instances if i.name == "vm2")
        assert lab.host.haproxy.stop(process_name("lab", vm2.uid))
        eventually(lambda: answered(lab, 6) == {"vm1"})
        assert member_statuses(lab) == {"vm1": "ONLINE", "vm2": "ERROR"}
        lab.apply(data)
        eventually(lambda: answered(lab, 6) == {"vm1", "vm2"})


def test_ping_monitors_take_out_a_member_that_stops_answering_pings(lab: Lab) -> None:
    checked = copy.deepcopy(CHECKED)
    checked["healthmonitor"]["type"] = "PING"
    lab.apply(topology([{"vm": 1}, {"vm": 2}], **checked))
    assert answered(lab, 4) == {"vm1", "vm2"}
    vm2_ns = lab.ns_of("instance", "vm2")
    mute = (
        "table ip mute {\n"
        "  chain in { type filter hook input priority 0; policy accept; }\n"
        "}\n"
        "add rule ip mute in icmp type echo-request drop\n"
    )
    nft = ["ip", "netns", "exec", vm2_ns, "nft"]
    subprocess.run([*nft, "-f", "-"], input=mute, text=True, check=True)
    eventually(lambda: answered(lab, 6) == {"vm1"})
    assert member_statuses(lab) == {"vm1": "ONLINE", "vm2": "ERROR"}
    subprocess.run([*nft, "delete", "table", "ip", "mute"], check=True)
    eventually(lambda: answered(lab, 6) == {"vm1", "vm2"})
    assert member_statuses(lab) == {"vm1": "ONLINE", "vm2": "ONLINE"}
