"""From a topology to the host netnode wants (pure).

This is where Neutron's and Octavia's conventions become host objects: ``qlbaas-``,
``qrouter-`` and ``qlab-`` namespaces, ``tap``/``qr-``/``qg-`` ports named from ids,
the sysctls a router namespace needs, HAProxy configs, the router's NAT rules and the
load balancer's ``allowed_cidrs`` filter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from ipaddress import IPv4Address
from pathlib import PurePath

from netnode.model import ids
from netnode.model.topology import FloatingIP, LoadBalancer, Network, Router, Topology
from netnode.plan import tls_files
from netnode.plan.spec import (
    BridgeSpec,
    FirewallSpec,
    Forwarded,
    HostSpec,
    NamespaceSpec,
    PortSpec,
    ProcessSpec,
    UdpSpec,
)
from netnode.render.haproxy import render_lab_client, render_lab_instance, render_loadbalancer
from netnode.render.iptables import FloatingIPNat, PortForwardingNat, RouterNat
from netnode.render.lb_filter import ListenerFilter, LoadBalancerFilter
from netnode.render.nftables import udp_balancer
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


def state_file(run_dir: PurePath, name: str) -> str:
    return str(run_dir / name / "server-state")


def udp_root(run_dir: PurePath) -> PurePath:
    """Where the UDP tables' records and health live (beside HAProxy's run directory)."""
    return run_dir.parent / "udp"


def build(
    topo: Topology, node: str, run_dir: PurePath, digests: Mapping[str, str] | None = None
) -> HostSpec:
    """The desired host for ``topo``. ``run_dir`` is where HAProxy's files live.

    ``digests`` (file -> sha256) are those of the certificate files the topology names,
    as ``netnode.reconcile.certificates`` read and checked them: each is copied into
    its process's directory under a name made of its digest (``tls_files``)."""
    digests = digests or {}
    bridges: dict[str, BridgeSpec] = {}
    namespaces: list[NamespaceSpec] = []
    ports: list[PortSpec] = []
    processes: list[ProcessSpec] = []
    firewalls: list[FirewallSpec] = []
    udp: list[UdpSpec] = []
    floating: dict[str, tuple[str, ...]] = {}

    def bridge_for(net: Network) -> str:
        name = topo.bridge_of(net)
        if name not in bridges:
            phys = net.physical_interface if net.external else None
            bridges[name] = BridgeSpec(name=name, physical_interface=phys)
        return name

    def gateway_of(net: Network, address: IPv4Address) -> str | None:
        subnet = topo.subnet_of(net, address)
        if subnet is None or subnet.gateway_ip is None or net.external:
            return None
        return str(subnet.gateway_ip)

    def cidr(net: Network, address: IPv4Address, prefix: int | None = None) -> str:
        if prefix is None:
            subnet = topo.subnet_of(net, address)
            assert subnet is not None, "validated: every held address is in a subnet"
            prefix = subnet.cidr.prefixlen
        return f"{address}/{prefix}"

    def port(
        prefix: str,
        owner: str,
        net: Network,
        ns: str,
        addresses: tuple[str, ...],
        mac: str | None = None,
    ) -> PortSpec:
        return PortSpec(
            name=ids.ifname(prefix, owner),
            bridge=bridge_for(net),
            namespace=ns,
            tag=None if net.external else net.segmentation_id,
            mac=mac,
            addresses=addresses,
            owner=owner,
        )

    for i, inst in enumerate(topo.lab.instances):
        net = topo.network(inst.network)
        ns = ids.lab_namespace(inst.uid)
        namespaces.append(
            NamespaceSpec(ns, "instance", inst.uid, BASE_SYSCTLS, gateway_of(net, inst.address))
        )
        ports.append(port("tap", inst.uid, net, ns, (cidr(net, inst.address),), inst.mac))
        name = process_name("lab", inst.uid)
        paths, files = tls_files.installed(
            tls_files.instance_references(inst, f"lab.instances[{i}]"), digests, run_dir / name
        )
        config = render_lab_instance(
            inst, stats_socket=stats_socket(run_dir, name), tls_files=paths
        )
        processes.append(ProcessSpec(name, ns, "instance", config, files))
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

    for client in topo.lab.clients:
        net = topo.network(client.network)
        ns = ids.lab_namespace(client.uid)
        namespaces.append(NamespaceSpec(ns, "client", client.uid, BASE_SYSCTLS, None))
        ports.append(port("tap", client.uid, net, ns, (cidr(net, client.address),)))
        name = process_name("client", client.uid)
        processes.append(
            ProcessSpec(
                name,
                ns,
                "client",
                render_lab_client(client, stats_socket=stats_socket(run_dir, name)),
            )
        )

    # Load balancers after the lab's servers: members answer their first health check.
    for i, lb in enumerate(topo.load_balancers):
        net = topo.network(lb.vip.network)
        ns = ids.lb_namespace(lb.uid)
        balancer = udp_balancer(lb)
        sysctls = BASE_SYSCTLS if balancer is None else UDP_LB_SYSCTLS
        namespaces.append(
            NamespaceSpec(ns, "loadbalancer", lb.uid, sysctls, gateway_of(net, lb.vip.address))
        )
        ports.append(port("tap", lb.uid, net, ns, (cidr(net, lb.vip.address),), lb.vip.mac))
        name = process_name("lb", lb.uid)
        paths, files = tls_files.installed(
            tls_files.lb_references(lb, f"load_balancers[{i}]"), digests, run_dir / name
        )
        config = render_loadbalancer(
            lb,
            stats_socket=stats_socket(run_dir, name),
            state_file=state_file(run_dir, name),
            tls_files=paths,
        )
        processes.append(ProcessSpec(name, ns, "loadbalancer", config, files))
        if balancer is not None:
            udp.append(UdpSpec(ns, balancer))
            checks = monitors(lb, balancer)
            if checks:
                checker = CheckerConfig(ns, str(udp_root(run_dir)), balancer, checks)
                processes.append(
                    ProcessSpec(
                        process_name("udpcheck", lb.uid),
                        ns,
                        "loadbalancer",
                        checker.dumps(),
                        program="netnode.udpcheck",
                    )
                )
        firewalls.append(FirewallSpec(ns, _lb_filter(lb)))

    subnets = {s.name: (n, s) for n in topo.networks for s in n.subnets}
    for router in topo.routers:
        ns = ids.router_namespace(router.uid)
        internal_ifs: list[str] = []
        internal_cidrs: list[str] = []
        for subnet_name in router.interfaces:
            net, subnet = subnets[subnet_name]
            assert subnet.gateway_ip is not None, "validated: router subnets have a gateway"
            owner = ids.stable_id(node, "routerport", f"{router.uid}/{subnet.uid}")
            qr = port("qr-", owner, net, ns, (cidr(net, subnet.gateway_ip),))
            ports.append(qr)
            internal_ifs.append(qr.name)
            internal_cidrs.append(str(subnet.cidr))

        gw = router.external_gateway
        default_gateway = None
        if gw is not None:
            ext = topo.network(gw.network)
            fips = [
                f
                for f in topo.floating_ips
                if f.network == ext.name and _fip_of_router(topo, router, f)
            ]
            addresses = (cidr(ext, gw.ip_address), *(f"{f.floating_ip_address}/32" for f in fips))
            qg = port("qg-", router.uid, ext, ns, addresses)
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
            floating[ns] = (
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
            firewalls.append(
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
                    ),
                )
            )
        namespaces.append(NamespaceSpec(ns, "router", router.uid, ROUTER_SYSCTLS, default_gateway))

    return HostSpec(
        node=node,
        topology=topo.name or "topology",
        bridges=tuple(bridges.values()),
        namespaces=tuple(namespaces),
        ports=tuple(ports),
        processes=tuple(processes),
        firewalls=tuple(firewalls),
        udp=tuple(udp),
        floating=floating,
    )


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
    """Who may reach each listener (only those with ``allowed_cidrs`` are listed)."""
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
    )


def _served_by(topo: Topology, subnet_names: list[str], network: str | None) -> bool:
    return any(
        s.name in subnet_names for n in topo.networks if n.name == network for s in n.subnets
    )
