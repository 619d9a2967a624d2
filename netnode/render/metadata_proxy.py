"""The metadata proxy's HAProxy configuration (Neutron's ``neutron-ns-metadata-proxy``).

Pure. An instance asks ``http://169.254.169.254/`` for its metadata. In a router
namespace the router's ``REDIRECT`` rule (``render.iptables``, ``metadata_port``) turns
that into a connection to the proxy on port 9697; in the DHCP namespace of a network
without a router the proxy binds 169.254.169.254:80 itself. Either way it forwards the
request to netnode's metadata service on a UNIX socket in netnode's state directory,
saying where it came from as Neutron's proxy does (``neutron.agent.metadata.driver``):

- ``X-Forwarded-For``: the client's address. Whatever the client sent under that name
  is deleted first: an instance cannot claim another's address (Neutron's proxy adds
  ``option forwardfor``, which appends; netnode replaces).
- ``X-Neutron-Router-ID`` or ``X-Neutron-Network-ID``: which router or network the
  request came through, set (not appended) by the proxy. The service looks the address
  up behind that router or on that network only, so one address on two tenants'
  networks never reaches the other's data.

The proxy runs as root (no ``user`` line): its server is a socket in netnode's state
directory, which only root may reach, so that no local user can talk to the service
directly and claim any address.
"""

from __future__ import annotations

from netnode.render.haproxy import NO_HTTPCLIENT_CA, _section, _stats_socket

# Neutron's: the router namespace's REDIRECT target (and the seed's).
ROUTER_PORT = 9697
METADATA_ADDRESS = "169.254.169.254"
ROUTER_HEADER = "X-Neutron-Router-ID"
NETWORK_HEADER = "X-Neutron-Network-ID"
# Headers only the proxy may set: a client's are deleted before the proxy's are added.
TRUSTED_HEADERS = (
    "X-Forwarded-For",
    ROUTER_HEADER,
    NETWORK_HEADER,
    "X-Instance-ID",
    "X-Tenant-ID",
    "X-Instance-ID-Signature",
)
DEFAULTS = (
    "mode http",
    "option http-server-close",
    "timeout connect 5s",
    "timeout client 30s",
    "timeout server 30s",
    "timeout http-request 10s",
)


def render_router_proxy(router_id: str, *, service_socket: str, stats_socket: str) -> str:
    """The proxy of a router namespace: 0.0.0.0:9697, ``X-Neutron-Router-ID``."""
    return _render(f"0.0.0.0:{ROUTER_PORT}", ROUTER_HEADER, router_id, service_socket, stats_socket)


def render_network_proxy(network_id: str, *, service_socket: str, stats_socket: str) -> str:
    """The proxy of a router-less network's DHCP namespace: 169.254.169.254:80 (the
    address on the DHCP port), ``X-Neutron-Network-ID``."""
    return _render(
        f"{METADATA_ADDRESS}:80", NETWORK_HEADER, network_id, service_socket, stats_socket
    )


def _render(bind: str, header: str, value: str, service_socket: str, stats_socket: str) -> str:
    if not value or any(not (c.isalnum() or c in "-_.") for c in value):
        raise ValueError(f"{header}: {value!r} is not an id (letters, digits and -_.)")
    if not service_socket.startswith("/") or any(c.isspace() for c in service_socket):
        raise ValueError(f"service_socket: {service_socket!r} is not an absolute path")
    frontend = _section(
        "frontend metadata",
        [
            f"bind {bind}",
            *(f"http-request del-header {h}" for h in TRUSTED_HEADERS),
            "http-request set-header X-Forwarded-For %[src]",
            f"http-request set-header {header} {value}",
            "default_backend service",
        ],
    )
    backend = _section("backend service", [f"server metadata {service_socket}"])
    return (
        _section("global", [NO_HTTPCLIENT_CA, _stats_socket(stats_socket), "maxconn 1024"])
        + _section("defaults", DEFAULTS)
        + frontend
        + backend
    )
