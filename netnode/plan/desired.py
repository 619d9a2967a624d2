"""From a topology to the host netnode wants (pure).

This is where Neutron's and Octavia's conventions become host objects: ``qlbaas-``,
``qrouter-`` and ``qlab-`` namespaces, ``tap``/``qr-``/``qg-`` ports named from ids,
the sysctls a router namespace needs, HAProxy configs, the router's NAT rules and the
load balancer's ``allowed_cidrs`` filter.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import partial
from ipaddress import IPv4Address, IPv4Interface
from pathlib import PurePath

from netnode.errors import Problem, TopologyError
from netnode.model import ids
from netnode.model.topology import (
    Client,
    FloatingIP,
    Instance,
    LoadBalancer,
    Network,
    NetworkPort,
    Router,
    Subnet,
    Topology,
)
from netnode.plan import metadata as metadata_plan
from netnode.plan import tls_files
from netnode.plan.memo import Memo, Pass
from netnode.plan.spec import (
    BridgeSpec,
    FirewallSpec,
    Forwarded,
    GuestTag,
    HostSpec,
    NamespaceSpec,
    PlugSpec,
    PortSpec,
    ProcessSpec,
    UdpSpec,
)
from netnode.plan.units import Unit, assemble
from netnode.render.conntrackd import Conntrackd, transition_script
from netnode.render.conntrackd import files as conntrackd_files
from netnode.render.conntrackd import render as render_conntrackd
from netnode.render.dnsmasq import METADATA_CIDR, DhcpHost, DhcpServer, DhcpSubnet
from netnode.render.dnsmasq import bundle as dnsmasq_bundle
from netnode.render.dnsmasq import files as dnsmasq_files
from netnode.render.flow_log import NO_PROJECT, FlowLog
from netnode.render.haproxy import render_lab_client, render_lab_instance, render_loadbalancer
from netnode.render.iptables import FloatingIPNat, PortForwardingNat, RouterNat
from netnode.render.keepalived import (
    PROFILES,
    TrackProcess,
    VirtualAddress,
    VirtualRoute,
    instance,
)
from netnode.render.keepalived import files as keepalived_files
from netnode.render.keepalived import render as render_keepalived
from netnode.render.lb_filter import ListenerFilter, LoadBalancerFilter, PeerFilter
from netnode.render.nftables import udp_balancer
from netnode.render.peers import of as peers_of
from netnode.udpcheck.config import CheckerConfig, monitors

# Every namespace: the seed's promote_secondaries (an address removal keeps the others).
BASE_SYSCTLS = (("net.ipv4.conf.all.promote_secondaries", "1"),)
# A router namespace, as Neutron's L3 agent sets it up.
ROUTER_SYSCTLS = (
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv4.conf.all.arp_ignore", "1"),
    ("net.ipv4.conf.all.arp_announce", "2"),
    *BASE_SYSCTLS,
)
# A load balancer namespace forwards only when the kernel balances UDP listeners there
# (DNAT to the members; netnode's nftables table forwards nothing else).
UDP_LB_SYSCTLS = (("net.ipv4.ip_forward", "1"), *BASE_SYSCTLS)


def process_name(kind: str, object_id: str) -> str:
    return f"{kind}-{object_id}"


def stats_socket(run_dir: PurePath, name: str) -> str:
    return str(run_dir / name / "stats.sock")


def metrics_socket(run_dir: PurePath, name: str) -> str:
    """HAProxy's Prometheus exporter, for netnode alone (``netnode.render.exporter``)."""
    return str(run_dir / name / "prom.sock")


def state_file(run_dir: PurePath, name: str) -> str:
    return str(run_dir / name / "server-state")


def haproxy_config(run_dir: PurePath, name: str) -> str:
    """Where HAProxy's configuration of ``name`` lives (drivers.haproxy's layout)."""
    return str(run_dir / name / "haproxy.cfg")


# The longest path a unix socket address takes (sun_path holds 108 bytes with the NUL).
MAX_UNIX_PATH = 107


def flow_log_socket(run_dir: PurePath) -> PurePath:
    """The unix datagram socket the node's HAProxies send their logs to; the netnode
    process running the node's reconcile loop receives them (``drivers.flow_logs``)."""
    return run_dir.parent / "syslog" / "haproxy.sock"


