"""HTTPS requests from inside a lab namespace, with the TLS knobs tests need.

The TCP socket comes from ``netnode.lab.client.connect`` (made inside the namespace, so
nothing is sent from the host's own namespace); Python's ssl module then does the
handshake: the SNI name to send, the CA to verify the server with (the host name is not
checked: tests look at which certificate came, see ``TlsResponse.peer_cn``), an
optional client certificate, and the TLS versions to allow.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from netnode.lab.client import Response, connect

VERSIONS = {
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class TlsResponse(Response):
    # The server certificate's subject CN, when it was verified against a CA.
    peer_cn: str | None = None
    version: str | None = None
    alpn: str | None = None


def context(
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    min_version: str | None = None,
    max_version: str | None = None,
    alpn: list[str] | None = None,
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca is not None:
        ctx.load_verify_locations(cafile=str(ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    if min_version is not None:
        ctx.minimum_version = VERSIONS[min_version]
    if max_version is not None:
        ctx.maximum_version = VERSIONS[max_version]
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def https_get(
    namespace: str,
    host: str,
    port: int = 443,
    *,
    server_name: str | None = None,
    path: str = "/",
    timeout: float = 2.0,
    **tls: object,
) -> TlsResponse:
    """One HTTP/1.0 GET over TLS from ``namespace`` to ``host:port``. ``tls`` are
    ``context``'s arguments. Raises OSError (ssl.SSLError is one) when the handshake or
    the request fails."""
    ctx = context(**tls)  # type: ignore[arg-type]
    raw = connect(namespace, host, port, timeout)
    with ctx.wrap_socket(raw, server_hostname=server_name) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.0\r\nHost: {server_name or host}\r\n"
            "User-Agent: netnode-lab\r\n\r\n".encode()
        )
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        peer = sock.getpeercert() if ctx.verify_mode == ssl.CERT_REQUIRED else None
        version, alpn = sock.version(), sock.selected_alpn_protocol()
    status, headers, body = parse(b"".join(chunks), f"{host}:{port}")
    return TlsResponse(status, headers, body, peer_cn=_cn(peer), version=version, alpn=alpn)


def parse(raw_bytes: bytes, where: str) -> tuple[int, dict[str, str], str]:
    """An HTTP/1.x response: status, headers (lower-case names), body."""
    raw = raw_bytes.decode("latin-1")
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP response from {where}: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, body


def _cn(peer: dict | None) -> str | None:
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None
