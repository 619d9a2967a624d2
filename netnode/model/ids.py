"""Stable identifiers and the host names derived from them.

Every object gets a UUID: given in the file (as the API will), or a uuid5 of the node
name, the object's kind and its name, so the same file on the same node always yields
the same HAProxy section names, namespaces and interface names, and two nodes on one
host (tests, a simulated second node) never collide.
"""

from __future__ import annotations

import uuid

from netnode.model.defaults import DEFAULT_NODE as DEFAULT_NODE  # where it used to be

NETNODE_NAMESPACE = uuid.UUID("5b1d5bd4-7f4e-4c39-9d39-6e6f64650001")

# Linux limits interface names to 15 characters; Neutron uses a 3-character prefix and
# the first 11 characters of the port id ("tap" + "04a1b2c3-d4").
IFNAME_ID_CHARS = 11


def stable_id(node: str, kind: str, name: str) -> str:
    """The uuid5 of ``node/kind/name``, as a string."""
    return str(uuid.uuid5(NETNODE_NAMESPACE, f"{node}/{kind}/{name}"))


def port_mac(port_id: str) -> str:
    """A port's MAC when none is given: Neutron's ``fa:16:3e`` prefix and three bytes of
    the port's id (the id's own hex digits, so the same port always gets the same MAC).
    The store refuses a MAC held twice, so the rare collision is a clear conflict."""
    digits = port_id.replace("-", "")[-6:]
    return "fa:16:3e:" + ":".join(digits[i : i + 2] for i in range(0, 6, 2))


def dhcp_port_id(network_id: str) -> str:
    """The id of a network's DHCP port (its ``tap`` in ``qdhcp-``): the network's own,
    whatever node serves it, so every node names the port and its MAC alike."""
    return str(uuid.uuid5(NETNODE_NAMESPACE, f"dhcp/{network_id}"))


def dhcp_namespace(network_id: str) -> str:
    """Neutron's DHCP agent's namespace of a network."""
    return f"qdhcp-{network_id}"


def ifname(prefix: str, object_id: str) -> str:
    """An interface name Neutron-style: ``tap`` + 11 characters of the id."""
    return f"{prefix}{object_id[:IFNAME_ID_CHARS]}"


def lb_namespace(lb_id: str) -> str:
    return f"qlbaas-{lb_id}"


def router_namespace(router_id: str) -> str:
    return f"qrouter-{router_id}"


def lab_namespace(instance_id: str) -> str:
    return f"qlab-{instance_id}"