def flow_logs_dir(run_dir: PurePath) -> PurePath:
    """Where each load balancer's flow log (``<lb id>.log``) and administrative log
    (``<lb id>.admin.log``) are written."""
    return run_dir.parent / "logs"


def keepalived_dir(run_dir: PurePath) -> PurePath:
    """Where the keepalived processes of a node live (one directory per name)."""
    return run_dir.parent / "keepalived"


def conntrackd_dir(run_dir: PurePath) -> PurePath:
    """Where the conntrackd processes of a node live (one directory per name)."""
    return run_dir.parent / "conntrackd"


def dnsmasq_dir(run_dir: PurePath) -> PurePath:
    """Where the DHCP servers (dnsmasq) of a node live, their leases with them."""
    return run_dir.parent / "dhcp"


def udp_root(run_dir: PurePath) -> PurePath:
    """Where the UDP tables' records and health live (beside HAProxy's run directory)."""
    return run_dir.parent / "udp"


def build(
    topo: Topology,
    node: str,
    run_dir: PurePath,
    digests: Mapping[str, str] | None = None,
    memo: Memo[Unit] | None = None,
) -> HostSpec:
    """The desired host for ``topo``. ``run_dir`` is where HAProxy's files live.

    ``digests`` (file -> sha256) are those of the certificate files the topology names,
    as ``netnode.reconcile.certificates`` read and checked them: each is copied into
    its process's directory under a name made of its digest (``tls_files``)."""
    parts = build_units(topo, node, run_dir, digests, memo)
    return assemble(node, name_of(topo), parts, *attachments(topo, node))


def attachments(topo: Topology, node: str) -> tuple[tuple[PlugSpec, ...], tuple[GuestTag, ...]]:
    """What of ``topo``'s ports is plugged on this node's bridges: the host interfaces
    netnode plugs (``plug.interface``, of ports bound to this node or to none), and the
    tag each port of a tenant network gets wherever someone else plugs it into the
    integration bridge with its id as ``iface-id``."""
    plugs: list[PlugSpec] = []
    guests: list[GuestTag] = []
    for port in topo.ports:
        net = topo.network(port.network)
        tag = None if net.external else net.segmentation_id
        assert port.mac_address is not None, "loading derives every port's MAC"
        if port.plug is not None and port.binding_host_id in ("", node):
            plugs.append(
                PlugSpec(port.plug.interface, topo.bridge_of(net), tag, port.uid, port.mac_address)
            )
        elif tag is not None:
            guests.append(GuestTag(port.uid, topo.integration_bridge, tag))
    return tuple(plugs), tuple(guests)


def name_of(topo: Topology) -> str:
    """The desired host's topology name (what its record and its OVS ports carry)."""
    return topo.name or "topology"


def build_units(
    topo: Topology,
    node: str,
    run_dir: PurePath,
    digests: Mapping[str, str] | None = None,
    memo: Memo[Unit] | None = None,
) -> tuple[Unit, ...]:
    """The units of the desired host for ``topo`` (see ``build``), in the host's order:
    DHCP servers, lab instances, lab clients, load balancers (after the lab's servers: members answer
    their first health check), routers.

    With a ``memo``, a unit whose key is the same as in the last build is taken from
    it, not made again. A unit's key holds everything its maker reads: the object, its
    network(s) (a router: all networks and floating IPs), the bridge names, the node,
    the run directory and the digests of its certificate files."""
    digests = digests or {}
    made: Pass[Unit] = Pass(memo, name_of(topo))
    context = (node, str(run_dir))
    networks = {n.name: made.json(n) for n in topo.networks}

    def files_of(refs: Iterable[tls_files.Reference]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted({(r.file, digests[r.file]) for r in refs if r.file in digests}))

    parts: list[Unit] = []
    for net in topo.networks:
        if not dhcp_subnets(net):
            continue
        key = ("dhcp", networks[net.name], *context, topo.integration_bridge)
        key += tuple(made.json(p) for p in topo.ports if p.network == net.name)
        key += tuple(made.json(r) for r in topo.routers)
        parts.append(made.get(key, partial(_dhcp, topo, net, run_dir)))
    for inst in topo.lab.instances:
        net = topo.network(inst.network)
        files = files_of(tls_files.instance_references(inst, "instance"))
        key = ("instance", made.json(inst), networks[net.name], *context, files)
        key += (topo.bridge_of(net),)
        key += tuple(made.json(p) for p in topo.ports if p.name == inst.port)
        parts.append(made.get(key, partial(_instance, topo, inst, run_dir, dict(files))))
    for client in topo.lab.clients:
        net = topo.network(client.network)
        key = ("client", made.json(client), networks[net.name], *context)
        key += (topo.bridge_of(net),)
        parts.append(made.get(key, partial(_client, topo, client, run_dir)))
    for lb in topo.load_balancers:
        net = topo.network(lb.vip.network)
        files = files_of(tls_files.lb_references(lb, "load_balancer"))
        key = ("loadbalancer", made.json(lb), networks[net.name], *context, files)
        key += (topo.bridge_of(net),)
        parts.append(made.get(key, partial(_load_balancer, topo, lb, run_dir, dict(files))))
    if topo.routers:
        shared = (
            topo.integration_bridge,
            *networks.values(),
            *(made.json(f) for f in topo.floating_ips),
        )
        shared += (made.json(topo.ha_network),)
        for router in topo.routers:
            if not router.admin_state_up:
                continue  # down: not built at all, as Neutron's L3 agent does
            key = ("router", made.json(router), *context, *shared)
            parts.append(made.get(key, partial(_router, topo, router, node, run_dir)))
    made.done()
    return tuple(parts)


