"""A topology drawn as SVG, laid out like Horizon's network topology: each network a
vertical bar carrying its name and subnets' CIDRs (external networks first), each
router, load balancer and lab host a box on a row of its own, joined by a line to every
network it has a port on (the port's address beside the line), floating IPs as tags
on the left, joined to their external network.

A load balancer's box lists its listeners, its pools and their members. Given
operating statuses by object id (what a running node reports), boxes and rows carry a
coloured dot: ONLINE green, DEGRADED and DRAINING orange, ERROR and OFFLINE red,
NO_MONITOR grey; routers and floating IPs by their provisioning status (ACTIVE green,
PENDING_* orange, ERROR red). Without statuses (a file) nothing is coloured.

Pure: ``draw(topologies, statuses)`` returns the SVG text; the same input gives the
same text. Every element that stands for an object carries ``data-id`` (its id) and,
with a status, ``data-status``: what a page or a test can find it by.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from netnode.model.topology import FloatingIP, LoadBalancer, Named, Router, Subnet, Topology

# Geometry (px).
MARGIN = 20
TOP = 74  # below the title and the networks' labels
BAR_WIDTH = 20
GAP = 350  # between two network bars
BOX_WIDTH = 200
BOX_OFFSET = 100  # from a bar's right edge to the box it holds (room for an address)
TAG_WIDTH = 220  # a floating IP's tag, left of the bars
HEADER = 22
ROW = 16
ROW_GAP = 18
FONT = 12
CHAR = 6.6  # an estimate of one character's width at FONT, to cut labels that overflow

NEUTRAL = "#5b6f8a"
COLOURS = {
    "ONLINE": "#2e9e44",
    "ACTIVE": "#2e9e44",
    "DEGRADED": "#f0a020",
    "DRAINING": "#f0a020",
    "ERROR": "#d9342b",
    "OFFLINE": "#d9342b",
    "NO_MONITOR": "#9e9e9e",
}
PENDING = "#f0a020"
EXTERNAL_BAR = "#7b8fa8"
TENANT_BARS = ("#3f7fbf", "#44a08d", "#8e6bbf", "#c0713a", "#3aa0c0", "#a0a03a")
LEGEND = ("ONLINE", "DEGRADED", "ERROR", "OFFLINE", "NO_MONITOR")


def colour(status: str | None) -> str:
    """The colour of an operating or provisioning status; neutral for None."""
    if status is None:
        return NEUTRAL
    if status.startswith("PENDING_"):
        return PENDING
    return COLOURS.get(status, COLOURS["NO_MONITOR"])


@dataclass(frozen=True)
class Row:
    """One line of text in a box, with the object it stands for (its status dot)."""

    text: str
    object_id: str | None = None
    indent: int = 0


@dataclass
class Box:
    object_id: str
    kind: str  # router, loadbalancer, instance, client
    title: str
    ports: list[tuple[str, str]]  # (network id, address)
    rows: list[Row] = field(default_factory=list)

    @property
    def height(self) -> int:
        return HEADER + len(self.rows) * ROW + (6 if self.rows else 0)


@dataclass(frozen=True)
class Bar:
    network_id: str
    label: str
    cidrs: str
    external: bool


@dataclass(frozen=True)
class Tag:
    object_id: str
    network_id: str
    lines: tuple[str, ...]


@dataclass
class Scene:
    """What is drawn, before where: bars, boxes and tags, each once by id."""

    bars: list[Bar] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)


def draw(
    topologies: Topology | Sequence[Topology],
    statuses: Mapping[str, str] | None = None,
    title: str = "",
) -> str:
    """The SVG of ``topologies`` (one, or several drawn together: a node's files and
    its API's objects), coloured by ``statuses`` (object id -> status) when given."""
    topos = [topologies] if isinstance(topologies, Topology) else list(topologies)
    scene = scene_of(topos)
    return _svg(scene, statuses, title or _title(topos))


def _title(topos: list[Topology]) -> str:
    names = [t.name for t in topos if t.name]
    return "netnode topology" + (f": {', '.join(names)}" if names else "")


# --- what is drawn ---------------------------------------------------------------------


def scene_of(topos: list[Topology]) -> Scene:
    scene = Scene()
    seen: set[str] = set()

    def new(object_id: str) -> bool:
        if object_id in seen:
            return False
        seen.add(object_id)
        return True

    for topo in topos:
        nets = sorted(topo.networks, key=lambda n: not n.external)  # stable: externals first
        for net in nets:
            if new(net.uid):
                cidrs = "  ".join(str(s.cidr) for s in net.subnets)
                scene.bars.append(Bar(net.uid, _label(topo, net), cidrs, net.external))
    scene.bars.sort(key=lambda b: not b.external)
    for topo in topos:
        by_name = {n.name: n.uid for n in topo.networks}
        subnets = {s.name: (n.uid, s) for n in topo.networks for s in n.subnets}
        for router in topo.routers:
            if new(router.uid):
                scene.boxes.append(_router(topo, router, by_name, subnets))
        for lb in topo.load_balancers:
            if new(lb.uid):
                scene.boxes.append(_load_balancer(topo, lb, by_name))
        for inst in topo.lab.instances:
            if new(inst.uid):
                ports = [(by_name.get(inst.network, ""), str(inst.address))]
                scene.boxes.append(Box(inst.uid, "instance", f"instance {inst.name}", ports))
        for client in topo.lab.clients:
            if new(client.uid):
                ports = [(by_name.get(client.network, ""), str(client.address))]
                scene.boxes.append(Box(client.uid, "client", f"client {client.name}", ports))
        for fip in topo.floating_ips:
            if new(fip.uid):
                scene.tags.append(_floating_ip(topo, fip, by_name))
    return scene


def _label(topo: Topology, obj: Named) -> str:
    """The name a person gave: the API's free-text name, else the object's name, else
    (an API object named only by its id) the id's first block."""
    meta = topo.metadata.get(obj.uid)
    if meta is not None and meta.name:
        return meta.name
    if meta is not None and obj.name == obj.uid:
        return obj.uid[:8]
    return obj.name


def _router(
    topo: Topology,
    router: Router,
    by_name: dict[str, str],
    subnets: dict[str, tuple[str, Subnet]],
) -> Box:
    ports: list[tuple[str, str]] = []
    rows: list[Row] = []
    gw = router.external_gateway
    if gw is not None:
        ports.append((by_name.get(gw.network, ""), str(gw.ip_address)))
        rows.append(Row("SNAT" if gw.enable_snat else "no SNAT"))
    for name in router.interfaces:
        if name in subnets:
            net_id, subnet = subnets[name]
            ports.append((net_id, str(subnet.gateway_ip) if subnet.gateway_ip else ""))
    if router.ha:
        rows.append(Row("HA (VRRP)"))
    return Box(router.uid, "router", f"router {_label(topo, router)}", ports, rows)


def _load_balancer(topo: Topology, lb: LoadBalancer, by_name: dict[str, str]) -> Box:
    rows: list[Row] = []
    for x in lb.listeners:
        pool = f" > {x.default_pool}" if x.default_pool else ""
        rows.append(Row(f"{_label(topo, x)} {x.protocol}:{x.protocol_port}{pool}", x.uid))
    for p in lb.pools:
        rows.append(Row(f"pool {_label(topo, p)} {p.lb_algorithm}", p.uid))
        if p.healthmonitor is not None:
            hm = p.healthmonitor
            rows.append(Row(f"monitor {hm.type} every {hm.delay}s", indent=1))
        for m in p.members:
            rows.append(Row(f"{_label(topo, m)} {m.address}:{m.protocol_port}", m.uid, indent=1))
    ports = [(by_name.get(lb.vip.network, ""), f"VIP {lb.vip.address}")]
    return Box(lb.uid, "loadbalancer", f"load balancer {_label(topo, lb)}", ports, rows)


def _floating_ip(topo: Topology, fip: FloatingIP, by_name: dict[str, str]) -> Tag:
    external = [n for n in topo.networks if n.external]
    net_id = by_name.get(fip.network or "", external[0].uid if len(external) == 1 else "")
    lines = [f"floating IP {fip.floating_ip_address}"]
    if fip.fixed_ip_address is not None:
        lines.append(f"> {fip.fixed_ip_address}{_holder(topo, fip.fixed_ip_address)}")
    for pf in fip.port_forwardings:
        lines.append(
            f"{pf.protocol}/{pf.external_port} > {pf.internal_ip_address}:{pf.internal_port}"
        )
    return Tag(fip.uid, net_id, tuple(lines))


def _holder(topo: Topology, address: IPv4Address) -> str:
    for lb in topo.load_balancers:
        if lb.vip.address == address:
            return f" (lb {_label(topo, lb)})"
    for inst in topo.lab.instances:
        if inst.address == address:
            return f" ({inst.name})"
    return ""


# --- where it is drawn -----------------------------------------------------------------


def _svg(scene: Scene, statuses: Mapping[str, str] | None, title: str) -> str:
    left = MARGIN + (TAG_WIDTH + 30 if scene.tags else 0)
    bar_x = {b.network_id: left + i * GAP for i, b in enumerate(scene.bars)}
    last = left + max(len(scene.bars) - 1, 0) * GAP
    width = last + BAR_WIDTH + BOX_OFFSET + BOX_WIDTH + MARGIN
    out: list[str] = []
    y = TOP + 10
    items: list[str] = []
    for box in scene.boxes:
        items += _box(box, bar_x, y, left, statuses)
        y += box.height + ROW_GAP
    for tag in scene.tags:
        items += _tag(tag, bar_x, y, statuses)
        y += len(tag.lines) * ROW + 10 + ROW_GAP
    legend = statuses is not None
    height = max(y, TOP + 120) + (30 if legend else 0)
    bottom = height - (30 if legend else 0) - 10
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="netnode-topology" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}">'
    )
    out.append(f"  <title>{_e(title)}</title>")
    out.append(f'  <rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>')
    out.append(f'  <text x="{MARGIN}" y="26" font-size="16" font-weight="bold">{_e(title)}</text>')
    tenant = 0
    for bar in scene.bars:
        x = bar_x[bar.network_id]
        fill = EXTERNAL_BAR
        if not bar.external:
            fill = TENANT_BARS[tenant % len(TENANT_BARS)]
            tenant += 1
        kind = "external" if bar.external else "tenant"
        out.append(f'  <g class="network {kind}" data-id="{_e(bar.network_id)}">')
        out.append(
            f'    <rect x="{x}" y="{TOP}" width="{BAR_WIDTH}" height="{bottom - TOP}" '
            f'rx="4" fill="{fill}"/>'
        )
        centre = x + BAR_WIDTH // 2
        for dy, text, weight in ((-24, bar.label, "bold"), (-9, bar.cidrs, "normal")):
            out.append(
                f'    <text x="{centre}" y="{TOP + dy}" text-anchor="middle" '
                f'font-weight="{weight}">{_e(_fit(text, (GAP - 30) / CHAR))}</text>'
            )
        out.append("  </g>")
    out += items
    if legend:
        out += _legend(height - 22)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _box(
    box: Box, bar_x: dict[str, int], y: int, left: int, statuses: Mapping[str, str] | None
) -> list[str]:
    xs = sorted(bar_x[n] for n, _ in box.ports if n in bar_x)
    x = (xs[0] if xs else left) + BAR_WIDTH + BOX_OFFSET
    status = statuses.get(box.object_id) if statuses is not None else None
    out = [f'  <g class="{box.kind}" data-id="{_e(box.object_id)}"{_status_attr(status)}>']
    port_y = y + HEADER // 2
    for net_id, address in box.ports:
        if net_id not in bar_x:
            continue
        bx = bar_x[net_id]
        # A bar on the left: from it to the box's left edge; on the right: from the
        # box's right edge to it. The address stands right of the bar either way.
        x1, x2 = (bx + BAR_WIDTH, x) if bx < x else (x + BOX_WIDTH, bx)
        out.append(
            f'    <line x1="{x1}" y1="{port_y}" x2="{x2}" y2="{port_y}" '
            f'stroke="#555555" stroke-width="2"/>'
        )
        out.append(f'    <circle cx="{bx + BAR_WIDTH // 2}" cy="{port_y}" r="4" fill="#333333"/>')
        if address:
            out.append(
                f'    <text x="{bx + BAR_WIDTH + 4}" y="{port_y - 4}" font-size="10" '
                f'fill="#333333">{_e(address)}</text>'
            )
    stroke = colour(status) if status is not None else NEUTRAL
    out.append(
        f'    <rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{box.height}" rx="5" '
        f'fill="#f7f9fc" stroke="{stroke}" stroke-width="2"/>'
    )
    out.append(
        f'    <rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{HEADER}" rx="5" fill="{stroke}"/>'
    )
    out.append(
        f'    <text x="{x + 8}" y="{y + 15}" fill="#ffffff" font-weight="bold">'
        f"{_e(_fit(box.title, (BOX_WIDTH - 16) / CHAR))}</text>"
    )
    for i, row in enumerate(box.rows):
        ry = y + HEADER + 4 + i * ROW
        tx = x + 8 + row.indent * 12
        row_status = statuses.get(row.object_id) if statuses and row.object_id else None
        if row.object_id is not None:
            out.append(
                f'    <g class="row" data-id="{_e(row.object_id)}"{_status_attr(row_status)}>'
            )
            out.append(
                f'      <circle cx="{tx + 4}" cy="{ry + 8}" r="4" '
                f'fill="{colour(row_status) if row_status else "#ffffff"}" stroke="#555555"/>'
            )
            room = (BOX_WIDTH - (tx - x) - 22) / CHAR
            out.append(f'      <text x="{tx + 12}" y="{ry + 12}">{_e(_fit(row.text, room))}</text>')
            out.append("    </g>")
        else:
            room = (BOX_WIDTH - (tx - x) - 10) / CHAR
            out.append(
                f'    <text x="{tx}" y="{ry + 12}" fill="#555555">{_e(_fit(row.text, room))}</text>'
            )
    out.append("  </g>")
    return out


