"""The desired state: a typed, validated description of a network node.

Pure data (pydantic v2). Field names and value sets follow Octavia and Neutron so the
same words work in the topology file and, later, the REST API. Schema rules live here;
rules that relate objects to each other live in ``validation.py``.
"""

# No `from __future__ import annotations` here: with it every field's annotation is a
# string that pydantic evaluates when it builds the class (about 190 evaluations, ~5 ms
# of every command that loads the model). Written as objects, a class used before its
# definition must be quoted.

import ipaddress
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Names end up in HAProxy sections, namespace names and shell commands: a conservative
# alphabet with no space, quote, '#' or newline cannot inject into any of them.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
# An id given explicitly (the API does); otherwise derived, see ids.stable_id.
ObjectId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]


def _interface_name(name: str) -> str:
    """A name the kernel takes for a network device (a bridge, a physical interface):
    at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace (``dev_valid_name``),
    and here the conservative alphabet of every other name."""
    if len(name) > 15:
        raise PydanticCustomError(
            "interface_name",
            "'{name}' is {length} characters; Linux interface names hold at most 15",
            {"name": name, "length": len(name)},
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise PydanticCustomError(
            "interface_name",
            "'{name}' is not an interface name: letters, digits, '.', '_' and '-' only, "
            "starting with a letter or digit (no '/', ':' or space, which the kernel refuses)",
            {"name": name},
        )
    return name


InterfaceName = Annotated[str, AfterValidator(_interface_name)]


def _unicast_mac(mac: str) -> str:
    """A port's own address: the kernel refuses a multicast or all-zero one
    (``Cannot assign requested address``), half-way through an apply."""
    why = ""
    if mac == "ff:ff:ff:ff:ff:ff":
        why = "the broadcast address"
    elif int(mac[:2], 16) & 1:
        why = "a multicast address (the low bit of the first octet is set)"
    elif mac == "00:00:00:00:00:00":
        why = "the all-zero address"
    if why:
        raise PydanticCustomError(
            "unicast_mac",
            "{mac} is {why}; a port needs a unicast MAC (e.g. fa:16:3e:00:00:01, or leave "
            "it out to let the kernel choose one)",
            {"mac": mac, "why": why},
        )
    return mac


MacAddress = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$", to_lower=True),
    AfterValidator(_unicast_mac),
]
Port = Annotated[int, Field(ge=1, le=65535)]
# What a lab instance answers: printable text on one line, no double quote or backslash
# (it is written into HAProxy's config as a quoted string).
Body = Annotated[str, StringConstraints(pattern=r"^[ -!#-\[\]-~]{1,200}$")]
# RFC 3986 path characters (a query too); rendered as one escaped word (render/quoting.py).
UrlPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,1000}$")]

# Octavia's grammar (api/v2/types/health_monitor.py): one code, a comma list (spaces
# allowed around the commas) or one range; ASCII digits and spaces only, where Octavia's
# \d and \s would also take other digits, tabs and newlines.
_EXPECTED_CODES = re.compile(r"[0-9]{3}( *, *[0-9]{3})*|[0-9]{3}-[0-9]{3}")


def _expected_codes(codes: str) -> str:
    """Octavia's expected_codes, with codes 100-599 and a range that goes upwards."""
    if not _EXPECTED_CODES.fullmatch(codes):
        raise PydanticCustomError(
            "expected_codes",
            "'{codes}' is not an expected_codes value: give one HTTP code (200), a comma "
            "list (200,202) or one range (200-204)",
            {"codes": codes},
        )
    written = re.findall(r"[0-9]{3}", codes)
    for code in written:
        if not 100 <= int(code) <= 599:
            raise PydanticCustomError(
                "expected_codes", "{code} is not an HTTP status code (100-599)", {"code": code}
            )
    numbers = [int(x) for x in written]
    if "-" in codes and numbers[0] > numbers[1]:
        raise PydanticCustomError(
            "expected_codes",
            "the range {codes} goes downwards: write it low-high ({high}-{low})",
            {"codes": codes, "low": numbers[0], "high": numbers[1]},
        )
    return codes


