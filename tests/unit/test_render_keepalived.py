"""netnode.render.keepalived: whole configurations against golden files, what every
configuration must (and must never) say, the profiles' timings, and bad values refused
with the field named. Pure, except one test that runs the notify script with sh on a
plain file (no root, no keepalived).

UPDATE_GOLDEN=1 rewrites tests/golden/keepalived-*.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netnode.errors import TopologyError
from netnode.render.keepalived import (
    DEFAULT,
    FAST,
    PROFILES,
    Keepalived,
    TrackProcess,
    TrackScript,
    VirtualAddress,
    VrrpInstance,
    files,
    instance,
    master_down_interval,
    parse_role,
    render,
    render_notify_script,
)
from tests.unit.golden import check_golden

STATE = "/var/lib/netnode/keepalived/lb-1111"
PATHS = files(STATE)


def lb(**overrides: object) -> Keepalived:
    """An ACTIVE_STANDBY load balancer's first amphora, fast profile, tracking its HAProxy."""
    fields: dict = dict(
        router_id="nn-node1-lb-1111",
        namespace="qlbaas-1111",
        name="lb_1111",
        interface="ha-1111",
        virtual_router_id=17,
        priority=100,
        unicast_src_ip="169.254.192.10",
        unicast_peers=("169.254.192.11",),
        vips=(VirtualAddress("10.0.0.100", 24, "tap-1111"),),
        track_process=TrackProcess(
            "haproxy",
            (
                "/usr/sbin/haproxy",
                "-W",
                "-D",
                "-f",
                "/var/lib/netnode/haproxy/lb-1111/haproxy.cfg",
            ),
        ),
    )
    fields.update(overrides)
    return instance(FAST, **fields)


def router() -> Keepalived:
    """An HA router: one primary VIP on its ha- port, every router address and floating
    IP excluded from the adverts, Octavia's default timing, a check script."""
    return instance(
        DEFAULT,
        router_id="nn-node2-router-2222",
        namespace="qrouter-2222",
        name="router_2222",
        interface="ha-2222",
        virtual_router_id=3,
        priority=90,
        unicast_src_ip="169.254.192.21",
        unicast_peers=("169.254.192.20",),
        vips=(VirtualAddress("169.254.0.3", 24, "ha-2222"),),
        excluded=(
            VirtualAddress("10.0.0.1", 24, "qr-2222"),
            VirtualAddress("10.255.253.10", 24, "qg-2222"),
            VirtualAddress("10.255.253.100", 32, "qg-2222"),
        ),
        track_script=TrackScript("gateway", ("/var/lib/netnode/checks/gateway", "qg-2222")),
    )


# --- whole files ---------------------------------------------------------------------------


def test_load_balancer_fast_matches_golden() -> None:
    check_golden("keepalived-lb-fast.conf", render(lb(), PATHS))


def test_router_default_matches_golden() -> None:
    check_golden("keepalived-router-default.conf", render(router(), files("/run/nn/r-2222")))


def test_notify_script_matches_golden() -> None:
    check_golden("keepalived-notify.sh", render_notify_script(PATHS))


# --- what every configuration says ---------------------------------------------------------


@pytest.mark.parametrize("config", [lb(), router()], ids=["lb", "router"])
def test_nopreempt_backup_vrrpv3_unicast_no_authentication(config: Keepalived) -> None:
    text = render(config, PATHS)
    lines = [line.strip() for line in text.splitlines() if not line.startswith("#")]
    assert "state BACKUP" in lines and "nopreempt" in lines
    # Any 'state MASTER' defeats nopreempt; VRRPv3 forbids authentication.
    assert not any(line.startswith("state MASTER") for line in lines)
    assert not any(line.startswith(("authentication", "auth_")) for line in lines)
    assert "vrrp_version 3" in lines
    assert "unicast_peer {" in lines and "check_unicast_src" in lines
    # keepalived enters the namespace itself (track_process needs it), top level.
    assert f"net_namespace {config.namespace}" in text.splitlines()
    # Every path it names is under the state directory; never /etc/keepalived.
    assert "/etc/keepalived" not in text
    assert f"vrrp_notify_fifo {STATE}/notify.fifo" in lines
    assert f"vrrp_notify_fifo_script {STATE}/notify.sh" in lines
    assert "script_user root" in lines and "enable_script_security" in lines
    assert text.endswith("}\n") and text.count("{") == text.count("}")


def test_the_tracked_process_is_matched_on_its_whole_command_line() -> None:
    text = render(lb(), PATHS)
    assert (
        '    process "/usr/sbin/haproxy" "-W" "-D" "-f" '
        '"/var/lib/netnode/haproxy/lb-1111/haproxy.cfg"\n' in text
    )
    # partial: argv[0] and the listed arguments exactly, anything after (a reload's -sf).
    assert "    param_match partial\n" in text
    assert "    weight 0\n" in text  # missing: FAULT, not a lower priority nopreempt ignores
    assert "    track_process {\n        haproxy\n    }\n" in text


def test_excluded_addresses_of_either_family_and_advert_format() -> None:
    config = lb(
        excluded=(
            VirtualAddress("10.0.1.1", 24, "qr-1"),
            VirtualAddress("2001:db8::1", 64, "qr-1"),
        )
    )
    text = render(config, PATHS)
    assert (
        "    virtual_ipaddress_excluded {\n"
        "        10.0.1.1/24 dev qr-1\n"
        "        2001:db8::1/64 dev qr-1\n"
        "    }\n"
    ) in text
    assert "    advert_int 0.1\n" in text
    assert "    advert_int 1\n" in render(router(), PATHS)
    slow = Keepalived("r", "ns", VrrpInstance(**{**_fields(lb().instance), "advert_int": 40.95}))
    assert "    advert_int 40.95\n" in render(slow, PATHS)