def _bridge(topo: Topology, net: Network) -> BridgeSpec:
    phys = net.physical_interface if net.external else None
    return BridgeSpec(
        name=topo.bridge_of(net), physical_interface=phys, network=net.uid if phys else None
    )


def _gateway_of(topo: Topology, net: Network, address: IPv4Address) -> str | None:
    subnet = topo.subnet_of(net, address)
    if subnet is None or subnet.gateway_ip is None or net.external:
        return None
    return str(subnet.gateway_ip)


def _cidr(topo: Topology, net: Network, address: IPv4Address, prefix: int | None = None) -> str:
    if prefix is None:
        subnet = topo.subnet_of(net, address)
        assert subnet is not None, "validated: every held address is in a subnet"
        prefix = subnet.cidr.prefixlen
    return f"{address}/{prefix}"


def _port(
    topo: Topology,
    prefix: str,
    owner: str,
    net: Network,
    ns: str,
    addresses: tuple[str, ...],
    mac: str | None = None,
) -> PortSpec:
    return PortSpec(
        name=ids.ifname(prefix, owner),
        bridge=topo.bridge_of(net),
        namespace=ns,
        tag=None if net.external else net.segmentation_id,
        mac=mac,
        addresses=addresses,
        owner=owner,
    )


def dhcp_subnets(net: Network) -> tuple[Subnet, ...]:
    """The subnets of ``net`` that DHCP serves (a tenant network's, with enable_dhcp)."""
    if net.external:
        return ()
    return tuple(s for s in net.subnets if s.dhcp_address is not None)


def _dhcp(topo: Topology, net: Network, run_dir: PurePath) -> Unit:
    """A network's DHCP unit, as Neutron's DHCP agent builds it: namespace
    ``qdhcp-<network id>``, a port ``tap<11 characters of the DHCP port's id>`` on the
    integration bridge with the network's tag, holding each DHCP subnet's
    ``dhcp_address``, and dnsmasq bound to it.

    When a DHCP subnet of the network has no router, its machines ask this namespace
    for their metadata (Neutron's isolated metadata): the DHCP port also holds
    169.254.169.254, where the network's metadata proxy answers with
    ``X-Neutron-Network-ID`` (DHCP gives those machines the route to it, option 121)."""
    ns = ids.dhcp_namespace(net.uid)
    port_id = ids.dhcp_port_id(net.uid)
    subnets = dhcp_subnets(net)
    routed = {name for r in topo.routers for name in r.interfaces}
    isolated = any(s.name not in routed for s in subnets)
    addresses = tuple(_cidr(topo, net, s.dhcp_address) for s in subnets if s.dhcp_address)
    if isolated:
        addresses += (METADATA_CIDR,)
    port = _port(topo, "tap", port_id, net, ns, addresses, ids.port_mac(port_id))
    name = process_name("dhcp", net.uid)
    server = DhcpServer(
        interface=port.name,
        subnets=tuple(_dhcp_subnet(s, s.name not in routed) for s in subnets),
        hosts=tuple(
            host
            for p in topo.ports
            if p.network == net.name and p.admin_state_up
            for host in _dhcp_hosts(p, subnets)
        ),
    )
    config = dnsmasq_bundle(server, dnsmasq_files(str(dnsmasq_dir(run_dir) / name)))
    return Unit(
        NamespaceSpec(ns, "dhcp", net.uid, BASE_SYSCTLS, None),
        bridges=(_bridge(topo, net),),
        ports=(port,),
        processes=(
            ProcessSpec(name, ns, "dhcp", config, program="dnsmasq"),
            *((metadata_plan.network_proxy(net, ns, run_dir),) if isolated else ()),
        ),
    )


