"""A network's DHCP server: dnsmasq's command line, hosts file and options file (pure).

Neutron's DHCP agent runs one dnsmasq per network in ``qdhcp-<network id>``, on a port
of its own, and netnode does the same with Neutron's options: no DNS, no
``/etc/hosts`` or ``resolv.conf``, every subnet a ``static`` range (only the hosts of
the hosts file get an address), one host entry per port (MAC, address, host name), and
per subnet its router, DNS servers and classless static routes (option 121: the
subnet's ``host_routes``, the metadata address via the DHCP port when no router serves
the subnet, and the default route, since a client given option 121 ignores option 3).

dnsmasq re-reads its hosts and options files on SIGHUP, keeping its leases: a port
added, changed or removed is a reload. Anything on the command line (a subnet's range,
the interface) is a restart. ``bundle`` is all of it as one text, the process's
configuration as ``plan`` compares it, and ``restart_needed`` says which of the two a
change is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Neutron's default lease (dhcp_lease_duration).
LEASE_SECONDS = 86400
# Where instances ask for their metadata (through the DHCP namespace on a network that
# no router serves).
METADATA_CIDR = "169.254.169.254/32"


@dataclass(frozen=True)
class DhcpSubnet:
    tag: str  # "subnet-<subnet id>": the range's tag, which its options are given under
    network: str  # "10.0.0.0"
    netmask: str  # "255.255.255.0"
    gateway: str | None
    dns_servers: tuple[str, ...] = ()
    # (destination CIDR, next hop), the default route and metadata's included
    routes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    address: str
    hostname: str


@dataclass(frozen=True)
class DhcpServer:
    interface: str  # the DHCP port (tap...), the only interface dnsmasq binds
    subnets: tuple[DhcpSubnet, ...]
    hosts: tuple[DhcpHost, ...]
    lease_seconds: int = LEASE_SECONDS


@dataclass(frozen=True)
class DnsmasqFiles:
    """One dnsmasq's directory (``drivers.dnsmasq`` writes and reads it)."""

    dir: str
    pid: str
    hosts: str
    opts: str
    leases: str
    log: str


def files(directory: str) -> DnsmasqFiles:
    return DnsmasqFiles(
        dir=directory,
        pid=f"{directory}/dnsmasq.pid",
        hosts=f"{directory}/host",
        opts=f"{directory}/opts",
        leases=f"{directory}/leases",
        log=f"{directory}/dnsmasq.log",
    )


def arguments(server: DhcpServer, f: DnsmasqFiles) -> list[str]:
    """dnsmasq's options (after the program), Neutron's way, in the foreground (netnode
    supervises it by pid) and logging to stderr (the driver keeps it in ``f.log``)."""
    argv = [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        "--port=0",
        f"--pid-file={f.pid}",
        f"--dhcp-hostsfile={f.hosts}",
        f"--dhcp-optsfile={f.opts}",
        f"--dhcp-leasefile={f.leases}",
        "--log-facility=-",
        "--log-dhcp",
        # Files re-read on SIGHUP are read again as this user: root, like Neutron's.
        "--user=root",
        "--group=root",
        f"--interface={server.interface}",
        "--except-interface=lo",
        "--bind-interfaces",
    ]
    for subnet in server.subnets:
        argv.append(
            f"--dhcp-range=set:{subnet.tag},{subnet.network},static,{subnet.netmask},"
            f"{server.lease_seconds}s"
        )
    return argv


def hosts(server: DhcpServer) -> str:
    """The hosts file: one ``MAC,address,hostname`` line per port."""
    return "".join(f"{h.mac},{h.address},{h.hostname}\n" for h in server.hosts)


def options(server: DhcpServer) -> str:
    """The options file: per subnet (by its tag) its router, DNS servers and routes."""
    lines = []
    for subnet in server.subnets:
        tag = f"tag:{subnet.tag}"
        if subnet.dns_servers:
            lines.append(f"{tag},option:dns-server,{','.join(subnet.dns_servers)}")
        if subnet.routes:
            routes = ",".join(f"{dest},{hop}" for dest, hop in subnet.routes)
            lines.append(f"{tag},option:classless-static-route,{routes}")
            # Microsoft's own number for the same routes (Neutron sends both).
            lines.append(f"{tag},249,{routes}")
        # No gateway: an empty router option, so the client sets no default route.
        lines.append(f"{tag},option:router" + (f",{subnet.gateway}" if subnet.gateway else ""))
    return "".join(line + "\n" for line in lines)


def bundle(server: DhcpServer, f: DnsmasqFiles) -> str:
    """Everything one dnsmasq runs with, as one text (the process's configuration)."""
    return json.dumps(
        {"argv": arguments(server, f), "hosts": hosts(server), "opts": options(server)},
        indent=1,
    )


def unbundle(text: str) -> tuple[list[str], str, str]:
    """``bundle``'s text back as (arguments, hosts file, options file)."""
    data = json.loads(text)
    return list(data["argv"]), str(data["hosts"]), str(data["opts"])


def restart_needed(installed: str, wanted: str) -> bool:
    """Does going from ``installed`` to ``wanted`` take a restart (its command line
    changed), or only a SIGHUP (its hosts or options files)?"""
    try:
        return unbundle(installed)[0] != unbundle(wanted)[0]
    except (ValueError, KeyError, TypeError):
        return True
