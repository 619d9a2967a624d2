"""Request and response bodies (pydantic), shared by both APIs: what FastAPI validates
and what the served OpenAPI document describes."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

from netnode.model.topology import (
    AlpnProtocol,
    CookieName,
    DomainName,
    ExpectedCodes,
    FilePath,
    FreeText,
    HealthMonitorType,
    HttpMethod,
    InsertHeader,
    L7CompareType,
    L7Key,
    L7RuleType,
    L7Value,
    ListenerProtocol,
    MacAddress,
    ObjectId,
    PoolProtocol,
    Port,
    ProjectId,
    RedirectUrl,
    TimeoutMs,
    TlsCiphers,
    TlsVersion,
    UrlPath,
)


def _integer(value: Any) -> Any:
    """JSON's integers only: pydantic alone would take ``true`` for 1 and "80" for 80."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    return value


# What request bodies take: JSON's own types, no coercion from strings or booleans (a
# quota of ``false`` must not become 0). Responses use plain int and bool.
Int = Annotated[int, BeforeValidator(_integer)]
Bool = StrictBool
Off = Annotated[Literal[False], BeforeValidator(_boolean)]  # a feature netnode lacks
PortNumber = Annotated[Port, BeforeValidator(_integer)]
Timeout = Annotated[TimeoutMs, BeforeValidator(_integer)]
Tags = Annotated[list[FreeText], Field(max_length=50)]
Weight = Annotated[Int, Field(ge=0, le=256)]
IdRef = dict[str, str]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Common(Body):
    name: FreeText | None = None
    description: FreeText | None = None
    tags: Tags | None = None


class Owned(Common):
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


# --- Octavia ------------------------------------------------------------------------------

Algorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]
InsertHeaders = dict[InsertHeader, Literal["true", "false", "True", "False"] | Bool]
TlsVersions = Annotated[list[TlsVersion], Field(max_length=5)]
AlpnProtocols = Annotated[list[AlpnProtocol], Field(max_length=3)]
Cidrs = Annotated[list[IPv4Network], Field(max_length=100)]
TcpInspect = Annotated[Int, Field(ge=0, le=2_147_483_647)]
RedirectCode = Literal[301, 302, 303, 307, 308]
# Octavia's position: 1-based; a position past the end appends.
Position = Annotated[Int, Field(ge=1, le=2_147_483_647)]


class LoadBalancerUpdate(Common):
    admin_state_up: Bool | None = None


class ListenerSettings(Common):
    """What a listener create and update both take."""

    admin_state_up: Bool | None = None
    connection_limit: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    default_pool_id: ObjectId | None = None
    insert_headers: InsertHeaders | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: TcpInspect | None = None
    allowed_cidrs: Cidrs | None = None
    default_tls_container_ref: FilePath | None = None
    sni_container_refs: Annotated[list[FilePath], Field(max_length=100)] | None = None
    client_authentication: Literal["NONE", "OPTIONAL", "MANDATORY"] | None = None
    client_ca_tls_container_ref: FilePath | None = None
    client_crl_container_ref: FilePath | None = None
    tls_ciphers: TlsCiphers | None = None
    tls_versions: TlsVersions | None = None
    alpn_protocols: AlpnProtocols | None = None
    hsts_max_age: TcpInspect | None = None
    hsts_include_subdomains: Bool | None = None
    hsts_preload: Bool | None = None


class ListenerCreate(ListenerSettings, Owned):
    loadbalancer_id: ObjectId
    protocol: ListenerProtocol
    protocol_port: PortNumber
    admin_state_up: Bool = True


class ListenerUpdate(ListenerSettings):
    pass


class SessionPersistenceBody(Body):
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    cookie_name: CookieName | None = None
    persistence_timeout: Annotated[Int, Field(ge=1, le=86400)] | None = None
    persistence_granularity: IPv4Address | None = None


