"""DHCP and plugging with real traffic: examples/dhcp.yaml applied, machines (a
namespace behind a veth, the host end plugged by netnode as a guest's tap) run a real
DHCP client (udhcpc) and get their port's address, gateway, DNS and routes; another
network's DHCP does not answer them; a port added is a SIGHUP (leases kept); a killed
dnsmasq and a deleted namespace are repaired by the agent; a libvirt-style port is
tagged; unplugging leaves the interface.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netnode.drivers.procfs import alive
from netnode.errors import TopologyError
from netnode.model import ids
from netnode.plan.desired import process_name
from netnode.plan.spec import OWNER_NODE
from netnode.reconcile.agent import Agent
from tests.functional.conftest import Lab, eventually
from tests.functional.dhcp_clients import Machine, Machines, run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dhcp.yaml"


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[Machines]:
    made = Machines(tmp_path)
    try:
        yield made
    finally:
        made.close()


def example(*plugs: Machine) -> dict:
    """examples/dhcp.yaml, its ports plugged into the given machines' host ends."""
    data = yaml.safe_load(EXAMPLE.read_text())
    for port, machine in zip(data["ports"], plugs, strict=False):
        port["plug"] = {"interface": machine.host_end}
    return data


def repair(lab: Lab) -> None:
    reports = Agent(lab.host, files=[], log=lambda _s: None).run_once()
    assert reports and all(r.ok for r in reports), [str(r) for r in reports]


def dhcp_process(lab: Lab, data: dict, network: str = "private") -> tuple[str, str]:
    """(dnsmasq's process name, its namespace) for ``network``."""
    net = lab.topology(data).network(network)
    return process_name("dhcp", net.uid), ids.dhcp_namespace(net.uid)


def ovs_get(table: str, record: str, column: str) -> str:
    return run("ovs-vsctl", "get", table, record, column).strip().strip('"')


def test_a_machine_gets_its_port_address_gateway_dns_and_routes(
    lab: Lab, machines: Machines
) -> None:
    vm1 = machines.make("fa:16:3e:00:20:11")
    data = example(vm1)
    outcome = lab.apply(data)
    assert outcome.ok, outcome.failures
    name, ns = dhcp_process(lab, data)
    assert lab.host.dnsmasq.runs_in(name, ns)
    lease = machines.lease(vm1)
    assert lease is not None, "no DHCP answer"
    assert lease["ip"] == "10.20.0.11"
    assert lease["mask"] == "24"
    assert lease["router"] == "10.20.0.1"
    assert lease["dns"] == "192.0.2.53"
    assert lease["hostname"] == "vm1"
    assert lease["serverid"] == "10.20.0.2"
    routes = machines.routes(vm1)
    assert "default via 10.20.0.1" in routes
    assert "10.30.0.0/16 via 10.20.0.254" in routes
    # No router serves the subnet: metadata through the DHCP namespace.
    assert "169.254.169.254 via 10.20.0.2" in routes
    # The plugged tap: the network's tag, os-vif's and netnode's keys.
    port_id = lab.topology(data).ports[0].uid
    assert ovs_get("Port", vm1.host_end, "tag") == "10"
    assert ovs_get("Interface", vm1.host_end, "external_ids:iface-id") == port_id
    assert ovs_get("Interface", vm1.host_end, "external_ids:attached-mac") == "fa:16:3e:00:20:11"
    assert ovs_get("Interface", vm1.host_end, "external_ids:iface-status") == "active"
    assert ovs_get("Port", vm1.host_end, f"external_ids:{OWNER_NODE}") == lab.host.node
    # A second apply changes nothing.
    assert lab.apply(data).plan.empty


def test_another_networks_dhcp_does_not_answer(lab: Lab, machines: Machines) -> None:
    vm1 = machines.make("fa:16:3e:00:20:11")
    stranger = machines.make("fa:16:3e:00:21:11")  # a port of 'other', plugged on VLAN 10
    data = example(vm1)
    data["networks"].append(
        {
            "name": "other",
            "segmentation_id": 11,
            "subnets": [{"name": "other-subnet", "cidr": "10.21.0.0/24", "enable_dhcp": True}],
        }
    )
    data["ports"].append(
        {
            "name": "other-vm",
            "network": "other",
            "fixed_ips": [{"ip_address": "10.21.0.11"}],
            "mac_address": stranger.mac,
        }
    )
    assert lab.apply(data).ok
    # On VLAN 10 (private's tag), as a guest whose libvirt plugged it into the wrong
    # network: only private's dnsmasq hears it, and it does not know that MAC.
    run("ovs-vsctl", "add-port", lab.prepare(data)["integration_bridge"], stranger.host_end,
        "tag=10")  # fmt: skip
    assert machines.lease(stranger, timeout=3) is None
    assert machines.lease(vm1) is not None
    # Moved to VLAN 11, its own network's dnsmasq answers it.
    run("ovs-vsctl", "set", "Port", stranger.host_end, "tag=11")
    lease = machines.lease(stranger)
    assert lease is not None and lease["ip"] == "10.21.0.11"
    assert lease["serverid"] == "10.21.0.1"  # no gateway: the first host address
    run("ovs-vsctl", "del-port", stranger.host_end)


