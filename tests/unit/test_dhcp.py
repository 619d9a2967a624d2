"""DHCP and plugging, the pure layers: dnsmasq's files (golden), the DHCP unit of a
network, the DHCP port's address held, a port change as a reload and a range change as
a restart, plugged interfaces and guests' tags.

UPDATE_GOLDEN=1 rewrites tests/golden/dnsmasq-*.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path, PurePath

import pytest
import yaml

from netnode.errors import TopologyError
from netnode.model import ids
from netnode.model.loading import load_data
from netnode.plan import operations as op
from netnode.plan.desired import build, process_name
from netnode.plan.diff import plan
from netnode.plan.observed import LinkState, OvsPort, OvsState, ProcessState
from netnode.plan.spec import HostSpec
from netnode.render import dnsmasq
from netnode.store import rows
from tests.unit.golden import check_golden
from tests.unit.test_plan import as_observed

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dhcp.yaml"
SEED = ROOT / "examples" / "seed.yaml"
RUN = PurePath("/var/lib/netnode/netnode/haproxy")


def link(up: bool) -> LinkState:
    """An interface of the host's namespace as the driver reports it (up or not)."""
    return LinkState(7, "", up, frozenset())


@pytest.fixture
def data() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def spec_of(data: dict) -> HostSpec:
    return build(load_data(data), "netnode", RUN)


def dnsmasq_of(spec: HostSpec) -> tuple[list[str], str, str]:
    (proc,) = [p for p in spec.processes if p.dnsmasq]
    return dnsmasq.unbundle(proc.config)


def problems(data: dict) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_data(data)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("part", ["argv", "host", "opts"])
def test_the_examples_dnsmasq_matches_its_golden_files(data: dict, part: str) -> None:
    argv, hosts, opts = dnsmasq_of(spec_of(data))
    text = {"argv": "\n".join(argv) + "\n", "host": hosts, "opts": opts}[part]
    check_golden(f"dnsmasq-{part}.txt", text)


def test_a_network_with_dhcp_is_a_qdhcp_unit_with_a_tap_and_dnsmasq(data: dict) -> None:
    topo = load_data(data)
    net = topo.networks[0]
    spec = build(topo, "netnode", RUN)
    (ns,) = spec.namespaces
    assert ns.name == f"qdhcp-{net.uid}" and ns.kind == "dhcp"
    (port,) = spec.ports
    port_id = ids.dhcp_port_id(net.uid)
    assert port.name == "tap" + port_id[:11]
    # No router serves the subnet: the DHCP port also holds the metadata address,
    # where the network's metadata proxy answers (X-Neutron-Network-ID).
    assert (port.bridge, port.tag) == ("br-int", 10)
    assert port.addresses == ("10.20.0.2/24", "169.254.169.254/32")
    assert port.mac == ids.port_mac(port_id)
    proxy = next(p for p in spec.processes if p.name == f"md-{net.uid}")
    assert proxy.namespace == ns.name and "X-Neutron-Network-ID" in proxy.config
    argv, hosts, _ = dnsmasq_of(spec)
    assert f"--interface={port.name}" in argv
    assert "--dhcp-leasefile=/var/lib/netnode/netnode/dhcp/" in " ".join(argv)
    assert hosts.splitlines()[0] == "fa:16:3e:00:20:11,10.20.0.11,vm1"
    assert hosts.splitlines()[1].endswith(",10.20.0.12,second-vm")


def test_a_routed_network_gets_no_metadata_proxy_in_its_dhcp_namespace(data: dict) -> None:
    """Behind a router the router's proxy answers (the seed's REDIRECT to 9697)."""
    data["routers"] = [{"name": "r", "interfaces": [data["networks"][0]["subnets"][0]["name"]]}]
    spec = build(load_data(data), "netnode", RUN)
    dhcp = next(p for p in spec.ports if p.namespace.startswith("qdhcp-"))
    assert dhcp.addresses == ("10.20.0.2/24",)
    assert not [p for p in spec.processes if p.namespace.startswith("qdhcp-") and not p.dnsmasq]