class PoolSettings(Common):
    admin_state_up: Bool | None = None
    session_persistence: SessionPersistenceBody | None = None
    tls_enabled: Bool | None = None
    tls_container_ref: FilePath | None = None
    ca_tls_container_ref: FilePath | None = None
    crl_container_ref: FilePath | None = None
    tls_ciphers: TlsCiphers | None = None
    tls_versions: TlsVersions | None = None
    alpn_protocols: AlpnProtocols | None = None


class PoolCreate(PoolSettings, Owned):
    loadbalancer_id: ObjectId | None = None
    listener_id: ObjectId | None = None
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    admin_state_up: Bool = True


class PoolUpdate(PoolSettings):
    lb_algorithm: Algorithm | None = None


class MemberSettings(Common):
    admin_state_up: Bool | None = None
    weight: Weight | None = None
    backup: Bool | None = None
    monitor_address: IPv4Address | None = None
    monitor_port: PortNumber | None = None


class MemberCreate(MemberSettings, Owned):
    address: IPv4Address
    protocol_port: PortNumber
    subnet_id: ObjectId | None = None
    admin_state_up: Bool = True


class MemberUpdate(MemberSettings):
    pass


Retries = Annotated[Int, Field(ge=1, le=10)]
Seconds = Annotated[Int, Field(ge=1, le=3600)]


class HealthMonitorSettings(Common):
    delay: Seconds | None = None
    timeout: Seconds | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: Bool | None = None
    http_version: Literal[1.0, 1.1] | None = None  # type: ignore[valid-type]  # no float Literal
    domain_name: DomainName | None = None


class HealthMonitorCreate(HealthMonitorSettings, Owned):
    pool_id: ObjectId
    type: HealthMonitorType
    delay: Seconds
    timeout: Seconds
    max_retries: Retries
    max_retries_down: Retries = 3
    admin_state_up: Bool = True


class HealthMonitorUpdate(HealthMonitorSettings):
    pass


class L7RuleSettings(Common):
    type: L7RuleType | None = None
    compare_type: L7CompareType | None = None
    key: L7Key | None = None
    value: L7Value | None = None
    invert: Bool | None = None
    admin_state_up: Bool | None = None


class L7RuleCreate(L7RuleSettings, Owned):
    type: L7RuleType
    compare_type: L7CompareType
    value: L7Value
    invert: Bool = False
    admin_state_up: Bool = True


class L7RuleUpdate(L7RuleSettings):
    pass


class L7PolicySettings(Common):
    action: Literal["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"] | None = (
        None
    )
    position: Position | None = None
    redirect_pool_id: ObjectId | None = None
    redirect_url: RedirectUrl | None = None
    redirect_prefix: RedirectUrl | None = None
    redirect_http_code: RedirectCode | None = None
    admin_state_up: Bool | None = None


class L7PolicyCreate(L7PolicySettings, Owned):
    listener_id: ObjectId
    action: Literal["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"]
    admin_state_up: Bool = True
    rules: Annotated[list[L7RuleCreate], Field(max_length=50)] | None = None


class L7PolicyUpdate(L7PolicySettings):
    pass


# --- a fully populated load balancer (Octavia's *SingleCreate bodies) ------------------------
# The objects of the tree take what their one-by-one create takes, less the parent they
# belong to (the tree says it). A pool a listener or an L7 policy holds is either
# defined there (more than a name) or only named: a reference to a pool defined once,
# in ``pools`` or where it is first used.


class HealthMonitorSingleCreate(HealthMonitorSettings, Owned):
    type: HealthMonitorType
    delay: Seconds
    timeout: Seconds
    max_retries: Retries
    max_retries_down: Retries = 3
    admin_state_up: Bool = True


class PoolSingleCreate(PoolSettings, Owned):
    protocol: PoolProtocol | None = None
    lb_algorithm: Algorithm | None = None
    admin_state_up: Bool = True
    healthmonitor: HealthMonitorSingleCreate | None = None
    members: Annotated[list[MemberCreate], Field(max_length=1000)] | None = None