ExpectedCodes = Annotated[str, AfterValidator(_expected_codes)]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Identified(Base):
    """An object without a name of its own (Octavia gives it an id): left out, the id is
    derived from its parent's (``loading.resolve``)."""

    id: ObjectId | None = None

    @property
    def uid(self) -> str:
        if self.id is None:
            raise RuntimeError(f"{type(self).__name__} has no id yet")
        return self.id


class Named(Base):
    name: Name
    id: ObjectId | None = None

    @property
    def uid(self) -> str:
        """The object's id; set by ``ids`` resolution right after loading."""
        if self.id is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} has no id yet")
        return self.id


# --- networks -----------------------------------------------------------------------


class HostRoute(Base):
    """A route DHCP hands to the subnet's hosts (Neutron's ``host_routes``)."""

    destination: IPv4Network
    nexthop: IPv4Address


class AllocationPool(Base):
    """A range the API allocates ports' addresses from, both ends included."""

    start: IPv4Address
    end: IPv4Address


class Subnet(Named):
    cidr: IPv4Network
    gateway_ip: IPv4Address | None = None
    # DHCP (dnsmasq in the network's qdhcp- namespace) for the ports of this subnet. The
    # file's default is off, so that a topology gets no DHCP server it did not ask for;
    # the API's is Neutron's (on).
    enable_dhcp: bool = False
    dns_nameservers: Annotated[list[IPv4Address], Field(max_length=5)] = []
    host_routes: Annotated[list[HostRoute], Field(max_length=20)] = []
    # Left out: the whole subnet but its network and broadcast addresses and the gateway.
    allocation_pools: list[AllocationPool] = []

    @property
    def dhcp_address(self) -> IPv4Address | None:
        """The address of the network's DHCP port on this subnet (None: no DHCP).

        Neutron gives its DHCP port the first free address of the pool, which moves
        with what else was allocated first. netnode's rule is stable and known before
        anything is allocated: the first address of the first allocation pool, or, with
        no pools, the subnet's first host address that is not the gateway. Validation
        holds it (nothing else may take it) and the store allocates it to the network."""
        if not self.enable_dhcp:
            return None
        if self.allocation_pools:
            return min(pool.start for pool in self.allocation_pools)
        for host in self.cidr.hosts():
            if host != self.gateway_ip:
                return host
        return None


class Network(Named):
    """A tenant network (a VLAN on the integration bridge) or an external network (a
    bridge of its own, br-ex by default, as Neutron's provider network on physnet)."""

    external: bool = False
    segmentation_id: Annotated[int, Field(ge=1, le=4094)] | None = None
    bridge: InterfaceName | None = None
    # The host interface attached to the external bridge (the seed's eth3; see
    # plan.uplinks for what is refused), and whether it may be the one that carries the
    # host's default route.
    physical_interface: InterfaceName | None = None
    force_uplink: bool | None = None
    subnets: list[Subnet] = []


# --- load balancers (Octavia v2 names) ------------------------------------------------