# --- profiles and timing --------------------------------------------------------------------


def test_profiles() -> None:
    assert PROFILES == {"default": DEFAULT, "fast": FAST}
    assert DEFAULT.advert_int == 1.0 and DEFAULT.rt_priority is None
    assert FAST.advert_int == 0.1 and FAST.rt_priority is not None
    assert lb().instance.advert_int == FAST.advert_int
    assert router().instance.garp_master_refresh == DEFAULT.garp_master_refresh


def test_master_down_interval() -> None:
    # 3 x advert + (256 - priority) / 256 x advert.
    assert master_down_interval(1.0, 100) == pytest.approx(3.609375)
    assert master_down_interval(0.1, 90) == pytest.approx(0.36484375)
    assert master_down_interval(FAST.advert_int, 90) < 1.0
    with pytest.raises(TopologyError, match="advert_int"):
        master_down_interval(0.005, 90)
    with pytest.raises(TopologyError, match="priority"):
        master_down_interval(1.0, 0)


# --- bad values -----------------------------------------------------------------------------


def _fields(vi: VrrpInstance) -> dict:
    return {name: getattr(vi, name) for name in vi.__dataclass_fields__}


def problems_of(**overrides: object) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        VrrpInstance(**{**_fields(lb().instance), **overrides})
    return [p.path for p in caught.value.problems]


@pytest.mark.parametrize("advert", [0.005, 0.0, 41.0, 0.015, -1.0])
def test_advert_outside_vrrpv3_or_finer_than_10ms_is_refused(advert: float) -> None:
    assert problems_of(advert_int=advert) == ["advert_int"]


@pytest.mark.parametrize("advert", [0.01, 0.1, 0.25, 1.0, 40.95])
def test_advert_in_10ms_steps_is_taken(advert: float) -> None:
    VrrpInstance(**{**_fields(lb().instance), "advert_int": advert})


@pytest.mark.parametrize("priority", [0, 255, 256, -1])
def test_priority_outside_1_254_is_refused(priority: int) -> None:
    assert problems_of(priority=priority) == ["priority"]


def test_a_peer_equal_to_the_source_is_refused() -> None:
    assert problems_of(unicast_peers=("169.254.192.10",)) == ["unicast_peers[0]"]
    with pytest.raises(TopologyError) as caught:
        VrrpInstance(**{**_fields(lb().instance), "unicast_peers": ("169.254.192.10",)})
    message = str(caught.value)
    assert "unicast_peers[0]: 169.254.192.10 is unicast_src_ip itself" in message
    assert "vrrp_instance 'lb_1111'" in message


def test_other_bad_values_name_their_fields() -> None:
    assert problems_of(unicast_peers=()) == ["unicast_peers"]
    assert problems_of(unicast_peers=("169.254.192.11", "169.254.192.11")) == ["unicast_peers[1]"]
    assert problems_of(unicast_peers=("fe80::1",)) == ["unicast_peers[0]"]
    assert problems_of(virtual_router_id=0) == ["virtual_router_id"]
    assert problems_of(vips=()) == ["vips"]
    assert problems_of(vips=(VirtualAddress("2001:db8::5", 64, "eth0"),)) == ["vips[0].address"]
    assert problems_of(vips=(VirtualAddress("10.0.0.1", 33, "eth0"),)) == ["vips[0].prefixlen"]
    assert problems_of(vips=(VirtualAddress("10.0.0.1", 24, "a b"),)) == ["vips[0].device"]
    assert problems_of(name="vip 1") == ["name"]
    assert problems_of(interface="x" * 16) == ["interface"]
    assert problems_of(track_process=TrackProcess("hap", ('/usr/sbin/hap"roxy',))) == [
        "track_process.argv[0]"
    ]
    assert problems_of(track_script=TrackScript("chk", ("relative/path",))) == ["track_script.argv"]
    with pytest.raises(TopologyError, match="namespace"):
        Keepalived("r", "bad ns", lb().instance)
    with pytest.raises(TopologyError, match="state_dir"):
        files("relative/dir")


# --- the notify script and its files ------------------------------------------------------


def test_parse_role() -> None:
    assert parse_role("MASTER 100\n") == ("MASTER", 100)
    assert parse_role("BACKUP 90") == ("BACKUP", 90)
    assert parse_role("") is None
    assert parse_role("MASTER_PRIORITY 90") is None
    assert parse_role("MASTER") is None


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
def test_notify_script_keeps_the_last_state_of_each_instance(tmp_path: Path) -> None:
    paths = files(str(tmp_path))
    script = tmp_path / "notify.sh"
    script.write_text(render_notify_script(paths))
    events = tmp_path / "events"  # a plain file stands in for the fifo
    events.write_text(
        'INSTANCE "vip" BACKUP 100\n'
        'INSTANCE "vip" MASTER 100\n'
        'INSTANCE "vip" MASTER_PRIORITY 80\n'  # a priority change: not a state
        'GROUP "g" MASTER 0\n'
        'INSTANCE "other" FAULT 90\n'
        'INSTANCE "../x" MASTER 1\n'  # never a path outside the directory
    )
    subprocess.run(["sh", str(script), "--", str(events)], check=True, timeout=10)
    assert (tmp_path / "role.vip").read_text() == "MASTER 100\n"
    assert (tmp_path / "role.other").read_text() == "FAULT 90\n"
    assert int((tmp_path / "notify.pid").read_text()) > 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events",
        "notify.pid",
        "notify.sh",
        "role.other",
        "role.vip",
    ]
