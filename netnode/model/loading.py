"""From a YAML file (or a dict) to a validated topology with every id and default filled.

Every problem, from YAML syntax to cross-object rules, becomes a ``TopologyError`` with
field paths; nothing here touches the host. A file is held to more than a dict: it must
name its topology and describe something (an empty or truncated file would otherwise be
applied as "delete everything"), and a key given twice is refused with its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import yaml

from netnode.errors import Problem, TopologyError
from netnode.model import ids, validation
from netnode.model.defaults import DEFAULT_NODE
from netnode.model.topology import Named, Topology


def load_file(path: str | Path, node: str = DEFAULT_NODE, *, allow_empty: bool = False) -> Topology:
    """The topology a file describes. A file must name its topology and describe
    something: an empty or truncated file applied would delete everything its topology
    had. ``allow_empty`` takes a file that names a topology and nothing else (a destroy,
    which is asked for explicitly)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(
            [Problem("", f"cannot read the file: {exc.strerror}")], str(path)
        ) from exc
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopologyError([Problem(where, f"not valid YAML: {problem}")], str(path)) from exc
    if data is None or data == {}:
        raise TopologyError([Problem("", f"the file is empty. {_TO_REMOVE}")], str(path))
    if isinstance(data, dict) and data.get("name") is None:
        raise TopologyError(
            [
                Problem(
                    "name",
                    "missing: add 'name: NAME' at the top (the name netnode records the "
                    "topology under); a file without one cannot be told from a truncated one",
                )
            ],
            str(path),
        )
    topo = load_data(data, node=node, source=str(path))
    if not allow_empty and not _describes_something(topo):
        raise TopologyError(
            [Problem("", f"topology {topo.name!r} describes nothing. {_TO_REMOVE}")], str(path)
        )
    return topo


_TO_REMOVE = (
    "Applying it would delete everything its topology made; to remove a topology on "
    "purpose run 'netnode destroy -f FILE' with the file that made it (or 'netnode "
    "destroy --topology NAME')"
)


def _describes_something(topo: Topology) -> bool:
    return any(
        (
            topo.networks,
            topo.load_balancers,
            topo.routers,
            topo.floating_ips,
            topo.ports,
            topo.lab.instances,
            topo.lab.clients,
        )
    )


class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe loader (libyaml's when installed) that refuses a key given twice in
    one mapping, instead of keeping the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *defaults' may be overridden; that is what it is for
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base constructor says so
            if first is not key_node:
                mark = first.start_mark
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first given at line {mark.line + 1}, "
                    f"column {mark.column + 1}): keep one",
                    key_node.start_mark,
                )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load_data(data: Any, node: str = DEFAULT_NODE, source: str = "") -> Topology:
    if not isinstance(data, dict):
        raise TopologyError(
            [
                Problem(
                    "",
                    "the topology must be a mapping of sections (networks:, load_balancers:, ...)",
                )
            ],
            source,
        )
    try:
        topo = Topology.model_validate(data)
    except pydantic.ValidationError as exc:
        raise TopologyError([_problem(err) for err in exc.errors()], source) from exc
    problems = validation.check(topo)
    if problems:
        raise TopologyError(problems, source)
    resolve(topo, node)
    return topo


def _problem(err: Any) -> Problem:
    path = ""
    for part in err["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = err["msg"]
    if err["type"] == "string_pattern_mismatch":
        message = f"{err['input']!r} is not allowed here (allowed: {err['ctx']['pattern']})"
    elif err["type"] == "extra_forbidden":
        message = "unknown field"
    return Problem(path, message)


def resolve(topo: Topology, node: str) -> None:
    """Fill ids (uuid5 of node/kind/name unless given) and defaults that depend on the
    rest of the topology (a floating IP's networks)."""

    def give(obj: Named, kind: str, scope: str = "") -> str:
        if obj.id is None:
            obj.id = ids.stable_id(node, kind, f"{scope}{obj.name}")
        return obj.id

    for net in topo.networks:
        give(net, "network")
        for subnet in net.subnets:
            give(subnet, "subnet")
    for lb in topo.load_balancers:
        lb_id = give(lb, "loadbalancer")
        for listener in lb.listeners:
            listener_id = give(listener, "listener", f"{lb_id}/")
            for policy in listener.l7policies:
                policy_id = give(policy, "l7policy", f"{listener_id}/")
                for k, rule in enumerate(policy.rules):
                    if rule.id is None:
                        rule.id = ids.stable_id(node, "l7rule", f"{policy_id}/{k}")
        for pool in lb.pools:
            pool_id = give(pool, "pool", f"{lb_id}/")
            for member in pool.members:
                give(member, "member", f"{pool_id}/")
            hm = pool.healthmonitor
            if hm is not None and hm.id is None:
                hm.id = ids.stable_id(node, "healthmonitor", pool_id)
    for router in topo.routers:
        give(router, "router")
    externals = [n.name for n in topo.networks if n.external]
    for fip in topo.floating_ips:
        give(fip, "floatingip")
        if fip.network is None and len(externals) == 1:
            fip.network = externals[0]
        if fip.fixed_ip_address is not None and fip.fixed_network is None:
            fip.fixed_network = _holder_network(topo, fip.fixed_ip_address)
        for pf in fip.port_forwardings:
            if pf.id is None:
                key = f"{fip.id}/{pf.protocol}/{pf.external_port}"
                pf.id = ids.stable_id(node, "portforwarding", key)
            if pf.internal_network is None:
                pf.internal_network = _holder_network(topo, pf.internal_ip_address)
    for port in topo.ports:
        give(port, "port")
        if port.mac_address is None:
            port.mac_address = ids.port_mac(port.uid)
    macs = {p.name: p.mac_address for p in topo.ports}
    for inst in topo.lab.instances:
        give(inst, "instance")
        if inst.port is not None and inst.mac is None:
            inst.mac = macs.get(inst.port)
    for client in topo.lab.clients:
        give(client, "client")


def _holder_network(topo: Topology, address: Any) -> str | None:
    for lb in topo.load_balancers:
        if lb.vip.address == address:
            return lb.vip.network
    for inst in topo.lab.instances:
        if inst.address == address:
            return inst.network
    for port in topo.ports:
        if any(f.ip_address == address for f in port.fixed_ips):
            return port.network
    return None
