"""Files the host would refuse half-way, or that would delete everything, are refused by
``netnode apply`` before anything changes (issue 18): exit 2, the field path on stderr,
and no namespace, OVS port or recorded state left behind."""

from __future__ import annotations

import os
import subprocess
import sys

from netnode.model.loading import load_data
from netnode.plan.spec import HostSpec
from netnode.reconcile import converge
from tests.functional.conftest import Lab, seed_data

MULTICAST = "01:00:5e:00:00:01"
NOTHING: dict[str, list[str]] = {"namespaces": [], "bridges": [], "ports": []}


def tenant_only(data: dict) -> dict:
    """The seed's load balancer and VMs on the tenant network: no router, no external side."""
    data["networks"] = [n for n in data["networks"] if not n.get("external")]
    data["routers"], data["floating_ips"] = [], []
    data["lab"] = {"instances": data["lab"]["instances"]}
    return data


def netnode(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own (PYTHONPATH picks the code tested)."""
    return subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )


def spec_of(lab: Lab, data: dict) -> HostSpec:
    """What applying ``data`` makes on this host: its namespaces, bridges and ports."""
    return converge.desired_for(lab.host, load_data(lab.prepare(data), node=lab.host.node))


def on_host(spec: HostSpec) -> dict[str, list[str]]:
    """Which of the spec's namespaces, bridges and OVS ports exist now, read with the
    host's own tools (ip netns list, ovs-vsctl)."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    namespaces = {line.split()[0] for line in netns.stdout.splitlines() if line.strip()}
    bridges = subprocess.run(
        ["ovs-vsctl", "list-br"], capture_output=True, text=True, check=True
    ).stdout.split()
    ports: set[str] = set()
    for bridge in bridges:
        listed = subprocess.run(
            ["ovs-vsctl", "list-ports", bridge], capture_output=True, text=True, check=True
        )
        ports.update(listed.stdout.split())
    return {
        "namespaces": sorted(n.name for n in spec.namespaces if n.name in namespaces),
        "bridges": sorted(b.name for b in spec.bridges if b.name in bridges),
        "ports": sorted(p.name for p in spec.ports if p.name in ports),
    }


def all_of(spec: HostSpec) -> dict[str, list[str]]:
    return {
        "namespaces": sorted(n.name for n in spec.namespaces),
        "bridges": sorted(b.name for b in spec.bridges),
        "ports": sorted(p.name for p in spec.ports),
    }


def test_a_multicast_vip_mac_exits_2_and_leaves_nothing(lab: Lab) -> None:
    good = tenant_only(seed_data())
    spec = spec_of(lab, good)
    assert spec.namespaces and spec.ports  # the names looked for below are real ones
    bad = tenant_only(seed_data())
    bad["load_balancers"][0]["vip"]["mac"] = MULTICAST
    path = lab.write(bad)
    assert on_host(spec) == NOTHING

    result = netnode(lab, "apply", "-f", str(path))

    assert result.returncode == 2, result.stderr
    assert f"load_balancers[0].vip.mac: {MULTICAST} is a multicast address" in result.stderr
    assert "Nothing was changed on the host." in result.stderr
    assert on_host(spec) == NOTHING
    assert lab.host.store.topologies() == []
    assert not lab.host.node_dir.exists()

    # The control: the same file with the seed's unicast MAC makes exactly those objects.
    lab.applied = lab.prepare(good)
    path = lab.write(good)
    result = netnode(lab, "apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert on_host(spec) == all_of(spec)


def test_an_empty_file_or_a_bare_name_deletes_nothing(lab: Lab) -> None:
    data = tenant_only(seed_data())
    lab.apply(data)
    spec = spec_of(lab, data)
    assert on_host(spec) == all_of(spec)
    recorded = lab.host.store.topologies()
    assert recorded == [data["name"]]
    empty = lab.tmp / "empty.yaml"
    empty.write_text("")
    truncated = lab.tmp / "truncated.yaml"
    truncated.write_text(f"name: {data['name']}\n")

    result = netnode(lab, "apply", "-f", str(empty))
    assert result.returncode == 2, result.stderr
    assert "the file is empty" in result.stderr and "netnode destroy -f FILE" in result.stderr

    result = netnode(lab, "apply", "-f", str(truncated))
    assert result.returncode == 2, result.stderr
    assert f"topology {data['name']!r} describes nothing" in result.stderr

    assert on_host(spec) == all_of(spec)
    assert lab.host.store.topologies() == recorded

    # Asked for explicitly, the bare name removes the topology.
    result = netnode(lab, "destroy", "-f", str(truncated))
    assert result.returncode == 0, result.stderr
    lab.applied = None
    assert on_host(spec) == NOTHING
    assert lab.host.store.topologies() == []


def test_a_key_given_twice_exits_2_with_its_line(lab: Lab) -> None:
    spec = spec_of(lab, tenant_only(seed_data()))
    path = lab.write(tenant_only(seed_data()))
    path.write_text(path.read_text() + "name: other\n")
    line = len(path.read_text().splitlines())

    result = netnode(lab, "apply", "-f", str(path))

    assert result.returncode == 2, result.stderr
    assert f"line {line}, column 1: not valid YAML: duplicate key 'name'" in result.stderr
    assert on_host(spec) == NOTHING
    assert lab.host.store.topologies() == []