def test_a_new_port_is_a_reload_that_keeps_the_leases(lab: Lab, machines: Machines) -> None:
    vm1 = machines.make("fa:16:3e:00:20:11")
    data = example(vm1)
    assert lab.apply(data).ok
    name, _ = dhcp_process(lab, data)
    assert machines.lease(vm1) is not None
    pid = lab.host.dnsmasq.running_pid(name)
    leases = Path(lab.host.dnsmasq.files(name).leases)
    eventually(lambda: "fa:16:3e:00:20:11 10.20.0.11" in leases.read_text(), timeout=5)

    vm3 = machines.make("fa:16:3e:00:20:13")
    data["ports"].append(
        {
            "name": "vm3",
            "network": "private",
            "fixed_ips": [{"ip_address": "10.20.0.13"}],
            "mac_address": vm3.mac,
            "plug": {"interface": vm3.host_end},
        }
    )
    outcome = lab.apply(data)
    assert outcome.ok, outcome.failures
    changes = outcome.plan.changes()
    assert changes[f"dnsmasq {name}"] == "change"
    assert lab.host.dnsmasq.running_pid(name) == pid
    assert "fa:16:3e:00:20:11 10.20.0.11" in leases.read_text()
    lease = machines.lease(vm3)
    assert lease is not None and lease["ip"] == "10.20.0.13"
    # The removed port's host entry goes the same way; vm1 keeps its lease on file.
    data["ports"] = [p for p in data["ports"] if p["name"] != "vm2"]
    assert lab.apply(data).ok
    assert lab.host.dnsmasq.running_pid(name) == pid
    assert "10.20.0.12" not in Path(lab.host.dnsmasq.files(name).hosts).read_text()


def test_a_killed_dnsmasq_and_a_deleted_namespace_are_repaired(
    lab: Lab, machines: Machines
) -> None:
    vm1 = machines.make("fa:16:3e:00:20:11")
    data = example(vm1)
    assert lab.apply(data).ok
    name, ns = dhcp_process(lab, data)
    pid = lab.host.dnsmasq.running_pid(name)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: lab.host.dnsmasq.running_pid(name) is None, timeout=5)
    repair(lab)
    assert lab.host.dnsmasq.running_pid(name) not in (None, pid)
    assert machines.lease(vm1) is not None

    subprocess.run(["ip", "netns", "delete", ns], check=True)
    repair(lab)
    assert lab.host.dnsmasq.runs_in(name, ns)
    lease = machines.lease(vm1)
    assert lease is not None and lease["ip"] == "10.20.0.11"


def test_plug_drift_unplug_and_a_missing_interface(lab: Lab, machines: Machines) -> None:
    vm1 = machines.make("fa:16:3e:00:20:11")
    data = example(vm1)
    # An interface that is not on the host: refused before anything is made.
    missing = example()
    missing["ports"][0]["plug"] = {"interface": "nvnothere0"}
    with pytest.raises(TopologyError) as refused:
        lab.apply(missing)
    assert "ports[0].plug.interface" in str(refused.value)
    assert dhcp_process(lab, data)[1] not in lab.host.netlink.namespaces()
    lab.applied = None

    assert lab.apply(data).ok
    # Drift: the tag removed, then the port deleted from the bridge.
    run("ovs-vsctl", "remove", "Port", vm1.host_end, "tag", "10")
    repair(lab)
    assert ovs_get("Port", vm1.host_end, "tag") == "10"
    run("ovs-vsctl", "del-port", vm1.host_end)
    repair(lab)
    assert ovs_get("Port", vm1.host_end, "tag") == "10"
    assert machines.lease(vm1) is not None
    # The port goes: unplugged, and the interface is still there.
    data["ports"] = data["ports"][1:]
    assert lab.apply(data).ok
    assert vm1.host_end not in lab.host.ovs.observe().ports
    assert lab.host.netlink.root_link_index(vm1.host_end) is not None


