"""Rules that relate objects to each other, checked after the schema.

``check(topology)`` returns every problem it finds, each with the field path a user can
look up in the file; an empty list means the topology can be applied. A problem that
collides with something the topology already holds has code ``conflict``: a name, a
listener or external port, a member's address and port, a VLAN tag, an address or a
MAC held twice; a bridge or physical interface used twice; a subnet served by two
routers; a gateway address taken by something else; a fixed address bound twice, or
both bound and forwarded to; an internal socket forwarded to twice. The rest (subnets
that overlap included, as in Neutron) are ``invalid``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network

from netnode.errors import CONFLICT, Problem
from netnode.model import combinations
from netnode.model.topology import Listener, LoadBalancer, Network, Router, Subnet, Topology


def check(topo: Topology) -> list[Problem]:
    problems: list[Problem] = []
    for rule in (
        _names,
        _networks,
        _load_balancers,
        _routers,
        _addresses,
        _floating_ips,
        _ports,
        _dhcp,
        _lab_ports,
        _lab_tls,
    ):
        problems.extend(rule(topo))
    return problems


def _duplicates(items: Iterable[tuple[str, str]], what: str) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for path, key in items:
        if key in seen:
            yield Problem(path, f"duplicate {what} {key!r} (also at {seen[key]})", CONFLICT)
        else:
            seen[key] = path


def _names(topo: Topology) -> Iterator[Problem]:
    yield from _duplicates(
        ((f"networks[{i}].name", n.name) for i, n in enumerate(topo.networks)), "network name"
    )
    yield from _duplicates(
        (
            (f"networks[{i}].subnets[{j}].name", s.name)
            for i, n in enumerate(topo.networks)
            for j, s in enumerate(n.subnets)
        ),
        "subnet name",
    )
    yield from _duplicates(
        ((f"load_balancers[{i}].name", lb.name) for i, lb in enumerate(topo.load_balancers)),
        "load balancer name",
    )
    for i, lb in enumerate(topo.load_balancers):
        base = f"load_balancers[{i}]"
        yield from _duplicates(
            ((f"{base}.listeners[{j}].name", x.name) for j, x in enumerate(lb.listeners)),
            "listener name",
        )
        yield from _duplicates(
            ((f"{base}.pools[{j}].name", x.name) for j, x in enumerate(lb.pools)), "pool name"
        )
        for j, pool in enumerate(lb.pools):
            yield from _duplicates(
                (
                    (f"{base}.pools[{j}].members[{k}].name", m.name)
                    for k, m in enumerate(pool.members)
                ),
                "member name",
            )
            yield from _duplicates(
                (
                    (f"{base}.pools[{j}].members[{k}]", f"{m.address}:{m.protocol_port}")
                    for k, m in enumerate(pool.members)
                ),
                "member address and port",
            )
    yield from _duplicates(
        ((f"routers[{i}].name", r.name) for i, r in enumerate(topo.routers)), "router name"
    )
    yield from _duplicates(
        ((f"floating_ips[{i}].name", f.name) for i, f in enumerate(topo.floating_ips)),
        "floating IP name",
    )
    yield from _duplicates(
        ((f"ports[{i}].name", p.name) for i, p in enumerate(topo.ports)), "port name"
    )
    lab = [(f"lab.instances[{i}].name", x.name) for i, x in enumerate(topo.lab.instances)]
    lab += [(f"lab.clients[{i}].name", x.name) for i, x in enumerate(topo.lab.clients)]
    yield from _duplicates(lab, "lab host name")


# Ranges the kernel gives no connected route (``fib_add_ifaddr`` skips the zero network
# and multicast prefixes): a gateway there is refused ("Nexthop has invalid gateway").
UNROUTABLE = (
    (IPv4Network("0.0.0.0/8"), "the 'this network' range 0.0.0.0/8"),
    (IPv4Network("224.0.0.0/4"), "the multicast range 224.0.0.0/4"),
)


def _networks(topo: Topology) -> Iterator[Problem]:
    bridges = {topo.integration_bridge: "integration_bridge"}
    for i, net in enumerate(topo.networks):
        path = f"networks[{i}]"
        if net.external:
            if net.segmentation_id is not None:
                yield Problem(
                    f"{path}.segmentation_id",
                    "an external network is flat; leave segmentation_id out",
                )
            bridge = topo.bridge_of(net)
            if bridge in bridges:
                yield Problem(
                    f"{path}.bridge",
                    f"bridge {bridge!r} is already used by {bridges[bridge]}",
                    CONFLICT,
                )
            bridges[bridge] = path
        else:
            if net.segmentation_id is None:
                yield Problem(
                    f"{path}.segmentation_id", "a tenant network needs a VLAN tag (1-4094)"
                )
            if net.bridge is not None or net.physical_interface is not None:
                yield Problem(
                    f"{path}.bridge", "only external networks take bridge/physical_interface"
                )
        for j, subnet in enumerate(net.subnets):
            spath = f"{path}.subnets[{j}]"
            for reserved, what in UNROUTABLE:
                if subnet.cidr.overlaps(reserved):
                    yield Problem(
                        f"{spath}.cidr",
                        f"{subnet.cidr} overlaps {what}, which the kernel routes to no "
                        "port: choose a unicast range (e.g. 10.0.0.0/24)",
                    )
            if subnet.cidr.prefixlen > 30:
                yield Problem(
                    f"{spath}.cidr",
                    f"{subnet.cidr} is too small for a gateway and hosts (at most /30)",
                )
            gw = subnet.gateway_ip
            if gw is not None and not _is_host(gw, subnet.cidr):
                yield Problem(f"{spath}.gateway_ip", f"{gw} is not a host address of {subnet.cidr}")
            yield from _subnet_extras(subnet, spath)
            for k, other in enumerate(net.subnets[:j]):
                if subnet.cidr.overlaps(other.cidr):
                    yield Problem(
                        f"{spath}.cidr",
                        f"{subnet.cidr} overlaps {other.cidr} ({path}.subnets[{k}])",
                    )
    yield from _physical_interfaces(topo, bridges)
    yield from _duplicates(
        (
            (f"networks[{i}].segmentation_id", str(n.segmentation_id))
            for i, n in enumerate(topo.networks)
            if n.segmentation_id is not None
        ),
        "segmentation_id",
    )


def _subnet_extras(subnet: Subnet, path: str) -> Iterator[Problem]:
    """Allocation pools and host routes: what the API allocates from and DHCP hands out."""
    for k, pool in enumerate(subnet.allocation_pools):
        ppath = f"{path}.allocation_pools[{k}]"
        for end in ("start", "end"):
            address = getattr(pool, end)
            if not _is_host(address, subnet.cidr):
                yield Problem(f"{ppath}.{end}", f"{address} is not a host address of {subnet.cidr}")
        if pool.start > pool.end:
            yield Problem(ppath, f"the pool {pool.start}-{pool.end} goes downwards: start <= end")
        elif subnet.gateway_ip is not None and pool.start <= subnet.gateway_ip <= pool.end:
            yield Problem(
                ppath,
                f"the pool {pool.start}-{pool.end} holds the gateway {subnet.gateway_ip}: "
                "leave the gateway out of it",
                CONFLICT,
            )
        for other in subnet.allocation_pools[:k]:
            if pool.start <= other.end and other.start <= pool.end:
                yield Problem(
                    ppath, f"the pool {pool.start}-{pool.end} overlaps {other.start}-{other.end}"
                )
    # A next hop off the subnet is taken, as Neutron takes it (the host ignores a route
    # it cannot reach).
    yield from _duplicates(
        (
            (f"{path}.host_routes[{k}].destination", str(r.destination))
            for k, r in enumerate(subnet.host_routes)
        ),
        "host route destination",
    )


def _ports(topo: Topology) -> Iterator[Problem]:
    """A port's addresses are host addresses of its network's subnets, one per subnet."""
    for i, port in enumerate(topo.ports):
        path = f"ports[{i}]"
        net, problem = _find_network(topo, port.network, f"{path}.network")
        if problem:
            yield problem
            continue
        assert net is not None
        subnets: dict[str, str] = {}
        for j, fixed in enumerate(port.fixed_ips):
            fpath = f"{path}.fixed_ips[{j}]"
            yield from _placed(topo, port.network, fixed.ip_address, fpath, field="ip_address")
            holder = topo.subnet_of(net, fixed.ip_address)
            if fixed.subnet is not None:
                names = [s.name for s in net.subnets]
                if fixed.subnet not in names:
                    yield Problem(
                        f"{fpath}.subnet",
                        f"network {port.network!r} has no subnet {fixed.subnet!r} "
                        f"(its subnets: {', '.join(map(repr, names)) or 'none'})",
                    )
                elif holder is not None and holder.name != fixed.subnet:
                    yield Problem(
                        f"{fpath}.ip_address",
                        f"{fixed.ip_address} is in subnet {holder.name!r}, not {fixed.subnet!r}",
                    )
            if holder is not None:
                if holder.name in subnets:
                    yield Problem(
                        fpath,
                        f"the port already has an address on subnet {holder.name!r} "
                        f"({subnets[holder.name]}): one address per subnet",
                    )
                subnets.setdefault(holder.name, fpath)
        if port.plug is not None and port.plug.interface in (
            topo.integration_bridge,
            *(topo.bridge_of(n) for n in topo.networks if n.external),
        ):
            yield Problem(
                f"{path}.plug.interface",
                f"{port.plug.interface!r} is a bridge of this topology; name the guest's "
                "interface (its tap or vnet) to plug",
            )
    yield from _duplicates(
        (
            (f"ports[{i}].plug.interface", p.plug.interface)
            for i, p in enumerate(topo.ports)
            if p.plug is not None
        ),
        "plugged interface",
    )


def _dhcp(topo: Topology) -> Iterator[Problem]:
    """A subnet with DHCP holds its DHCP port's address (``Subnet.dhcp_address``):
    nothing else of the topology may take it. DHCP serves tenant networks only."""
    dhcp: dict[tuple[str, IPv4Address], str] = {}
    for i, net in enumerate(topo.networks):
        for j, subnet in enumerate(net.subnets):
            address = subnet.dhcp_address
            if not subnet.enable_dhcp:
                continue
            path = f"networks[{i}].subnets[{j}].enable_dhcp"
            if net.external:
                yield Problem(
                    path,
                    f"network {net.name!r} is external: DHCP serves tenant networks only "
                    "(set enable_dhcp: false)",
                )
            elif address is None:
                yield Problem(path, f"{subnet.cidr} has no free address for the DHCP port")
            else:
                dhcp[(net.name, address)] = f"networks[{i}].subnets[{j}]"
    for path, net_name, address in _holders(topo):
        subnet_path = dhcp.get((net_name, address))
        if subnet_path is not None:
            yield Problem(
                path,
                f"{address} is the DHCP port's address of {subnet_path} (the first address "
                "of its allocation pools, or of the subnet after the gateway): choose "
                "another address, or start the pool elsewhere",
                CONFLICT,
            )


def _lab_ports(topo: Topology) -> Iterator[Problem]:
    """A lab instance that names a port is that port's machine: on its network, with
    its address and MAC, one instance per port, and its tap is the instance's (no
    ``plug``). ``dhcp`` needs a port, on a subnet with DHCP."""
    ports = {p.name: p for p in topo.ports}
    seen: dict[str, str] = {}
    for i, inst in enumerate(topo.lab.instances):
        path = f"lab.instances[{i}]"
        if inst.port is None:
            if inst.dhcp:
                yield Problem(f"{path}.dhcp", "dhcp needs a port: name the instance's port")
            continue
        port = ports[inst.port]  # the model refused an unknown one
        if inst.port in seen:
            yield Problem(
                f"{path}.port", f"port {inst.port!r} is already the machine of {seen[inst.port]}"
            )
        seen.setdefault(inst.port, path)
        if inst.network != port.network:
            yield Problem(f"{path}.network", f"port {port.name!r} is on {port.network!r}")
        if not port.fixed_ips:
            yield Problem(f"{path}.port", f"port {port.name!r} has no fixed_ips address")
        elif inst.address != port.fixed_ips[0].ip_address:
            yield Problem(
                f"{path}.address", f"port {port.name!r} has {port.fixed_ips[0].ip_address}"
            )
        if inst.mac is not None and port.mac_address is not None and inst.mac != port.mac_address:
            yield Problem(f"{path}.mac", f"port {port.name!r} has {port.mac_address}")
        if port.plug is not None:
            yield Problem(
                f"{path}.port",
                f"port {port.name!r} has a plug: the instance's tap is its interface "
                "(leave plug out)",
            )
        if inst.dhcp:
            nets = [n for n in topo.networks if n.name == port.network]
            subnet = topo.subnet_of(nets[0], inst.address) if nets else None
            if subnet is None or not subnet.enable_dhcp:
                yield Problem(
                    f"{path}.dhcp",
                    f"{inst.address} is on no subnet with enable_dhcp: turn DHCP on there, "
                    "or leave dhcp out",
                )


def _physical_interfaces(topo: Topology, bridges: dict[str, str]) -> Iterator[Problem]:
    """A physical interface is one port of one bridge: Open vSwitch refuses to add a
    port that another bridge (or this one) already has, and a bridge is no physical
    interface."""
    attached: dict[str, str] = {}
    for i, net in enumerate(topo.networks):
        phys = net.physical_interface
        if net.force_uplink and phys is None:
            yield Problem(
                f"networks[{i}].force_uplink",
                "force_uplink is about a physical_interface: name one, or leave it out",
            )
        if phys is None or not net.external:
            continue
        path = f"networks[{i}].physical_interface"
        if phys in bridges:
            yield Problem(
                path,
                f"{phys!r} is a bridge of this topology ({bridges[phys]}), not a physical "
                "interface: name the host interface to attach (or leave it out)",
            )
        elif phys in attached:
            yield Problem(
                path,
                f"{phys!r} is already attached by {attached[phys]}: an interface is a port "
                "of one bridge only",
                CONFLICT,
            )
        attached.setdefault(phys, path)


def _is_host(address: IPv4Address, cidr: IPv4Network) -> bool:
    return address in cidr and address not in (cidr.network_address, cidr.broadcast_address)


def _find_network(topo: Topology, name: str, path: str) -> tuple[Network | None, Problem | None]:
    for net in topo.networks:
        if net.name == name:
            return net, None
    known = ", ".join(repr(n.name) for n in topo.networks) or "none defined"
    return None, Problem(path, f"unknown network {name!r} (networks: {known})")


def _placed(
    topo: Topology,
    network: str,
    address: IPv4Address,
    path: str,
    *,
    tenant: bool | None = None,
    field: str = "address",
) -> Iterator[Problem]:
    """An address held on a network must be a host address of one of its subnets."""
    net, problem = _find_network(topo, network, f"{path}.network")
    if problem:
        yield problem
        return
    assert net is not None
    if tenant is True and net.external:
        yield Problem(
            f"{path}.network", f"{network!r} is an external network; this needs a tenant network"
        )
    if tenant is False and not net.external:
        yield Problem(
            f"{path}.network", f"{network!r} is a tenant network; this needs an external network"
        )
    subnet = topo.subnet_of(net, address)
    if subnet is None:
        cidrs = ", ".join(str(s.cidr) for s in net.subnets)
        yield Problem(f"{path}.{field}", f"{address} is outside network {network!r} ({cidrs})")
    elif not _is_host(address, subnet.cidr):
        yield Problem(f"{path}.{field}", f"{address} is not a host address of {subnet.cidr}")


def _load_balancers(topo: Topology) -> Iterator[Problem]:
    for i, lb in enumerate(topo.load_balancers):
        path = f"load_balancers[{i}]"
        yield from _placed(topo, lb.vip.network, lb.vip.address, f"{path}.vip", tenant=True)
        yield from _active_standby(topo, lb, path)
        # A UDP and a TCP listener may share a port number.
        yield from _duplicates(
            (
                (
                    f"{path}.listeners[{j}].protocol_port",
                    f"{x.protocol_port}{'/udp' if x.protocol == 'UDP' else ''}",
                )
                for j, x in enumerate(lb.listeners)
            ),
            "listener port",
        )
        yield from combinations.check_load_balancer(lb, path)
        yield from _member_timeouts(lb.listeners, path)
        for j, pool in enumerate(lb.pools):
            hm = pool.healthmonitor
            # Octavia's rule for UDP pools only (the kernel's checker probes once per
            # delay); HAProxy's checks take a timeout longer than their interval.
            if pool.protocol == "UDP" and hm is not None and hm.timeout > hm.delay:
                yield Problem(
                    f"{path}.pools[{j}].healthmonitor.timeout",
                    f"{hm.timeout} exceeds delay {hm.delay}: a UDP pool's health monitor "
                    "must time out within its delay",
                )


def _active_standby(topo: Topology, lb: LoadBalancer, path: str) -> Iterator[Problem]:
    if lb.topology != "ACTIVE_STANDBY":
        if lb.vrrp_addresses:
            yield Problem(
                f"{path}.vrrp_addresses", "only an ACTIVE_STANDBY load balancer has VRRP addresses"
            )
        return
    if len(lb.vrrp_addresses) != 2:
        yield Problem(
            f"{path}.vrrp_addresses",
            f"an ACTIVE_STANDBY load balancer needs two (one per instance), not "
            f"{len(lb.vrrp_addresses)}: addresses on {lb.vip.network!r} besides the VIP",
        )
    net = next((n for n in topo.networks if n.name == lb.vip.network), None)
    for j, vrrp in enumerate(lb.vrrp_addresses if net is not None else ()):
        assert net is not None
        subnet = topo.subnet_of(net, vrrp)
        if subnet is None or not _is_host(vrrp, subnet.cidr):
            yield Problem(
                f"{path}.vrrp_addresses[{j}]",
                f"{vrrp} is not a host address of network {lb.vip.network!r}",
            )
    if any(listener.protocol == "UDP" for listener in lb.listeners):
        yield Problem(
            f"{path}.topology",
            "ACTIVE_STANDBY is for HAProxy's listeners; a UDP listener runs in the kernel "
            "of one node (use SINGLE)",
        )


def _extra_routes(topo: Topology, router: Router, path: str) -> Iterator[Problem]:
    """Each next hop on a subnet the router is on, none its own address (Neutron:
    "the nexthop is not connected with router" / "is used by router")."""
    subnets = {s.name: s for n in topo.networks for s in n.subnets}
    connected = [subnets[n].cidr for n in router.interfaces if n in subnets]
    own = {subnets[n].gateway_ip for n in router.interfaces if n in subnets}
    gw = router.external_gateway
    if gw is not None:
        own.add(gw.ip_address)
        try:
            ext_subnet = topo.subnet_of(topo.network(gw.network), gw.ip_address)
        except KeyError:
            ext_subnet = None
        if ext_subnet is not None:
            connected.append(ext_subnet.cidr)
    for k, route in enumerate(router.routes):
        rpath = f"{path}.routes[{k}].nexthop"
        if route.nexthop in own:
            yield Problem(rpath, f"{route.nexthop} is the router's own address: name a neighbour")
        elif not any(route.nexthop in cidr for cidr in connected):
            on = ", ".join(map(str, connected)) or "none"
            yield Problem(
                rpath,
                f"{route.nexthop} is not on a subnet the router is connected to ({on}): "
                "add the subnet as an interface first, or choose a next hop on one",
            )
    yield from _duplicates(
        (
            (f"{path}.routes[{k}].destination", str(r.destination))
            for k, r in enumerate(router.routes)
        ),
        "route destination",
    )


def _member_timeouts(listeners: list[Listener], path: str) -> Iterator[Problem]:
    """A pool is one HAProxy backend with one connect and one data timeout: listeners
    that share it must ask for the same ones."""
    first: dict[str, int] = {}
    for j, listener in enumerate(listeners):
        if listener.default_pool is None:
            continue
        if listener.default_pool not in first:
            first[listener.default_pool] = j
            continue
        k = first[listener.default_pool]
        other = listeners[k]
        for field in ("timeout_member_connect", "timeout_member_data"):
            mine, theirs = getattr(listener, field), getattr(other, field)
            if mine != theirs:
                yield Problem(
                    f"{path}.listeners[{j}].{field}",
                    f"{mine} differs from {theirs} of listener {other.name!r} "
                    f"({path}.listeners[{k}]), which shares pool {listener.default_pool!r}",
                )


def _routers(topo: Topology) -> Iterator[Problem]:
    subnets = {s.name: (n, s) for n in topo.networks for s in n.subnets}
    served: dict[str, str] = {}
    for i, router in enumerate(topo.routers):
        path = f"routers[{i}]"
        gw = router.external_gateway
        if gw is not None:
            yield from _placed(
                topo,
                gw.network,
                gw.ip_address,
                f"{path}.external_gateway",
                tenant=False,
                field="ip_address",
            )
        for j, name in enumerate(router.interfaces):
            ipath = f"{path}.interfaces[{j}]"
            if name not in subnets:
                yield Problem(ipath, f"unknown subnet {name!r}")
                continue
            net, subnet = subnets[name]
            if net.external:
                yield Problem(
                    ipath,
                    f"subnet {name!r} is on external network {net.name!r}; use external_gateway",
                )
            if subnet.gateway_ip is None:
                yield Problem(ipath, f"subnet {name!r} has no gateway_ip for the router to take")
            if name in served:
                yield Problem(
                    ipath, f"subnet {name!r} is already served by {served[name]}", CONFLICT
                )
            served[name] = path
        yield from _extra_routes(topo, router, path)
        yield from _ha_router(topo, router, path)
    yield from _ha_network(topo)


def _ha_router(topo: Topology, router: Router, path: str) -> Iterator[Problem]:
    if not router.ha:
        if router.vrrp_addresses:
            yield Problem(
                f"{path}.vrrp_addresses", "only an HA router (ha: true) has VRRP addresses"
            )
        return
    ha = topo.ha_network
    if len(router.vrrp_addresses) != 2:
        yield Problem(
            f"{path}.vrrp_addresses",
            f"an HA router needs two (one per instance) on the HA network {ha.cidr}, not "
            f"{len(router.vrrp_addresses)}",
        )
    for j, vrrp in enumerate(router.vrrp_addresses):
        if not _is_host(vrrp, ha.cidr):
            yield Problem(
                f"{path}.vrrp_addresses[{j}]",
                f"{vrrp} is not a host address of the HA network {ha.cidr} (ha_network.cidr)",
            )


def _ha_network(topo: Topology) -> Iterator[Problem]:
    """HA routers' addresses are their own, and the HA network's VLAN is nobody else's."""
    if not any(r.ha for r in topo.routers):
        return
    yield from _duplicates(
        (
            (f"routers[{i}].vrrp_addresses[{j}]", str(a))
            for i, r in enumerate(topo.routers)
            for j, a in enumerate(r.vrrp_addresses)
        ),
        "HA network address",
    )
    tag = topo.ha_network.segmentation_id
    for i, net in enumerate(topo.networks):
        if not net.external and net.segmentation_id == tag:
            yield Problem(
                f"networks[{i}].segmentation_id",
                f"VLAN {tag} is the HA network's (ha_network.segmentation_id); give one of "
                "them another tag",
                CONFLICT,
            )
        for j, subnet in enumerate(net.subnets):
            if subnet.cidr.overlaps(topo.ha_network.cidr):
                yield Problem(
                    f"networks[{i}].subnets[{j}].cidr",
                    f"{subnet.cidr} overlaps the HA network {topo.ha_network.cidr} "
                    "(ha_network.cidr)",
                    CONFLICT,
                )


