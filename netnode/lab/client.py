"""HTTP requests from inside a lab namespace.

The socket is created with this thread inside the namespace (setns), so every packet
starts there: nothing is ever sent from the host's own namespace to a lab address.

``http_request`` sends one request on a new connection (any method, path, headers,
cookies, HTTP/1.0 or 1.1, optionally from a fixed source address and port);
``HttpConnection`` keeps one connection open for several requests (keep-alive).
"""

from __future__ import annotations

import base64
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyroute2 import netns


@dataclass(frozen=True)
class Response:
    status: int
    # Lower-cased names; a header sent more than once keeps its last value here and
    # every value in ``header_list``.
    headers: dict[str, str]
    body: str
    header_list: tuple[tuple[str, str], ...] = field(default=())

    def all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        return [v for k, v in self.header_list if k == name.lower()]

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies the response sets (name -> value, attributes dropped)."""
        jar = {}
        for value in self.all("set-cookie"):
            pair = value.split(";", 1)[0]
            name, _, cookie = pair.partition("=")
            jar[name.strip()] = cookie.strip()
        return jar

    def request_headers(self) -> dict[str, str]:
        """The request headers a lab instance received, from its ``X-Request-Headers``
        answer (lower-cased names; empty when the answer has none)."""
        encoded = self.headers.get("x-request-headers")
        if not encoded:
            return {}
        seen = {}
        for line in base64.b64decode(encoded).decode("latin-1").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                seen[name.strip().lower()] = value.strip()
        return seen


def connect(
    namespace: str,
    host: str,
    port: int,
    timeout: float = 2.0,
    source: tuple[str, int] | None = None,
) -> socket.socket:
    """A TCP connection from ``namespace``. With ``source`` (address, port) it leaves
    from there; closing it then resets the connection (SO_LINGER 0), so that the same
    address and port can connect again at once (no TIME_WAIT on either side)."""
    netns.pushns(namespace)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    finally:
        netns.popns()
    sock.settimeout(timeout)
    try:
        if source is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.bind(source)
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _request_bytes(
    host: str,
    path: str,
    method: str,
    headers: Mapping[str, str] | None,
    cookies: Mapping[str, str] | None,
    version: str,
) -> bytes:
    given = {k.lower() for k in headers or {}}
    lines = [f"{method} {path} HTTP/{version}"]
    if "host" not in given:
        lines.append(f"Host: {host}")
    if "user-agent" not in given:
        lines.append("User-Agent: netnode-lab")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    text = "\r\n".join(lines) + "\r\n\r\n"
    if any(c in "\r\n" for line in lines for c in line):
        raise ValueError(f"a request line or header holds a line break: {lines!r}")
    return text.encode("latin-1")


def _parse_head(head: str, where: str) -> tuple[int, list[tuple[str, str]]]:
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP response from {where}: {lines[0]!r}")
    pairs = []
    for line in lines[1:]:
        key, _, value = line.partition(":")
        pairs.append((key.strip().lower(), value.strip()))
    return int(parts[1]), pairs


def _response(status: int, pairs: list[tuple[str, str]], body: bytes) -> Response:
    return Response(status, dict(pairs), body.decode("latin-1"), tuple(pairs))


def http_request(
    namespace: str,
    host: str,
    port: int = 80,
    path: str = "/",
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
    source: tuple[str, int] | None = None,
    timeout: float = 2.0,
) -> Response:
    """One HTTP/1.0 request from ``namespace`` to ``host:port`` on a new connection,
    read until the server closes it; raises OSError on failure. ``headers`` (a Host
    among them replaces the default one) and ``cookies`` are sent as given."""
    request = _request_bytes(host, path, method, headers, cookies, "1.0")
    with connect(namespace, host, port, timeout, source) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status, pairs = _parse_head(head.decode("latin-1"), f"{host}:{port}")
    return _response(status, pairs, body)


def http_get(
    namespace: str, host: str, port: int = 80, path: str = "/", timeout: float = 2.0
) -> Response:
    """One HTTP/1.0 GET from ``namespace`` to ``host:port``; raises OSError on failure."""
    return http_request(namespace, host, port, path, timeout=timeout)


class HttpConnection:
    """One kept-alive HTTP/1.1 connection from a lab namespace: it stays open (and
    counts as a connection on the member behind a TCP listener) until closed."""

    def __init__(self, namespace: str, host: str, port: int = 80, timeout: float = 2.0) -> None:
        self.host, self.port = host, port
        self.sock = connect(namespace, host, port, timeout)
        self._buffer = b""

    def request(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request and read its answer (which must carry Content-Length)."""
        self.sock.sendall(_request_bytes(self.host, path, method, headers, cookies, "1.1"))
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        status, pairs = _parse_head(head.decode("latin-1"), f"{self.host}:{self.port}")
        length = int(dict(pairs).get("content-length", "0"))
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return _response(status, pairs, body)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise OSError(f"{self.host}:{self.port} closed the connection mid-answer")
        self._buffer += data

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
