"""A listener's connection_limit and admin_state_up on a real host: HAProxy takes no
more than that many connections at once (the next one waits, accepted by the kernel,
and is served as soon as a slot frees); a disabled listener takes none."""

from __future__ import annotations

import socket

from netnode.lab.client import connect
from tests.functional.conftest import Lab, seed_data
from tests.functional.test_load_balancer import only_81

VIP = "10.0.0.100"
REQUEST = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n"


def answer(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def test_connection_limit_holds_the_next_connection_until_a_slot_frees(lab: Lab) -> None:
    data = only_81(seed_data())
    data["load_balancers"][0]["listeners"][0]["connection_limit"] = 1
    lab.apply(data)
    ns = lab.ns_of("lb", "01")
    # Served while it is alone.
    with connect(ns, VIP, 80) as alone:
        alone.sendall(REQUEST)
        assert answer(alone).startswith(b"HTTP/1.1 200")
    first = connect(ns, VIP, 80, timeout=5)
    try:
        second = connect(ns, VIP, 80, timeout=1.5)
        with second:
            second.sendall(REQUEST)
            # The only slot is the first connection's (idle, no request yet).
            try:
                early = second.recv(65536)
            except TimeoutError:
                early = b""
            assert early == b"", early
            first.close()
            second.settimeout(5)
            assert answer(second).startswith(b"HTTP/1.1 200")
    finally:
        first.close()


def test_a_disabled_listener_takes_no_connection(lab: Lab) -> None:
    data = only_81(seed_data())
    data["load_balancers"][0]["listeners"][0]["admin_state_up"] = False
    lab.apply(data)
    ns = lab.ns_of("lb", "01")
    try:
        connect(ns, VIP, 80, timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
    data["load_balancers"][0]["listeners"][0]["admin_state_up"] = True
    lab.apply(data)
    assert lab.get(ns, VIP).status == 200
