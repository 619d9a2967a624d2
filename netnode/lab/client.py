"""HTTP requests from inside a lab namespace.

The socket is created with this thread inside the namespace (setns), so every packet
starts there: nothing is ever sent from the host's own namespace to a lab address.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from pyroute2 import netns


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str


def connect(namespace: str, host: str, port: int, timeout: float = 2.0) -> socket.socket:
    netns.pushns(namespace)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    finally:
        netns.popns()
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def http_get(
    namespace: str, host: str, port: int = 80, path: str = "/", timeout: float = 2.0
) -> Response:
    """One HTTP/1.0 GET from ``namespace`` to ``host:port``; raises OSError on failure."""
    with connect(namespace, host, port, timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: netnode-lab\r\n\r\n".encode()
        )
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks).decode("latin-1")
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP response from {host}:{port}: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return Response(int(parts[1]), headers, body)
