"""A router's NAT and filter rules as ``iptables-restore --noflush`` text, Neutron's layout,
and the machinery every netnode-owned rule set shares (a :class:`Layout` of owned chains
and jumps; the load balancer's ``allowed_cidrs`` filter in ``lb_filter.py`` is the other).

Pure: no subprocess, no host state. The driver (``netnode.drivers.iptables``) feeds in
what ``iptables-save`` printed and gets back the text to restore.

Chains netnode owns in a router namespace, by name (the seed's §8.2 and Neutron's L3
agent)::

    filter  neutron-filter-top  neutron-l3-agent-local
            neutron-l3-agent-INPUT  neutron-l3-agent-OUTPUT  neutron-l3-agent-FORWARD
    nat     neutron-l3-agent-PREROUTING  neutron-l3-agent-OUTPUT
            neutron-l3-agent-POSTROUTING  neutron-l3-agent-snat
            neutron-l3-agent-float-snat  neutron-postrouting-bottom
            neutron-l3-agent-fip-pf      (only while the router has port forwardings)

How a packet walks the nat table (``qg-X`` is the gateway port, ``GW`` its address)::

    PREROUTING  -> neutron-l3-agent-PREROUTING   -d FIP/32 -j DNAT --to-destination FIXED
                                                 (metadata: -d 169.254.169.254/32 -i qr-..
                                                  --dport 80 -j REDIRECT --to-ports PORT)
                     -j neutron-l3-agent-fip-pf   -d PFIP/32 -p tcp -m tcp --dport EXT
                                                   -j DNAT --to-destination IP:PORT
    OUTPUT      -> neutron-l3-agent-OUTPUT       -d FIP/32 -j DNAT --to-destination FIXED
    POSTROUTING -> neutron-l3-agent-POSTROUTING  ! -i qg-X ! -o qg-X -m conntrack
                                                 ! --ctstate DNAT -j ACCEPT
                -> neutron-postrouting-bottom -> neutron-l3-agent-snat
                     -j neutron-l3-agent-float-snat   -s FIXED/32 -j SNAT --to-source FIP
                     -o qg-X -j SNAT --to-source GW                  (only with enable_snat)
                     ! -i qg-X -m conntrack --ctstate DNAT -j SNAT --to-source GW

Where netnode departs from the seed, and why:

- The seed SNATs the whole subnet to the floating address (``-s 10.0.0.0/24 -j SNAT
  --to-source 10.255.253.100``). Neutron, and netnode, SNAT everything leaving ``qg-X``
  to the router's gateway address; the floating address is used only for the one fixed
  address behind it (``float-snat``).
- The seed adds ``neutron-l3-agent-snat -j neutron-l3-agent-float-snat`` twice; it is
  rendered once.
- The seed's ``-s 0.0.0.0/0`` and bare addresses are written the way ``iptables-save``
  prints them back (no ``-s 0.0.0.0/0``, ``/32`` on host addresses, ``--to-destination``
  / ``--to-source`` / ``--to-ports`` for ``--to`` / ``--to-port``), so the text can be
  compared with ``iptables-save`` output line by line.
- Hairpin (an instance reaching a floating IP of its own subnet): the DNAT in PREROUTING
  applies to packets from ``qr-`` as well, but the server would answer the client
  directly on the subnet, from its fixed address, and the client drops the reply. Neutron
  SNATs every DNATed connection that did not come in through the gateway port to the
  gateway address, so the reply goes back through the router. Neutron recognises "came in
  through the gateway port" by a mark set in the mangle table (``-m mark ! --mark
  0x2/0xffff``); netnode owns no mangle chain and matches the input interface directly
  (``! -i qg-X``), which in POSTROUTING is the device the packet arrived on. NAT is
  decided on a connection's first packet, so the two are equivalent.
- Metadata (only when ``metadata_port`` is set): the seed's two rules, with the
  REDIRECT limited to the internal ports as Neutron does, plus Neutron's guard that
  drops direct connections to the proxy port. Neutron lets redirected requests through
  by a mangle mark (0x1); netnode accepts connections whose conntrack entry says they
  were redirected from 169.254.169.254:80.
- Port forwardings (Neutron's ``port_forwarding`` L3 agent extension): Neutron jumps
  from ``fip-pf`` to one chain per forwarding (``neutron-l3-agent-pf-<id>``) so that its
  iptables manager can drop one by tag; netnode renders the whole table every time, so
  the DNAT rules sit in ``fip-pf`` itself. As in Neutron there is no OUTPUT rule (the
  router itself does not reach a forwarded port) and no SNAT to the floating address:
  the internal host's own connections leave through the router's SNAT (the gateway
  address), and only the replies of forwarded connections carry the floating address
  (conntrack un-DNATs them). A client on a subnet behind the router reaches a forwarded
  port too: the hairpin SNAT above applies to every DNATed connection.
- A chain of the layout that the rule set no longer renders (``fip-pf`` once the last
  port forwarding is gone) is flushed and deleted by the same restore.
- No ``--random-fully`` and no ``-m comment`` (Neutron adds both); iptables-nft prints
  them back unchanged, they are left out only to keep the text short.

Built-in chains are shared with whoever else uses the namespace, so netnode never
declares (flushes) them: its jumps (:func:`builtin_jumps`) are unconditional ``-j
<owned chain>`` rules (into the chains the rule set renders), put at the head of the
chain on first apply, and re-placed only when ``iptables-save`` shows them missing,
duplicated or out of order (:func:`builtin_jump_fixes`). Rules of others in those chains
are left alone.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

FILTER = "filter"
NAT = "nat"
MANGLE = "mangle"
TABLES = (FILTER, NAT)
"""A router's tables."""

