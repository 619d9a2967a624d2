"""Open vSwitch's database read over its socket (netnode.drivers.ovsdb): what
``ovs-vsctl`` wrote is what a pass reads, on one connection kept open, and a connection
the server dropped is made again."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest

from netnode.drivers.ovs import OVS


@pytest.fixture
def bridge() -> Iterator[str]:
    name = f"nnq{secrets.token_hex(3)}"
    subprocess.run(
        ["ovs-vsctl", "add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev",
         "--", "add-port", name, f"{name}p", "tag=7", "--",
         "set", "Interface", f"{name}p", "type=internal",
         "--", "set", "Port", f"{name}p", "external_ids:netnode-test=yes"],
        check=True,
    )  # fmt: skip
    try:
        yield name
    finally:
        subprocess.run(["ovs-vsctl", "--if-exists", "del-br", name], check=True)


def test_a_pass_reads_what_ovs_vsctl_wrote_on_one_connection(bridge: str) -> None:
    ovs = OVS()
    try:
        assert ovs.is_running()
        state = ovs.observe()
        assert state.bridges[bridge].datapath_type == "netdev"
        assert f"{bridge}p" in state.bridges[bridge].ports
        port = state.ports[f"{bridge}p"]
        assert (port.bridge, port.tag, port.external_ids) == (bridge, 7, {"netnode-test": "yes"})
        assert isinstance(port.ofport, int)
        first = ovs.db._sock
        ovs.observe()
        assert ovs.db._sock is first  # kept open, not one connection per read
        # The server hangs up (as on a restart): the next read connects again.
        assert first is not None
        first.shutdown(2)
        assert ovs.observe().ports[f"{bridge}p"].tag == 7
        assert ovs.db._sock is not first
    finally:
        ovs.close()
