"""Member changes through HAProxy's runtime API, end to end: ``netnode apply`` of a
topology that adds, removes, re-weights or disables members changes the running
load balancer without a reload (same master, same workers, no reload counted), and
the haproxy.cfg on disk always says what runs.

Every request comes from inside a lab namespace (the "probe" instance on the tenant
network), never from the host's own namespace.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from netnode.drivers.haproxy import HAProxyProcesses, MasterState
from netnode.plan import operations as op
from netnode.plan.desired import process_name
from netnode.plan.runtime import parse_config
from netnode.reconcile.converge import Outcome
from netnode.reconcile.status import loadbalancer_status
from tests.functional.conftest import Lab, eventually, seed_data

VIP = "10.0.0.100"


def topology() -> dict:
    """Seed §8.1 with four lab VMs (vm1 and vm2 members) and a probe to send from."""
    data = seed_data()
    data["networks"] = [n for n in data["networks"] if not n.get("external")]
    data["routers"], data["floating_ips"] = [], []
    instances = [
        {"name": f"vm{n}", "network": "tenant1", "address": f"10.0.0.8{n}", "body": f"server_8{n}"}
        for n in (1, 2, 3, 4)
    ]
    instances.append({"name": "probe", "network": "tenant1", "address": "10.0.0.90", "body": "p"})
    data["lab"] = {"instances": instances}
    return data


def with_members(data: dict, *members: dict) -> dict:
    data = copy.deepcopy(data)
    data["load_balancers"][0]["pools"][0]["members"] = list(members)
    return data


def vm(n: int, **settings: object) -> dict:
    return {"name": f"vm{n}", "address": f"10.0.0.8{n}", "protocol_port": 80, **settings}


class Runtime:
    """The lab's load balancer "01" and what it runs."""

    def __init__(self, lab: Lab, data: dict) -> None:
        self.lab = lab
        self.outcome = lab.apply(data)
        assert self.outcome.ok, self.outcome.failures
        self.lb = lab.topology(data).load_balancers[0]
        self.name = process_name("lb", self.lb.uid)
        self.haproxy: HAProxyProcesses = lab.host.haproxy
        self.probe = lab.ns_of("instance", "probe")
        self.started = self.master()

    def master(self) -> MasterState:
        return self.haproxy.master_state(self.name)

    def apply(self, data: dict) -> Outcome:
        """Apply ``data``; the load balancer must change over the runtime API."""
        outcome = self.lab.apply(data)
        assert outcome.ok, outcome.failures
        lb_ops = [o for o in outcome.plan.operations if o.subject == f"haproxy {self.name}"]
        assert [type(o) for o in lb_ops] == [op.ChangeServers], lb_ops
        self.lb = self.lab.topology(data).load_balancers[0]
        return outcome

    def not_reloaded(self) -> None:
        now = self.master()
        assert (now.pid, now.reloads, now.workers) == (
            self.started.pid,
            self.started.reloads,
            self.started.workers,
        )

    def bodies(self, count: int) -> Counter[str]:
        return Counter(self.lab.bodies(self.probe, VIP, count))

    def member_uid(self, name: str) -> str:
        return next(m.uid for m in self.lb.pools[0].members if m.name == name)

    def rows(self) -> dict[str, dict[str, str]]:
        pool = self.lb.pools[0].uid
        return {
            r["svname"]: r
            for r in self.haproxy.stats(self.name)
            if r["pxname"] == pool and r["svname"] not in ("FRONTEND", "BACKEND")
        }

    def running(self) -> dict[str, tuple[int, bool]]:
        """server -> (weight, in maintenance) from ``show servers state``."""
        out = {}
        for line in self.haproxy.runtime(self.name, "show servers state").splitlines():
            fields = line.split()
            if len(fields) > 8 and fields[0].isdigit():
                out[fields[3]] = (int(fields[7]), bool(int(fields[6]) & 0x01))
        return out

    def in_file(self) -> dict[str, tuple[int, bool]]:
        sections = parse_config(self.haproxy.installed_config(self.name) or "")
        assert sections is not None
        return {s.name: (s.weight, not s.enabled) for x in sections if x.backend for s in x.servers}