# A file on this node (a PEM certificate bundle, a CA, a CRL): an absolute path in a
# conservative alphabet, since it is written into haproxy.cfg.
FilePath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._/+@=-]{1,4095}$")]
# OpenSSL cipher strings ("ECDHE+AESGCM:!aNULL"), as Octavia validates them.
TlsCiphers = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_+!@=.:-]{1,2048}$")]
TlsVersion = Literal["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
AlpnProtocol = Literal["http/1.0", "http/1.1", "h2"]
# An RFC 1123 host name (a monitor's Host header, an L7 HOST_NAME value stays free).
DomainName = Annotated[
    str,
    StringConstraints(
        max_length=253,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$",
    ),
]
HealthMonitorType = Literal["HTTP", "HTTPS", "TCP", "PING", "TLS-HELLO", "UDP-CONNECT"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"]


class HealthMonitor(Identified):
    type: HealthMonitorType
    delay: Annotated[int, Field(ge=1, le=3600)] = 5
    timeout: Annotated[int, Field(ge=1, le=3600)] = 5
    max_retries: Annotated[int, Field(ge=1, le=10)] | None = None
    max_retries_down: Annotated[int, Field(ge=1, le=10)] = 3
    # HTTP and HTTPS monitors only (validation refuses them on other types).
    http_method: HttpMethod = "GET"
    url_path: UrlPath = "/"
    expected_codes: ExpectedCodes = "200"
    http_version: Literal[1.0, 1.1] = 1.0  # type: ignore[valid-type]  # no float Literal in PEP 586
    # The Host header of an HTTP/1.1 check (Octavia: domain_name, needs http_version 1.1).
    domain_name: DomainName | None = None
    admin_state_up: bool = True


class Member(Named):
    address: IPv4Address
    protocol_port: Port
    # 0: no new connections (existing ones and persistence still reach it).
    weight: Annotated[int, Field(ge=0, le=256)] = 1
    # Used only while every non-backup member of the pool is down.
    backup: bool = False
    # Where health checks go instead of address:protocol_port.
    monitor_address: IPv4Address | None = None
    monitor_port: Port | None = None
    admin_state_up: bool = True


class Failover(Base):
    """How a pool rides over a failing member (netnode's, not an Octavia field).

    The defaults turn a member that dies under load into no failed request where
    HAProxy can retry safely: a failed connection is retried (``retries``) on another
    member (``redispatch``), and with a health monitor the member is marked down at its
    first connection error (``observe``, ``error_limit``) instead of after
    ``max_retries_down`` checks. HTTP pools also replay a GET or HEAD whose member
    closed without an answer or timed out; other methods are never replayed.
    """

    retries: Annotated[int, Field(ge=0, le=10)] = 3
    redispatch: bool = True
    # Only with an enabled health monitor: the checks are what bring the member back.
    observe: bool = True
    error_limit: Annotated[int, Field(ge=1, le=100)] = 1


# A cookie's name (an RFC 6265 token: no space, double quote, separator or control
# character); the single quote, '#' and '$' it may hold are escaped when rendered.
CookieName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,255}$")]


class SessionPersistence(Base):
    """Octavia's session_persistence: which member a returning client gets."""

    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    # APP_COOKIE: the application's cookie to follow (required). HTTP_COOKIE: the name
    # of the cookie HAProxy inserts (Octavia ignores it; netnode uses it, default SRV).
    cookie_name: CookieName | None = None
    # UDP pools (Octavia): seconds a source keeps its member, and the mask of sources
    # that share it.
    persistence_timeout: Annotated[int, Field(ge=1, le=86400)] | None = None
    persistence_granularity: IPv4Address | None = None


PoolProtocol = Literal["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP"]


class Pool(Named):
    protocol: PoolProtocol = "HTTP"
    lb_algorithm: Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"] = (
        "ROUND_ROBIN"
    )
    members: list[Member] = []
    healthmonitor: HealthMonitor | None = None
    session_persistence: SessionPersistence | None = None
    admin_state_up: bool = True
    failover: Failover = Failover()
    # TLS towards the members (re-encryption): verify them against ca_tls_container_ref
    # when given, present tls_container_ref as a client certificate when given.
    tls_enabled: bool = False
    tls_container_ref: FilePath | None = None
    ca_tls_container_ref: FilePath | None = None
    crl_container_ref: FilePath | None = None
    tls_ciphers: TlsCiphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[AlpnProtocol] | None = None


# Milliseconds, 1 ms up to HAProxy's largest timeout (2^31 - 1 ms, about 24.8 days).
TimeoutMs = Annotated[int, Field(ge=1, le=2_147_483_647)]

# Octavia's listener timeouts (ms). A member's connect timeout is 1 s, not Octavia's
# 5 s: a member whose packets vanish (no RST) is retried on another one after 1 s
# instead of holding the client for 5 s; connecting inside a data centre takes
# microseconds to milliseconds.
DEFAULT_TIMEOUT_CLIENT_DATA = 50_000
DEFAULT_TIMEOUT_MEMBER_CONNECT = 1_000
DEFAULT_TIMEOUT_MEMBER_DATA = 50_000

# Octavia's insert_headers keys. The X-SSL-Client-* set needs a TERMINATED_HTTPS listener.
# Written as Literals (a type checker cannot build one from a tuple), the tuples from them.
HttpHeader = Literal["X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"]
SslClientHeader = Literal[
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
]
InsertHeader = Literal[HttpHeader, SslClientHeader]
HTTP_HEADERS: tuple[HttpHeader, ...] = get_args(HttpHeader)
SSL_CLIENT_HEADERS: tuple[SslClientHeader, ...] = get_args(SslClientHeader)

