"""conntrackd's configuration and keepalived's transition script for an HA router
instance (render.conntrackd): FTFW over unicast UDP, every path under the given
directory, conntrack-tools' primary-backup steps per state, bad values refused."""

from __future__ import annotations

import subprocess

import pytest

from netnode.errors import TopologyError
from netnode.render.conntrackd import Conntrackd, files, render, render_transition_script

PATHS = files("/var/lib/netnode/n1/conntrackd/ctd-r1")


def test_the_configuration_names_the_peer_and_keeps_every_file_in_its_directory() -> None:
    text = render(Conntrackd("169.254.192.1", "169.254.192.2", "ha-r1"), PATHS)
    assert "IPv4_address 169.254.192.1" in text
    assert "IPv4_Destination_Address 169.254.192.2" in text
    assert "Interface ha-r1" in text and "Port 3780" in text
    for line in ("LockFile", "LogFile", "Path"):
        (value,) = [x.split()[1] for x in text.splitlines() if x.strip().startswith(line + " ")]
        assert value.startswith("/var/lib/netnode/n1/conntrackd/ctd-r1/")
    assert text.count("{") == text.count("}")


def test_the_transition_script_runs_primary_backup_steps_in_order() -> None:
    script = render_transition_script(PATHS)
    assert "MASTER) for option in -c -f -R -B;" in script
    assert "BACKUP) for option in -n;" in script and "FAULT) for option in -t;" in script
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0


@pytest.mark.parametrize(
    ("conntrackd", "field"),
    [
        (lambda: Conntrackd("169.254.192.1", "169.254.192.1", "ha-r1"), "peer"),
        (lambda: Conntrackd("nope", "169.254.192.2", "ha-r1"), "own"),
        (
            lambda: Conntrackd("169.254.192.1", "169.254.192.2", "an-interface-name-too-long"),
            "interface",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_field(conntrackd, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TopologyError) as raised:
        conntrackd()
    assert [p.path for p in raised.value.problems] == [field]


def test_a_control_socket_path_too_long_for_a_unix_socket_is_refused() -> None:
    with pytest.raises(TopologyError, match="shorter --state-dir"):
        files("/" + "x" * 110)
