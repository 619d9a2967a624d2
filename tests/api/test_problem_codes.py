"""Problems carry a code (netnode/errors.py): every rule that refuses a collision with
something the topology already holds says ``conflict``, and the API answers 409 for it
from the code; every other refusal is ``invalid`` and 400, whatever words its message
holds."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from netnode.api.errors import ApiError, BadRequest, Conflict
from netnode.api.service import Doc
from netnode.api.world import World
from netnode.errors import CONFLICT, INVALID, TopologyError
from netnode.model.loading import load_data
from tests.api.conftest import NODE, Api

Data = dict[str, Any]


def base() -> Data:
    """A valid API topology: a tenant and an external network, a router between them,
    a load balancer with a listener and a pool, a floating IP on its VIP."""
    return {
        "name": "api",
        "networks": [
            {
                "id": str(uuid.uuid4()),
                "name": "n1",
                "segmentation_id": 101,
                "subnets": [{"name": "s1", "cidr": "10.1.0.0/24", "gateway_ip": "10.1.0.1"}],
            },
            {
                "id": str(uuid.uuid4()),
                "name": "ext",
                "external": True,
                "bridge": "br-ext",
                "physical_interface": "eth9",
                "subnets": [{"name": "e1", "cidr": "10.2.0.0/24", "gateway_ip": "10.2.0.1"}],
            },
        ],
        "load_balancers": [
            {
                "name": "lb1",
                "vip": {"network": "n1", "address": "10.1.0.100", "mac": "fa:16:3e:00:00:01"},
                "listeners": [
                    {"name": "l1", "protocol": "HTTP", "protocol_port": 80, "default_pool": "p1"}
                ],
                "pools": [
                    {
                        "name": "p1",
                        "protocol": "HTTP",
                        "members": [{"name": "m1", "address": "10.1.0.81", "protocol_port": 80}],
                    }
                ],
            }
        ],
        "routers": [
            {
                "name": "r1",
                "external_gateway": {"network": "ext", "ip_address": "10.2.0.10"},
                "interfaces": ["s1"],
            }
        ],
        "floating_ips": [
            {
                "name": "f1",
                "network": "ext",
                "floating_ip_address": "10.2.0.100",
                "fixed_ip_address": "10.1.0.100",
            }
        ],
    }


def network(name: str, **fields: Any) -> Data:
    """A network as the API's document holds it (an id, a list of subnets)."""
    return {"id": str(uuid.uuid4()), "name": name, "subnets": [], **fields}


def lb2(vip: str = "10.1.0.101", **fields: Any) -> Data:
    return {"name": "lb2", "vip": {"network": "n1", "address": vip, **fields}}


def forwarding(external_port: int, internal: str, internal_port: int = 80) -> Data:
    return {
        "protocol": "tcp",
        "external_port": external_port,
        "internal_ip_address": internal,
        "internal_port": internal_port,
    }


def fip2(address: str = "10.2.0.101", **fields: Any) -> Data:
    return {"name": "f2", "network": "ext", "floating_ip_address": address, **fields}


def lb(d: Data) -> Data:
    return d["load_balancers"][0]