def _dhcp_subnet(subnet: Subnet, metadata: bool) -> DhcpSubnet:
    """A subnet as dnsmasq serves it: its host routes, then (``metadata``: no router
    serves the subnet) the metadata address via the DHCP port, then the default route
    via the gateway (a client given option 121 takes no other)."""
    assert subnet.dhcp_address is not None
    routes = [(str(r.destination), str(r.nexthop)) for r in subnet.host_routes]
    if metadata:
        routes.append((METADATA_CIDR, str(subnet.dhcp_address)))
    if subnet.gateway_ip is not None and "0.0.0.0/0" not in {d for d, _ in routes}:
        routes.append(("0.0.0.0/0", str(subnet.gateway_ip)))
    return DhcpSubnet(
        tag=f"subnet-{subnet.uid}",
        network=str(subnet.cidr.network_address),
        netmask=str(subnet.cidr.netmask),
        gateway=None if subnet.gateway_ip is None else str(subnet.gateway_ip),
        dns_servers=tuple(str(a) for a in subnet.dns_nameservers),
        routes=tuple(routes),
    )


def _dhcp_hosts(port: NetworkPort, subnets: tuple[Subnet, ...]) -> Iterable[DhcpHost]:
    """The port's host entries: one per address on a DHCP subnet, named by its
    ``hostname``, else its name when that is a host name, else Neutron's
    ``host-10-0-0-5``."""
    assert port.mac_address is not None, "loading derives every port's MAC"
    for fixed in port.fixed_ips:
        if any(fixed.ip_address in s.cidr for s in subnets):
            yield DhcpHost(
                port.mac_address, str(fixed.ip_address), _hostname(port, fixed.ip_address)
            )


def _hostname(port: NetworkPort, address: IPv4Address) -> str:
    if port.hostname is not None:
        return port.hostname
    if HOST_NAME.fullmatch(port.name):
        return port.name
    return "host-" + str(address).replace(".", "-")


# One DNS label (what ``NetworkPort.hostname`` takes).
HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _instance(
    topo: Topology, inst: Instance, run_dir: PurePath, digests: Mapping[str, str]
) -> Unit:
    net = topo.network(inst.network)
    ns = ids.lab_namespace(inst.uid)
    name = process_name("lab", inst.uid)
    paths, files = tls_files.installed(
        tls_files.instance_references(inst, "instance"), digests, run_dir / name
    )
    config = render_lab_instance(inst, stats_socket=stats_socket(run_dir, name), tls_files=paths)
    processes = [ProcessSpec(name, ns, "instance", config, files)]
    if inst.udp_port is not None:
        processes.append(
            ProcessSpec(
                process_name("udplab", inst.uid),
                ns,
                "instance",
                json.dumps(
                    {"address": str(inst.address), "port": inst.udp_port, "body": inst.body}
                ),
                program="netnode.lab.udp_server",
            )
        )
    namespace = NamespaceSpec(
        ns, "instance", inst.uid, BASE_SYSCTLS, _gateway_of(topo, net, inst.address)
    )
    # The tap of an instance that is a port's machine is named for the port, as Nova's.
    tap_id = next((p.uid for p in topo.ports if p.name == inst.port), inst.uid)
    port = _port(topo, "tap", tap_id, net, ns, (_cidr(topo, net, inst.address),), inst.mac)
    if inst.dhcp:
        # The address and the routes are the DHCP client's; HAProxy binds the address
        # before the lease comes.
        port = replace(port, addresses=(), managed_elsewhere=port.addresses)
        namespace = replace(
            namespace,
            sysctls=(*BASE_SYSCTLS, ("net.ipv4.ip_nonlocal_bind", "1")),
            default_gateway=None,
            route_elsewhere=True,
        )
        processes.append(
            ProcessSpec(
                process_name("dhcpc", inst.uid),
                ns,
                "instance",
                json.dumps({"interface": port.name}),
                program="netnode.lab.dhcp_client",
            )
        )
    return Unit(
        namespace,
        bridges=(_bridge(topo, net),),
        ports=(port,),
        processes=tuple(processes),
    )


