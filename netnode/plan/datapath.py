"""Which Open vSwitch datapath a new bridge gets (pure).

``system`` is the kernel's openvswitch module: packets are forwarded in the kernel,
as on almost every production host. ``netdev`` is ovs-vswitchd's userspace datapath:
it needs no module, and it is what a container or VM without the module (the lab
machines netnode is tested on) can run, at the cost of forwarding every packet
through ovs-vswitchd.

The rule: an explicit setting wins (``--datapath``, env ``NETNODE_DATAPATH``); else
``system`` where the module is loaded or can be loaded, ``netdev`` where it cannot.
An existing bridge keeps the datapath it has (``plan.diff``): flipping it would drop
every port's traffic while the bridge is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass

DATAPATHS = ("system", "netdev")


@dataclass(frozen=True)
class Choice:
    datapath: str
    why: str


def choose(override: str | None, module_loaded: bool, module_loadable: bool) -> Choice:
    """The datapath for new bridges, and why; ValueError naming the setting for an
    override that is no datapath."""
    if override is not None:
        if override not in DATAPATHS:
            raise ValueError(
                f"--datapath {override!r}: give one of {', '.join(DATAPATHS)} "
                "(the kernel's module, or ovs-vswitchd's userspace datapath)"
            )
        return Choice(override, "set explicitly (--datapath or NETNODE_DATAPATH)")
    if module_loaded:
        return Choice("system", "the openvswitch kernel module is loaded")
    if module_loadable:
        return Choice("system", "the openvswitch kernel module can be loaded")
    return Choice("netdev", "no openvswitch kernel module here: ovs-vswitchd's userspace datapath")
