"""The desired state: a typed, validated description of a network node.

Pure data (pydantic v2). Field names and value sets follow Octavia and Neutron so the
same words work in the topology file and, later, the REST API. Schema rules live here;
rules that relate objects to each other live in ``validation.py``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Names end up in HAProxy sections, namespace names and shell commands: a conservative
# alphabet with no space, quote, '#' or newline cannot inject into any of them.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
# An id given explicitly (the API does); otherwise derived, see ids.stable_id.
ObjectId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
InterfaceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")]
MacAddress = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$", to_lower=True)
]
Port = Annotated[int, Field(ge=1, le=65535)]
# What a lab instance answers: printable text on one line, no double quote or backslash
# (it is written into HAProxy's config as a quoted string).
Body = Annotated[str, StringConstraints(pattern=r"^[ -!#-\[\]-~]{1,200}$")]
UrlPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,1000}$")]
ExpectedCodes = Annotated[str, StringConstraints(pattern=r"^[1-5][0-9]{2}([-,][1-5][0-9]{2})*$")]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


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


class Subnet(Named):
    cidr: IPv4Network
    gateway_ip: IPv4Address | None = None


class Network(Named):
    """A tenant network (a VLAN on the integration bridge) or an external network (a
    bridge of its own, br-ex by default, as Neutron's provider network on physnet)."""

    external: bool = False
    segmentation_id: Annotated[int, Field(ge=1, le=4094)] | None = None
    bridge: InterfaceName | None = None
    physical_interface: InterfaceName | None = None
    subnets: list[Subnet] = []


# --- load balancers (Octavia v2 names) ------------------------------------------------


class HealthMonitor(Base):
    # Octavia gives a monitor an id of its own; left out, it is derived from the pool's.
    id: ObjectId | None = None
    type: Literal["TCP", "HTTP"]
    delay: Annotated[int, Field(ge=1, le=3600)] = 5
    timeout: Annotated[int, Field(ge=1, le=3600)] = 5
    max_retries: Annotated[int, Field(ge=1, le=10)] | None = None
    max_retries_down: Annotated[int, Field(ge=1, le=10)] = 3
    http_method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] = "GET"
    url_path: UrlPath = "/"
    expected_codes: ExpectedCodes = "200"
    admin_state_up: bool = True

    @property
    def uid(self) -> str:
        if self.id is None:
            raise RuntimeError("health monitor has no id yet")
        return self.id


class Member(Named):
    address: IPv4Address
    protocol_port: Port
    weight: Annotated[int, Field(ge=0, le=256)] = 1
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


class Pool(Named):
    protocol: Literal["HTTP", "TCP"] = "HTTP"
    lb_algorithm: Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"] = "ROUND_ROBIN"
    members: list[Member] = []
    healthmonitor: HealthMonitor | None = None
    admin_state_up: bool = True
    failover: Failover = Failover()


# Milliseconds, 1 ms up to HAProxy's largest timeout (2^31 - 1 ms, about 24.8 days).
TimeoutMs = Annotated[int, Field(ge=1, le=2_147_483_647)]

# Octavia's listener timeouts (ms). A member's connect timeout is 1 s, not Octavia's
# 5 s: a member whose packets vanish (no RST) is retried on another one after 1 s
# instead of holding the client for 5 s; connecting inside a data centre takes
# microseconds to milliseconds.
DEFAULT_TIMEOUT_CLIENT_DATA = 50_000
DEFAULT_TIMEOUT_MEMBER_CONNECT = 1_000
DEFAULT_TIMEOUT_MEMBER_DATA = 50_000


class Listener(Named):
    protocol: Literal["HTTP", "TCP"] = "HTTP"
    protocol_port: Port
    # Octavia: -1 means unlimited.
    connection_limit: Annotated[int, Field(ge=-1, le=1_000_000)] = -1
    insert_headers: dict[Literal["X-Forwarded-For"], bool] = {}
    default_pool: Name | None = None
    admin_state_up: bool = True
    # Client inactivity (the frontend's "timeout client").
    timeout_client_data: TimeoutMs = DEFAULT_TIMEOUT_CLIENT_DATA
    # Connecting to a member and member inactivity (the default pool's backend:
    # "timeout connect", "timeout server"); listeners sharing a pool must agree.
    timeout_member_connect: TimeoutMs = DEFAULT_TIMEOUT_MEMBER_CONNECT
    timeout_member_data: TimeoutMs = DEFAULT_TIMEOUT_MEMBER_DATA

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


class LoadBalancer(Named):
    vip: Vip
    listeners: list[Listener] = []
    pools: list[Pool] = []
    admin_state_up: bool = True


# --- routers (Neutron L3) --------------------------------------------------------------


class ExternalGateway(Base):
    network: Name
    ip_address: IPv4Address
    enable_snat: bool = True


class Router(Named):
    external_gateway: ExternalGateway | None = None
    # Subnet names; the router's qr- port takes each subnet's gateway_ip.
    interfaces: list[Name] = []


class FloatingIP(Named):
    floating_ip_address: IPv4Address
    # The external network; may be left out when there is only one.
    network: Name | None = None
    # What it maps to: an instance's address or a load balancer's VIP. None: unbound.
    fixed_ip_address: IPv4Address | None = None
    # The fixed address's network; may be left out when only one network holds it.
    fixed_network: Name | None = None


# --- lab ---------------------------------------------------------------------------------


class Instance(Named):
    """A simulated VM: a namespace with a port on a network, answering HTTP with body."""

    network: Name
    address: IPv4Address
    mac: MacAddress | None = None
    body: Body
    protocol_port: Port = 80


class Client(Named):
    """A lab host outside the cloud (the external network's upstream side)."""

    network: Name
    address: IPv4Address
    # Clients answer HTTP too (with the caller's source address) so SNAT can be seen.
    protocol_port: Port = 80


class Lab(Base):
    instances: list[Instance] = []
    clients: list[Client] = []


# --- what the API keeps beside an object ----------------------------------------------------

# Free text as OpenStack allows it in names and descriptions, minus control characters.
FreeText = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")]
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


# --- the whole file ------------------------------------------------------------------------


class Topology(Base):
    name: Name | None = None
    integration_bridge: InterfaceName = "br-int"
    networks: list[Network] = []
    load_balancers: list[LoadBalancer] = []
    routers: list[Router] = []
    floating_ips: list[FloatingIP] = []
    lab: Lab = Lab()
    # Object id -> what the API keeps beside it (objects made through the API).
    metadata: dict[ObjectId, ApiMeta] = {}

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
