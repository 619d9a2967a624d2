"""The options of ``netnode serve`` and ``netnode agent`` that give the API's external
network its uplink, as Neutron's ``physical_interface_mappings`` do:
``--physical-interface-mappings physnet-ex:eth3`` (``[agent]``/``[serve]``
``physical-interface-mappings = ["physnet-ex:eth3"]`` in the configuration file) and
``--force-uplink``. A topology file names its own (``physical_interface``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from netnode.errors import NetnodeError

if TYPE_CHECKING:
    from netnode.plan.uplinks import ProviderMappings
    from netnode.reconcile.host import Host


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--physical-interface-mappings",
        dest="physical_interface_mappings",
        action="append",
        type=_entry,
        default=[],
        metavar="PHYSNET:INTERFACE",
        help="the host interface of the API's external network (physnet-ex:eth3): "
        "attached to its bridge and brought up, detached when the network goes; may repeat",
    )
    p.add_argument(
        "--force-uplink",
        action="store_true",
        help="let the mapped interface be the one that carries this host's default route "
        "(refused otherwise: attached to a bridge, it cuts the host off its network)",
    )


def _entry(text: str) -> str:
    from netnode.plan.uplinks import parse_mappings

    try:
        parse_mappings([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def mappings_of(args: argparse.Namespace, host: Host) -> ProviderMappings | None:
    """The node's mappings for the API's topology, None without any; refused
    (NetnodeError) before the loop starts when the host has no such interface, or when
    it carries the default route and ``--force-uplink`` was not given."""
    from netnode.api.world import API_TOPOLOGY
    from netnode.plan import uplinks

    entries = getattr(args, "physical_interface_mappings", [])
    if not entries:
        if getattr(args, "force_uplink", False):
            raise NetnodeError("--force-uplink is about --physical-interface-mappings: give one")
        return None
    interfaces = uplinks.parse_mappings(entries)
    links = host.netlink.host_links()
    carriers = uplinks.default_route_carriers(host.netlink.host_routes(), links)
    for physnet, name in interfaces.items():
        given = f"--physical-interface-mappings {physnet}:{name}"
        if name not in links:
            raise NetnodeError(
                f"{given}: this host has no interface {name!r}; give the name 'ip link' shows"
            )
        if name in carriers and not args.force_uplink:
            raise NetnodeError(
                f"{given}: {name!r} carries this host's default route: attached to a bridge it "
                "would cut the host off its network. Map the NIC of the external network, "
                "or add --force-uplink if this is meant"
            )
    return uplinks.ProviderMappings(API_TOPOLOGY, interfaces, args.force_uplink)