class L7PolicySingleCreate(L7PolicySettings, Owned):
    action: Literal["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"]
    admin_state_up: Bool = True
    rules: Annotated[list[L7RuleCreate], Field(max_length=50)] | None = None
    redirect_pool: PoolSingleCreate | None = None


class ListenerSingleCreate(ListenerSettings, Owned):
    protocol: ListenerProtocol
    protocol_port: PortNumber
    admin_state_up: Bool = True
    default_pool: PoolSingleCreate | None = None
    l7policies: Annotated[list[L7PolicySingleCreate], Field(max_length=50)] | None = None


class LoadBalancerCreate(Owned):
    vip_subnet_id: ObjectId | None = None
    vip_network_id: ObjectId | None = None
    vip_address: IPv4Address | None = None
    # A port made through Neutron's API: the VIP takes its address and MAC.
    vip_port_id: ObjectId | None = None
    admin_state_up: Bool = True
    provider: Literal["netnode", "amphora"] | None = None
    flavor_id: ObjectId | None = None
    # A zone of the nodes' (netnode.api.zones); its instances go only to its nodes.
    availability_zone: FreeText | None = None
    listeners: Annotated[list[ListenerSingleCreate], Field(max_length=100)] | None = None
    pools: Annotated[list[PoolSingleCreate], Field(max_length=100)] | None = None


class Wrapped(Body):
    """Octavia and Neutron wrap a body in the object's kind ({"loadbalancer": {...}})."""


def wrap(kind: str, inner: type[BaseModel]) -> type[BaseModel]:
    from pydantic import create_model

    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{inner.__name__}Request", __base__=Wrapped, **{kind: (inner, ...)}
    )


def wrap_out(kind: str, inner: type[BaseModel], many: bool = False) -> type[BaseModel]:
    from pydantic import create_model

    field_type: Any = list[inner] if many else inner  # type: ignore[valid-type]
    name = f"{inner.__name__}{'List' if many else ''}Response"
    return create_model(name, __base__=Out, **{kind: (field_type, ...)})  # type: ignore[call-overload,no-any-return]


class MemberBatchItem(Body):
    address: IPv4Address
    protocol_port: PortNumber
    name: FreeText | None = None
    weight: Weight | None = None
    subnet_id: ObjectId | None = None
    admin_state_up: Bool = True
    backup: Bool = False
    monitor_address: IPv4Address | None = None
    monitor_port: PortNumber | None = None
    tags: Tags | None = None
    project_id: ProjectId | None = None


class MemberBatch(Body):
    members: Annotated[list[MemberBatchItem], Field(max_length=1000)]


class LoadBalancerOut(Out):
    id: str
    name: str
    description: str
    project_id: str
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    vip_address: str
    vip_port_id: str
    vip_subnet_id: str | None
    vip_network_id: str
    listeners: list[IdRef]
    pools: list[IdRef]
    provider: str
    created_at: str | None
    updated_at: str | None
    tags: list[str]


class ListenerOut(Out):
    id: str
    name: str
    protocol: str
    protocol_port: int
    provisioning_status: str
    operating_status: str
    loadbalancers: list[IdRef]
    default_pool_id: str | None


class PoolOut(Out):
    id: str
    name: str
    protocol: str
    lb_algorithm: str
    provisioning_status: str
    operating_status: str
    loadbalancers: list[IdRef]
    listeners: list[IdRef]
    members: list[IdRef]
    healthmonitor_id: str | None


class MemberOut(Out):
    id: str
    name: str
    address: str
    protocol_port: int
    weight: int
    provisioning_status: str
    operating_status: str


class HealthMonitorOut(Out):
    id: str
    name: str
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int
    pools: list[IdRef]
    provisioning_status: str
    operating_status: str


class L7PolicyOut(Out):
    id: str
    name: str
    listener_id: str
    action: str
    position: int
    rules: list[IdRef]
    provisioning_status: str
    operating_status: str