# --- L7 (Octavia's l7policies and l7rules) -----------------------------------------------

L7RuleType = Literal[
    "HOST_NAME",
    "PATH",
    "FILE_TYPE",
    "HEADER",
    "COOKIE",
    "SSL_CONN_HAS_CERT",
    "SSL_VERIFY_RESULT",
    "SSL_DN_FIELD",
]
L7CompareType = Literal["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"]
# A rule's value and key are written into haproxy.cfg: printable ASCII without space,
# quotes, '#' or backslash... except in a REGEX, where a backslash is needed (validation
# checks the regex compiles; rendering escapes it).
L7Value = Annotated[str, StringConstraints(pattern=r"^[!$-&(-\[\]-~\\]{1,255}$")]
# HEADER: a header name (RFC 7230 token); COOKIE: a cookie name; SSL_DN_FIELD: a DN field.
L7Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,255}$")]
# Redirect targets: an absolute http(s) URL without space, quote, '#'-fragment or
# backslash (Octavia: validate.url).
RedirectUrl = Annotated[
    str, StringConstraints(pattern=r"^https?://[A-Za-z0-9._~:/?\[\]@!$&()*+,;=%-]{1,2040}$")
]


class L7Rule(Identified):
    type: L7RuleType
    compare_type: L7CompareType
    key: L7Key | None = None
    value: L7Value
    invert: bool = False
    admin_state_up: bool = True


class L7Policy(Named):
    """Applied in list order (Octavia's position, 1-based); the first whose rules all
    match wins. A policy without rules (or whose rules are all disabled) never matches."""

    action: Literal["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"]
    redirect_pool: Name | None = None
    redirect_url: RedirectUrl | None = None
    redirect_prefix: RedirectUrl | None = None
    # Octavia's default is 302 for the redirect actions.
    redirect_http_code: Literal[301, 302, 303, 307, 308] | None = None
    rules: Annotated[list[L7Rule], Field(max_length=50)] = []
    admin_state_up: bool = True


