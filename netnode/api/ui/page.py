"""The status page's HTML, built here on the server from a ``State``: the whole page
for ``GET /ui/``, and the same sections as fragments for ``GET /ui/state``, which the
page's script puts in place (``ui.js``). Every value is escaped (``html.escape``)."""

from __future__ import annotations

from html import escape
from typing import Any

from netnode.api.ui.state import LoadBalancerState, State
from netnode.render.topology_svg import draw

# Sections of the page, each refreshed whole by the script: element id -> builder.
SECTIONS = ("loadbalancers", "network", "topology")
DOWN = ("ERROR", "OFFLINE")

STYLE = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; color: #222;
       background: #f3f5f8; font-size: 14px; }
header { background: #22334a; color: #fff; padding: 10px 20px; display: flex; gap: 18px;
         align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
header .who, header .updated { color: #c9d3e0; font-size: 13px; }
header form { margin-left: auto; }
main { padding: 14px 20px; }
h2 { font-size: 16px; margin: 18px 0 8px; }
.card { background: #fff; border: 1px solid #d5dbe3; border-radius: 6px; padding: 10px 14px;
        margin-bottom: 12px; }
.card h3 { margin: 0 0 6px; font-size: 15px; display: flex; gap: 10px; align-items: center; }
.muted { color: #666; font-weight: normal; font-size: 13px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eceff3; font-size: 13px; }
th { color: #555; font-weight: normal; }
td.indent { padding-left: 26px; }
.st { display: inline-block; min-width: 84px; text-align: center; border-radius: 10px;
      padding: 1px 8px; font-size: 12px; color: #fff; background: #5b6f8a; }
.st-ONLINE, .st-ACTIVE { background: #2e9e44; }
.st-DEGRADED, .st-DRAINING, .st-PENDING_CREATE, .st-PENDING_UPDATE, .st-PENDING_DELETE,
.st-DOWN { background: #f0a020; }
.st-ERROR, .st-OFFLINE { background: #d9342b; }
.st-NO_MONITOR { background: #9e9e9e; }
.stats { display: flex; gap: 16px; align-items: center; font-size: 13px; margin-bottom: 6px;
         flex-wrap: wrap; }
.stats b { font-weight: 600; }
svg.spark { background: #f7f9fc; border: 1px solid #e1e6ee; }
#topology { overflow-x: auto; }
.empty { color: #666; font-style: italic; }
.offline { color: #d9342b; }
"""


def page(state: State, *, node: str, authenticated: bool) -> str:
    """The whole page, sections filled in."""
    ctx = state.context
    who = (
        f"project {escape(ctx.project_id)} ({escape(ctx.role)})"
        if authenticated
        else "no authentication"
    )
    logout = (
        '<form method="post" action="/ui/logout"><button type="submit">Sign out</button></form>'
        if authenticated
        else ""
    )
    parts = fragments(state)
    sections = "\n".join(
        f'<h2>{title}</h2>\n<section id="{name}">{parts[name]}</section>'
        for name, title in (
            ("loadbalancers", "Load balancers"),
            ("network", "Routers and floating IPs"),
            ("topology", "Topology"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>netnode: {escape(node)}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>netnode</h1><span class="who">node {escape(node)}, {who}</span>
<span class="updated" id="updated">rendered by the server</span>{logout}</header>
<main>
{sections}
</main>
<script src="/ui/ui.js"></script>
</body>
</html>
"""


def fragments(state: State) -> dict[str, str]:
    return {
        "loadbalancers": _load_balancers(state),
        "network": _network(state),
        "topology": draw(state.topologies, state.statuses, title="topology"),
    }


def _load_balancers(state: State) -> str:
    if not state.loadbalancers:
        return '<p class="empty">No load balancers.</p>'
    return "\n".join(_load_balancer(lb) for lb in state.loadbalancers)


def _load_balancer(lb: LoadBalancerState) -> str:
    v = lb.view
    s = lb.stats
    rows = []
    for x in lb.listeners:
        rows.append(_row("listener", x, f"{x['protocol']}:{x['protocol_port']}"))
    for pool, members, monitor in lb.pools:
        detail = pool["lb_algorithm"] + (f", monitor {monitor}" if monitor else ", no monitor")
        rows.append(_row("pool", pool, detail))
        for m in members:
            rows.append(_row("member", m, f"{m['address']}:{m['protocol_port']}", indent=True))
    lb_id = escape(v["id"])
    return f"""<div class="card lb" data-id="{lb_id}" data-status="{escape(v["operating_status"])}">
<h3>{escape(v["name"] or v["id"])} {_badge(v["operating_status"])} {_badge(v["provisioning_status"])}
<span class="muted">VIP {escape(str(v["vip_address"]))}, project {escape(v["project_id"])}</span></h3>
<div class="stats" data-lb="{lb_id}" data-requests="{s["requests"]}">
<span>active <b>{s["active_connections"]}</b></span>
<span>connections <b>{s["total_connections"]}</b></span>
<span>requests <b>{s["requests"]}</b></span>
<span>in <b>{_bytes(s["bytes_in"])}</b></span>
<span>out <b>{_bytes(s["bytes_out"])}</b></span>
<span>errors <b>{s["request_errors"]}</b></span>
<span><b class="rate" data-lb="{lb_id}">-</b> req/s</span>
<svg class="spark" data-lb="{lb_id}" width="180" height="32" viewBox="0 0 180 32"></svg>
</div>
<table>
<tr><th>kind</th><th>name</th><th>detail</th><th>operating</th><th>provisioning</th></tr>
{"".join(rows)}
</table>
</div>"""


def _row(kind: str, view: dict[str, Any], detail: str, indent: bool = False) -> str:
    name_class = ' class="indent"' if indent else ""
    return (
        f'<tr class="{kind}" data-id="{escape(view["id"])}" '
        f'data-status="{escape(view["operating_status"])}">'
        f"<td>{kind}</td><td{name_class}>{escape(view['name'] or view['id'])}</td>"
        f"<td>{escape(detail)}</td><td>{_badge(view['operating_status'])}</td>"
        f"<td>{_badge(view['provisioning_status'])}</td></tr>\n"
    )


def _network(state: State) -> str:
    if not state.routers and not state.floatingips:
        return '<p class="empty">No routers or floating IPs.</p>'
    rows = []
    for r in state.routers:
        gw = r["external_gateway_info"]
        detail = (
            ", ".join(ip["ip_address"] for ip in gw["external_fixed_ips"])
            + (" SNAT" if gw["enable_snat"] else "")
            if gw
            else "no gateway"
        )
        status = state.statuses.get(r["id"], "ACTIVE")
        rows.append(
            f'<tr class="router" data-id="{escape(r["id"])}"><td>router</td>'
            f"<td>{escape(r['name'] or r['id'])}</td><td>{escape(detail)}</td>"
            f"<td>{_badge(r['status'])}</td><td>{_badge(status)}</td></tr>\n"
        )
    for f in state.floatingips:
        target = f["fixed_ip_address"] or "unbound"
        forwards = [
            f"{pf['protocol']}/{pf['external_port']} to "
            f"{pf['internal_ip_address']}:{pf['internal_port']}"
            for pf in f["port_forwardings"]
        ]
        detail = f"to {target}" + (f"; {', '.join(forwards)}" if forwards else "")
        status = state.statuses.get(f["id"], "ACTIVE")
        rows.append(
            f'<tr class="floatingip" data-id="{escape(f["id"])}"><td>floating IP</td>'
            f"<td>{escape(f['floating_ip_address'])}</td><td>{escape(detail)}</td>"
            f"<td>{_badge(f['status'])}</td><td>{_badge(status)}</td></tr>\n"
        )
    return (
        '<div class="card"><table><tr><th>kind</th><th>name</th><th>detail</th>'
        "<th>status</th><th>provisioning</th></tr>\n" + "".join(rows) + "</table></div>"
    )


def _badge(status: str) -> str:
    text = escape(status)
    return f'<span class="st st-{text}">{text}</span>'


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} B"


def login(error: str = "") -> str:
    message = f'<p class="offline">{escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>netnode: sign in</title><style>{STYLE}</style></head>
<body>
<header><h1>netnode</h1></header>
<main>
<div class="card" style="max-width: 420px">
<h3>Sign in</h3>
<p class="muted">With a token of this node's tokens file (netnode serve --tokens):
you see your project's objects.</p>
{message}
<form method="post" action="/ui/login">
<input type="password" name="token" autocomplete="current-password" size="40" autofocus>
<button type="submit">Sign in</button>
</form>
</div>
</main>
</body>
</html>
"""