class L7RuleOut(Out):
    id: str
    type: str
    compare_type: str
    value: str
    provisioning_status: str
    operating_status: str


# Octavia's LoadBalancerFullResponse, what a create answers: the load balancer with its
# whole tree, each object as its own GET shows it.


class L7PolicyFullOut(L7PolicyOut):
    rules: list[L7RuleOut]  # type: ignore[assignment]


class ListenerFullOut(ListenerOut):
    l7policies: list[L7PolicyFullOut]


class PoolFullOut(PoolOut):
    members: list[MemberOut]  # type: ignore[assignment]
    healthmonitor: HealthMonitorOut | None


class LoadBalancerFullOut(LoadBalancerOut):
    listeners: list[ListenerFullOut]  # type: ignore[assignment]
    pools: list[PoolFullOut]  # type: ignore[assignment]


class QuotaBody(Body):
    load_balancer: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    loadbalancer: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    listener: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    member: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    pool: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    health_monitor: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    healthmonitor: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    l7policy: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    l7rule: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None


class QuotaUpdate(Body):
    quota: QuotaBody


# --- Neutron ------------------------------------------------------------------------------


class NetworkCreate(Owned):
    admin_state_up: Bool = True
    shared: Bool = False
    router_external: Bool = Field(False, alias="router:external")
    provider_network_type: Literal["vlan", "flat"] | None = Field(
        None, alias="provider:network_type"
    )
    provider_physical_network: FreeText | None = Field(None, alias="provider:physical_network")
    provider_segmentation_id: Annotated[Int, Field(ge=1, le=4094)] | None = Field(
        None, alias="provider:segmentation_id"
    )
    mtu: Annotated[Int, Field(ge=68, le=9000)] | None = None
    port_security_enabled: Bool | None = None
    availability_zone_hints: list[FreeText] | None = None


class NetworkUpdate(Common):
    admin_state_up: Bool | None = None
    shared: Bool | None = None


class AllocationPool(Body):
    start: IPv4Address
    end: IPv4Address


class HostRoute(Body):
    destination: IPv4Network
    nexthop: IPv4Address


class SubnetCreate(Owned):
    network_id: ObjectId
    cidr: Annotated[str, Field(max_length=18, pattern=r"^[0-9./]+$")]
    ip_version: Literal[4] = 4
    gateway_ip: IPv4Address | None = None
    enable_dhcp: Bool = True  # Neutron's default (a topology file's is off)
    allocation_pools: Annotated[list[AllocationPool], Field(max_length=20)] | None = None
    dns_nameservers: Annotated[list[IPv4Address], Field(max_length=5)] | None = None
    host_routes: Annotated[list[HostRoute], Field(max_length=20)] | None = None
    subnetpool_id: None = None
    ipv6_ra_mode: None = None
    ipv6_address_mode: None = None


class SubnetUpdate(Common):
    enable_dhcp: Bool | None = None
    dns_nameservers: Annotated[list[IPv4Address], Field(max_length=5)] | None = None
    host_routes: Annotated[list[HostRoute], Field(max_length=20)] | None = None
    allocation_pools: Annotated[list[AllocationPool], Field(max_length=20)] | None = None


class FixedIp(Body):
    subnet_id: ObjectId | None = None
    ip_address: IPv4Address | None = None


class AddressPair(Body):
    ip_address: IPv4Network  # an address or a CIDR
    mac_address: MacAddress | None = None