# PROMETHEUS (Octavia API 2.25): the load balancer's own metrics on the VIP, sent to no pool.
ListenerProtocol = Literal["HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "PROMETHEUS"]


class Listener(Named):
    protocol: ListenerProtocol = "HTTP"
    protocol_port: Port
    # Octavia: -1 means unlimited.
    connection_limit: Annotated[int, Field(ge=-1, le=1_000_000)] = -1
    insert_headers: dict[InsertHeader, bool] = {}
    default_pool: Name | None = None
    admin_state_up: bool = True
    # Client inactivity (the frontend's "timeout client").
    timeout_client_data: TimeoutMs = DEFAULT_TIMEOUT_CLIENT_DATA
    # Connecting to a member and member inactivity (the default pool's backend:
    # "timeout connect", "timeout server"); listeners sharing a pool must agree.
    timeout_member_connect: TimeoutMs = DEFAULT_TIMEOUT_MEMBER_CONNECT
    timeout_member_data: TimeoutMs = DEFAULT_TIMEOUT_MEMBER_DATA
    # How long a TCP listener waits for content to inspect (ms); 0: not at all.
    timeout_tcp_inspect: Annotated[int, Field(ge=0, le=2_147_483_647)] = 0
    # Source networks allowed to connect; empty: everyone.
    allowed_cidrs: list[IPv4Network] = []
    l7policies: list[L7Policy] = []
    # TERMINATED_HTTPS: the default certificate (a PEM file with the certificate, its
    # chain and the private key), more for SNI (chosen by the name the client asks).
    default_tls_container_ref: FilePath | None = None
    sni_container_refs: list[FilePath] = []
    client_authentication: Literal["NONE", "OPTIONAL", "MANDATORY"] = "NONE"
    client_ca_tls_container_ref: FilePath | None = None
    client_crl_container_ref: FilePath | None = None
    tls_ciphers: TlsCiphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[AlpnProtocol] | None = None
    # HTTP listeners (netnode's): answer every request with a redirect to https://
    # on the same host (Octavia users build this from a REDIRECT_PREFIX policy).
    redirect_https: bool = False
    # TERMINATED_HTTPS (Octavia's HSTS): Strict-Transport-Security on every answer.
    hsts_max_age: Annotated[int, Field(ge=0, le=2_147_483_647)] | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False

    @field_validator("connection_limit")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (unlimited) or at least 1")
        return value


class Vip(Base):
    network: Name
    address: IPv4Address
    mac: MacAddress | None = None
    # The Neutron port the VIP took (Octavia's vip_port_id: a port made through the
    # API, its address and MAC): the VIP's port keeps that id. None: netnode's own.
    port_id: ObjectId | None = None


class Placed(Named):
    """What runs on a node of its own: a load balancer, a router."""

    # On a node of a cluster, the id of this node's instance of the object (an amphora,
    # in Octavia's words), given by its placement (netnode.cluster.local): the object's
    # host names (namespace, ports, processes) derive from it, so that an instance made
    # again elsewhere never meets a dead node's leftovers on a shared machine. None: the
    # object's own id (a node on its own).
    instance: ObjectId | None = None
    # An HA pair's instance: which of the pair's addresses it takes (0 or 1), and its
    # role, MASTER (VRRP priority 100) or BACKUP (90); given with ``instance``.
    slot: int | None = None
    role: Literal["MASTER", "BACKUP"] | None = None

    @property
    def host_id(self) -> str:
        """The id the object's host names derive from."""
        return self.instance or self.uid


class LoadBalancer(Placed):
    vip: Vip
    listeners: list[Listener] = []
    pools: list[Pool] = []
    admin_state_up: bool = True
    # Octavia's loadbalancer_topology: SINGLE (one instance) or ACTIVE_STANDBY (two, on
    # two nodes of a cluster, the VIP held by keepalived: VRRPv3 between them).
    topology: Literal["SINGLE", "ACTIVE_STANDBY"] = "SINGLE"
    # ACTIVE_STANDBY: each instance's own address on the VIP's network, which VRRP runs
    # between (the first instance's first): Octavia's vrrp_ip of each amphora.
    vrrp_addresses: list[IPv4Address] = []
    # How fast the standby takes over (netnode.render.keepalived.PROFILES): "default"
    # (Octavia's advert 1 s: about 3.6 s) or "fast" (advert 0.1 s: under 0.4 s).
    failover_profile: Literal["default", "fast"] = "default"
    # Octavia's availability_zone: in a cluster, only nodes of this zone (``netnode
    # agent --zone``) take the load balancer's instances; None: any node.
    availability_zone: Name | None = None

    @property
    def replicas(self) -> int:
        return 2 if self.topology == "ACTIVE_STANDBY" else 1


# --- routers (Neutron L3) --------------------------------------------------------------


class ExternalGateway(Base):
    network: Name
    ip_address: IPv4Address
    enable_snat: bool = True


class Router(Placed):
    external_gateway: ExternalGateway | None = None
    # Subnet names; the router's qr- port takes each subnet's gateway_ip.
    interfaces: list[Name] = []
    # Neutron's extra routes: in the router's namespace, each destination via a next hop
    # on one of the router's subnets (the external one included).
    routes: Annotated[list[HostRoute], Field(max_length=30)] = []
    # Down: as Neutron's L3 agent does, the router is not built on any node (no
    # namespace, so it forwards nothing: no SNAT, no floating IP, no port forwarding).
    admin_state_up: bool = True
    # Neutron's HA router: two instances on two nodes of a cluster, keepalived (VRRPv3
    # over the topology's HA network) holding the gateway addresses, the floating IPs
    # and the default route on one of them.
    ha: bool = False
    # HA: each instance's own address on the HA network (the first instance's first),
    # the address of its ha- port, which VRRP runs between.
    vrrp_addresses: list[IPv4Address] = []
    # How fast the standby takes over (netnode.render.keepalived.PROFILES).
    failover_profile: Literal["default", "fast"] = "default"
    # Neutron's availability_zone_hints: in a cluster, only nodes of these zones take
    # the router's instances (an HA router's two in two zones when it names two); empty:
    # any node.
    availability_zone_hints: list[Name] = []

    @property
    def replicas(self) -> int:
        return 2 if self.ha else 1


class HaNetwork(Base):
    """The network HA routers' instances talk VRRP over: Neutron's "HA network" of a
    project (169.254.192.0/18), here one per topology. Its ports (``ha-``) sit on the
    integration bridge with a VLAN tag no tenant network may use."""

    segmentation_id: Annotated[int, Field(ge=1, le=4094)] = 4094
    cidr: IPv4Network = ipaddress.IPv4Network("169.254.192.0/18")


class PortForwarding(Identified):
    """Neutron's floating IP port forwarding: ``floating_ip_address:external_port`` goes
    to ``internal_ip_address:internal_port`` (a floating IP with port forwardings is not
    bound to a fixed address as a whole)."""

    protocol: Literal["tcp", "udp"]
    external_port: Port
    internal_ip_address: IPv4Address
    internal_port: Port
    # The internal address's network; may be left out when only one network holds it.
    internal_network: Name | None = None


class FloatingIP(Named):
    floating_ip_address: IPv4Address
    # The external network; may be left out when there is only one.
    network: Name | None = None
    # What it maps to: an instance's address or a load balancer's VIP. None: unbound.
    fixed_ip_address: IPv4Address | None = None
    # The fixed address's network; may be left out when only one network holds it.
    fixed_network: Name | None = None
    port_forwardings: list[PortForwarding] = []


# --- lab ---------------------------------------------------------------------------------


class Instance(Named):
    """A simulated VM: a namespace with a port on a network, answering HTTP with body."""

    network: Name
    address: IPv4Address
    mac: MacAddress | None = None
    body: Body
    protocol_port: Port = 80
    # More services of the same instance, each answering the same body: HTTPS with a
    # certificate (a PEM file with certificate and key), HTTP behind the PROXY protocol
    # (v1 or v2; the answer's X-Client-Addr is then the address the header carried),
    # and UDP (every datagram is answered with the body).
    https_port: Port | None = None
    tls_container_ref: FilePath | None = None
    proxy_port: Port | None = None
    udp_port: Port | None = None
    # A port of the topology this instance is the machine of: its network, first
    # address and MAC are the port's (``Topology._instances_from_ports``), and the port
    # holds them. With ``dhcp``, the instance's namespace gets that address from the
    # network's DHCP server (a real client, udhcpc) instead of having it set.
    port: Name | None = None
    dhcp: bool = False


class Client(Named):
    """A lab host outside the cloud (the external network's upstream side)."""

    network: Name
    address: IPv4Address
    # Clients answer HTTP too (with the caller's source address) so SNAT can be seen.
    protocol_port: Port = 80


# --- ports (Neutron's: a VM's address and MAC on a network) ----------------------------

# Free text as OpenStack allows it in names and descriptions, minus control characters.
FreeText = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")]
# A host name as DHCP and metadata hand it to the guest (one DNS label).
HostName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
]


