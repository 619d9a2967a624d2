"""Ports in the topology file: addresses and MACs held like every other holder's, and
the subnet's DHCP fields (pools, host routes) checked against the subnet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netnode.errors import TopologyError
from netnode.model.loading import load_data
from netnode.store import rows

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


@pytest.fixture
def seed() -> dict:
    data = yaml.safe_load(SEED.read_text())
    data["ports"] = [
        {"name": "vm1", "network": "tenant1", "fixed_ips": [{"ip_address": "10.0.0.50"}]}
    ]
    return data


def problems(data: dict) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_data(data)
    return [str(p) for p in info.value.problems]


def test_a_port_gets_a_stable_id_and_a_mac_in_neutrons_prefix(seed: dict) -> None:
    port = load_data(seed).ports[0]
    again = load_data(seed).ports[0]
    assert port.id == again.id
    assert port.mac_address is not None and port.mac_address.startswith("fa:16:3e:")
    assert port.mac_address == again.mac_address


def test_a_port_address_is_held_like_any_other(seed: dict) -> None:
    vip = seed["load_balancers"][0]["vip"]["address"]
    seed["ports"][0]["fixed_ips"] = [{"ip_address": vip}]
    assert any("duplicate address" in p and "ports[0].fixed_ips[0]" in p for p in problems(seed))


@pytest.mark.parametrize(
    ("fixed", "expected"),
    [
        ({"ip_address": "10.9.9.9"}, "ports[0].fixed_ips[0].ip_address: 10.9.9.9 is outside"),
        ({"ip_address": "10.0.0.255"}, "is not a host address"),
        ({"ip_address": "10.0.0.1"}, "is the gateway of its subnet"),
        ({"subnet": "nope", "ip_address": "10.0.0.9"}, "has no subnet 'nope'"),
    ],
)
def test_bad_fixed_ips_name_the_field(seed: dict, fixed: dict, expected: str) -> None:
    seed["ports"][0]["fixed_ips"] = [fixed]
    assert any(expected in p for p in problems(seed)), problems(seed)


def test_one_address_per_subnet(seed: dict) -> None:
    seed["ports"][0]["fixed_ips"].append({"ip_address": "10.0.0.51"})
    assert any("one address per subnet" in p for p in problems(seed))


def test_a_mac_held_twice(seed: dict) -> None:
    seed["ports"].append({"name": "vm2", "network": "tenant1", "mac_address": "fa:16:3e:00:00:01"})
    seed["ports"][0]["mac_address"] = "FA:16:3E:00:00:01"
    assert any("duplicate MAC address" in p for p in problems(seed))


def test_plugging_a_bridge_is_refused(seed: dict) -> None:
    seed["ports"][0]["plug"] = {"interface": "br-int"}
    assert any("ports[0].plug.interface" in p for p in problems(seed))


def test_subnet_pools_and_routes_are_checked(seed: dict) -> None:
    subnet = seed["networks"][0]["subnets"][0]
    subnet["allocation_pools"] = [{"start": "10.0.0.1", "end": "10.0.0.20"}]
    route = {"destination": "192.168.0.0/24", "nexthop": "10.1.0.1"}
    subnet["host_routes"] = [route, dict(route)]
    found = problems(seed)
    assert any("holds the gateway 10.0.0.1" in p for p in found), found
    assert any("duplicate host route destination" in p for p in found), found
    # A next hop off the subnet is taken, as Neutron takes it.
    assert not any("host_routes[0].nexthop" in p for p in found), found


def test_a_port_is_a_row_holding_its_addresses_and_mac(seed: dict) -> None:
    doc = load_data(seed).model_dump(mode="json", exclude_none=True)
    header, split = rows.split(doc)
    (row,) = [r for r in split if r.kind == "ports"]
    held = rows.allocations(row, {})
    assert rows.Allocation("tenant1", "10.0.0.50", rows.HOLDS) in held
    assert rows.Allocation(rows.MACS, doc["ports"][0]["mac_address"], rows.HOLDS) in held
    assert rows.assemble(header, split) == doc