# Each rule that refuses a collision: what collides, and the field it is reported at.
COLLISIONS: dict[str, tuple[Callable[[Data], None], str]] = {
    "network name": (
        lambda d: d["networks"].append(network("n1", segmentation_id=102)),
        "networks[2].name",
    ),
    "subnet name": (
        lambda d: d["networks"].append(
            network(
                "n2",
                segmentation_id=102,
                subnets=[{"name": "s1", "cidr": "10.3.0.0/24", "gateway_ip": "10.3.0.1"}],
            )
        ),
        "networks[2].subnets[0].name",
    ),
    "segmentation_id": (
        lambda d: d["networks"].append(network("n2", segmentation_id=101)),
        "networks[2].segmentation_id",
    ),
    "bridge": (
        lambda d: d["networks"].append(network("ext2", external=True, bridge="br-ext")),
        "networks[2].bridge",
    ),
    "physical interface": (
        lambda d: d["networks"].append(
            network("ext2", external=True, bridge="br-ext2", physical_interface="eth9")
        ),
        "networks[2].physical_interface",
    ),
    "load balancer name": (
        lambda d: d["load_balancers"].append({**lb2(), "name": "lb1"}),
        "load_balancers[1].name",
    ),
    "listener name": (
        lambda d: lb(d)["listeners"].append({"name": "l1", "protocol_port": 81}),
        "load_balancers[0].listeners[1].name",
    ),
    "listener port": (
        lambda d: lb(d)["listeners"].append({"name": "l2", "protocol_port": 80}),
        "load_balancers[0].listeners[1].protocol_port",
    ),
    "pool name": (
        lambda d: lb(d)["pools"].append({"name": "p1"}),
        "load_balancers[0].pools[1].name",
    ),
    "member name": (
        lambda d: lb(d)["pools"][0]["members"].append(
            {"name": "m1", "address": "10.1.0.82", "protocol_port": 80}
        ),
        "load_balancers[0].pools[0].members[1].name",
    ),
    "member address and port": (
        lambda d: lb(d)["pools"][0]["members"].append(
            {"name": "m2", "address": "10.1.0.81", "protocol_port": 80}
        ),
        "load_balancers[0].pools[0].members[1]",
    ),
    "L7 policy name": (
        lambda d: lb(d)["listeners"][0].update(
            l7policies=[{"name": "x", "action": "REJECT"}, {"name": "x", "action": "REJECT"}]
        ),
        "load_balancers[0].listeners[0].l7policies[1].name",
    ),
    "pool in two modes": (
        lambda d: lb(d)["listeners"].append(
            {"name": "l2", "protocol": "TCP", "protocol_port": 81, "default_pool": "p1"}
        ),
        "load_balancers[0].listeners[1].default_pool",
    ),
    "router name": (
        lambda d: d["routers"].append({"name": "r1"}),
        "routers[1].name",
    ),
    "subnet served twice": (
        lambda d: d["routers"].append(
            {
                "name": "r2",
                "external_gateway": {"network": "ext", "ip_address": "10.2.0.11"},
                "interfaces": ["s1"],
            }
        ),
        "routers[1].interfaces[0]",
    ),
    "floating IP name": (
        lambda d: d["floating_ips"].append({**fip2(), "name": "f1"}),
        "floating_ips[1].name",
    ),
    "address": (
        lambda d: d["load_balancers"].append(lb2("10.1.0.100")),
        "load_balancers[1].vip.address",
    ),
    "a subnet's gateway address": (
        lambda d: d["load_balancers"].append(lb2("10.1.0.1")),
        "load_balancers[1].vip.address",
    ),
    "MAC address": (
        lambda d: d["load_balancers"].append(lb2(mac="fa:16:3e:00:00:01")),
        "load_balancers[1].vip.mac",
    ),
    "the external gateway's address": (
        lambda d: d["floating_ips"].append(fip2("10.2.0.1")),
        "floating_ips[1].floating_ip_address",
    ),
    "a fixed address bound twice": (
        lambda d: d["floating_ips"].append(fip2(fixed_ip_address="10.1.0.100")),
        "floating_ips[1].fixed_ip_address",
    ),
    "bound and forwarded": (
        lambda d: d["floating_ips"][0].update(port_forwardings=[forwarding(22, "10.1.0.100")]),
        "floating_ips[0].port_forwardings",
    ),
    "forwarded to a bound address": (
        lambda d: d["floating_ips"].append(fip2(port_forwardings=[forwarding(22, "10.1.0.100")])),
        "floating_ips[1].port_forwardings[0].internal_ip_address",
    ),
    "external port": (
        lambda d: (
            d["load_balancers"].append(lb2()),
            d["floating_ips"].append(
                fip2(
                    port_forwardings=[
                        forwarding(22, "10.1.0.101", 80),
                        forwarding(22, "10.1.0.101", 81),
                    ]
                )
            ),
        ),
        "floating_ips[1].port_forwardings[1].external_port",
    ),
    "internal socket": (
        lambda d: (
            d["load_balancers"].append(lb2()),
            d["floating_ips"].append(
                fip2(port_forwardings=[forwarding(22, "10.1.0.101"), forwarding(23, "10.1.0.101")])
            ),
        ),
        "floating_ips[1].port_forwardings[1].internal_port",
    ),
}

# Refusals that are no collision, though their messages hold "already" or "duplicate"
# (the words the API once looked for): 400.
INVALID_CASES: dict[str, Callable[[Data], None]] = {
    "an unknown subnet named like a collision": lambda d: d["routers"][0].update(
        interfaces=["s1", "already-duplicate"]
    ),
    "an unknown pool named like a collision": lambda d: lb(d)["listeners"][0].update(
        default_pool="duplicate-already"
    ),
}


def colliding(name: str) -> Data:
    data = base()
    COLLISIONS[name][0](data)
    return data


def problems(data: Data) -> TopologyError:
    with pytest.raises(TopologyError) as caught:
        load_data(copy.deepcopy(data), NODE)
    return caught.value


def test_the_base_topology_is_valid() -> None:
    load_data(base(), NODE)


@pytest.mark.parametrize("name", list(COLLISIONS))
def test_each_collision_is_a_conflict(name: str) -> None:
    error = problems(colliding(name))
    at = {p.path: p.code for p in error.problems}
    assert at.get(COLLISIONS[name][1]) == CONFLICT, error
    # Nothing else is wrong: the 409 below comes from this rule.
    assert set(at.values()) == {CONFLICT}, error


@pytest.mark.parametrize("name", list(INVALID_CASES))
def test_an_invalid_topology_is_invalid_whatever_its_message_says(name: str) -> None:
    data = base()
    INVALID_CASES[name](data)
    error = problems(data)
    assert {p.code for p in error.problems} == {INVALID}, error
    assert any(w in str(error) for w in ("already", "duplicate"))


def refusal(api: Api, data: Data) -> ApiError:
    """What the API answers a change that writes ``data`` as its topology."""

    def mutate(doc: Doc, _: World) -> None:
        doc.replace(copy.deepcopy(data))

    before = api.generation()
    with pytest.raises(ApiError) as caught:
        api.svc.change(mutate)
    assert api.generation() == before  # nothing was written
    return caught.value


@pytest.mark.parametrize("name", list(COLLISIONS))
def test_the_api_answers_409_for_each_collision(api: Api, name: str) -> None:
    error = refusal(api, colliding(name))
    assert isinstance(error, Conflict) and error.status == 409
    assert COLLISIONS[name][1] in error.message


@pytest.mark.parametrize("name", list(INVALID_CASES))
def test_the_api_answers_400_for_an_invalid_topology(api: Api, name: str) -> None:
    data = base()
    INVALID_CASES[name](data)
    error = refusal(api, data)
    assert isinstance(error, BadRequest) and error.status == 400


def test_the_api_takes_the_base_topology(api: Api) -> None:
    before = api.generation()
    api.svc.change(lambda doc, _: doc.replace(base()))
    assert api.generation() == before + 1
