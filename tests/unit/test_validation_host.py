"""Values the host would refuse half-way through an apply are refused by the model first,
each with the field path (issue 18: a multicast VIP MAC got as far as the kernel)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from netnode.api.schemas import HealthMonitorSettings
from netnode.errors import TopologyError
from netnode.model.loading import load_data
from netnode.render.haproxy import expect_status

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


@pytest.fixture
def seed() -> dict:
    return yaml.safe_load(SEED.read_text())


def problems(data: dict) -> dict[str, str]:
    """path -> message of every problem (the first message of a path)."""
    with pytest.raises(TopologyError) as info:
        load_data(data)
    found: dict[str, str] = {}
    for problem in info.value.problems:
        found.setdefault(problem.path, problem.message)
    return found


def lb(data: dict) -> dict:
    return data["load_balancers"][0]


# --- MAC addresses ------------------------------------------------------------------


MAC_FIELDS: dict[str, Callable[[dict, str], None]] = {
    "load_balancers[0].vip.mac": lambda d, v: lb(d)["vip"].update(mac=v),
    "lab.instances[0].mac": lambda d, v: d["lab"]["instances"][0].update(mac=v),
}


@pytest.mark.parametrize("path", sorted(MAC_FIELDS))
@pytest.mark.parametrize(
    ("mac", "why"),
    [
        ("01:00:5e:00:00:01", "is a multicast address (the low bit of the first octet is set)"),
        ("33:33:00:00:00:01", "is a multicast address"),
        ("FF:FF:FF:FF:FF:FF", "ff:ff:ff:ff:ff:ff is the broadcast address"),
        ("00:00:00:00:00:00", "is the all-zero address"),
    ],
)
def test_a_port_mac_must_be_unicast(seed: dict, path: str, mac: str, why: str) -> None:
    MAC_FIELDS[path](seed, mac)
    message = problems(seed)[path]
    assert why in message
    assert "a port needs a unicast MAC" in message


@pytest.mark.parametrize("path", sorted(MAC_FIELDS))
def test_a_unicast_mac_is_kept_in_lower_case(seed: dict, path: str) -> None:
    MAC_FIELDS[path](seed, "02:00:5E:00:00:01")  # locally administered, unicast
    topo = load_data(seed)
    macs = {topo.load_balancers[0].vip.mac, topo.lab.instances[0].mac}
    assert "02:00:5e:00:00:01" in macs


# --- expected_codes: Octavia's grammar ------------------------------------------------


def with_codes(seed: dict, codes: str) -> dict:
    lb(seed)["pools"][0]["healthmonitor"] = {"type": "HTTP", "expected_codes": codes}
    return seed


CODES_PATH = "load_balancers[0].pools[0].healthmonitor.expected_codes"


@pytest.mark.parametrize(
    ("codes", "check"),
    [
        ("200", "status 200"),
        ("200,202", "rstatus ^(200|202)$"),
        ("200, 202 ,204", "rstatus ^(200|202|204)$"),
        ("200-202", "rstatus ^(200|201|202)$"),
        ("100", "status 100"),
        ("599", "status 599"),
    ],
)
def test_expected_codes_octavia_accepts(seed: dict, codes: str, check: str) -> None:
    topo = load_data(with_codes(seed, codes))
    monitor = topo.load_balancers[0].pools[0].healthmonitor
    assert monitor is not None and monitor.expected_codes == codes
    assert expect_status(monitor.expected_codes) == check


@pytest.mark.parametrize(
    ("codes", "why"),
    [
        ("200-204-206", "one range (200-204)"),
        ("200-204,302", "one range (200-204)"),
        ("200,", "a comma list (200,202)"),
        ("2000", "one HTTP code (200)"),
        ("20", "one HTTP code (200)"),
        ("200\n", "not an expected_codes value"),
        ("\u0662\u0660\u0660", "not an expected_codes value"),  # Arabic-Indic "200"
        ("600", "600 is not an HTTP status code (100-599)"),
        ("099,200", "099 is not an HTTP status code (100-599)"),
        ("200-600", "600 is not an HTTP status code"),
        ("204-200", "the range 204-200 goes downwards: write it low-high (200-204)"),
    ],
)
def test_expected_codes_refused(seed: dict, codes: str, why: str) -> None:
    assert why in problems(with_codes(seed, codes))[CODES_PATH]


def test_the_api_takes_expected_codes_from_the_same_rule() -> None:
    assert HealthMonitorSettings.model_validate({"expected_codes": "200-204"})
    with pytest.raises(pydantic.ValidationError) as info:
        HealthMonitorSettings.model_validate({"expected_codes": "200-204-206"})
    (error,) = info.value.errors()
    assert error["loc"] == ("expected_codes",)
    assert "one range (200-204)" in error["msg"]


# --- interface names (IFNAMSIZ, dev_valid_name) ----------------------------------------

NAME_FIELDS: dict[str, Callable[[dict, Any], None]] = {
    "integration_bridge": lambda d, v: d.update(integration_bridge=v),
    "networks[1].bridge": lambda d, v: d["networks"][1].update(bridge=v),
    "networks[1].physical_interface": lambda d, v: d["networks"][1].update(physical_interface=v),
}


@pytest.mark.parametrize("path", sorted(NAME_FIELDS))
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a" * 16, "is 16 characters; Linux interface names hold at most 15"),
        ("br/ex", "is not an interface name"),
        ("br:ex", "is not an interface name"),
        ("br ex", "is not an interface name"),
        (".hidden", "is not an interface name"),
        ("", "is not an interface name"),
    ],
)
def test_interface_names_the_kernel_refuses(seed: dict, path: str, name: str, why: str) -> None:
    NAME_FIELDS[path](seed, name)
    assert why in problems(seed)[path]


def test_a_fifteen_character_bridge_is_fine(seed: dict) -> None:
    seed["networks"][1]["bridge"] = "b" * 15
    assert load_data(seed).networks[1].bridge == "b" * 15


def test_a_physical_interface_that_is_a_bridge(seed: dict) -> None:
    seed["networks"][1]["physical_interface"] = "br-int"
    message = problems(seed)["networks[1].physical_interface"]
    assert "'br-int' is a bridge of this topology (integration_bridge)" in message


def test_a_physical_interface_on_two_bridges(seed: dict) -> None:
    seed["networks"][1]["physical_interface"] = "eth9"
    seed["networks"].append(
        {"name": "public2", "external": True, "bridge": "br-ex2", "physical_interface": "eth9"}
    )
    message = problems(seed)["networks[2].physical_interface"]
    assert "already attached by networks[1].physical_interface" in message


# --- subnets the kernel gives no route --------------------------------------------------


def only_the_vip_on(seed: dict, cidr: str, gateway: str, vip: str) -> dict:
    seed["networks"][0]["subnets"][0].update(cidr=cidr, gateway_ip=gateway)
    lb(seed)["vip"]["address"] = vip
    seed["lab"]["instances"] = []
    seed["floating_ips"] = []
    return seed


@pytest.mark.parametrize(
    ("cidr", "gateway", "vip", "why"),
    [
        ("0.0.0.0/24", "0.0.0.1", "0.0.0.100", "the 'this network' range 0.0.0.0/8"),
        ("0.0.0.0/0", "10.0.0.1", "10.0.0.100", "the 'this network' range 0.0.0.0/8"),
        ("224.0.0.0/24", "224.0.0.1", "224.0.0.100", "the multicast range 224.0.0.0/4"),
        ("239.1.0.0/16", "239.1.0.1", "239.1.0.100", "the multicast range 224.0.0.0/4"),
    ],
)
def test_a_subnet_the_kernel_routes_nowhere(
    seed: dict, cidr: str, gateway: str, vip: str, why: str
) -> None:
    message = problems(only_the_vip_on(seed, cidr, gateway, vip))["networks[0].subnets[0].cidr"]
    assert why in message and "choose a unicast range" in message


def test_a_unicast_subnet_anywhere_else_is_fine(seed: dict) -> None:
    load_data(only_the_vip_on(seed, "1.0.0.0/24", "1.0.0.1", "1.0.0.100"))


# --- what the model refused already (pinned: the host refuses these too) ---------------

ALREADY: list[tuple[str, Callable[[dict], None], str]] = [
    ("networks[0].segmentation_id", lambda d: d["networks"][0].update(segmentation_id=0), ""),
    ("networks[0].segmentation_id", lambda d: d["networks"][0].update(segmentation_id=4095), ""),
    (
        "load_balancers[0].listeners[0].protocol_port",
        lambda d: lb(d)["listeners"][0].update(protocol_port=0),
        "",
    ),
    (
        "load_balancers[0].pools[0].members[0].protocol_port",
        lambda d: lb(d)["pools"][0]["members"][0].update(protocol_port=65536),
        "",
    ),
    (
        "load_balancers[0].vip.address",
        lambda d: lb(d)["vip"].update(address="10.0.0.0"),
        "not a host address of 10.0.0.0/24",
    ),
    (
        "lab.instances[0].address",
        lambda d: d["lab"]["instances"][0].update(address="10.0.0.255"),
        "not a host address of 10.0.0.0/24",
    ),
    (
        "networks[0].subnets[0].gateway_ip",
        lambda d: d["networks"][0]["subnets"][0].update(gateway_ip="10.9.0.1"),
        "not a host address of 10.0.0.0/24",
    ),
]


@pytest.mark.parametrize(("path", "change", "why"), ALREADY, ids=[a[0] for a in ALREADY])
def test_values_refused_before_this_issue(
    seed: dict, path: str, change: Callable[[dict], None], why: str
) -> None:
    data = copy.deepcopy(seed)
    change(data)
    assert why in problems(data)[path]
