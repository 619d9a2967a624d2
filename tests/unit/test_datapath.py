"""Which datapath a new bridge gets (plan.datapath), and that an existing bridge keeps
its own (plan.diff): the kernel's where its module is loaded or loadable, the userspace
one where not, an explicit setting first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netnode.drivers.ovs import kernel_module
from netnode.plan import operations as op
from netnode.plan.datapath import choose
from netnode.plan.diff import plan
from netnode.plan.observed import HostState, OvsBridge, OvsState
from netnode.plan.spec import BridgeSpec, HostSpec


@pytest.mark.parametrize(
    ("override", "loaded", "loadable", "datapath"),
    [
        (None, True, True, "system"),
        (None, False, True, "system"),
        (None, False, False, "netdev"),
        ("netdev", True, True, "netdev"),
        ("system", False, False, "system"),
    ],
)
def test_the_choice(override: str | None, loaded: bool, loadable: bool, datapath: str) -> None:
    chosen = choose(override, loaded, loadable)
    assert chosen.datapath == datapath and chosen.why


def test_an_override_that_is_no_datapath_names_the_setting() -> None:
    with pytest.raises(ValueError, match="--datapath 'kernel'"):
        choose("kernel", True, True)


def spec() -> HostSpec:
    return HostSpec(node="n1", topology="t", bridges=(BridgeSpec("br-x"),))


def test_a_new_bridge_gets_the_hosts_datapath() -> None:
    observed = HostState(OvsState(), frozenset(), {}, {}, {}, datapath="system")
    (ensure,) = [o for o in plan(spec(), observed).operations if isinstance(o, op.EnsureBridge)]
    assert ensure.bridge.datapath_type == "system"
    assert "datapath_type=system" in " ".join(" ".join(c) for c in ensure.ovs())


def test_an_existing_bridge_keeps_its_datapath() -> None:
    bridges = {"br-x": OvsBridge("br-x", "netdev", {}, ())}
    observed = HostState(OvsState(bridges=bridges), frozenset(), {}, {}, {}, datapath="system")
    assert plan(spec(), observed).operations == ()


def _kernel(root: Path, release: str, **files: str) -> None:
    for name, text in files.items():
        path = root / name.replace("RELEASE", release)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    ("files", "found"),
    [
        ({}, (False, False)),  # no module support at all (this lab machine)
        ({"sys/module/openvswitch/refcnt": "1"}, (True, True)),
        (
            {"lib/modules/RELEASE/modules.builtin": "kernel/net/openvswitch/openvswitch.ko\n"},
            (True, True),
        ),
        (
            {
                "proc/sys/kernel/modules_disabled": "0\n",
                "proc/modules": "",
                "lib/modules/RELEASE/modules.dep": "kernel/net/openvswitch/openvswitch.ko.xz: a.ko\n",
            },
            (False, True),
        ),
        (
            {
                "proc/sys/kernel/modules_disabled": "1\n",
                "proc/modules": "",
                "lib/modules/RELEASE/modules.dep": "kernel/net/openvswitch/openvswitch.ko: \n",
            },
            (False, False),
        ),
        (
            {
                "proc/sys/kernel/modules_disabled": "0\n",
                "proc/modules": "",
                "lib/modules/RELEASE/modules.dep": "kernel/net/vxlan/vxlan.ko: \n",
            },
            (False, False),
        ),
    ],
)
def test_the_kernel_module_is_found_loaded_or_loadable(
    tmp_path: Path, files: dict[str, str], found: tuple[bool, bool]
) -> None:
    _kernel(tmp_path, os.uname().release, **files)
    assert kernel_module(tmp_path) == found
