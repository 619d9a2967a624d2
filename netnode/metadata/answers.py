"""A port's metadata in OpenStack's and EC2's formats, as cloud-init reads them. Pure.

``record`` is a port as ``netnode.plan.metadata.document`` writes it. ``answer(record,
path)`` is what a GET of ``path`` gets: OpenStack's ``/openstack/<version>/...``
(``meta_data.json``, ``network_data.json``, ``user_data``, ``vendor_data.json``) and
EC2's ``/<version>/meta-data/...`` and ``/<version>/user-data``, with the version
listings at ``/`` and ``/openstack``. Nova's answers are the model (nova/api/metadata/
base.py); what a port cannot know (block devices, the image, the flavor) is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

# What Nova's metadata API lists (nova/api/metadata/base.py).
OPENSTACK_VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
)
EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)
OPENSTACK_FILES = ("meta_data.json", "network_data.json", "user_data", "vendor_data.json")

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    @classmethod
    def text(cls, text: str, status: int = 200) -> Answer:
        return cls(status, TEXT, text.encode())

    @classmethod
    def json(cls, value: object) -> Answer:
        return cls(200, JSON, json.dumps(value, sort_keys=True).encode())


NOT_FOUND = Answer.text("404 Not Found\n", 404)


def instance_id(record: dict[str, Any]) -> str:
    """The instance's uuid: the port's device_id (Nova's server), else the port's id."""
    return str(record["device_id"] or record["id"])


def meta_data(record: dict[str, Any]) -> dict[str, Any]:
    """``/openstack/latest/meta_data.json``."""
    keys = record["public_keys"]
    return {
        "uuid": instance_id(record),
        "name": record["name"],
        "hostname": record["hostname"],
        "launch_index": 0,
        "availability_zone": record["availability_zone"],
        "project_id": record["project_id"],
        "public_keys": dict(keys),
        "keys": [{"name": k, "type": "ssh", "data": v} for k, v in keys.items()],
        "devices": [],
        "meta": {},
    }


def _netmask(cidr: str) -> str:
    return str(IPv4Network(cidr).netmask)


def network_data(record: dict[str, Any]) -> dict[str, Any]:
    """``/openstack/latest/network_data.json``: one link (the port's MAC), one static
    IPv4 network per fixed address (its subnet's mask, the gateway as default route,
    the host routes) and the subnets' DNS servers."""
    link = "tap" + record["id"][:11]
    networks = []
    dns: list[str] = []
    for index, fixed in enumerate(record["fixed_ips"]):
        if fixed["cidr"] is None:
            continue
        routes = [
            {
                "network": str(IPv4Network(r["destination"]).network_address),
                "netmask": _netmask(r["destination"]),
                "gateway": r["nexthop"],
            }
            for r in fixed["host_routes"]
        ]
        if fixed["gateway_ip"] is not None:
            routes.append(
                {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": fixed["gateway_ip"]}
            )
        services = [{"type": "dns", "address": a} for a in fixed["dns_nameservers"]]
        dns += [a for a in fixed["dns_nameservers"] if a not in dns]
        networks.append(
            {
                "id": f"network{index}",
                "type": "ipv4",
                "link": link,
                "ip_address": fixed["ip_address"],
                "netmask": _netmask(fixed["cidr"]),
                "routes": routes,
                "network_id": record["network_id"],
                "services": services,
            }
        )
    return {
        "links": [
            {
                "id": link,
                "vif_id": record["id"],
                "type": "ovs",
                "mtu": None,
                "ethernet_mac_address": record["mac_address"],
            }
        ],
        "networks": networks,
        "services": [{"type": "dns", "address": a} for a in dns],
    }


def ec2_meta_data(record: dict[str, Any]) -> dict[str, Any]:
    """EC2's ``meta-data`` tree: a dict is a directory, a str a file."""
    fixed = record["fixed_ips"]
    keys = list(record["public_keys"].items())
    return {
        "ami-id": "",
        "ami-launch-index": "0",
        "hostname": record["hostname"],
        "instance-id": instance_id(record),
        "instance-type": "",
        "local-hostname": record["hostname"],
        "local-ipv4": fixed[0]["ip_address"] if fixed else "",
        "mac": record["mac_address"] or "",
        "placement": {"availability-zone": record["availability_zone"]},
        "public-keys": {f"{i}={name}": {"openssh-key": key} for i, (name, key) in enumerate(keys)},
        "reservation-id": "",
        "security-groups": "",
    }


def _listing(tree: dict[str, Any]) -> str:
    return "\n".join(k + "/" if isinstance(v, dict) else k for k, v in tree.items())


def _ec2_path(tree: dict[str, Any], parts: list[str]) -> Answer:
    node: Any = tree
    for part in parts:
        if not isinstance(node, dict):
            return NOT_FOUND
        if part in node:
            node = node[part]
            continue
        # public-keys/0/openssh-key: EC2 names a key by its index alone.
        by_index = [v for k, v in node.items() if k.split("=", 1)[0] == part]
        if not by_index:
            return NOT_FOUND
        node = by_index[0]
    if isinstance(node, dict):
        if parts and parts[-1] == "public-keys":
            return Answer.text("\n".join(node))
        return Answer.text(_listing(node))
    return Answer.text(node)


def user_data(record: dict[str, Any]) -> Answer:
    if record["user_data"] is None:
        return NOT_FOUND
    return Answer(200, OCTETS, record["user_data"].encode())


def answer(record: dict[str, Any], path: str) -> Answer:
    """What a GET of ``path`` gets from the instance whose port is ``record``."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return Answer.text("\n".join((*EC2_VERSIONS, "latest")))
    if parts[0] == "openstack":
        return _openstack(record, parts[1:])
    if parts[0] in EC2_VERSIONS or parts[0] == "latest":
        rest = parts[1:]
        if not rest:
            return Answer.text("meta-data/\nuser-data")
        if rest == ["user-data"]:
            return user_data(record)
        if rest[0] == "meta-data":
            return _ec2_path(ec2_meta_data(record), rest[1:])
    return NOT_FOUND


def _openstack(record: dict[str, Any], parts: list[str]) -> Answer:
    if not parts:
        return Answer.text("\n".join((*OPENSTACK_VERSIONS, "latest")))
    if parts[0] not in OPENSTACK_VERSIONS and parts[0] != "latest":
        return NOT_FOUND
    rest = parts[1:]
    if not rest:
        files = [f for f in OPENSTACK_FILES if f != "user_data" or record["user_data"] is not None]
        return Answer.text("\n".join(files))
    if len(rest) > 1:
        return NOT_FOUND
    match rest[0]:
        case "meta_data.json":
            return Answer.json(meta_data(record))
        case "network_data.json":
            return Answer.json(network_data(record))
        case "vendor_data.json" | "vendor_data2.json":
            return Answer.json({})
        case "user_data":
            return user_data(record)
    return NOT_FOUND