def test_an_added_member_serves_without_a_reload(lab: Lab) -> None:
    rt = Runtime(lab, with_members(topology(), vm(1), vm(2)))
    assert set(rt.bodies(4)) == {"server_81", "server_82"}
    rt.apply(with_members(topology(), vm(1), vm(2), vm(3)))
    assert set(rt.bodies(6)) == {"server_81", "server_82", "server_83"}
    rt.not_reloaded()
    assert rt.running() == rt.in_file()
    assert len(rt.in_file()) == 3


def test_a_removed_member_gets_no_traffic_and_leaves_the_file(lab: Lab) -> None:
    rt = Runtime(lab, with_members(topology(), vm(1), vm(2)))
    gone = rt.member_uid("vm2")
    rt.apply(with_members(topology(), vm(1)))
    assert set(rt.bodies(4)) == {"server_81"}
    assert gone not in rt.rows()
    assert gone not in (rt.haproxy.installed_config(rt.name) or "")
    rt.not_reloaded()
    # the next pass finds nothing to do
    assert lab.apply(with_members(topology(), vm(1))).plan.empty


def test_weight_zero_takes_no_new_traffic(lab: Lab) -> None:
    # vm3 starts at weight 0 from the file; weights then change at runtime both ways.
    rt = Runtime(lab, with_members(topology(), vm(1), vm(2), vm(3, weight=0)))
    assert set(rt.bodies(6)) == {"server_81", "server_82"}
    rt.apply(with_members(topology(), vm(1), vm(2, weight=0), vm(3, weight=2)))
    assert set(rt.bodies(6)) == {"server_81", "server_83"}
    assert rt.rows()[rt.member_uid("vm2")]["weight"] == "0"
    rt.apply(with_members(topology(), vm(1), vm(2, weight=0), vm(3, weight=0)))
    assert set(rt.bodies(4)) == {"server_81"}
    rt.not_reloaded()
    assert rt.running() == rt.in_file()


def test_admin_down_is_maintenance_and_gets_no_traffic(lab: Lab) -> None:
    rt = Runtime(lab, with_members(topology(), vm(1), vm(2)))
    rt.apply(with_members(topology(), vm(1, admin_state_up=False), vm(2)))
    vm1 = rt.member_uid("vm1")
    assert rt.rows()[vm1]["status"] == "MAINT"
    status = loadbalancer_status(rt.lb, rt.haproxy.stats(rt.name))
    members = {m.name: m.operating_status for m in status.pools[0].members}
    assert members["vm1"] == "OFFLINE"
    assert set(rt.bodies(4)) == {"server_82"}
    rt.apply(with_members(topology(), vm(1), vm(2)))
    assert rt.rows()[vm1]["status"] != "MAINT"
    eventually(lambda: set(rt.bodies(4)) == {"server_81", "server_82"})
    rt.not_reloaded()


def test_a_restart_runs_what_the_file_says(lab: Lab) -> None:
    """After runtime changes, a process started again from the files (haproxy.cfg
    and the server-state file) runs exactly the members of the file."""
    rt = Runtime(lab, with_members(topology(), vm(1), vm(2), vm(3, admin_state_up=False)))
    final = with_members(
        topology(),
        vm(1, weight=3),
        vm(3),
        vm(4, admin_state_up=False),
    )
    rt.apply(with_members(topology(), vm(1), vm(2), vm(3), vm(4)))
    rt.apply(final)
    expected = {
        rt.member_uid("vm1"): (3, False),
        rt.member_uid("vm3"): (1, False),
        rt.member_uid("vm4"): (1, True),
    }
    assert rt.in_file() == expected
    assert rt.running() == expected
    # Our own master, verified by its pid file: stop it and let apply start it again
    # from the files it left.
    pid = rt.haproxy.running_pid(rt.name)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    eventually(lambda: rt.haproxy.running_pid(rt.name) is None)
    restarted = lab.apply(final)
    assert restarted.ok, restarted.failures
    assert rt.haproxy.running_pid(rt.name) not in (None, pid)
    assert rt.running() == expected
    assert rt.in_file() == expected
    eventually(lambda: set(rt.bodies(8)) == {"server_81", "server_83"})