def test_a_network_without_dhcp_has_no_unit(data: dict) -> None:
    data["networks"][0]["subnets"][0]["enable_dhcp"] = False
    assert spec_of(data).namespaces == ()
    seed = yaml.safe_load(SEED.read_text())
    assert not [n for n in spec_of(seed).namespaces if n.kind == "dhcp"]


def test_a_routed_subnet_gets_no_metadata_route(data: dict) -> None:
    data["routers"] = [{"name": "r1", "interfaces": ["private-subnet"]}]
    opts = dnsmasq_of(spec_of(data))[2]
    assert "169.254.169.254/32" not in opts
    assert "0.0.0.0/0,10.20.0.1" in opts


def test_a_subnet_without_a_gateway_hands_out_no_router(data: dict) -> None:
    subnet = data["networks"][0]["subnets"][0]
    del subnet["gateway_ip"]
    subnet["host_routes"] = []
    opts = dnsmasq_of(spec_of(data))[2]
    assert opts.splitlines()[-1].endswith(",option:router")
    assert "0.0.0.0/0" not in opts


def test_without_pools_the_dhcp_port_takes_the_first_address_after_the_gateway(
    data: dict,
) -> None:
    del data["networks"][0]["subnets"][0]["allocation_pools"]
    assert spec_of(data).ports[0].addresses[0] == "10.20.0.2/24"
    data["networks"][0]["subnets"][0]["gateway_ip"] = "10.20.0.254"
    data["networks"][0]["subnets"][0]["host_routes"] = []
    assert spec_of(data).ports[0].addresses[0] == "10.20.0.1/24"


def test_nothing_else_may_hold_the_dhcp_address(data: dict) -> None:
    data["ports"][0]["fixed_ips"] = [{"ip_address": "10.20.0.2"}]
    (problem,) = problems(data)
    assert problem.startswith("ports[0].fixed_ips[0].ip_address: 10.20.0.2 is the DHCP port's")


def test_the_store_holds_the_dhcp_address_for_the_network(data: dict) -> None:
    topo = load_data(data)
    document = topo.model_dump(mode="json", exclude_none=True)
    _, parts = rows.split(document)
    (network,) = [r for r in parts if r.kind == "networks"]
    held = rows.allocations(network, {})
    assert rows.Allocation("private", "10.20.0.2", rows.HOLDS) in held


def test_dhcp_on_an_external_network_is_refused(data: dict) -> None:
    data["networks"][0]["external"] = True
    del data["networks"][0]["segmentation_id"]
    assert any("DHCP serves tenant networks only" in p for p in problems(data))


def test_a_port_change_is_a_reload_and_a_range_change_a_restart(data: dict) -> None:
    before = spec_of(data)
    observed = as_observed(before)
    more = copy.deepcopy(data)
    more["ports"].append(
        {"name": "vm3", "network": "private", "fixed_ips": [{"ip_address": "10.20.0.13"}]}
    )
    (operation,) = plan(spec_of(more), observed).operations
    assert isinstance(operation, op.EnsureProcess) and not operation.start
    assert operation.shell()[0][:2] == ["kill", "-HUP"]

    wider = copy.deepcopy(data)
    wider["networks"][0]["subnets"][0]["cidr"] = "10.20.0.0/23"
    restarts = [
        o for o in plan(spec_of(wider), observed).operations if o.subject.startswith("dnsmasq")
    ]
    assert [(type(o).__name__, o.start) for o in restarts] == [("EnsureProcess", True)]  # type: ignore[attr-defined]