METADATA_ADDRESS = "169.254.169.254"
PORT_FORWARDING_CHAIN = "neutron-l3-agent-fip-pf"
PROTOCOLS = ("tcp", "udp")

OWNED_CHAINS: dict[str, tuple[str, ...]] = {
    FILTER: (
        "neutron-filter-top",
        "neutron-l3-agent-local",
        "neutron-l3-agent-INPUT",
        "neutron-l3-agent-OUTPUT",
        "neutron-l3-agent-FORWARD",
    ),
    NAT: (
        "neutron-l3-agent-PREROUTING",
        "neutron-l3-agent-OUTPUT",
        "neutron-l3-agent-POSTROUTING",
        "neutron-l3-agent-snat",
        "neutron-l3-agent-float-snat",
        "neutron-postrouting-bottom",
        PORT_FORWARDING_CHAIN,
    ),
}

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    FILTER: ("INPUT", "FORWARD", "OUTPUT"),
    NAT: ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    MANGLE: ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
}

# In each built-in chain, in this order, at the head of the chain (Neutron's order).
_BUILTIN_JUMPS: dict[str, tuple[tuple[str, str], ...]] = {
    FILTER: (
        ("INPUT", "-j neutron-l3-agent-INPUT"),
        ("FORWARD", "-j neutron-filter-top"),
        ("FORWARD", "-j neutron-l3-agent-FORWARD"),
        ("OUTPUT", "-j neutron-filter-top"),
        ("OUTPUT", "-j neutron-l3-agent-OUTPUT"),
    ),
    NAT: (
        ("PREROUTING", "-j neutron-l3-agent-PREROUTING"),
        ("OUTPUT", "-j neutron-l3-agent-OUTPUT"),
        ("POSTROUTING", "-j neutron-l3-agent-POSTROUTING"),
        ("POSTROUTING", "-j neutron-postrouting-bottom"),
    ),
}


@dataclass(frozen=True)
class Layout:
    """Which chains netnode owns in one kind of namespace, per table, and the jumps into
    them from the built-in chains (each ``(built-in chain, "-j <owned chain>")``, in
    order). Only these chains and jumps are ever created, flushed or deleted."""

    tables: tuple[str, ...]
    owned: Mapping[str, tuple[str, ...]]
    jumps: Mapping[str, tuple[tuple[str, str], ...]]

    def check(self, table: str) -> None:
        if table not in self.tables:
            raise ValueError(f"table {table!r}: netnode manages only {', '.join(self.tables)}")


ROUTER_LAYOUT = Layout(TABLES, OWNED_CHAINS, _BUILTIN_JUMPS)


