"""Request and response bodies (pydantic), shared by both APIs: what FastAPI validates
and what the served OpenAPI document describes."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

from netnode.model.topology import (
    ExpectedCodes,
    FreeText,
    ObjectId,
    Port,
    ProjectId,
    TimeoutMs,
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

Algorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]
Protocol = Literal["HTTP", "TCP"]


class LoadBalancerCreate(Owned):
    vip_subnet_id: ObjectId | None = None
    vip_network_id: ObjectId | None = None
    vip_address: IPv4Address | None = None
    admin_state_up: Bool = True
    provider: Literal["netnode", "amphora"] | None = None
    flavor_id: None = None
    availability_zone: None = None


class LoadBalancerUpdate(Common):
    admin_state_up: Bool | None = None


class ListenerCreate(Owned):
    loadbalancer_id: ObjectId
    protocol: Protocol
    protocol_port: PortNumber
    admin_state_up: Bool = True
    connection_limit: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    default_pool_id: ObjectId | None = None
    insert_headers: dict[Literal["X-Forwarded-For"], Literal["true", "false"] | Bool] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None


class ListenerUpdate(Common):
    admin_state_up: Bool | None = None
    connection_limit: Annotated[Int, Field(ge=-1, le=1_000_000)] | None = None
    default_pool_id: ObjectId | None = None
    insert_headers: dict[Literal["X-Forwarded-For"], Literal["true", "false"] | Bool] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None


class PoolCreate(Owned):
    loadbalancer_id: ObjectId | None = None
    listener_id: ObjectId | None = None
    protocol: Protocol
    lb_algorithm: Algorithm
    admin_state_up: Bool = True
    session_persistence: None = None
    tls_enabled: Off = False


class PoolUpdate(Common):
    admin_state_up: Bool | None = None
    lb_algorithm: Algorithm | None = None
    session_persistence: None = None


class MemberCreate(Owned):
    address: IPv4Address
    protocol_port: PortNumber
    weight: Weight | None = None
    subnet_id: ObjectId | None = None
    admin_state_up: Bool = True
    backup: Off = False
    monitor_address: None = None
    monitor_port: None = None


class MemberUpdate(Common):
    admin_state_up: Bool | None = None
    weight: Weight | None = None
    backup: Off | None = None
    monitor_address: None = None
    monitor_port: None = None


class HealthMonitorCreate(Owned):
    pool_id: ObjectId
    type: Literal["HTTP", "TCP"]
    delay: Annotated[Int, Field(ge=1, le=3600)]
    timeout: Annotated[Int, Field(ge=1, le=3600)]
    max_retries: Annotated[Int, Field(ge=1, le=10)]
    max_retries_down: Annotated[Int, Field(ge=1, le=10)] = 3
    http_method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: Bool = True
    http_version: Literal[1.0, 1.1] | None = None
    domain_name: None = None


class HealthMonitorUpdate(Common):
    delay: Annotated[Int, Field(ge=1, le=3600)] | None = None
    timeout: Annotated[Int, Field(ge=1, le=3600)] | None = None
    max_retries: Annotated[Int, Field(ge=1, le=10)] | None = None
    max_retries_down: Annotated[Int, Field(ge=1, le=10)] | None = None
    http_method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: Bool | None = None


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
    backup: Off = False
    monitor_address: None = None
    monitor_port: None = None
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
    provider_network_type: Literal["vlan", "flat"] | None = Field(None, alias="provider:network_type")
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


class SubnetCreate(Owned):
    network_id: ObjectId
    cidr: Annotated[str, Field(max_length=18, pattern=r"^[0-9./]+$")]
    ip_version: Literal[4] = 4
    gateway_ip: IPv4Address | None = None
    enable_dhcp: Bool | None = None
    allocation_pools: list[AllocationPool] | None = None
    dns_nameservers: list[IPv4Address] | None = None
    host_routes: Annotated[list[Any], Field(max_length=0)] | None = None
    subnetpool_id: None = None
    ipv6_ra_mode: None = None
    ipv6_address_mode: None = None


class SubnetUpdate(Common):
    enable_dhcp: Bool | None = None
    dns_nameservers: list[IPv4Address] | None = None


class FixedIp(Body):
    subnet_id: ObjectId | None = None
    ip_address: IPv4Address | None = None


class GatewayInfo(Body):
    network_id: ObjectId
    enable_snat: Bool | None = None
    external_fixed_ips: Annotated[list[FixedIp], Field(max_length=1)] | None = None


class RouterCreate(Owned):
    admin_state_up: Bool = True
    external_gateway_info: GatewayInfo | None = None
    distributed: Off | None = None
    ha: Off | None = None
    availability_zone_hints: list[FreeText] | None = None


class RouterUpdate(Common):
    admin_state_up: Bool | None = None
    external_gateway_info: GatewayInfo | dict[str, Any] | None = None
    routes: Annotated[list[Any], Field(max_length=0)] | None = None


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
