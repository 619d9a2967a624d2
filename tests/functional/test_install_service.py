"""``netnode install-service``: the units it writes pass ``systemd-analyze verify`` (no
warning either), run the netnode program of this environment, and the configuration
file it writes beside them is one netnode reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.functional.conftest import Lab, eventually, seed_data

UNITS = ("netnode-serve.service", "netnode-agent.service")


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETNODE_")}
    done = subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", "install-service", "--root", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "systemctl enable --now netnode-serve.service" in done.stdout
    paths = [tmp_path / "etc/systemd/system" / name for name in UNITS]
    program = Path(sys.executable).with_name("netnode")
    for path, command in zip(paths, ("serve", "agent"), strict=True):
        text = path.read_text()
        assert f"ExecStart={program} {command}\n" in text
        assert "Type=notify\n" in text and "Restart=on-failure\n" in text
    verify = subprocess.run(
        ["systemd-analyze", "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (verify.returncode, verify.stderr) == (0, "")
    # The configuration it wrote is read by netnode (all of it commented out: no setting).
    conf = tmp_path / "etc/netnode/netnode.toml"
    check = subprocess.run(
        [sys.executable, "-m", "netnode.cli.main", "--config", str(conf), "serve", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_a_broken_unit_is_caught_by_the_same_check(tmp_path: Path) -> None:
    """What the test above relies on: verify speaks up about a wrong unit."""
    from netnode.cli.units import unit

    path = tmp_path / "netnode-agent.service"
    path.write_text(unit("agent", Path("/nonexistent/netnode")).replace("KillMode", "KilMode"))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode != 0
    assert "KilMode" in verify.stderr and "/nonexistent/netnode" in verify.stderr


def test_the_units_capabilities_are_enough_to_build_the_seed(lab: Lab) -> None:
    """netnode under the units' capability bounding set (setpriv, as systemd would set
    it) builds the seed scenario whole, and the load balancer answers through it."""
    from netnode.cli.units import CAPABILITIES

    path = lab.write(seed_data())
    lab.applied = yaml.safe_load(path.read_text())  # the fixture destroys it, whatever happens
    bounding = ",".join(["-all", *(f"+{c.lower().removeprefix('cap_')}" for c in CAPABILITIES)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETNODE_")}
    netnode = [sys.executable, "-m", "netnode.cli.main", *lab.cli_args(), "--config", "/dev/null"]
    done = subprocess.run(
        ["setpriv", f"--bounding-set={bounding}", "--", *netnode, "apply", "-f", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    outside = lab.ns_of("client", "outside")
    assert eventually(lambda: lab.answering(outside, "10.255.253.100")) == {
        "server_81",
        "server_82",
    }