def _client(topo: Topology, client: Client, run_dir: PurePath) -> Unit:
    net = topo.network(client.network)
    ns = ids.lab_namespace(client.uid)
    name = process_name("client", client.uid)
    config = render_lab_client(client, stats_socket=stats_socket(run_dir, name))
    return Unit(
        NamespaceSpec(ns, "client", client.uid, BASE_SYSCTLS, None),
        bridges=(_bridge(topo, net),),
        ports=(_port(topo, "tap", client.uid, net, ns, (_cidr(topo, net, client.address),)),),
        processes=(ProcessSpec(name, ns, "client", config),),
    )


def _load_balancer(
    topo: Topology, lb: LoadBalancer, run_dir: PurePath, digests: Mapping[str, str]
) -> Unit:
    net = topo.network(lb.vip.network)
    ns = ids.lb_namespace(lb.host_id)
    balancer = udp_balancer(lb)
    sysctls = BASE_SYSCTLS if balancer is None else UDP_LB_SYSCTLS
    name = process_name("lb", lb.host_id)
    paths, files = tls_files.installed(
        tls_files.lb_references(lb, "load_balancer"), digests, run_dir / name
    )
    config = render_loadbalancer(
        lb,
        stats_socket=stats_socket(run_dir, name),
        state_file=state_file(run_dir, name),
        tls_files=paths,
        metrics_socket=metrics_socket(run_dir, name),
        flow_log=_flow_log(topo, lb, run_dir),
    )
    processes = [ProcessSpec(name, ns, "loadbalancer", config, files)]
    udp: tuple[UdpSpec, ...] = ()
    if balancer is not None:
        udp = (UdpSpec(ns, balancer),)
        checks = monitors(lb, balancer)
        if checks:
            checker = CheckerConfig(ns, str(udp_root(run_dir)), balancer, checks)
            processes.append(
                ProcessSpec(
                    process_name("udpcheck", lb.host_id),
                    ns,
                    "loadbalancer",
                    checker.dumps(),
                    program="netnode.udpcheck",
                )
            )
    port = _port(topo, "tap", lb.host_id, net, ns, (_cidr(topo, net, lb.vip.address),), lb.vip.mac)
    if lb.topology == "ACTIVE_STANDBY":
        port, keepalived = _standby_pair(topo, lb, net, ns, run_dir, name)
        # keepalived tracks this HAProxy by the name it runs under.
        processes[0] = replace(processes[0], executable=haproxy_executable(lb.host_id))
        processes.append(keepalived)
        # HAProxy binds the VIP on both instances; keepalived puts it on the master.
        sysctls = (*sysctls, ("net.ipv4.ip_nonlocal_bind", "1"))
    return Unit(
        NamespaceSpec(ns, "loadbalancer", lb.uid, sysctls, _gateway_of(topo, net, lb.vip.address)),
        bridges=(_bridge(topo, net),),
        ports=(port,),
        processes=tuple(processes),
        firewalls=(FirewallSpec(ns, _lb_filter(lb)),),
        udp=udp,
    )


def _flow_log(topo: Topology, lb: LoadBalancer, run_dir: PurePath) -> FlowLog | None:
    """Where the load balancer's logs go, with its project (the API's owner; none for
    a load balancer of a topology file); None when the socket's path is too long."""
    socket = str(flow_log_socket(run_dir))
    if len(socket.encode()) > MAX_UNIX_PATH:
        return None
    meta = topo.metadata.get(lb.uid)
    return FlowLog(socket, NO_PROJECT if meta is None else meta.project_id, lb.uid)