def _holders(topo: Topology) -> list[tuple[str, str, IPv4Address]]:
    """Every address something holds: (path, network name, address)."""
    held: list[tuple[str, str, IPv4Address]] = []
    for i, lb in enumerate(topo.load_balancers):
        held.append((f"load_balancers[{i}].vip.address", lb.vip.network, lb.vip.address))
        for j, vrrp in enumerate(lb.vrrp_addresses):
            held.append((f"load_balancers[{i}].vrrp_addresses[{j}]", lb.vip.network, vrrp))
    for i, inst in enumerate(topo.lab.instances):
        if inst.port is None:  # else its port holds the address
            held.append((f"lab.instances[{i}].address", inst.network, inst.address))
    for i, client in enumerate(topo.lab.clients):
        held.append((f"lab.clients[{i}].address", client.network, client.address))
    for i, port in enumerate(topo.ports):
        for j, fixed in enumerate(port.fixed_ips):
            held.append((f"ports[{i}].fixed_ips[{j}].ip_address", port.network, fixed.ip_address))
    for i, router in enumerate(topo.routers):
        if router.external_gateway is not None:
            gw = router.external_gateway
            held.append((f"routers[{i}].external_gateway.ip_address", gw.network, gw.ip_address))
    externals = [n.name for n in topo.networks if n.external]
    for i, fip in enumerate(topo.floating_ips):
        network = fip.network or (externals[0] if len(externals) == 1 else None)
        if network is not None:
            held.append(
                (f"floating_ips[{i}].floating_ip_address", network, fip.floating_ip_address)
            )
    return held