class FixedIp(Base):
    """One address of a port. ``subnet`` left out: the network's subnet holding it."""

    subnet: Name | None = None
    ip_address: IPv4Address


class AllowedAddressPair(Base):
    """More addresses (a VRRP VIP, a range) the port may send from, as Neutron's."""

    ip_address: IPv4Network
    mac_address: MacAddress | None = None


class PortPlug(Base):
    """The host interface that carries the port: a KVM guest's tap or ``vnetN``, a veth
    whose far end is in a namespace. netnode adds it to the network's bridge with the
    network's VLAN tag and ``external_ids:iface-id`` = the port's id, as os-vif does."""

    interface: InterfaceName


class NetworkPort(Named):
    """A Neutron port: an address (or none) and a MAC reserved on a network for a
    machine, with what DHCP and the metadata service tell that machine."""

    network: Name
    fixed_ips: Annotated[list[FixedIp], Field(max_length=10)] = []
    # Left out: derived from the port's id in Neutron's fa:16:3e prefix (``loading``).
    mac_address: MacAddress | None = None
    admin_state_up: bool = True
    device_id: FreeText = ""
    device_owner: FreeText = ""
    binding_host_id: FreeText = ""
    allowed_address_pairs: Annotated[list[AllowedAddressPair], Field(max_length=10)] = []
    # None: nothing on this host is plugged by netnode (a guest may still be plugged by
    # libvirt with iface-id = the port's id; the agent then tags it).
    plug: PortPlug | None = None
    # What the metadata service and DHCP tell the machine. hostname left out: the name.
    hostname: HostName | None = None
    public_keys: Annotated[
        dict[Name, Annotated[str, StringConstraints(max_length=16384)]], Field(max_length=10)
    ] = {}
    user_data: Annotated[str, StringConstraints(max_length=65535)] | None = None