class Ruleset(Protocol):
    """What one namespace's netnode-owned iptables rules are made from."""

    @property
    def layout(self) -> Layout: ...

    def chains(self, table: str) -> dict[str, list[str]]:
        """The owned chains this rule set wants in ``table`` (in layout order), each with
        its rule specs in order. A chain of the layout left out is deleted if present."""
        ...


# Conservative: what Neutron's names use, plus iptables' "+" wildcard. A space or quote
# would break the rule text apart.
_IFNAME = re.compile(r"[A-Za-z0-9_.:@+-]{1,15}")


@dataclass(frozen=True)
class FloatingIPNat:
    """One floating IP: traffic to ``floating_ip`` goes to ``fixed_ip`` and back."""

    floating_ip: str
    fixed_ip: str


@dataclass(frozen=True)
class PortForwardingNat:
    """One port forwarding: ``floating_ip:external_port/protocol`` goes to
    ``internal_ip:internal_port`` (Neutron's floating IP port forwarding)."""

    floating_ip: str
    protocol: str
    """``tcp`` or ``udp``."""
    external_port: int
    internal_ip: str
    internal_port: int

    def __post_init__(self) -> None:
        _ipv4(self.floating_ip, "port_forwardings.floating_ip")
        _ipv4(self.internal_ip, "port_forwardings.internal_ip")
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"port_forwardings.protocol: {self.protocol!r} is not one of {', '.join(PROTOCOLS)}"
            )
        for field_name in ("external_port", "internal_port"):
            _check_port(getattr(self, field_name), f"port_forwardings.{field_name}")


@dataclass(frozen=True)
class RouterNat:
    """What one router namespace's iptables rules are made from. IPv4 only.

    Raises ``ValueError`` when the values cannot make a valid rule set (bad addresses or
    interface names, a floating IP without an external gateway, a floating or fixed
    address used twice, a forwarded port used twice or on a floating IP bound as a whole).
    """

    gateway_interface: str
    """The ``qg-`` device on the external network."""
    gateway_ip: str | None
    """The router's external address, the SNAT target; None: no external gateway."""
    enable_snat: bool
    """SNAT the subnets behind the router to ``gateway_ip`` (Neutron's ``enable_snat``)."""
    internal_interfaces: tuple[str, ...]
    """The ``qr-`` devices; the metadata redirect applies to requests arriving on them."""
    internal_cidrs: tuple[str, ...]
    """The tenant subnets behind the router (validated; the rules do not need them)."""
    floating_ips: tuple[FloatingIPNat, ...]
    metadata_port: int | None = None
    """Redirect 169.254.169.254:80 to this local port (the seed's 9697); None: no rules."""
    port_forwardings: tuple[PortForwardingNat, ...] = ()

    def __post_init__(self) -> None:
        _check_ifname(self.gateway_interface, "gateway_interface")
        for name in self.internal_interfaces:
            _check_ifname(name, "internal_interfaces")
        if self.gateway_ip is not None:
            _ipv4(self.gateway_ip, "gateway_ip")
        for cidr in self.internal_cidrs:
            try:
                ipaddress.IPv4Network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"internal_cidrs: {cidr!r} is not an IPv4 network") from exc
        if (self.floating_ips or self.port_forwardings) and self.gateway_ip is None:
            kind = "floating_ips" if self.floating_ips else "port_forwardings"
            raise ValueError(f"{kind} need an external gateway: gateway_ip is None")
        floating = [_ipv4(f.floating_ip, "floating_ip") for f in self.floating_ips]
        fixed = [_ipv4(f.fixed_ip, "fixed_ip") for f in self.floating_ips]
        for label, addresses in (("floating_ip", floating), ("fixed_ip", fixed)):
            dup = sorted({str(a) for a in addresses if addresses.count(a) > 1})
            if dup:
                raise ValueError(f"{label} used by more than one floating IP: {', '.join(dup)}")
        sockets = [(pf.floating_ip, pf.protocol, pf.external_port) for pf in self.port_forwardings]
        dup = sorted(
            {
                f"{a}:{port}/{proto}"
                for a, proto, port in sockets
                if sockets.count((a, proto, port)) > 1
            }
        )
        if dup:
            raise ValueError(f"port_forwardings: forwarded more than once: {', '.join(dup)}")
        whole = {str(a) for a in floating}
        clash = sorted({pf.floating_ip for pf in self.port_forwardings} & whole)
        if clash:
            raise ValueError(
                f"port_forwardings: {', '.join(clash)} is bound to a fixed address as a whole "
                "(floating_ips); a floating IP has either a fixed address or port forwardings"
            )
        if self.metadata_port is not None and not 0 < self.metadata_port < 65536:
            raise ValueError(f"metadata_port {self.metadata_port} is not a TCP port")

    @property
    def layout(self) -> Layout:
        return ROUTER_LAYOUT

    def chains(self, table: str) -> dict[str, list[str]]:
        ROUTER_LAYOUT.check(table)
        return _filter_chains(self) if table == FILTER else _nat_chains(self)


