"""UDP requests from inside a lab namespace.

The socket is created with this thread inside the namespace (setns), as
``netnode.lab.client`` does for TCP, so every datagram starts there: nothing is ever
sent from the host's own namespace to a lab address.
"""

from __future__ import annotations

import socket

from pyroute2 import netns


def udp_socket(namespace: str, source_port: int = 0) -> socket.socket:
    """A UDP socket living in ``namespace`` (bound to ``source_port`` when given)."""
    netns.pushns(namespace)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finally:
        netns.popns()
    if source_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", source_port))
    return sock


def udp_request(
    namespace: str,
    host: str,
    port: int,
    payload: bytes = b"ping",
    timeout: float = 2.0,
    source_port: int = 0,
) -> str:
    """Send one datagram from ``namespace`` to ``host:port`` and return the answer.

    A fresh socket (a fresh source port, so a new conntrack flow) unless
    ``source_port`` is given. Raises ConnectionRefusedError when an ICMP port
    unreachable comes back, TimeoutError when nothing does within ``timeout``."""
    with udp_socket(namespace, source_port) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.send(payload)
        return sock.recv(65535).decode(errors="replace")
