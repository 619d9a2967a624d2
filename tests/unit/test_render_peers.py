"""HAProxy peers of an ACTIVE_STANDBY load balancer (netnode.render.peers): the config
of an instance against a golden file, the stick tables that refer to the section, the
SINGLE load balancer untouched, the peer port's filter, and the plan's wiring.

UPDATE_GOLDEN=1 rewrites tests/golden/ha-peers-haproxy.cfg.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path, PurePath

import pytest

from netnode.model.loading import load_data
from netnode.model.topology import LoadBalancer, Vip
from netnode.plan.desired import build_units
from netnode.render import peers
from netnode.render.haproxy import render_loadbalancer
from netnode.render.iptables import MANGLE, render
from netnode.render.lb_filter import LoadBalancerFilter, PeerFilter

GOLDEN = Path(__file__).parent.parent / "golden" / "ha-peers-haproxy.cfg"
RUN = "/var/lib/netnode/n1/haproxy/lb"
LB_ID = "44444444-4444-4444-8444-444444444444"
SECTION = "44444444444444448444444444444444_peers"


def ha_lb(slot: int = 1, **persistence: str) -> LoadBalancer:
    sp = persistence or {"type": "SOURCE_IP"}
    return LoadBalancer.model_validate(
        {
            "name": "lb",
            "id": LB_ID,
            "vip": {"network": "net", "address": "10.0.0.5"},
            "topology": "ACTIVE_STANDBY",
            "vrrp_addresses": ["10.0.0.6", "10.0.0.7"],
            "instance": "55555555-5555-4555-8555-555555555555",
            "slot": slot,
            "role": "BACKUP",
            "listeners": [
                {
                    "name": "l",
                    "id": "11111111-1111-4111-8111-111111111111",
                    "protocol_port": 80,
                    "default_pool": "p",
                }
            ],
            "pools": [
                {
                    "name": "p",
                    "id": "22222222-2222-4222-8222-222222222222",
                    "session_persistence": sp,
                    "members": [
                        {
                            "name": "m1",
                            "id": "33333333-3333-4333-8333-333333333331",
                            "address": "10.0.0.11",
                            "protocol_port": 8080,
                        }
                    ],
                }
            ],
        }
    )


def cfg(lb: LoadBalancer) -> str:
    return render_loadbalancer(lb, stats_socket=f"{RUN}/stats.sock", state_file=f"{RUN}/state")


def test_an_instance_matches_the_golden_file() -> None:
    text = cfg(ha_lb())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_both_instances_list_the_pair_by_slot_and_differ_only_in_localpeer() -> None:
    first, second = cfg(ha_lb(0)), cfg(ha_lb(1))
    section = (
        f"peers {SECTION}\n    peer 44444444-0 10.0.0.6:1025\n    peer 44444444-1 10.0.0.7:1025\n"
    )
    assert section in first and section in second
    assert "    localpeer 44444444-0\n" in first and "    localpeer 44444444-1\n" in second
    assert first.replace("44444444-0\n", "44444444-1\n", 1) == second


def test_every_stick_table_is_replicated_through_the_section() -> None:
    assert f"    stick-table type ip size 10k peers {SECTION}\n" in cfg(ha_lb())
    app = cfg(ha_lb(type="APP_COOKIE", cookie_name="JSESSIONID"))
    assert f"    stick-table type string len 64 size 10k peers {SECTION}\n" in app
    # HTTP_COOKIE keeps the member in the client's cookie: no table to replicate.
    assert "stick-table" not in cfg(ha_lb(type="HTTP_COOKIE"))


def test_a_single_load_balancer_has_no_peers() -> None:
    single = ha_lb().model_copy(
        update={"topology": "SINGLE", "vrrp_addresses": [], "slot": None, "role": None}
    )
    text = cfg(single)
    assert "peers" not in text and "localpeer" not in text
    assert peers.of(single) is None


def test_a_pair_without_its_two_addresses_is_refused_naming_the_field() -> None:
    broken = ha_lb().model_copy(update={"vrrp_addresses": ha_lb().vrrp_addresses[:1]})
    with pytest.raises(ValueError, match="vrrp_addresses"):
        peers.of(broken)
    with pytest.raises(ValueError, match="slot"):
        peers.of(ha_lb().model_copy(update={"slot": 2}))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
@pytest.mark.parametrize(
    "persistence",
    [{"type": "SOURCE_IP"}, {"type": "APP_COOKIE", "cookie_name": "a"}, {"type": "HTTP_COOKIE"}],
)
def test_haproxy_accepts_an_instance(tmp_path: Path, persistence: dict[str, str]) -> None:
    text = cfg(ha_lb(**persistence)).replace(RUN, str(tmp_path))
    (tmp_path / "state").write_text("1\n")
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    result = subprocess.run(
        ["haproxy", "-dW", "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{text}\n{result.stderr}"


# --- the peer port's filter ---------------------------------------------------------------


def test_only_the_other_instance_and_itself_reach_the_peer_port() -> None:
    rules = LoadBalancerFilter("10.0.0.5", (), PeerFilter("10.0.0.7", ("10.0.0.6",), 1025))
    assert render(rules)[MANGLE].splitlines()[-4:] == [
        "-A netnode-lb-PREROUTING -s 10.0.0.6/32 -d 10.0.0.7/32 -p tcp -m tcp --dport 1025 -j RETURN",
        "-A netnode-lb-PREROUTING -s 10.0.0.7/32 -d 10.0.0.7/32 -p tcp -m tcp --dport 1025 -j RETURN",
        "-A netnode-lb-PREROUTING -d 10.0.0.7/32 -p tcp -m tcp --dport 1025 -m conntrack "
        "--ctdir ORIGINAL -j DROP",
        "COMMIT",
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PeerFilter("10.0.0.7 -j ACCEPT", ("10.0.0.6",), 1025), "peers own"),
        (lambda: PeerFilter("10.0.0.7", ("10.0.0.6/24",), 1025), "peers others"),
        (lambda: PeerFilter("10.0.0.7", ("10.0.0.6",), 0), "peers port"),
    ],
)
def test_peer_filter_values_that_could_inject_are_refused(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        make()


# --- the plan ----------------------------------------------------------------------------


DATA = {
    "name": "svc",
    "networks": [
        {
            "name": "tenant1",
            "segmentation_id": 1,
            "subnets": [{"name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
        }
    ],
    "load_balancers": [
        {
            "name": "pair",
            "vip": {"network": "tenant1", "address": "10.0.0.110"},
            "topology": "ACTIVE_STANDBY",
            "vrrp_addresses": ["10.0.0.111", "10.0.0.112"],
        }
    ],
}


def test_the_plan_gives_an_instance_its_peers_and_guards_the_peer_port() -> None:
    topo = load_data(DATA, "c")
    lb = topo.load_balancers[0].model_copy(
        update={"instance": "11111111-2222-3333-4444-555555555555", "slot": 0, "role": "MASTER"}
    )
    (unit,) = build_units(
        topo.model_copy(update={"load_balancers": [lb]}), "n1", PurePath("/run/nn")
    )
    (haproxy,) = [p for p in unit.processes if p.program == "haproxy"]
    prefix = lb.uid[:8]
    assert f"    localpeer {prefix}-0\n" in haproxy.config
    assert f"    peer {prefix}-1 10.0.0.112:1025\n" in haproxy.config
    (firewall,) = unit.firewalls
    assert isinstance(firewall.rules, LoadBalancerFilter)
    assert firewall.rules.peers == PeerFilter("10.0.0.111", ("10.0.0.112",), 1025)


def test_a_single_load_balancers_filter_has_no_peer_rules() -> None:
    single = LoadBalancer(name="lb", id=LB_ID, vip=Vip(network="net", address="10.0.0.5"))
    assert peers.of(single) is None
    assert LoadBalancerFilter("10.0.0.5").chains(MANGLE) == {}