class NovaMetadata(Base):
    """Where the metadata service sends an instance's requests instead of answering
    them from the port (Neutron's ``nova_metadata_host``/``port`` and
    ``metadata_proxy_shared_secret``): Nova's metadata API, signed as Neutron's
    metadata agent signs (``X-Instance-ID-Signature``)."""

    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=1024)]
    shared_secret: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class Lab(Base):
    instances: list[Instance] = []
    clients: list[Client] = []


# --- what the API keeps beside an object ----------------------------------------------------

ProjectId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class ApiMeta(Base):
    """What the REST API shows of an object that the host does not need: its
    free-text name (the object's ``name`` is then its id), owner and timestamps."""

    name: FreeText = ""
    description: FreeText = ""
    project_id: ProjectId
    created_at: str
    updated_at: str | None = None
    tags: Annotated[list[FreeText], Field(max_length=50)] = []
    # Networks: visible to every project (Neutron's "shared").
    shared: bool = False
    # Members: the subnet the client named (Octavia echoes it back).
    subnet_id: ObjectId | None = None
    # Load balancers: the flavor they were made with, and the provider they were asked
    # for ("amphora" and "netnode" name the same HAProxy provider; shown as asked, so a
    # client that said amphora sees amphora back). None: "amphora", Octavia's default.
    flavor_id: ObjectId | None = None
    provider: Literal["amphora", "netnode"] | None = None


# --- the whole file ------------------------------------------------------------------------


class Topology(Base):
    name: Name | None = None
    integration_bridge: InterfaceName = "br-int"
    networks: list[Network] = []
    load_balancers: list[LoadBalancer] = []
    routers: list[Router] = []
    floating_ips: list[FloatingIP] = []
    ports: list[NetworkPort] = []
    ha_network: HaNetwork = HaNetwork()
    lab: Lab = Lab()
    # None: the metadata service answers from the ports (``netnode.metadata``).
    nova_metadata: NovaMetadata | None = None
    # Object id -> what the API keeps beside it (objects made through the API).
    metadata: dict[ObjectId, ApiMeta] = {}

    @model_validator(mode="before")
    @classmethod
    def _instances_from_ports(cls, data: Any) -> Any:
        """A lab instance naming a ``port`` takes its network, first address and MAC
        from it (the MAC derived from the port's id is filled in by ``loading``)."""
        if not isinstance(data, dict):
            return data
        lab, ports = data.get("lab"), data.get("ports")
        if not isinstance(lab, dict) or not isinstance(lab.get("instances"), list):
            return data
        by_name = {p.get("name"): p for p in ports or [] if isinstance(p, dict)}
        instances = []
        for i, inst in enumerate(lab["instances"]):
            name = inst.get("port") if isinstance(inst, dict) else None
            if isinstance(name, str):
                port = by_name.get(name)
                if port is None:
                    names = ", ".join(sorted(map(repr, map(str, by_name)))) or "none"
                    raise PydanticCustomError(
                        "unknown_port",
                        f"lab.instances[{i}].port: no port named {name!r} (the ports: {names})",
                    )
                inst = dict(inst)
                inst.setdefault("network", port.get("network"))
                fixed = port.get("fixed_ips") or []
                if fixed and isinstance(fixed[0], dict):
                    inst.setdefault("address", fixed[0].get("ip_address"))
                if port.get("mac_address"):
                    inst.setdefault("mac", port["mac_address"])
            instances.append(inst)
        return {**data, "lab": {**lab, "instances": instances}}

    def network(self, name: str) -> Network:
        for net in self.networks:
            if net.name == name:
                return net
        raise KeyError(name)

    def subnet_of(self, network: Network, address: IPv4Address) -> Subnet | None:
        for subnet in network.subnets:
            if address in subnet.cidr:
                return subnet
        return None

    def bridge_of(self, network: Network) -> str:
        if network.external:
            return network.bridge or "br-ex"
        return self.integration_bridge