def _standby_pair(
    topo: Topology, lb: LoadBalancer, net: Network, ns: str, run_dir: PurePath, haproxy: str
) -> tuple[PortSpec, ProcessSpec]:
    """One instance of an ACTIVE_STANDBY load balancer: its port holds its own VRRP
    address (the VIP is keepalived's), and its keepalived: VRRPv3 unicast to the other
    instance's address, priority 100 as the pair's MASTER and 90 as its BACKUP,
    nopreempt (a returning instance never takes the VIP back), HAProxy tracked (a dead
    HAProxy moves the VIP too)."""
    if lb.slot is None:
        raise TopologyError(
            [
                Problem(
                    "load_balancers.topology",
                    f"{lb.name}: ACTIVE_STANDBY needs two nodes of a cluster (netnode "
                    "--cluster NAME, sharing a PostgreSQL store); a node on its own runs "
                    "SINGLE load balancers only",
                )
            ]
        )
    own, peer = lb.vrrp_addresses[lb.slot], lb.vrrp_addresses[1 - lb.slot]
    executable = haproxy_executable(lb.host_id)
    port = replace(
        _port(topo, "tap", lb.host_id, net, ns, (_cidr(topo, net, own),)),
        managed_elsewhere=(_cidr(topo, net, lb.vip.address),),
    )
    prefix = int(_cidr(topo, net, lb.vip.address).split("/")[1])
    name = process_name("vrrp", lb.host_id)
    profile = PROFILES[lb.failover_profile]
    keepalived = instance(
        profile,
        router_id=f"nn-{lb.host_id[:8]}",
        namespace=ns,
        name="vip",
        interface=port.name,
        virtual_router_id=_vrid(lb.uid),
        priority=100 if lb.role == "MASTER" else 90,
        unicast_src_ip=str(own),
        unicast_peers=(str(peer),),
        vips=(VirtualAddress(str(lb.vip.address), prefix, port.name),),
        track_process=TrackProcess("haproxy", (executable,), by_name=True),
        startup_delay=VRRP_STARTUP_DELAY,
    )
    config = render_keepalived(keepalived, keepalived_files(str(keepalived_dir(run_dir) / name)))
    process = ProcessSpec(
        name, ns, "loadbalancer", config, program="keepalived", rt_priority=profile.rt_priority
    )
    return port, process


# An instance's first election waits this long before its master-down interval starts
# (render.keepalived.Keepalived.startup_delay): one instance returning beside a
# master must hear it, not make itself a second one.
VRRP_STARTUP_DELAY = 1.0


def haproxy_executable(instance_id: str) -> str:
    """The process name an HA instance's HAProxy runs under (15 characters, the
    kernel's limit): keepalived tracks it by that name."""
    return "haproxy" + instance_id.replace("-", "")[:8]


def _vrid(lb_id: str) -> int:
    """The load balancer's VRRP router id (1-255), the same on both instances."""
    return int(hashlib.sha256(lb_id.encode()).hexdigest()[:8], 16) % 255 + 1