def test_a_killed_dnsmasq_is_started_again(data: dict) -> None:
    spec = spec_of(data)
    observed = as_observed(spec)
    name = process_name("dhcp", load_data(data).networks[0].uid)
    dead = dict(observed.processes)
    dead[name] = ProcessState(False, dead[name].config)
    the_plan = plan(spec, replace(observed, processes=dead))
    (operation,) = the_plan.operations
    assert isinstance(operation, op.EnsureProcess) and operation.start


def plugged(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["ports"][0]["plug"] = {"interface": "vnet7"}
    return data


def test_a_plugged_interface_gets_tag_and_os_vifs_keys_and_comes_up(data: dict) -> None:
    spec = spec_of(plugged(data))
    port_id = load_data(data).ports[0].uid
    observed = replace(as_observed(spec), host_links={"vnet7": link(False)})
    the_plan = plan(spec, observed)
    assert [type(o).__name__ for o in the_plan.operations] == ["PlugInterface", "SetHostLinkState"]
    (shell,) = the_plan.operations[0].shell()
    text = " ".join(shell)
    assert "--may-exist add-port br-int vnet7" in text
    assert "set port vnet7 tag=10 external_ids:netnode-node=netnode" in text
    assert f"external_ids:iface-id={port_id}" in text
    assert "external_ids:attached-mac=fa:16:3e:00:20:11" in text
    assert "external_ids:iface-status=active" in text
    assert the_plan.operations[1].shell() == [["ip", "link", "set", "dev", "vnet7", "up"]]
    assert op.unit_of(the_plan.operations[0]) == "plug vnet7"


def test_an_interface_not_on_the_host_is_waited_for(data: dict) -> None:
    spec = spec_of(plugged(data))
    assert plan(spec, as_observed(spec)).empty


def test_a_plugged_port_is_repaired_and_unplugged_when_the_port_goes(data: dict) -> None:
    spec = spec_of(plugged(data))
    (plug,) = spec.plugs
    owner = plug.external_ids(spec.node, spec.topology)
    ports = dict(as_observed(spec).ovs.ports)
    ports["vnet7"] = OvsPort("vnet7", "br-int", None, owner, 9, plug.port_id)  # tag removed
    observed = replace(
        as_observed(spec),
        ovs=OvsState(as_observed(spec).ovs.bridges, ports),
        host_links={"vnet7": link(True)},
    )
    (repair,) = plan(spec, observed).operations
    assert isinstance(repair, op.PlugInterface) and repair.exists
    ports["vnet7"] = replace(ports["vnet7"], tag=10)
    assert plan(spec, observed).empty
    gone = spec_of(data)
    (unplug,) = plan(gone, replace(observed, host_links={})).operations
    assert unplug.shell() == [["ovs-vsctl", "--", "--if-exists", "del-port", "vnet7"]]


def test_a_guest_plugged_by_libvirt_gets_its_networks_tag(data: dict) -> None:
    spec = spec_of(data)
    vm2 = load_data(data).ports[1]
    observed = as_observed(spec)
    ports = dict(observed.ovs.ports)
    ports["vnet3"] = OvsPort("vnet3", "br-int", None, {}, 4, vm2.uid)
    ports["vnet4"] = OvsPort("vnet4", "br-int", None, {}, 5, "some-other-port")
    ports["vnet5"] = OvsPort("vnet5", "br-int", None, {}, 6)
    the_plan = plan(spec, replace(observed, ovs=OvsState(observed.ovs.bridges, ports)))
    assert [o.shell() for o in the_plan.operations] == [
        [["ovs-vsctl", "--", "set", "port", "vnet3", "tag=10"]]
    ]


def test_a_port_bound_to_another_node_is_not_plugged_here(data: dict) -> None:
    data = plugged(data)
    data["ports"][0]["binding_host_id"] = "compute-2"
    assert spec_of(data).plugs == ()


def test_the_example_is_valid_and_unchanged_by_a_second_pass(data: dict) -> None:
    spec = spec_of(data)
    assert plan(spec, as_observed(spec)).empty


def with_instance(data: dict, **fields: object) -> dict:
    data = copy.deepcopy(data)
    data["lab"] = {"instances": [{"name": "web", "body": "x", "port": "vm1", **fields}]}
    return data


def test_a_lab_instance_on_a_port_takes_its_network_address_and_mac(data: dict) -> None:
    topo = load_data(with_instance(data))
    inst, port = topo.lab.instances[0], topo.ports[0]
    assert (inst.network, str(inst.address), inst.mac) == (
        "private",
        "10.20.0.11",
        port.mac_address,
    )
    # vm2's MAC is derived from its id; the instance gets that one.
    vm2 = load_data(with_instance(data, port="vm2"))
    assert vm2.lab.instances[0].mac == vm2.ports[1].mac_address
    spec = build(topo, "netnode", RUN)
    (tap,) = [p for p in spec.ports if p.namespace == ids.lab_namespace(inst.uid)]
    assert tap.name == "tap" + port.uid[:11]
    assert tap.addresses == ("10.20.0.11/24",)


def test_a_dhcp_instance_leaves_its_address_and_routes_to_its_client(data: dict) -> None:
    topo = load_data(with_instance(data, dhcp=True))
    spec = build(topo, "netnode", RUN)
    ns = ids.lab_namespace(topo.lab.instances[0].uid)
    (tap,) = [p for p in spec.ports if p.namespace == ns]
    assert (tap.addresses, tap.managed_elsewhere) == ((), ("10.20.0.11/24",))
    (namespace,) = [n for n in spec.namespaces if n.name == ns]
    assert namespace.route_elsewhere and namespace.default_gateway is None
    assert ("net.ipv4.ip_nonlocal_bind", "1") in namespace.sysctls
    programs = [p.program for p in spec.processes if p.namespace == ns]
    assert programs == ["haproxy", "netnode.lab.dhcp_client"]


@pytest.mark.parametrize(
    ("fields", "path", "says"),
    [
        ({"port": "nope"}, "lab.instances[0].port", "no port named 'nope'"),
        ({"address": "10.20.0.50"}, "lab.instances[0].address", "has 10.20.0.11"),
        ({"mac": "fa:16:3e:00:00:01"}, "lab.instances[0].mac", "has fa:16:3e:00:20:11"),
        ({"port": None, "network": "private", "address": "10.20.0.50", "dhcp": True},
         "lab.instances[0].dhcp", "dhcp needs a port"),
    ],
)  # fmt: skip
def test_a_lab_instance_on_a_port_is_refused_when_it_contradicts_it(
    data: dict, fields: dict, path: str, says: str
) -> None:
    found = problems(with_instance(data, **fields))
    assert any(p.startswith(path) and says in p for p in found), found


def test_dhcp_for_an_instance_needs_dhcp_on_its_subnet(data: dict) -> None:
    data["networks"][0]["subnets"][0]["enable_dhcp"] = False
    assert any("no subnet with enable_dhcp" in p for p in problems(with_instance(data, dhcp=True)))


def test_a_changed_plug_unplugs_the_old_interface_and_plugs_the_new(data: dict) -> None:
    before = spec_of(plugged(data))
    (plug,) = before.plugs
    observed = as_observed(before)
    ports = dict(observed.ovs.ports)
    owner = plug.external_ids(before.node, before.topology)
    ports["vnet7"] = OvsPort("vnet7", "br-int", 10, owner, 9, plug.port_id)
    moved = copy.deepcopy(data)
    moved["ports"][0]["plug"] = {"interface": "vnet8"}
    the_plan = plan(
        spec_of(moved),
        replace(
            observed,
            ovs=OvsState(observed.ovs.bridges, ports),
            host_links={"vnet7": link(True), "vnet8": link(True)},
        ),
    )
    assert sorted((type(o).__name__, o.subject) for o in the_plan.operations) == [
        ("DeletePort", "port vnet7"),
        ("PlugInterface", "port vnet8"),
    ]