# A bounded load from inside a lab namespace: threads, each request a new connection
# (HTTP/1.1, Connection: close), until its stdin closes, at most 60 s and 100000
# requests. Prints {"ok", "failed", "errors", "bodies"} as JSON.
LOAD = r"""
import collections, json, sys, threading, time, urllib.request
url, threads = sys.argv[1], int(sys.argv[2])
ok, failed, errors, bodies = [0], [0], [], collections.Counter()
lock = threading.Lock()
stop = threading.Event()
deadline = time.monotonic() + 60
def watch():
    sys.stdin.read()
    stop.set()
def run():
    while not stop.is_set() and time.monotonic() < deadline:
        with lock:
            if ok[0] + failed[0] >= 100000:
                return
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = r.read().decode().strip()
            with lock:
                ok[0] += 1
                bodies[body] += 1
                if ok[0] == 1:
                    print("running", flush=True)
        except Exception as exc:
            with lock:
                failed[0] += 1
                errors.append(repr(exc))
threading.Thread(target=watch, daemon=True).start()
workers = [threading.Thread(target=run) for _ in range(threads)]
[w.start() for w in workers]
[w.join() for w in workers]
print(json.dumps({"ok": ok[0], "failed": failed[0], "errors": errors[:5], "bodies": bodies}))
"""


def test_no_request_fails_while_members_change_under_load(lab: Lab) -> None:
    base = topology()
    rt = Runtime(lab, with_members(base, vm(1), vm(2)))
    steps = [
        (vm(1), vm(2), vm(3)),  # add
        (vm(1, weight=3), vm(2), vm(3)),  # re-weight
        (vm(1, weight=3), vm(2), vm(3), vm(4)),  # add
        (vm(1, weight=3), vm(3), vm(4)),  # remove
        (vm(1, weight=3), vm(3, weight=0), vm(4)),  # weight 0
        (vm(1, weight=3), vm(2), vm(3, weight=0), vm(4)),  # add back
        (vm(1, weight=3), vm(2), vm(3, weight=0)),  # remove
        (vm(1, weight=3), vm(2), vm(3, weight=2)),  # re-weight
        (vm(1, weight=3, admin_state_up=False), vm(2), vm(3, weight=2)),  # admin down
        (vm(1), vm(2), vm(3, weight=2)),  # admin up, re-weight
        (vm(1), vm(2)),  # remove
        (vm(1), vm(2), vm(4, weight=2)),  # add
        (vm(2), vm(4, weight=2)),  # remove
    ]
    load = subprocess.Popen(
        ["ip", "netns", "exec", rt.probe, sys.executable, "-c", LOAD, f"http://{VIP}/", "4"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert load.stdout is not None
        assert load.stdout.readline().strip() == "running"
        for members in steps:
            rt.apply(with_members(base, *members))
            # let each state carry some traffic before the next change
            time.sleep(0.1)
        out, err = load.communicate(timeout=90)
    finally:
        if load.poll() is None:
            load.kill()
            load.communicate()
    result = json.loads(out.splitlines()[-1])
    print(f"load during {len(steps)} member changes: {result}")
    assert result["failed"] == 0, (result["errors"], err)
    assert result["ok"] > 0
    # every member that was ever in the pool served some of it
    assert set(result["bodies"]) == {"server_81", "server_82", "server_83", "server_84"}
    rt.not_reloaded()
    assert rt.running() == rt.in_file()
    assert set(rt.in_file()) == {rt.member_uid("vm2"), rt.member_uid("vm4")}