def test_a_libvirt_style_port_gets_its_networks_tag(lab: Lab, machines: Machines) -> None:
    data = example()
    vm2 = lab.topology(data).ports[1]
    assert vm2.mac_address is not None  # derived from its id
    guest = machines.make(vm2.mac_address)
    foreign = machines.make("fa:16:3e:00:99:99")
    assert lab.apply(data).ok
    bridge = lab.prepare(data)["integration_bridge"]
    # libvirt's <virtualport type='openvswitch'>: add-port with iface-id, no tag.
    run("ovs-vsctl", "add-port", bridge, guest.host_end, "--", "set", "Interface",
        guest.host_end, f"external_ids:iface-id={vm2.uid}",
        f"external_ids:attached-mac={guest.mac}", "external_ids:iface-status=active")  # fmt: skip
    run("ovs-vsctl", "add-port", bridge, foreign.host_end, "--", "set", "Interface",
        foreign.host_end, "external_ids:iface-id=not-a-port-of-ours")  # fmt: skip
    try:
        repair(lab)
        assert ovs_get("Port", guest.host_end, "tag") == "10"
        assert ovs_get("Port", foreign.host_end, "tag") == "[]"
        lease = machines.lease(guest)
        assert lease is not None
        assert (lease["ip"], lease["hostname"]) == ("10.20.0.12", "second-vm")
    finally:
        run("ovs-vsctl", "--if-exists", "del-port", guest.host_end)
        run("ovs-vsctl", "--if-exists", "del-port", foreign.host_end)


def test_destroy_removes_the_dhcp_namespace_port_and_dnsmasq(lab: Lab, machines: Machines) -> None:
    vm1 = machines.make("fa:16:3e:00:20:11")
    data = example(vm1)
    assert lab.apply(data).ok
    name, ns = dhcp_process(lab, data)
    pid = lab.host.dnsmasq.running_pid(name)
    lab.destroy()
    assert ns not in lab.host.netlink.namespaces()
    assert lab.host.dnsmasq.running_pid(name) is None
    assert pid is not None and not alive(pid)
    assert not Path(lab.host.dnsmasq.files(name).dir).exists()
    ports = lab.host.ovs.observe().ports
    assert vm1.host_end not in ports
    assert not [p for p in ports.values() if p.external_ids.get(OWNER_NODE) == lab.host.node]
    assert lab.host.netlink.root_link_index(vm1.host_end) is not None


def test_a_lab_instance_on_a_port_gets_its_address_by_dhcp(lab: Lab) -> None:
    data = example()
    data["lab"] = {
        "instances": [{"name": "web", "port": "vm1", "dhcp": True, "body": "web-by-dhcp"}],
        "clients": [{"name": "probe", "network": "private", "address": "10.20.0.50"}],
    }
    outcome = lab.apply(data)
    assert outcome.ok, outcome.failures
    ns = lab.ns_of("instance", "web")
    tap = "tap" + lab.topology(data).ports[0].uid[:11]

    def leased() -> str | None:
        routes = run("ip", "netns", "exec", ns, "ip", "-4", "route")
        return routes if "default via 10.20.0.1" in routes else None

    routes = eventually(leased, timeout=15)
    assert "10.30.0.0/16 via 10.20.0.254" in str(routes)
    addresses = run("ip", "netns", "exec", ns, "ip", "-4", "-o", "addr", "show", "dev", tap)
    assert "10.20.0.11/24" in addresses
    link = run("ip", "netns", "exec", ns, "ip", "-o", "link", "show", "dev", tap)
    assert "fa:16:3e:00:20:11" in link
    probe = lab.ns_of("client", "probe")
    assert eventually(lambda: lab.answering(probe, "10.20.0.11", 2), timeout=10) == {"web-by-dhcp"}
    # The address and the routes are the client's: a second pass leaves them.
    assert lab.apply(data).plan.empty


def test_a_machine_on_a_network_without_router_gets_its_metadata_from_the_dhcp_namespace(
    lab: Lab,
) -> None:
    """No router: DHCP's route to 169.254.169.254 goes via the DHCP port, which holds
    that address; the network's proxy there asks netnode's metadata service with
    X-Neutron-Network-ID, which answers with the asking port's data, not another's."""
    data = example()
    data["ports"][0].update(
        device_id="instance-vm1", public_keys={"default": "ssh-ed25519 AAAA vm1"}
    )
    data["ports"][1]["user_data"] = "#cloud-config\nhostname: second-vm\n"
    data["lab"] = {"instances": [{"name": "web", "port": "vm1", "dhcp": True, "body": "web"}]}
    assert lab.apply(data).ok
    ns = lab.ns_of("instance", "web")

    def metadata() -> dict | None:
        try:
            answer = lab.get(
                ns, "169.254.169.254", 80, timeout=2.0, path="/openstack/latest/meta_data.json"
            )
        except OSError:
            return None  # no lease yet
        return json.loads(answer.body) if answer.status == 200 else None

    meta = eventually(metadata, timeout=15)
    assert isinstance(meta, dict)
    assert meta["uuid"] == "instance-vm1" and meta["hostname"] == "vm1"
    assert meta["public_keys"] == {"default": "ssh-ed25519 AAAA vm1"}
    # vm1 has no user data; vm2's is not vm1's to read.
    assert lab.get(ns, "169.254.169.254", 80, path="/openstack/latest/user_data").status == 404
    net = lab.topology(data).network("private")
    proxy = f"md-{net.uid}"
    assert lab.host.haproxy.running_pid(proxy) is not None
