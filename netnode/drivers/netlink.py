"""Namespaces, links, addresses, routes and sysctls through netlink (``rtnl``).

No ``ip`` process per step: the calling thread enters a namespace with setns, opens
its netlink socket there (the socket stays bound to that namespace) and comes back.
A whole namespace is observed or configured in a few hundred microseconds. A namespace
is created by ``ip netns add`` (a few milliseconds: pyroute2's took 42 ms, a process
of its own doing the same).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path

from netnode.drivers import rtnl
from netnode.errors import HostError, MissingTool
from netnode.plan.observed import LinkState, NamespaceState
from netnode.plan.uplinks import HostLink, Route

CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)

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

    A Netlink keeps a socket per namespace open for as long as it lives, so a node
    with 1,000 load balancers holds some 1,000 (five each while pyroute2 made the
    changes). Under systemd a service's soft
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
        # Per namespace name ("": the host's): its identity (device, inode of
        # /run/netns/<name>) when the socket was opened, and the socket. A namespace
        # deleted and re-created under the same name is another namespace: its old
        # socket is not reused.
        self._readers: dict[str, tuple[tuple[int, int] | None, socket.socket]] = {}
        # Threads closing the packet sockets of gratuitous ARPs (see ``announce``).
        self._closing: list[threading.Thread] = []

    def close(self) -> None:
        for thread in self._closing:
            thread.join()
        self._closing.clear()
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
        """``ip netns add`` (there already is fine), then its loopback up."""
        if not (NETNS_DIR / name).exists():
            try:
                result = subprocess.run(
                    ["ip", "netns", "add", name],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
            except FileNotFoundError as exc:
                raise MissingTool("ip", "iproute2") from exc
            if result.returncode != 0 and not (NETNS_DIR / name).exists():
                why = result.stderr.strip() or f"exit {result.returncode}"
                raise HostError(f"cannot create namespace {name}: {why}")
        self.set_link_up(name, "lo")

    def delete_namespace(self, name: str) -> None:
        """Unmount and remove /run/netns/<name> (as ``ip netns delete``); gone is fine."""
        self._forget_reader(name)
        path = NETNS_DIR / name
        if _libc.umount2(str(path).encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err not in (errno.ENOENT, errno.EINVAL):
                raise HostError(f"cannot delete namespace {name}: {os.strerror(err)}")
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise HostError(f"cannot delete namespace {name}: {exc.strerror}") from exc

    @contextlib.contextmanager
    def inside(self, name: str) -> Iterator[None]:
        """Run the block with this thread in namespace ``name`` (for /proc/sys, sockets)."""
        try:
            target = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise HostError(f"namespace {name} is not there: {exc.strerror}") from exc
        try:
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(target)
            raise
        try:
            _setns(target, name)
            try:
                yield
            finally:
                _setns(home, "of this thread")
        finally:
            os.close(target)
            os.close(home)

    def _sock(self, namespace: str | None) -> socket.socket:
        """The cached netlink socket of ``namespace`` (None: the host's)."""
        return self._host_reader() if namespace is None else self._reader(namespace)

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
            routes=found.routes,
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
        return self._get_link(namespace, ifname).mac.lower()

    def _get_link(self, namespace: str | None, ifname: str) -> rtnl.Link:
        where = f"namespace {namespace}" if namespace else "the host namespace"
        try:
            found = rtnl.link(self._sock(namespace), ifname)
        except OSError as exc:
            raise HostError(f"cannot read interface {ifname} in {where}: {exc}") from exc
        if found is None:
            raise HostError(f"interface {ifname} not found in {where}")
        return found

    def host_link_states(self, names: set[str]) -> dict[str, LinkState]:
        """Those of ``names`` that are interfaces of the host's own namespace, with their
        state (one dump; MAC and addresses not read)."""
        if not names:
            return {}
        return {
            link.name: LinkState(link.index, "", bool(link.flags & IFF_UP), frozenset())
            for link in self._host_interfaces().values()
            if link.name in names
        }

    def set_host_link_up(self, ifname: str, up: bool) -> None:
        """Set an interface of the host's namespace up or down; nothing else of it."""
        index = self._get_link(None, ifname).index
        self._call(None, "set link", ifname, rtnl.set_link, index, up=up)

    def host_links(self) -> dict[str, HostLink]:
        """Every interface of the host's namespace: its kind, master and lower device."""
        found = self._host_interfaces()
        names = {index: link.name for index, link in found.items()}
        return {
            link.name: HostLink(
                link.name,
                link.kind,
                names.get(link.master) if link.master else None,
                names.get(link.lower) if link.lower and link.lower != link.index else None,
            )
            for link in found.values()
        }

    def host_routes(self) -> tuple[Route, ...]:
        """The host namespace's routes (IPv4 and IPv6, every table), as destinations and
        the interfaces they leave by."""
        names = {index: link.name for index, link in self._host_interfaces().items()}
        try:
            found = rtnl.routes(self._host_reader())
        except OSError as exc:
            self._forget_reader("")
            raise HostError(f"cannot read the host's routes: {exc}") from exc
        return tuple(Route(dst, tuple(names[i] for i in oifs if i in names)) for dst, oifs in found)

    def _host_interfaces(self) -> dict[int, rtnl.Interface]:
        try:
            return rtnl.interfaces(self._host_reader())
        except OSError as exc:
            self._forget_reader("")
            raise HostError(f"cannot read the host's interfaces: {exc}") from exc

    def _host_reader(self) -> socket.socket:
        """A raw netlink socket in the host's namespace (this thread's, outside ``inside``)."""
        cached = self._readers.get("")
        if cached is not None:
            return cached[1]
        sock = rtnl.open_socket()
        self._readers[""] = (None, sock)
        return sock

    def root_link_index(self, ifname: str) -> int | None:
        try:
            return self._get_link(None, ifname).index
        except HostError:
            return None

    # --- changes --------------------------------------------------------------------

    def move_link(self, ifname: str, namespace: str) -> None:
        index = self.root_link_index(ifname)
        if index is None:
            raise HostError(
                f"interface {ifname} is not in the host namespace, cannot move it to {namespace}",
                hint="ovs-vswitchd creates it on add-port; check 'ovs-vsctl list Interface "
                + ifname
                + "'",
            )
        try:
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise HostError(f"cannot move {ifname} to namespace {namespace}: {exc}") from exc
        try:
            self._call(None, f"move to {namespace}", ifname, rtnl.set_link, index, netns_fd=fd)
        finally:
            os.close(fd)

    def delete_link(self, namespace: str, ifname: str) -> None:
        """Delete a link inside a namespace; gone already is fine."""
        try:
            index = self._index(namespace, ifname)
        except HostError:
            return
        self._call(namespace, "delete link", ifname, rtnl.delete_link, index)

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
            self._call(
                namespace, f"delete address {cidr}", ifname, rtnl.address, False, index, cidr
            )
        for cidr in add:
            self._call(namespace, f"add address {cidr}", ifname, rtnl.address, True, index, cidr)
        if mac is not None or up:
            self._call(
                namespace,
                "set link",
                ifname,
                rtnl.set_link,
                index,
                mac=mac,
                up=True if up else None,
            )

    def set_default_route(self, namespace: str, gateway: str | None) -> None:
        if gateway is None:
            # Whatever its next hop; gone already is fine.
            with contextlib.suppress(OSError):
                rtnl.route(self._sock(namespace), False, "0.0.0.0/0", None)
            return
        self._call(
            namespace,
            f"replace default route via {gateway}",
            None,
            rtnl.route,
            True,
            "0.0.0.0/0",
            gateway,
        )

    def set_routes(
        self,
        namespace: str,
        add: tuple[tuple[str, str], ...],
        remove: tuple[tuple[str, str], ...],
    ) -> None:
        """Routes via a next hop: ``remove`` those (gone already is fine), add ``add``."""
        sock = self._sock(namespace)
        for destination, nexthop in remove:
            with contextlib.suppress(OSError):
                rtnl.route(sock, False, destination, nexthop)
        for destination, nexthop in add:
            what = f"replace route to {destination} via {nexthop}"
            self._call(namespace, what, None, rtnl.route, True, destination, nexthop)

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
            sock.close()
            raise HostError(
                f"gratuitous ARP for {address} on {ifname} in {namespace} failed: {exc}"
            ) from exc
        # Closing a packet socket that sent on an Open vSwitch port waits about 14 ms in
        # the kernel (the GIL released): a thread of its own closes it while the pass
        # goes on, and ``close`` waits for those threads.
        self._closing = [t for t in self._closing if t.is_alive()]
        closer = threading.Thread(target=sock.close, name=f"close-garp-{namespace}")
        closer.start()
        self._closing.append(closer)

    # --- helpers --------------------------------------------------------------------

    def _index(self, namespace: str, ifname: str) -> int:
        return self._get_link(namespace, ifname).index

    def _call(
        self,
        namespace: str | None,
        what: str,
        ifname: str | None,
        request: Callable[..., None],
        *args: object,
        **kwargs: object,
    ) -> None:
        """``request(socket, *args, **kwargs)`` on ``namespace``'s socket; HostError
        naming what failed, where, and the kernel's reason."""
        try:
            request(self._sock(namespace), *args, **kwargs)
        except OSError as exc:
            where = f"namespace {namespace}" if namespace else "the host namespace"
            on = f" of {ifname}" if ifname else ""
            reason = exc.strerror or str(exc)
            raise HostError(f"netlink: {what}{on} failed in {where}: {reason}") from exc


def _setns(fd: int, name: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise HostError(f"cannot enter namespace {name}: {os.strerror(err)}")


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