def _tag(tag: Tag, bar_x: dict[str, int], y: int, statuses: Mapping[str, str] | None) -> list[str]:
    status = statuses.get(tag.object_id) if statuses is not None else None
    height = len(tag.lines) * ROW + 10
    out = [f'  <g class="floatingip" data-id="{_e(tag.object_id)}"{_status_attr(status)}>']
    if tag.network_id in bar_x:
        out.append(
            f'    <line x1="{MARGIN + TAG_WIDTH}" y1="{y + ROW // 2 + 5}" '
            f'x2="{bar_x[tag.network_id]}" y2="{y + ROW // 2 + 5}" stroke="#555555" '
            f'stroke-width="2" stroke-dasharray="5,3"/>'
        )
    out.append(
        f'    <rect x="{MARGIN}" y="{y}" width="{TAG_WIDTH}" height="{height}" rx="10" '
        f'fill="#fffbe8" stroke="{colour(status)}" stroke-width="2"/>'
    )
    for i, line in enumerate(tag.lines):
        weight = ' font-weight="bold"' if i == 0 else ""
        out.append(
            f'    <text x="{MARGIN + 10}" y="{y + 17 + i * ROW}"{weight}>'
            f"{_e(_fit(line, (TAG_WIDTH - 20) / CHAR))}</text>"
        )
    out.append("  </g>")
    return out


def _legend(y: int) -> list[str]:
    out = ['  <g class="legend">']
    x = MARGIN
    for status in LEGEND:
        out.append(f'    <circle cx="{x + 5}" cy="{y + 5}" r="5" fill="{colour(status)}"/>')
        out.append(f'    <text x="{x + 14}" y="{y + 9}" font-size="11">{status}</text>')
        x += 30 + len(status) * 8
    out.append("  </g>")
    return out


def _status_attr(status: str | None) -> str:
    return "" if status is None else f' data-status="{_e(status)}"'


def _fit(text: str, chars: float) -> str:
    limit = max(int(chars), 4)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