def _addresses(topo: Topology) -> Iterator[Problem]:
    for i, inst in enumerate(topo.lab.instances):
        yield from _placed(topo, inst.network, inst.address, f"lab.instances[{i}]", tenant=True)
    for i, client in enumerate(topo.lab.clients):
        yield from _placed(topo, client.network, client.address, f"lab.clients[{i}]")
    gateways = {
        (n.name, s.gateway_ip): f"networks[{i}].subnets[{j}].gateway_ip"
        for i, n in enumerate(topo.networks)
        for j, s in enumerate(n.subnets)
        if s.gateway_ip is not None
    }
    held = _holders(topo)
    yield from _duplicates(((path, f"{net}/{addr}") for path, net, addr in held), "address")
    # On an external network the upstream gateway is held by the outside (the lab's
    # client stands in for it); everything else must stay off every gateway address.
    upstream_ok = {f"lab.clients[{i}].address" for i in range(len(topo.lab.clients))}
    for path, net, addr in held:
        if (net, addr) in gateways and path not in upstream_ok:
            yield Problem(
                path, f"{addr} is the gateway of its subnet ({gateways[(net, addr)]})", CONFLICT
            )
    macs = [
        (f"load_balancers[{i}].vip.mac", lb.vip.mac) for i, lb in enumerate(topo.load_balancers)
    ]
    macs += [
        (f"lab.instances[{i}].mac", x.mac)
        for i, x in enumerate(topo.lab.instances)
        if x.port is None
    ]
    macs += [(f"ports[{i}].mac_address", p.mac_address) for i, p in enumerate(topo.ports)]
    yield from _duplicates(((p, m) for p, m in macs if m is not None), "MAC address")


