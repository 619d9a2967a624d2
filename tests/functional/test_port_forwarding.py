"""Floating IP port forwardings on a real host, seen from the external client.

The seed's topology plus a floating IP 10.255.253.101 that forwards 8080/tcp to vm1:80
and 5353/udp to a UDP echo the test runs inside vm2's namespace. All traffic starts in
the lab's namespaces (sockets made there by setns), never in the host's.
"""

from __future__ import annotations

import copy
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest
from pyroute2 import netns

from netnode.lab.client import connect
from tests.functional.conftest import Lab, eventually, seed_data

PFIP = "10.255.253.101"
GATEWAY = "10.255.253.10"
OUTSIDE = "10.255.253.1"


def tcp_forward(external: int = 8080, internal_ip: str = "10.0.0.81", internal: int = 80) -> dict:
    return {
        "protocol": "tcp",
        "external_port": external,
        "internal_ip_address": internal_ip,
        "internal_port": internal,
    }


UDP_FORWARD = {
    "protocol": "udp",
    "external_port": 5353,
    "internal_ip_address": "10.0.0.82",
    "internal_port": 5353,
}


def with_forwardings(*forwardings: dict) -> dict:
    data = seed_data()
    data["floating_ips"].append(
        {"name": "pf-fip", "floating_ip_address": PFIP, "port_forwardings": list(forwardings)}
    )
    return data