def _router(topo: Topology, router: Router, node: str, run_dir: PurePath) -> Unit:
    subnets = {s.name: (n, s) for n in topo.networks for s in n.subnets}
    ns = ids.router_namespace(router.host_id)
    bridges: list[BridgeSpec] = []
    ports: list[PortSpec] = []
    internal_ifs: list[str] = []
    internal_cidrs: list[str] = []
    for subnet_name in router.interfaces:
        net, subnet = subnets[subnet_name]
        assert subnet.gateway_ip is not None, "validated: router subnets have a gateway"
        owner = ids.stable_id(node, "routerport", f"{router.host_id}/{subnet.uid}")
        qr = _port(topo, "qr-", owner, net, ns, (_cidr(topo, net, subnet.gateway_ip),))
        bridges.append(_bridge(topo, net))
        ports.append(qr)
        internal_ifs.append(qr.name)
        internal_cidrs.append(str(subnet.cidr))

    gw = router.external_gateway
    default_gateway = None
    firewalls: tuple[FirewallSpec, ...] = ()
    floating: tuple[str, ...] | None = None
    # Instances behind the router ask it for their metadata (Neutron's
    # enable_metadata_proxy): the seed's REDIRECT to 9697 and a proxy there.
    processes: tuple[ProcessSpec, ...] = ()
    metadata_port: int | None = None
    if internal_ifs:
        metadata_port = metadata_plan.ROUTER_PORT
        processes = (metadata_plan.router_proxy(router.uid, router.host_id, ns, run_dir),)
        firewalls = (
            FirewallSpec(
                ns,
                RouterNat(
                    gateway_interface=ids.ifname("qg-", router.host_id),
                    gateway_ip=None,
                    enable_snat=False,
                    internal_interfaces=tuple(internal_ifs),
                    internal_cidrs=tuple(internal_cidrs),
                    floating_ips=(),
                    metadata_port=metadata_port,
                ),
            ),
        )
    if gw is not None:
        ext = topo.network(gw.network)
        fips = [
            f
            for f in topo.floating_ips
            if f.network == ext.name and _fip_of_router(topo, router, f)
        ]
        addresses = (
            _cidr(topo, ext, gw.ip_address),
            *(f"{f.floating_ip_address}/32" for f in fips),
        )
        qg = _port(topo, "qg-", router.host_id, ext, ns, addresses)
        bridges.append(_bridge(topo, ext))
        ports.append(qg)
        ext_subnet = topo.subnet_of(ext, gw.ip_address)
        if ext_subnet is not None and ext_subnet.gateway_ip is not None:
            default_gateway = str(ext_subnet.gateway_ip)
        forwardings = [
            PortForwardingNat(
                str(f.floating_ip_address),
                pf.protocol,
                pf.external_port,
                str(pf.internal_ip_address),
                pf.internal_port,
            )
            for f in fips
            for pf in f.port_forwardings
        ]
        floating = (
            *(str(f.floating_ip_address) for f in fips),
            *(
                Forwarded(
                    pf.floating_ip,
                    pf.protocol,
                    pf.external_port,
                    f"{pf.internal_ip}:{pf.internal_port}",
                ).key()
                for pf in forwardings
            ),
        )
        firewalls = (
            FirewallSpec(
                ns,
                RouterNat(
                    gateway_interface=qg.name,
                    gateway_ip=str(gw.ip_address),
                    enable_snat=gw.enable_snat,
                    internal_interfaces=tuple(internal_ifs),
                    internal_cidrs=tuple(internal_cidrs),
                    floating_ips=tuple(
                        FloatingIPNat(str(f.floating_ip_address), str(f.fixed_ip_address))
                        for f in fips
                        if f.fixed_ip_address is not None
                    ),
                    port_forwardings=tuple(forwardings),
                    metadata_port=metadata_port,
                ),
            ),
        )
    routes = tuple(sorted((str(r.destination), str(r.nexthop)) for r in router.routes))
    unit = Unit(
        NamespaceSpec(ns, "router", router.uid, ROUTER_SYSCTLS, default_gateway, routes=routes),
        bridges=tuple(bridges),
        ports=tuple(ports),
        processes=processes,
        firewalls=firewalls,
        floating=floating,
    )
    return _ha_router(topo, router, node, run_dir, unit) if router.ha else unit


# What an HA router's namespace adds to a router's: conntrack takes up a connection in
# the middle of its TCP window, as it does after a takeover (Neutron sets it too).
HA_ROUTER_SYSCTLS = (*ROUTER_SYSCTLS, ("net.netfilter.nf_conntrack_tcp_be_liberal", "1"))
# keepalived's primary VIP of an HA router, a /24 on its ha- port (as Neutron's): the
# only address its adverts carry; the router's own addresses are all "excluded" ones.
HA_PRIMARY_VIP = "169.254.0.{vrid}"


