"""The topology model: what it accepts, and what it refuses with which field path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from netnode.errors import TopologyError
from netnode.model.loading import load_data, load_file

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


@pytest.fixture
def seed() -> dict:
    return yaml.safe_load(SEED.read_text())


def problems(data: dict) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_data(data)
    return [str(p) for p in info.value.problems]


def test_seed_loads_with_the_seed_values() -> None:
    topo = load_file(SEED)
    lb = topo.load_balancers[0]
    assert str(lb.vip.address) == "10.0.0.100"
    assert lb.vip.mac == "fa:16:3e:f4:8f:ae"
    assert topo.network("tenant1").segmentation_id == 1
    assert [str(m.address) for m in lb.pools[0].members] == ["10.0.0.81", "10.0.0.82"]
    assert topo.floating_ips[0].network == "public"
    assert topo.floating_ips[0].fixed_network == "tenant1"


def test_ids_are_stable_and_depend_on_the_node() -> None:
    a, b, other = load_file(SEED), load_file(SEED), load_file(SEED, node="other")
    assert a.load_balancers[0].id == b.load_balancers[0].id
    assert a.load_balancers[0].id != other.load_balancers[0].id
    member_ids = {m.id for m in a.load_balancers[0].pools[0].members}
    assert len(member_ids) == 2


def test_an_explicit_id_is_kept(seed: dict) -> None:
    seed["load_balancers"][0]["id"] = "0c32d37d-f84a-4309-9e01-72d9f0bac69e"
    assert load_data(seed).load_balancers[0].id == "0c32d37d-f84a-4309-9e01-72d9f0bac69e"


def mutate(seed: dict, path: str, value: object) -> dict:
    data = copy.deepcopy(seed)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "load_balancers.0.vip.address",
            "10.0.1.100",
            "load_balancers[0].vip.address: 10.0.1.100 is outside network 'tenant1'",
        ),
        (
            "load_balancers.0.vip.address",
            "10.0.0.255",
            "load_balancers[0].vip.address: 10.0.0.255 is not a host address",
        ),
        ("load_balancers.0.vip.address", "10.0.0.1", "is the gateway of its subnet"),
        ("load_balancers.0.vip.address", "10.0.0.300", "load_balancers[0].vip.address"),
        (
            "load_balancers.0.vip.network",
            "nope",
            "load_balancers[0].vip.network: unknown network 'nope'",
        ),
        (
            "load_balancers.0.listeners.0.default_pool",
            "ghost",
            "load_balancers[0].listeners[0].default_pool: unknown pool 'ghost'",
        ),
        (
            "load_balancers.0.listeners.0.protocol_port",
            70000,
            "load_balancers[0].listeners[0].protocol_port",
        ),
        (
            "load_balancers.0.pools.0.members.0.weight",
            257,
            "load_balancers[0].pools[0].members[0].weight",
        ),
        ("load_balancers.0.pools.0.members.1.name", "vm1", "duplicate member name 'vm1'"),
        (
            "load_balancers.0.pools.0.failover",
            {"retries": 11},
            "load_balancers[0].pools[0].failover.retries",
        ),
        (
            "load_balancers.0.pools.0.failover",
            {"error_limit": 0},
            "load_balancers[0].pools[0].failover.error_limit",
        ),
        (
            "load_balancers.0.pools.0.failover",
            {"observe": "layer7"},
            "load_balancers[0].pools[0].failover.observe",
        ),
        (
            "load_balancers.0.pools.0.failover",
            {"retry": 1},
            "load_balancers[0].pools[0].failover.retry: unknown field",
        ),
        (
            "load_balancers.0.listeners.0.timeout_member_connect",
            0,
            "load_balancers[0].listeners[0].timeout_member_connect",
        ),
        (
            "load_balancers.0.listeners.0.timeout_client_data",
            2**31,
            "load_balancers[0].listeners[0].timeout_client_data",
        ),
        ("load_balancers.0.name", "lb\nglobal", "load_balancers[0].name"),
        ("load_balancers.0.name", "two words", "load_balancers[0].name"),
        ("load_balancers.0.name", "x#y", "load_balancers[0].name"),
        ("networks.0.segmentation_id", 4095, "networks[0].segmentation_id"),
        (
            "networks.0.segmentation_id",
            None,
            "networks[0].segmentation_id: a tenant network needs a VLAN tag",
        ),
        (
            "networks.0.subnets.0.gateway_ip",
            "10.0.1.1",
            "networks[0].subnets[0].gateway_ip: 10.0.1.1 is not a host address",
        ),
        ("lab.instances.1.address", "10.0.0.81", "duplicate address 'tenant1/10.0.0.81'"),
        ("lab.instances.0.body", 'x" \n', "lab.instances[0].body"),
        (
            "lab.instances.0.network",
            "public",
            "lab.instances[0].network: 'public' is an external network",
        ),
        (
            "floating_ips.0.floating_ip_address",
            "10.255.254.5",
            "floating_ips[0].floating_ip_address: 10.255.254.5 is not a host address of external network",
        ),
        (
            "floating_ips.0.fixed_ip_address",
            "10.0.0.99",
            "floating_ips[0].fixed_ip_address: nothing holds 10.0.0.99",
        ),
        (
            "floating_ips.0.floating_ip_address",
            "10.255.253.10",
            "duplicate address 'public/10.255.253.10'",
        ),
        (
            "routers.0.external_gateway.ip_address",
            "10.255.253.1",
            "routers[0].external_gateway.ip_address: 10.255.253.1 is the gateway of its subnet",
        ),
        ("routers.0.interfaces", ["nope"], "routers[0].interfaces[0]: unknown subnet 'nope'"),
        (
            "routers.0.external_gateway.ip_address",
            "10.0.0.5",
            "routers[0].external_gateway.ip_address: 10.0.0.5 is outside network 'public'",
        ),
    ],
)
def test_bad_input_names_the_field(seed: dict, path: str, value: object, expected: str) -> None:
    found = problems(mutate(seed, path, value))
    assert any(expected in p for p in found), found


def test_two_listeners_on_one_port(seed: dict) -> None:
    listener = dict(seed["load_balancers"][0]["listeners"][0], name="again")
    seed["load_balancers"][0]["listeners"].append(listener)
    assert any("duplicate listener port '80'" in p for p in problems(seed))


def test_failover_and_timeout_defaults(seed: dict) -> None:
    lb = load_data(seed).load_balancers[0]
    failover = lb.pools[0].failover
    assert (failover.retries, failover.redispatch, failover.observe, failover.error_limit) == (
        3,
        True,
        True,
        1,
    )
    listener = lb.listeners[0]
    assert listener.timeout_client_data == 50000
    assert listener.timeout_member_connect == 1000  # Octavia's default is 5000
    assert listener.timeout_member_data == 50000


def test_failover_overrides_are_kept(seed: dict) -> None:
    seed["load_balancers"][0]["pools"][0]["failover"] = {"retries": 0, "observe": False}
    failover = load_data(seed).load_balancers[0].pools[0].failover
    assert (failover.retries, failover.observe, failover.redispatch) == (0, False, True)


def test_listeners_sharing_a_pool_agree_on_member_timeouts(seed: dict) -> None:
    listeners = seed["load_balancers"][0]["listeners"]
    listeners.append(dict(listeners[0], name="again", protocol_port=8080))
    load_data(seed)  # the same (default) timeouts
    listeners[1]["timeout_member_connect"] = 3000
    listeners[1]["timeout_client_data"] = 10  # a frontend's own: no conflict
    assert problems(seed) == [
        "load_balancers[0].listeners[1].timeout_member_connect: 3000 differs from 1000 of "
        "listener 'http' (load_balancers[0].listeners[0]), which shares pool 'vms'"
    ]


def test_a_floating_ip_taken_twice(seed: dict) -> None:
    seed["floating_ips"].append({"name": "again", "floating_ip_address": "10.255.253.100"})
    assert any(
        "floating_ips[1].floating_ip_address: duplicate address" in p for p in problems(seed)
    )


def test_a_fixed_address_bound_twice(seed: dict) -> None:
    seed["floating_ips"].append(
        {"name": "again", "floating_ip_address": "10.255.253.101", "fixed_ip_address": "10.0.0.100"}
    )
    assert any("is already bound by floating_ips[0]" in p for p in problems(seed))


def test_a_subnet_served_by_two_routers(seed: dict) -> None:
    seed["routers"].append({"name": "r2", "interfaces": ["tenant1-subnet"]})
    assert any(
        "routers[1].interfaces[0]: subnet 'tenant1-subnet' is already served by routers[0]" in p
        for p in problems(seed)
    )


def test_unknown_fields_are_refused(seed: dict) -> None:
    seed["load_balancers"][0]["vipp"] = {}
    assert any("load_balancers[0].vipp: unknown field" in p for p in problems(seed))


def test_every_problem_is_reported_at_once(seed: dict) -> None:
    seed["networks"][0]["segmentation_id"] = 0
    seed["load_balancers"][0]["listeners"][0]["protocol_port"] = 0
    assert len(problems(seed)) >= 2


def test_two_tenants_may_share_a_cidr(seed: dict) -> None:
    seed["networks"].append(
        {
            "name": "tenant2",
            "segmentation_id": 2,
            "subnets": [{"name": "t2", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
        }
    )
    seed["lab"]["instances"].append(
        {"name": "vm3", "network": "tenant2", "address": "10.0.0.81", "body": "t2"}
    )
    load_data(seed)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("networks:\n  - name: [unclosed\n")
    with pytest.raises(TopologyError) as info:
        load_file(bad)
    assert "line" in str(info.value)