def _check_ifname(name: str, field: str) -> None:
    if not _IFNAME.fullmatch(name):
        raise ValueError(
            f"{field}: {name!r} is not an interface name iptables can take "
            "(1-15 characters of letters, digits and _.:@+-)"
        )


def _check_port(port: object, field: str) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"{field}: {port!r} is not a port (1-65535)")


def _ipv4(text: str, field: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError as exc:
        raise ValueError(f"{field}: {text!r} is not an IPv4 address") from exc


# -- a router's rules ---------------------------------------------------------------------


def _filter_chains(nat: RouterNat) -> dict[str, list[str]]:
    chains: dict[str, list[str]] = {name: [] for name in OWNED_CHAINS[FILTER]}
    chains["neutron-filter-top"].append("-j neutron-l3-agent-local")
    if nat.metadata_port is not None:
        port = nat.metadata_port
        chains["neutron-l3-agent-INPUT"] += [
            f"-d 127.0.0.1/32 -p tcp -m tcp --dport {port} -j ACCEPT",
            f"-p tcp -m tcp --dport {port} -m conntrack --ctstate DNAT"
            f" --ctorigdst {METADATA_ADDRESS} --ctorigdstport 80 -j ACCEPT",
            f"-p tcp -m tcp --dport {port} -j DROP",
        ]
    return chains


def _nat_chains(nat: RouterNat) -> dict[str, list[str]]:
    chains: dict[str, list[str]] = {
        name: [] for name in OWNED_CHAINS[NAT] if name != PORT_FORWARDING_CHAIN
    }
    chains["neutron-postrouting-bottom"].append("-j neutron-l3-agent-snat")
    chains["neutron-l3-agent-snat"].append("-j neutron-l3-agent-float-snat")
    if nat.metadata_port is not None:
        for qr in sorted(nat.internal_interfaces):
            chains["neutron-l3-agent-PREROUTING"].append(
                f"-d {METADATA_ADDRESS}/32 -i {qr} -p tcp -m tcp --dport 80"
                f" -j REDIRECT --to-ports {nat.metadata_port}"
            )
    if nat.gateway_ip is None:
        return chains
    qg = nat.gateway_interface
    gw = ipaddress.IPv4Address(nat.gateway_ip)
    chains["neutron-l3-agent-POSTROUTING"].append(
        f"! -i {qg} ! -o {qg} -m conntrack ! --ctstate DNAT -j ACCEPT"
    )
    if nat.enable_snat:
        chains["neutron-l3-agent-snat"].append(f"-o {qg} -j SNAT --to-source {gw}")
    chains["neutron-l3-agent-snat"].append(
        f"! -i {qg} -m conntrack --ctstate DNAT -j SNAT --to-source {gw}"
    )
    for fip in sorted(nat.floating_ips, key=lambda f: ipaddress.IPv4Address(f.floating_ip)):
        floating = ipaddress.IPv4Address(fip.floating_ip)
        fixed = ipaddress.IPv4Address(fip.fixed_ip)
        dnat = f"-d {floating}/32 -j DNAT --to-destination {fixed}"
        chains["neutron-l3-agent-PREROUTING"].append(dnat)
        chains["neutron-l3-agent-OUTPUT"].append(dnat)
        chains["neutron-l3-agent-float-snat"].append(
            f"-s {fixed}/32 -j SNAT --to-source {floating}"
        )
    if nat.port_forwardings:
        chains["neutron-l3-agent-PREROUTING"].append(f"-j {PORT_FORWARDING_CHAIN}")
        chains[PORT_FORWARDING_CHAIN] = [
            _port_forwarding_rule(pf)
            for pf in sorted(
                nat.port_forwardings,
                key=lambda p: (ipaddress.IPv4Address(p.floating_ip), p.protocol, p.external_port),
            )
        ]
    return chains


def _port_forwarding_rule(pf: PortForwardingNat) -> str:
    floating = ipaddress.IPv4Address(pf.floating_ip)
    internal = ipaddress.IPv4Address(pf.internal_ip)
    return (
        f"-d {floating}/32 -p {pf.protocol} -m {pf.protocol} --dport {pf.external_port}"
        f" -j DNAT --to-destination {internal}:{pf.internal_port}"
    )


def owned_chain_rules(rules: Ruleset, table: str) -> dict[str, list[str]]:
    """Each owned chain ``rules`` wants in ``table``, in declaration order, with its rule
    specs in order."""
    rules.layout.check(table)
    return rules.chains(table)


def render(rules: Ruleset) -> dict[str, str]:
    """Per table, ``iptables-restore --noflush`` text that declares (and so flushes) the
    owned chains and fills them. No built-in chain is touched: see :func:`restore_input`.
    """
    return {
        table: "".join(_table_text(table, owned_chain_rules(rules, table), []))
        for table in rules.layout.tables
    }


render_router = render


def _table_text(table: str, chains: dict[str, list[str]], extra: list[str]) -> list[str]:
    lines = [f"*{table}\n"]
    lines += [f":{chain} - [0:0]\n" for chain in chains]
    lines += [f"-A {chain} {rule}\n" for chain, rules in chains.items() for rule in rules]
    lines += [f"{line}\n" for line in extra]
    lines.append("COMMIT\n")
    return lines


def builtin_jumps(table: str, layout: Layout = ROUTER_LAYOUT) -> list[tuple[str, str]]:
    """``(built-in chain, rule spec)`` for every jump into the owned chains, in order."""
    layout.check(table)
    return list(layout.jumps.get(table, ()))


def _wanted_jumps(rules: Ruleset, table: str) -> list[tuple[str, str]]:
    """The layout's jumps into the chains ``rules`` renders in ``table``."""
    chains = owned_chain_rules(rules, table)
    return [
        (c, rule) for c, rule in builtin_jumps(table, rules.layout) if rule.split()[-1] in chains
    ]


def restore_input(rules: Ruleset, table: str, saved: str) -> str:
    """The one ``iptables-restore --noflush`` text for ``table``: the owned chains, then
    whatever deletes/inserts make the built-in jumps right given ``saved`` (the table's
    current ``iptables-save`` output), then the deletion of owned chains ``saved`` shows
    that ``rules`` no longer wants."""
    chains = owned_chain_rules(rules, table)
    layout = rules.layout
    present = _parse_table(saved, table, layout).chains
    stale = [c for c in layout.owned.get(table, ()) if c in present and c not in chains]
    extra = builtin_jump_fixes(saved, table, layout, _wanted_jumps(rules, table))
    extra += [f"-F {chain}" for chain in stale]
    extra += [f"-X {chain}" for chain in stale]
    return "".join(_table_text(table, chains, extra))


def builtin_jump_fixes(
    saved: str,
    table: str,
    layout: Layout = ROUTER_LAYOUT,
    wanted: list[tuple[str, str]] | None = None,
) -> list[str]:
    """``-D``/``-I`` lines that make each built-in chain's jumps into owned chains exactly
    ``wanted`` (default: all of :func:`builtin_jumps`), in order. Empty when they already
    are (wherever they sit).

    A chain whose jumps are missing, duplicated or out of order loses all of them and gets
    the right ones inserted at its head, so netnode's rules see packets before anyone
    else's (as Neutron's are). Other rules are never touched.
    """
    if wanted is None:
        wanted = builtin_jumps(table, layout)
    parsed = _parse_table(saved, table, layout)
    lines: list[str] = []
    for chain in BUILTIN_CHAINS[table]:
        want = [rule for c, rule in wanted if c == chain]
        have = [rule for rule in parsed.rules.get(chain, []) if _is_owned_jump(rule, table, layout)]
        if have == want:
            continue
        lines += [f"-D {chain} {rule}" for rule in have]
        lines += [f"-I {chain} {position} {rule}" for position, rule in enumerate(want, 1)]
    return lines


def render_removal(saved: str, table: str, layout: Layout = ROUTER_LAYOUT) -> str | None:
    """``iptables-restore --noflush`` text deleting the owned jumps and chains that
    ``saved`` shows, or None when there is nothing of netnode's in ``table``."""
    parsed = _parse_table(saved, table, layout)
    present = [chain for chain in layout.owned.get(table, ()) if chain in parsed.chains]
    lines = [
        f"-D {chain} {rule}"
        for chain in BUILTIN_CHAINS[table]
        for rule in parsed.rules.get(chain, [])
        if _is_owned_jump(rule, table, layout)
    ]
    if not present and not lines:
        return None
    lines += [f"-F {chain}" for chain in present]
    lines += [f"-X {chain}" for chain in present]
    return "".join([f"*{table}\n", *(f"{line}\n" for line in lines), "COMMIT\n"])


# -- comparing with iptables-save --------------------------------------------------------


def desired_rules(rules: Ruleset, table: str) -> list[str]:
    """What :func:`owned_rules` should print for ``table`` once ``rules`` is applied."""
    chains = owned_chain_rules(rules, table)
    builtin: dict[str, list[str]] = {}
    for chain, rule in _wanted_jumps(rules, table):
        builtin.setdefault(chain, []).append(rule)
    return _normalized(table, rules.layout, set(chains), {**builtin, **chains})


def owned_rules(iptables_save_text: str, table: str, layout: Layout = ROUTER_LAYOUT) -> list[str]:
    """netnode's part of ``table`` in ``iptables-save`` output, normalized.

    One ``:chain`` line per owned chain that exists, then the built-in chains' jumps into
    owned chains (``-A FORWARD -j neutron-filter-top``), then every rule of the owned
    chains, chains in a fixed order, rules in the order the kernel holds them. Foreign
    chains and foreign rules in built-in chains are left out.
    """
    parsed = _parse_table(iptables_save_text, table, layout)
    return _normalized(table, layout, parsed.chains, parsed.rules)


def diff_rules(desired: list[str], actual: list[str]) -> list[str]:
    """Unified diff (actual -> desired) of two normalized rule lists; empty if equal."""
    if desired == actual:
        return []
    return list(difflib.unified_diff(actual, desired, "iptables-save", "desired", lineterm="", n=1))


def _normalized(
    table: str, layout: Layout, chains: set[str], rules: dict[str, list[str]]
) -> list[str]:
    owned = layout.owned.get(table, ())
    out = [f":{chain}" for chain in owned if chain in chains]
    for chain in BUILTIN_CHAINS[table]:
        out += [f"-A {chain} {r}" for r in rules.get(chain, []) if _is_owned_jump(r, table, layout)]
    for chain in owned:
        out += [f"-A {chain} {rule}" for rule in rules.get(chain, [])]
    return out


@dataclass
class _ParsedTable:
    chains: set[str]
    rules: dict[str, list[str]]


def _parse_table(text: str, table: str, layout: Layout) -> _ParsedTable:
    """Chains and rule specs (the text after ``-A CHAIN``) of one table's section."""
    layout.check(table)
    parsed = _ParsedTable(chains=set(), rules={})
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            inside = line[1:] == table
        elif not inside:
            continue
        elif line == "COMMIT":
            inside = False
        elif line.startswith(":"):
            parsed.chains.add(line[1:].split()[0])
        else:
            if line.startswith("["):  # iptables-save -c: "[pkts:bytes] -A ..."
                line = line.split("]", 1)[1].strip()
            verb, chain, *rest = line.split(" ", 2)
            if verb == "-A":
                parsed.rules.setdefault(chain, []).append(" ".join(rest).strip())
    return parsed


def _is_owned_jump(rule: str, table: str, layout: Layout) -> bool:
    """An unconditional ``-j <owned chain>``: netnode's own jump. Conditional rules that
    happen to target an owned chain are someone else's and are left alone."""
    words = shlex.split(rule)
    return len(words) == 2 and words[0] == "-j" and words[1] in layout.owned.get(table, ())
