"""Seed §8.1 on a real host: HAProxy in its namespace on OVS, balancing two lab VMs."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from netnode.cli.main import main as cli
from netnode.plan.desired import process_name
from netnode.plan.spec import OWNER_NODE
from netnode.reconcile.status import loadbalancer_status
from tests.functional.conftest import Lab, eventually, fast_monitor, seed_data


def only_81(data: dict) -> dict:
    """§8.1 alone: no router, no floating IP, no external client."""
    data = dict(data)
    data["networks"] = [n for n in data["networks"] if not n.get("external")]
    data["routers"], data["floating_ips"] = [], []
    data["lab"] = {"instances": data["lab"]["instances"]}
    return data


def test_requests_to_the_vip_alternate_between_the_vms(lab: Lab) -> None:
    lab.apply(only_81(seed_data()))
    lb_ns = lab.ns_of("lb", "01")
    answers = lab.bodies(lb_ns, "10.0.0.100", 6)
    assert sorted(set(answers)) == ["server_81", "server_82"]
    assert all(a != b for a, b in itertools.pairwise(answers)), answers


def test_the_vip_port_is_the_seeds(lab: Lab) -> None:
    lab.apply(only_81(seed_data()))
    topo = lab.topology(only_81(seed_data()))
    lb = topo.load_balancers[0]
    state = lab.host.ovs.observe()
    port = state.ports[f"tap{lb.uid[:11]}"]
    assert port.tag == 1 and port.bridge == lab.prepare({})["integration_bridge"]
    assert port.external_ids[OWNER_NODE] == lab.host.node
    inside = lab.host.netlink.observe(
        lab.ns_of("lb", "01"), ("net.ipv4.conf.all.promote_secondaries",)
    )
    link = inside.links[port.name]
    assert link.mac == "fa:16:3e:f4:8f:ae" and link.up
    assert "10.0.0.100/24" in link.addresses
    assert inside.default_gateway == "10.0.0.1"
    assert inside.sysctls["net.ipv4.conf.all.promote_secondaries"] == "1"


def test_haproxy_runs_unprivileged_with_a_private_socket(lab: Lab) -> None:
    lab.apply(only_81(seed_data()))
    lb = lab.topology(only_81(seed_data())).load_balancers[0]
    paths = lab.host.haproxy.paths(process_name("lb", lb.uid))
    assert oct(paths.cfg.stat().st_mode & 0o777) == "0o600"
    assert oct(paths.stats_socket.stat().st_mode & 0o777) == "0o600"
    workers = lab.host.haproxy.workers(process_name("lb", lb.uid))
    assert workers
    for pid in workers:
        status = Path(f"/proc/{pid}/status").read_text()
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        assert uid != 0


def test_haproxy_runs_one_thread_with_descriptors_bounded_by_its_listeners(lab: Lab) -> None:
    """What HAProxy itself took of nbthread and fd-hard-limit (the seed's listener holds
    at most 100 connections: 2 x 100 + 1,000 descriptors), not only what was rendered."""
    lab.apply(only_81(seed_data()))
    lb = lab.topology(only_81(seed_data())).load_balancers[0]
    info = lab.host.haproxy.runtime(process_name("lb", lb.uid), "show info")
    fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
    assert fields["Nbthread"] == "1", info
    assert int(fields["Maxsock"]) <= 2 * 100 + 1_000, info


def test_a_second_apply_changes_nothing(lab: Lab) -> None:
    first = lab.apply(seed_data())
    assert first.plan.summary()["create"] > 0
    second = lab.apply(seed_data())
    assert second.plan.empty, second.plan.operations


def test_a_stopped_member_goes_down_and_gets_no_traffic(lab: Lab) -> None:
    data = fast_monitor(only_81(seed_data()))
    lab.apply(data)
    topo = lab.topology(data)
    lb = topo.load_balancers[0]
    vm1 = next(i for i in topo.lab.instances if i.name == "vm1")
    lab.host.haproxy.stop(process_name("lab", vm1.uid))

    def vm1_status() -> str:
        status = loadbalancer_status(lb, lab.host.haproxy.stats(process_name("lb", lb.uid)))
        member = next(m for m in status.pools[0].members if m.name == "vm1")
        return (
            member.operating_status
            if member.operating_status == "ERROR" and status.operating_status == "DEGRADED"
            else ""
        )

    eventually(vm1_status)
    assert set(lab.bodies(lab.ns_of("lb", "01"), "10.0.0.100", 6)) == {"server_82"}
    # the CLI shows the same
    out = subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), "status", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)[0]["statuses"]["loadbalancer"]
    members = {m["name"]: m["operating_status"] for m in doc["listeners"][0]["pools"][0]["members"]}
    assert members == {"vm1": "ERROR", "vm2": "ONLINE"}
    # and the next apply repairs the lab instance
    assert not lab.apply(data).plan.empty
    eventually(
        lambda: (
            set(lab.bodies(lab.ns_of("lb", "01"), "10.0.0.100", 4)) == {"server_81", "server_82"}
        )
    )


def test_destroy_leaves_nothing_netnode_owned(lab: Lab) -> None:
    lab.apply(seed_data())
    topo = lab.topology(seed_data())
    names = [process_name("lb", lb.uid) for lb in topo.load_balancers] + [
        process_name("lab", i.uid) for i in topo.lab.instances
    ]
    pids = [lab.host.haproxy.running_pid(n) for n in names]
    assert all(pids)
    lab.destroy()
    assert not [
        ns
        for ns in lab.host.netlink.namespaces()
        if any(
            x.uid in ns
            for x in [*topo.load_balancers, *topo.routers, *topo.lab.instances, *topo.lab.clients]
        )
    ]
    state = lab.host.ovs.observe()
    assert not [p for p in state.ports.values() if p.external_ids.get(OWNER_NODE) == lab.host.node]
    assert not [b for b in state.bridges if lab.suffix in b]
    for pid in pids:
        assert pid is not None
        try:
            os.kill(pid, 0)
            alive = Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except ProcessLookupError:
            alive = False
        assert not alive, f"haproxy {pid} survived destroy"


def snapshot(lab: Lab) -> tuple:
    state = lab.host.ovs.observe()
    # HAProxy processes of this test's node (other processes on a shared host come and go).
    procs = subprocess.run(
        ["pgrep", "-f", f"haproxy .*{lab.host.state_dir}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return (
        sorted(lab.host.netlink.namespaces()),
        sorted(state.ports),
        sorted(state.bridges),
        sorted(procs),
    )


def test_bad_input_changes_nothing_and_exits_2(lab: Lab, capsys) -> None:
    data = seed_data()
    data["load_balancers"][0]["vip"]["address"] = "10.0.1.100"
    data["load_balancers"][0]["listeners"].append(
        dict(data["load_balancers"][0]["listeners"][0], name="dup")
    )
    path = lab.write(data)
    before = snapshot(lab)
    assert cli([*lab.cli_args(), "apply", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert "load_balancers[0].vip.address: 10.0.1.100 is outside network 'tenant1'" in err
    assert "load_balancers[0].listeners[1].protocol_port: duplicate listener port '80'" in err
    assert "Nothing was changed" in err
    assert snapshot(lab) == before
    assert not (lab.host.node_dir).exists()


def test_plan_prints_commands_and_changes_nothing(lab: Lab, capsys) -> None:
    path = lab.write(seed_data())
    before = snapshot(lab)
    assert cli([*lab.cli_args(), "plan", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ip netns add qlbaas-" in out and "tag=1" in out and "fa:16:3e:f4:8f:ae" in out
    assert snapshot(lab) == before
    lab.apply(seed_data())
    assert cli([*lab.cli_args(), "plan", "-f", str(path)]) == 0
    assert "No changes" in capsys.readouterr().out


def test_apply_reports_like_terraform(lab: Lab, capsys) -> None:
    path = lab.write(only_81(seed_data()))
    lab.applied = lab.prepare(only_81(seed_data()))
    assert cli([*lab.cli_args(), "apply", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert "+ namespace qlbaas-" in out and "Apply complete" in out
    assert cli([*lab.cli_args(), "apply", "-f", str(path)]) == 0
    assert "No changes: the host already matches" in capsys.readouterr().out


def test_a_killed_haproxy_is_restarted_by_the_next_apply(lab: Lab) -> None:
    lab.apply(only_81(seed_data()))
    lb = lab.topology(only_81(seed_data())).load_balancers[0]
    pid = lab.host.haproxy.running_pid(process_name("lb", lb.uid))
    assert pid is not None
    workers = lab.host.haproxy.workers(process_name("lb", lb.uid))
    for victim in (pid, *workers):
        os.kill(victim, signal.SIGKILL)
    eventually(lambda: lab.host.haproxy.running_pid(process_name("lb", lb.uid)) is None, timeout=5)
    outcome = lab.apply(only_81(seed_data()))
    assert [o.subject for o in outcome.plan.operations] == [f"haproxy lb-{lb.uid}"]
    assert set(lab.bodies(lab.ns_of("lb", "01"), "10.0.0.100", 4)) == {"server_81", "server_82"}
