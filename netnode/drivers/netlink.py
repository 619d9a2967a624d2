"""Namespaces, links, addresses, routes and sysctls through netlink (pyroute2).

No ``ip`` process per step: the calling thread enters a namespace with setns, opens
its netlink socket there (the socket stays bound to that namespace) and comes back.
A whole namespace is observed or configured in a few hundred microseconds.
"""

from __future__ import annotations

import contextlib
import errno
import resource
import socket
import struct
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING

from netnode.drivers import rtnl
from netnode.errors import HostError
from netnode.plan.observed import LinkState, NamespaceState

# pyroute2 (about 0.12 s to import) is imported where a method uses it: a Host is built
# by commands that never speak netlink (``netnode plan`` as a user, ``netnode status``).
if TYPE_CHECKING:
    from pyroute2 import IPRoute

NETNS_DIR = Path("/run/netns")
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000  # carrier: for a tap device, somebody holds it open


def _identity(namespace: str | None) -> tuple[int, int] | None:
    """Which namespace a name stands for now (None: the host's, or no such name)."""
    if namespace is None:
        return None
    try:
        st = (NETNS_DIR / namespace).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; return it.

    A Netlink keeps a socket per namespace open for as long as it lives (five
    descriptors: pyroute2's socket and its event loop's three, and the raw reader), so
    a node with 1,000 load balancers holds some 5,000. Under systemd a service's soft
    limit is 1,024 (its hard limit 524,288): the soft one is raised, as daemons do. The
    processes netnode starts inherit it; HAProxy's own use is bounded in its config
    (``fd-hard-limit``, ``netnode.render.haproxy``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


class Netlink:
    def __init__(self) -> None:
        raise_open_files_limit()
        # Per namespace name: its identity (device, inode of /run/netns/<name>) when the
        # socket was opened, and the socket. A namespace deleted and re-created under
        # the same name is another namespace: its old socket is not reused.
        self._sockets: dict[str, tuple[tuple[int, int] | None, IPRoute]] = {}
        self._readers: dict[str, tuple[tuple[int, int] | None, socket.socket]] = {}

    def close(self) -> None:
        for _identity, ipr in self._sockets.values():
            ipr.close()
        self._sockets.clear()
        for _identity, sock in self._readers.values():
            sock.close()
        self._readers.clear()

    # --- namespaces ---------------------------------------------------------------

    def namespaces(self) -> set[str]:
        try:
            return {p.name for p in NETNS_DIR.iterdir()}
        except FileNotFoundError:
            return set()

    def create_namespace(self, name: str) -> None:
        from pyroute2 import netns

        try:
            netns.create(name)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise HostError(f"cannot create namespace {name}: {exc}") from exc
        self.set_link_up(name, "lo")

    def delete_namespace(self, name: str) -> None:
        cached = self._sockets.pop(name, None)
        if cached is not None:
            cached[1].close()
        self._forget_reader(name)
        from pyroute2 import netns

        try:
            netns.remove(name)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EINVAL):
                raise HostError(f"cannot delete namespace {name}: {exc}") from exc

    @contextlib.contextmanager
    def inside(self, name: str) -> Iterator[None]:
        """Run the block with this thread in namespace ``name`` (for /proc/sys, sockets)."""
        from pyroute2 import netns

        netns.pushns(name)
        try:
            yield
        finally:
            netns.popns()

    def _ipr(self, namespace: str | None) -> IPRoute:
        from pyroute2 import IPRoute

        key = namespace or ""
        identity = _identity(namespace)
        cached = self._sockets.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        if cached is not None:
            cached[1].close()
        if namespace is None:
            ipr = IPRoute()
        else:
            with self.inside(namespace):
                ipr = IPRoute()
        self._sockets[key] = (identity, ipr)
        return ipr

    # --- observation --------------------------------------------------------------

    def observe(self, namespace: str, sysctl_names: tuple[str, ...] = ()) -> NamespaceState:
        """Links, IPv4 addresses, default gateway and the named sysctls of a namespace
        (read with ``rtnl``: three dump requests on a cached raw socket)."""
        try:
            found = rtnl.dump(self._reader(namespace))
        except OSError as exc:
            self._forget_reader(namespace)
            raise HostError(f"cannot read the links of namespace {namespace}: {exc}") from exc
        sysctls = {}
        if sysctl_names:
            with self.inside(namespace):
                for key in sysctl_names:
                    sysctls[key] = _sysctl_path(key).read_text().strip()
        return NamespaceState(
            links={
                name: LinkState(
                    link.index,
                    link.mac,
                    bool(link.flags & IFF_UP),
                    frozenset(link.addresses),
                    bool(link.flags & IFF_UP) and not link.flags & IFF_LOWER_UP,
                )
                for name, link in found.links.items()
            },
            default_gateway=found.default_gateway,
            sysctls=sysctls,
        )

    def _reader(self, namespace: str) -> socket.socket:
        identity = _identity(namespace)
        cached = self._readers.get(namespace)
        if cached is not None and cached[0] == identity:
            return cached[1]
        self._forget_reader(namespace)
        with self.inside(namespace):
            sock = rtnl.open_socket()
        self._readers[namespace] = (identity, sock)
        return sock

    def _forget_reader(self, namespace: str) -> None:
        cached = self._readers.pop(namespace, None)
        if cached is not None:
            cached[1].close()

    def link_mac(self, namespace: str, ifname: str) -> str:
        msg = self._get_link(namespace, ifname)
        return (msg.get_attr("IFLA_ADDRESS") or "").lower()

    def _get_link(self, namespace: str | None, ifname: str):
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            return self._ipr(namespace).link("get", ifname=ifname)[0]
        except NetlinkError as exc:
            where = f"namespace {namespace}" if namespace else "the host namespace"
            raise HostError(f"interface {ifname} not found in {where}") from exc

    def root_link_index(self, ifname: str) -> int | None:
        try:
            return self._get_link(None, ifname)["index"]
        except HostError:
            return None

    def root_link_up(self, ifname: str) -> bool | None:
        """Whether an interface of the host's namespace is up; None: there is none."""
        try:
            flags = self._get_link(None, ifname)["flags"]
        except HostError:
            return None
        return bool(flags & IFF_UP)

    # --- changes --------------------------------------------------------------------

    def set_root_link_up(self, ifname: str) -> None:
        """Bring up an interface of the host's namespace (a plugged guest's tap)."""
        index = self.root_link_index(ifname)
        if index is None:
            raise HostError(f"interface {ifname} is not in the host namespace")
        self._call(None, "link", "set", index=index, state="up")

    def move_link(self, ifname: str, namespace: str) -> None:
        index = self.root_link_index(ifname)
        if index is None:
            raise HostError(
                f"interface {ifname} is not in the host namespace, cannot move it to {namespace}",
                hint="ovs-vswitchd creates it on add-port; check 'ovs-vsctl list Interface "
                + ifname
                + "'",
            )
        self._call(None, "link", "set", index=index, net_ns_fd=namespace)

    def delete_link(self, namespace: str, ifname: str) -> None:
        """Delete a link inside a namespace; gone already is fine."""
        try:
            index = self._index(namespace, ifname)
        except HostError:
            return
        self._call(namespace, "link", "del", index=index)

    def set_link_up(self, namespace: str, ifname: str) -> None:
        self.configure_link(namespace, ifname, up=True)

    def configure_link(
        self,
        namespace: str,
        ifname: str,
        *,
        mac: str | None = None,
        add: tuple[str, ...] = (),
        remove: tuple[str, ...] = (),
        up: bool = False,
    ) -> None:
        """Addresses, MAC and state of one link: one lookup, one request per change."""
        index = self._index(namespace, ifname)
        for cidr in remove:
            address, prefix = cidr.split("/")
            self._call(
                namespace, "addr", "del", index=index, address=address, prefixlen=int(prefix)
            )
        for cidr in add:
            address, prefix = cidr.split("/")
            self._call(
                namespace, "addr", "add", index=index, address=address, prefixlen=int(prefix)
            )
        changes: dict[str, str] = {}
        if mac is not None:
            changes["address"] = mac
        if up:
            changes["state"] = "up"
        if changes:
            self._call(namespace, "link", "set", index=index, **changes)

    def set_default_route(self, namespace: str, gateway: str | None) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        ipr = self._ipr(namespace)
        if gateway is None:
            with contextlib.suppress(NetlinkError):
                ipr.route("del", dst="0.0.0.0/0")
            return
        self._call(namespace, "route", "replace", dst="0.0.0.0/0", gateway=gateway)

    def write_sysctls(self, namespace: str, values: dict[str, str]) -> None:
        with self.inside(namespace):
            for key, value in values.items():
                try:
                    _sysctl_path(key).write_text(value)
                except OSError as exc:
                    raise HostError(
                        f"cannot set {key}={value} in {namespace}: {exc.strerror}"
                    ) from exc

    def announce(self, namespace: str, ifname: str, address: str, mac: str) -> None:
        """Gratuitous ARP for ``address`` (a request and a reply, like arping -U and -A),
        sent at once from a raw socket opened inside the namespace: no arping, no wait."""
        with self.inside(namespace):
            # Protocol 0: a send-only socket. One bound to ETH_P_ARP would register a
            # receive hook, and binding/closing it waits an RCU grace period (~10 ms).
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((ifname, 0))
            for op in (1, 2):
                sock.send(_garp_frame(mac, address, op))
        except OSError as exc:
            raise HostError(
                f"gratuitous ARP for {address} on {ifname} in {namespace} failed: {exc}"
            ) from exc
        finally:
            sock.close()

    # --- helpers --------------------------------------------------------------------

    def _index(self, namespace: str, ifname: str) -> int:
        return self._get_link(namespace, ifname)["index"]

    def _call(self, namespace: str | None, what: str, *args: object, **kwargs: object) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        ipr = self._ipr(namespace)
        try:
            getattr(ipr, what)(*args, **kwargs)
        except NetlinkError as exc:
            where = f"namespace {namespace}" if namespace else "the host namespace"
            raise HostError(f"netlink {what} {args} {kwargs} failed in {where}: {exc}") from exc


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def _garp_frame(mac: str, address: str, op: int) -> bytes:
    hw = bytes.fromhex(mac.replace(":", ""))
    ip = IPv4Address(address).packed
    broadcast = b"\xff" * 6
    ether = broadcast + hw + struct.pack("!H", 0x0806)
    target_hw = b"\x00" * 6 if op == 1 else broadcast
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + hw + ip + target_hw + ip
    return ether + arp