def _external_network_of(
    topo: Topology, path: str, name: str | None
) -> tuple[Network | None, Problem | None]:
    externals = [n for n in topo.networks if n.external]
    if name is None:
        if len(externals) == 1:
            return externals[0], None
        return None, Problem(path, f"name the external network ({len(externals)} are defined)")
    net, problem = _find_network(topo, name, path)
    if net is not None and not net.external:
        return None, Problem(path, f"{name!r} is not an external network")
    return net, problem


def _floating_ips(topo: Topology) -> Iterator[Problem]:
    held_fixed: dict[tuple[str, IPv4Address], str] = {}
    for lb in topo.load_balancers:
        held_fixed[(lb.vip.network, lb.vip.address)] = f"load balancer {lb.name!r}"
    for inst in topo.lab.instances:
        held_fixed[(inst.network, inst.address)] = f"instance {inst.name!r}"
    for port in topo.ports:
        for fixed in port.fixed_ips:
            held_fixed[(port.network, fixed.ip_address)] = f"port {port.name!r}"
    router_of_network: dict[str, tuple[str, str | None]] = {}
    for router in topo.routers:
        ext = router.external_gateway.network if router.external_gateway else None
        for subnet_name in router.interfaces:
            for net in topo.networks:
                if any(s.name == subnet_name for s in net.subnets):
                    router_of_network[net.name] = (router.name, ext)

    def held(
        address: IPv4Address, network: str | None, path: str, network_path: str
    ) -> tuple[str, IPv4Address] | Problem:
        """The (network, address) of the instance or VIP holding ``address``."""
        candidates = [k for k in held_fixed if k[1] == address and network in (None, k[0])]
        if not candidates:
            return Problem(
                path,
                f"nothing holds {address}"
                + (f" on network {network!r}" if network else "")
                + " (it must be an instance's or a port's address or a load balancer's VIP)",
            )
        if len(candidates) > 1:
            nets = ", ".join(repr(k[0]) for k in candidates)
            return Problem(
                network_path, f"{address} is held on several networks ({nets}); name one"
            )
        return candidates[0]

    def unrouted(key: tuple[str, IPv4Address], ext: Network | None, path: str) -> Problem | None:
        router = router_of_network.get(key[0])
        if router is None:
            return Problem(
                path, f"network {key[0]!r} has no router; the floating IP cannot reach it"
            )
        if ext is not None and router[1] != ext.name:
            return Problem(
                path,
                f"router {router[0]!r} of network {key[0]!r} has no gateway on external network {ext.name!r}",
            )
        return None

    bound: dict[tuple[str, IPv4Address], str] = {}
    forwarding: list[tuple[int, Network | None]] = []
    for i, fip in enumerate(topo.floating_ips):
        path = f"floating_ips[{i}]"
        ext, problem = _external_network_of(topo, f"{path}.network", fip.network)
        if problem:
            yield problem
        if ext is not None:
            subnet = topo.subnet_of(ext, fip.floating_ip_address)
            if subnet is None or not _is_host(fip.floating_ip_address, subnet.cidr):
                cidrs = ", ".join(str(s.cidr) for s in ext.subnets)
                yield Problem(
                    f"{path}.floating_ip_address",
                    f"{fip.floating_ip_address} is not a host address of external network {ext.name!r} ({cidrs})",
                )
            elif fip.floating_ip_address == subnet.gateway_ip:
                yield Problem(
                    f"{path}.floating_ip_address",
                    f"{fip.floating_ip_address} is the external gateway",
                    CONFLICT,
                )
        if fip.port_forwardings:
            forwarding.append((i, ext))
        if fip.fixed_ip_address is None:
            continue
        key = held(
            fip.fixed_ip_address,
            fip.fixed_network,
            f"{path}.fixed_ip_address",
            f"{path}.fixed_network",
        )
        if isinstance(key, Problem):
            yield key
            continue
        if key in bound:
            yield Problem(
                f"{path}.fixed_ip_address",
                f"{key[1]} on {key[0]!r} is already bound by {bound[key]}",
                CONFLICT,
            )
        bound[key] = path
        if problem := unrouted(key, ext, f"{path}.fixed_ip_address"):
            yield problem

    # Port forwardings, once every floating IP bound as a whole is known.
    targets: dict[tuple[str, IPv4Address, str, int], str] = {}
    for i, ext in forwarding:
        fip = topo.floating_ips[i]
        path = f"floating_ips[{i}]"
        if fip.fixed_ip_address is not None:
            yield Problem(
                f"{path}.port_forwardings",
                "a floating IP with port forwardings cannot also have a fixed_ip_address "
                "(Neutron refuses it): remove fixed_ip_address or the port forwardings",
                CONFLICT,
            )
            continue
        yield from _duplicates(
            (
                (f"{path}.port_forwardings[{j}].external_port", f"{pf.external_port}/{pf.protocol}")
                for j, pf in enumerate(fip.port_forwardings)
            ),
            "external port",
        )
        first_router: tuple[str, str] | None = None
        for j, pf in enumerate(fip.port_forwardings):
            pf_path = f"{path}.port_forwardings[{j}]"
            key = held(
                pf.internal_ip_address,
                pf.internal_network,
                f"{pf_path}.internal_ip_address",
                f"{pf_path}.internal_network",
            )
            if isinstance(key, Problem):
                yield key
                continue
            if key in bound:
                yield Problem(
                    f"{pf_path}.internal_ip_address",
                    f"{key[1]} on {key[0]!r} has a floating IP of its own ({bound[key]}); "
                    "Neutron forwards no port to an address bound to a floating IP",
                    CONFLICT,
                )
            socket = (key[0], key[1], pf.protocol, pf.internal_port)
            if socket in targets:
                yield Problem(
                    f"{pf_path}.internal_port",
                    f"{key[1]}:{pf.internal_port}/{pf.protocol} is already the target of "
                    f"{targets[socket]}",
                    CONFLICT,
                )
            targets.setdefault(socket, pf_path)
            if problem := unrouted(key, ext, f"{pf_path}.internal_ip_address"):
                yield problem
                continue
            router = router_of_network[key[0]][0]
            if first_router is None:
                first_router = (router, pf_path)
            elif router != first_router[0]:
                yield Problem(
                    f"{pf_path}.internal_ip_address",
                    f"{key[1]} is reached through router {router!r}, {first_router[1]} through "
                    f"router {first_router[0]!r}: the port forwardings of one floating IP "
                    "must all go through one router",
                )


def _lab_tls(topo: Topology) -> Iterator[Problem]:
    """A lab instance serves HTTPS on https_port with tls_container_ref: both or neither."""
    for i, inst in enumerate(topo.lab.instances):
        path = f"lab.instances[{i}]"
        if inst.https_port is not None and inst.tls_container_ref is None:
            yield Problem(
                f"{path}.tls_container_ref",
                "https_port needs a certificate (a PEM file with certificate and key)",
            )
        if inst.tls_container_ref is not None and inst.https_port is None:
            yield Problem(f"{path}.https_port", "tls_container_ref is only used with https_port")
        if inst.https_port is not None and inst.https_port == inst.protocol_port:
            yield Problem(f"{path}.https_port", "must differ from protocol_port")
