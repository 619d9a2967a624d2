"""One health check of one member, from the load balancer's namespace (where the
checker runs). Each returns True when the member passes, False when it fails."""

from __future__ import annotations

import http.client
import os
import select
import socket
import struct
import time

from netnode.render.haproxy import expected_codes
from netnode.udpcheck.config import Monitor, Target

PAYLOAD = b"netnode-udp-check"


def check(monitor: Monitor, target: Target) -> bool:
    probe = PROBES[monitor.type]
    try:
        return probe(monitor, target)
    except OSError:
        return False


def udp_connect(monitor: Monitor, target: Target) -> bool:
    """Octavia's UDP-CONNECT: a datagram to the member's port; an ICMP port unreachable
    (ECONNREFUSED on the connected socket) is down, an answer or silence is up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(monitor.timeout)
        sock.connect((target.address, target.port))
        sock.send(PAYLOAD)
        try:
            sock.recv(65535)
        except ConnectionRefusedError:
            return False
        except TimeoutError:
            return True
    return True


def tcp(monitor: Monitor, target: Target) -> bool:
    with socket.create_connection((target.address, target.port), timeout=monitor.timeout):
        return True


def http_check(monitor: Monitor, target: Target) -> bool:
    conn = http.client.HTTPConnection(target.address, target.port, timeout=monitor.timeout)
    try:
        headers = {"Host": monitor.domain_name} if monitor.domain_name else {}
        conn.request(monitor.http_method, monitor.url_path, headers=headers)
        status = conn.getresponse().status
    except http.client.HTTPException:
        return False
    finally:
        conn.close()
    return status in expected_codes(monitor.expected_codes)


def ping(monitor: Monitor, target: Target) -> bool:
    """An ICMP echo (a raw socket: the checker runs as root)."""
    ident = os.getpid() & 0xFFFF
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    packet = header[:2] + struct.pack("!H", _checksum(header + PAYLOAD)) + header[4:] + PAYLOAD
    deadline = time.monotonic() + monitor.timeout
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.sendto(packet, (target.address, 0))
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                return False
            data, peer = sock.recvfrom(65535)
            start = (data[0] & 0x0F) * 4  # past the IP header
            kind, _, _, got_id, _ = struct.unpack("!BBHHH", data[start : start + 8])
            if peer[0] == target.address and kind == 0 and got_id == ident:
                return True
    return False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


PROBES = {"UDP-CONNECT": udp_connect, "TCP": tcp, "HTTP": http_check, "PING": ping}