def _ha_router(topo: Topology, router: Router, node: str, run_dir: PurePath, unit: Unit) -> Unit:
    """One instance of an HA router: the single router's unit, but every address of its
    qr- and qg- ports, and its default route, are keepalived's (they move with the
    master), and an ha- port on the HA network carries VRRP between the instances
    (priority 100 as the pair's MASTER, 90 as its BACKUP, nopreempt) and conntrackd's
    replication of the namespace's connections (committed on takeover)."""
    if router.slot is None:
        raise TopologyError(
            [
                Problem(
                    "routers.ha",
                    f"{router.name}: an HA router needs two nodes of a cluster (netnode "
                    "--cluster NAME, sharing a PostgreSQL store); a node on its own runs "
                    "routers without ha",
                )
            ]
        )
    ns = unit.namespace.name
    ha = topo.ha_network
    own, peer = router.vrrp_addresses[router.slot], router.vrrp_addresses[1 - router.slot]
    ha_port = PortSpec(
        name=ids.ifname("ha-", router.host_id),
        bridge=topo.integration_bridge,
        namespace=ns,
        tag=ha.segmentation_id,
        mac=None,
        addresses=(f"{own}/{ha.cidr.prefixlen}",),
        owner=ids.stable_id(node, "haport", router.host_id),
    )
    moved = tuple(replace(p, addresses=(), managed_elsewhere=p.addresses) for p in unit.ports)
    excluded = tuple(
        VirtualAddress(cidr.split("/")[0], int(cidr.split("/")[1]), p.name)
        for p in unit.ports
        for cidr in p.addresses
    )
    gateway = unit.namespace.default_gateway
    routes = tuple(
        VirtualRoute("0.0.0.0/0", gateway, p.name)
        for p in unit.ports
        if gateway is not None and p.name.startswith("qg-")
    )
    # The extra routes too: their next hops are reachable only where the addresses are.
    routes += tuple(
        VirtualRoute(destination, nexthop, _port_reaching(unit.ports, nexthop))
        for destination, nexthop in unit.namespace.routes
    )
    vrid = _vrid(router.uid)
    profile = PROFILES[router.failover_profile]
    name = process_name("vrrp", router.host_id)
    sync_name = process_name("ctd", router.host_id)
    sync_files = conntrackd_files(str(conntrackd_dir(run_dir) / sync_name))
    sync = render_conntrackd(Conntrackd(str(own), str(peer), ha_port.name), sync_files)
    keepalived = instance(
        profile,
        router_id=f"nn-{router.host_id[:8]}",
        namespace=ns,
        name="router",
        interface=ha_port.name,
        virtual_router_id=vrid,
        priority=100 if router.role == "MASTER" else 90,
        unicast_src_ip=str(own),
        unicast_peers=(str(peer),),
        vips=(VirtualAddress(HA_PRIMARY_VIP.format(vrid=vrid), 24, ha_port.name),),
        excluded=excluded,
        routes=routes,
        notify=str(transition_script(sync_files)),
        startup_delay=VRRP_STARTUP_DELAY,
    )
    config = render_keepalived(keepalived, keepalived_files(str(keepalived_dir(run_dir) / name)))
    return replace(
        unit,
        namespace=replace(
            unit.namespace, sysctls=HA_ROUTER_SYSCTLS, default_gateway=None, route_elsewhere=True
        ),
        bridges=(*unit.bridges, BridgeSpec(name=topo.integration_bridge)),
        ports=(*moved, ha_port),
        processes=(
            # conntrackd first (an earlier phase): keepalived's transitions call it.
            ProcessSpec(sync_name, ns, "router", sync, program="conntrackd"),
            ProcessSpec(
                name, ns, "router", config, program="keepalived", rt_priority=profile.rt_priority
            ),
            # The metadata proxy binds 0.0.0.0 and runs on both instances.
            *unit.processes,
        ),
    )


def _port_reaching(ports: Iterable[PortSpec], address: str) -> str:
    """The port whose subnet holds ``address`` (validation: a router's next hops are on
    one of its subnets)."""
    ip = IPv4Address(address)
    for port in ports:
        if any(ip in IPv4Interface(cidr).network for cidr in port.addresses):
            return port.name
    raise AssertionError(f"validated: next hop {address} is on one of the router's subnets")


def _fip_of_router(topo: Topology, router: Router, fip: FloatingIP) -> bool:
    """Does ``fip`` live on ``router`` (its fixed address, or the internal address of one
    of its port forwardings, is on a network the router serves)? Validation holds a
    floating IP to one router."""
    if fip.fixed_ip_address is not None:
        return _served_by(topo, router.interfaces, fip.fixed_network)
    return any(
        _served_by(topo, router.interfaces, pf.internal_network) for pf in fip.port_forwardings
    )


def _lb_filter(lb: LoadBalancer) -> LoadBalancerFilter:
    """Who may reach each listener (only those with ``allowed_cidrs`` are listed), and
    an ACTIVE_STANDBY instance's HAProxy peer port (on its VRRP address, on the tenant
    network: only the other instance may replicate stick tables into it)."""
    peers = peers_of(lb)
    return LoadBalancerFilter(
        str(lb.vip.address),
        tuple(
            ListenerFilter(
                "udp" if listener.protocol == "UDP" else "tcp",
                listener.protocol_port,
                tuple(str(c) for c in listener.allowed_cidrs),
            )
            for listener in lb.listeners
            if listener.allowed_cidrs
        ),
        None if peers is None else PeerFilter(peers.own_address, peers.other_addresses, peers.port),
    )


def _served_by(topo: Topology, subnet_names: list[str], network: str | None) -> bool:
    return any(
        s.name in subnet_names for n in topo.networks if n.name == network for s in n.subnets
    )