def conntrack(namespace: str, *selector: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, "conntrack", "-L", *selector],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def saved_nat(namespace: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables-save", "-t", "nat"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


def udp_socket(namespace: str) -> socket.socket:
    netns.pushns(namespace)
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finally:
        netns.popns()


@pytest.fixture
def udp_echo() -> Iterator[Callable[[str, str, int], None]]:
    """Start a UDP echo (``b"echo " + datagram``) in a namespace; stopped after the test."""
    started: list[tuple[socket.socket, threading.Thread]] = []

    def start(namespace: str, address: str, port: int) -> None:
        sock = udp_socket(namespace)
        sock.bind((address, port))
        sock.settimeout(0.2)

        def serve() -> None:
            while sock.fileno() != -1:
                try:
                    data, peer = sock.recvfrom(2048)
                except TimeoutError:
                    continue
                except OSError:
                    return
                sock.sendto(b"echo " + data, peer)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        started.append((sock, thread))

    yield start
    for sock, thread in started:
        sock.close()
        thread.join(timeout=5)


def udp_ask(namespace: str, address: str, port: int, payload: bytes) -> tuple[bytes, tuple]:
    with udp_socket(namespace) as sock:
        sock.settimeout(2.0)
        sock.sendto(payload, (address, port))
        return sock.recvfrom(2048)


def test_a_forwarded_tcp_port_reaches_the_instance_and_the_rules_are_neutrons(lab: Lab) -> None:
    lab.apply(with_forwardings(tcp_forward(), UDP_FORWARD))
    outside = lab.ns_of("client", "outside")
    router = lab.ns_of("router", "01")

    assert set(lab.bodies(outside, PFIP, 3, port=8080)) == {"server_81"}
    # Only the forwarded port: the floating address forwards nothing else.
    with pytest.raises(OSError):
        lab.get(outside, PFIP, 80, timeout=1.0)

    rules = saved_nat(router)
    assert "-A neutron-l3-agent-PREROUTING -j neutron-l3-agent-fip-pf" in rules
    assert (
        f"-A neutron-l3-agent-fip-pf -d {PFIP}/32 -p tcp -m tcp --dport 8080"
        " -j DNAT --to-destination 10.0.0.81:80"
    ) in rules
    # The instance's own traffic still leaves as the router's gateway address: Neutron
    # does not SNAT a port-forwarded address to the floating IP.
    assert lab.get(lab.ns_of("instance", "vm1"), OUTSIDE).body.strip() == GATEWAY
    # Converged: a second apply changes nothing.
    assert lab.apply(with_forwardings(tcp_forward(), UDP_FORWARD)).plan.empty


def test_a_forwarded_udp_port_reaches_the_instance_and_answers_from_the_floating_ip(
    lab: Lab, udp_echo
) -> None:
    lab.apply(with_forwardings(tcp_forward(), UDP_FORWARD))
    udp_echo(lab.ns_of("instance", "vm2"), "10.0.0.82", 5353)
    outside = lab.ns_of("client", "outside")

    data, peer = eventually(lambda: _try_udp(outside, b"hello"))
    assert data == b"echo hello"
    assert peer == (PFIP, 5353)  # the reply is un-DNATed: it comes from the floating IP
    entries = conntrack(lab.ns_of("router", "01"), "-p", "udp", "--orig-dst", PFIP)
    assert len(entries) == 1 and "dport=5353" in entries[0] and "src=10.0.0.82" in entries[0]


def _try_udp(namespace: str, payload: bytes) -> tuple[bytes, tuple] | None:
    try:
        return udp_ask(namespace, PFIP, 5353, payload)
    except OSError:
        return None


def test_removing_a_forwarding_cuts_its_established_flow_and_keeps_the_others(
    lab: Lab, udp_echo
) -> None:
    data = with_forwardings(tcp_forward(), UDP_FORWARD)
    lab.apply(data)
    udp_echo(lab.ns_of("instance", "vm2"), "10.0.0.82", 5353)
    outside = lab.ns_of("client", "outside")
    router = lab.ns_of("router", "01")
    eventually(lambda: _try_udp(outside, b"before"))

    held = connect(outside, PFIP, 8080)
    try:
        tcp_entries = conntrack(router, "-p", "tcp", "--orig-dst", PFIP)
        assert len(tcp_entries) == 1 and "ESTABLISHED" in tcp_entries[0]
        assert "dport=8080" in tcp_entries[0] and "src=10.0.0.81" in tcp_entries[0]

        without_tcp = copy.deepcopy(data)
        without_tcp["floating_ips"][1]["port_forwardings"] = [UDP_FORWARD]
        outcome = lab.apply(without_tcp)
        assert not outcome.failures

        # The flow's entry is gone, the UDP forwarding's is not (only that port is flushed).
        assert conntrack(router, "-p", "tcp", "--orig-dst", PFIP) == []
        assert len(conntrack(router, "-p", "udp", "--orig-dst", PFIP)) == 1
        # The established connection gets no answer any more...
        assert _request_on(held) is None
    finally:
        held.close()
    # ...new connections fail, and the UDP forwarding still works.
    with pytest.raises(OSError):
        lab.get(outside, PFIP, 8080, timeout=1.0)
    assert udp_ask(outside, PFIP, 5353, b"after")[0] == b"echo after"
    assert not any("--dport 8080" in line for line in saved_nat(router))


def test_retargeting_a_forwarding_moves_new_and_established_flows(lab: Lab) -> None:
    data = with_forwardings(tcp_forward())
    lab.apply(data)
    outside = lab.ns_of("client", "outside")
    router = lab.ns_of("router", "01")
    held = connect(outside, PFIP, 8080)
    try:
        assert "src=10.0.0.81" in conntrack(router, "-p", "tcp", "--orig-dst", PFIP)[0]
        lab.apply(with_forwardings(tcp_forward(internal_ip="10.0.0.82")))
        # The old target's entry is forgotten: the held flow cannot reach vm1 any more.
        assert conntrack(router, "-p", "tcp", "--orig-dst", PFIP) == []
        assert _request_on(held) is None
    finally:
        held.close()
    assert set(lab.bodies(outside, PFIP, 3, port=8080)) == {"server_82"}


def test_removing_the_floating_ip_takes_its_address_off_the_router(lab: Lab) -> None:
    lab.apply(with_forwardings(tcp_forward()))
    outside = lab.ns_of("client", "outside")
    assert lab.get(outside, PFIP, 8080).body.strip() == "server_81"
    lab.apply(seed_data())
    router = lab.ns_of("router", "01")
    assert not any("fip-pf" in line for line in saved_nat(router))
    addresses = subprocess.run(
        ["ip", "netns", "exec", router, "ip", "-4", "-o", "addr"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{PFIP}/32" not in addresses
    with pytest.raises(OSError):
        lab.get(outside, PFIP, 8080, timeout=1.0)


def _request_on(sock: socket.socket) -> bytes | None:
    """An HTTP request on an open connection: the answer, or None if none came."""
    try:
        sock.settimeout(2.0)
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = sock.recv(65536)
    except OSError:
        return None
    return data or None