class PortSettings(Common):
    """What a port create and update both take."""

    admin_state_up: Bool | None = None
    device_id: FreeText | None = None
    device_owner: FreeText | None = None
    fixed_ips: Annotated[list[FixedIp], Field(max_length=10)] | None = None
    allowed_address_pairs: Annotated[list[AddressPair], Field(max_length=10)] | None = Field(
        None,
        json_schema_extra={
            "x-netnode-ignored": "kept and shown; netnode has no anti-spoofing to open"
        },
    )
    binding_host_id: FreeText | None = Field(None, alias="binding:host_id")
    binding_vnic_type: Literal["normal"] | None = Field(None, alias="binding:vnic_type")
    binding_profile: dict[str, Any] | None = Field(
        None,
        alias="binding:profile",
        json_schema_extra={"x-netnode-ignored": "taken as Nova sends it; netnode reads none of it"},
    )
    # No security groups in netnode: none may be asked for, nor port security.
    security_groups: Annotated[list[ObjectId], Field(max_length=0)] | None = None
    port_security_enabled: Off | None = None


class PortCreate(PortSettings, Owned):
    network_id: ObjectId
    mac_address: MacAddress | None = None


class PortUpdate(PortSettings):
    pass


class GatewayInfo(Body):
    network_id: ObjectId
    enable_snat: Bool | None = None
    external_fixed_ips: Annotated[list[FixedIp], Field(max_length=1)] | None = None


def _no_gateway(value: Any) -> Any:
    """Neutron takes ``external_gateway_info: {}`` as no gateway (Tempest's routers)."""
    return None if value == {} else value


class RouterCreate(Owned):
    admin_state_up: Bool = True
    external_gateway_info: Annotated[GatewayInfo | None, BeforeValidator(_no_gateway)] = None
    distributed: Off | None = None
    # Neutron's l3-ha: two instances on two nodes of a cluster (an admin's choice).
    ha: Bool | None = None
    availability_zone_hints: list[FreeText] | None = None


class Route(Body):
    """One of a router's extra routes (Neutron's ``extraroute``)."""

    destination: IPv4Network
    nexthop: IPv4Address


Routes = Annotated[list[Route], Field(max_length=30)]


class RouterUpdate(Common):
    admin_state_up: Bool | None = None
    ha: Bool | None = None  # taken to say why it cannot change (routers.py)
    external_gateway_info: GatewayInfo | dict[str, Any] | None = None
    routes: Routes | None = None


class RouterRoutes(Body):
    """``add_extraroutes`` / ``remove_extraroutes`` (Neutron's ``extraroute-atomic``)."""

    routes: Routes


class RouterInterface(Body):
    subnet_id: ObjectId | None = None
    port_id: ObjectId | None = None


class FloatingIPCreate(Owned):
    floating_network_id: ObjectId
    floating_ip_address: IPv4Address | None = None
    subnet_id: ObjectId | None = None
    port_id: ObjectId | None = None
    fixed_ip_address: IPv4Address | None = None
    dns_domain: None = None
    dns_name: None = None
    qos_policy_id: None = None


class FloatingIPUpdate(Body):
    port_id: ObjectId | None = None
    fixed_ip_address: IPv4Address | None = None
    description: FreeText | None = None
    qos_policy_id: None = None


class NetworkOut(Out):
    id: str
    name: str
    status: str
    subnets: list[str]
    shared: bool
    project_id: str


class SubnetOut(Out):
    id: str
    name: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    ip_version: int


class RouterOut(Out):
    id: str
    name: str
    status: str
    external_gateway_info: dict[str, Any] | None
    project_id: str


class FloatingIPOut(Out):
    id: str
    floating_ip_address: str
    floating_network_id: str
    port_id: str | None
    fixed_ip_address: str | None
    router_id: str | None
    status: str
    project_id: str


class PortOut(Out):
    id: str
    network_id: str
    fixed_ips: list[dict[str, str | None]]
    device_owner: str
    device_id: str
    project_id: str


# --- errors ---------------------------------------------------------------------------------


class OctaviaFault(BaseModel):
    """Octavia's error body."""

    faultcode: Literal["Client", "Server"]
    faultstring: str
    debuginfo: None


class NeutronErrorDetail(BaseModel):
    type: str
    message: str
    detail: str


class NeutronFault(BaseModel):
    """Neutron's error body."""

    NeutronError: NeutronErrorDetail
