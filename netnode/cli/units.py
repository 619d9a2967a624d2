"""``netnode install-service``: systemd units for ``netnode serve`` and ``netnode agent``
(``Type=notify``: READY and the watchdog through ``netnode.drivers.sdnotify``), and a
commented configuration file, written under ``--root`` (default ``/``); then the
``systemctl`` commands to run are printed, not run.

``KillMode=process``: stopping or restarting netnode leaves the HAProxy, keepalived and
dnsmasq processes it started running (as Neutron's agents do): the data plane does not
blink while netnode restarts, and the next netnode finds them by their pid files.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from netnode.cli import config
from netnode.errors import NetnodeError

TYPE_CHECKING = False  # typing's, without importing typing (start-up); mypy reads it
if TYPE_CHECKING:
    from typing import Any

    from netnode.cli.commands import Commands

UNIT_DIR = Path("etc/systemd/system")
ENVIRONMENT_FILE = "/etc/default/netnode"
WATCHDOG_SECONDS = 120

# What netnode and the processes it starts need of root's powers; the rest is dropped.
CAPABILITIES = (
    "CAP_NET_ADMIN",  # links, addresses, routes, iptables/nftables, sysctls, conntrack
    "CAP_NET_RAW",  # iptables, keepalived's VRRP, HAProxy's ping checks
    "CAP_NET_BIND_SERVICE",  # HAProxy listening on ports below 1024
    "CAP_SYS_ADMIN",  # network namespaces: setns, mounting them under /run/netns
    "CAP_SYS_PTRACE",  # reading other processes' /proc entries (their namespaces)
    "CAP_KILL",  # signalling the HAProxy, keepalived and dnsmasq processes it started
    "CAP_SETUID",  # HAProxy drops to its own user
    "CAP_SETGID",
    "CAP_SYS_RESOURCE",  # HAProxy raises its file limit to its maxconn
    "CAP_IPC_LOCK",  # keepalived locks its memory
    "CAP_SYS_NICE",  # keepalived's and conntrackd's scheduling priority
    "CAP_DAC_OVERRIDE",  # root's files: OVS's socket, the state directory
    "CAP_DAC_READ_SEARCH",
    "CAP_CHOWN",  # sockets and state files handed to HAProxy's user
    "CAP_FOWNER",
)

# The commands whose options the sample configuration lists (any command's may be set).
SAMPLE_SECTIONS = ("serve", "agent", "status", "nodes")

COMMANDS = {
    "serve": "the REST API (Octavia v2, Neutron v2.0) and the reconcile loop",
    "agent": "the reconcile loop: keeps this host converged to its desired state",
}


def add_command(sub: Commands, func: Any) -> None:
    def arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--root",
            type=Path,
            default=Path("/"),
            metavar="DIR",
            help="write under DIR instead of / (DIR/etc/systemd/system, DIR/etc/netnode)",
        )
        p.add_argument(
            "--executable",
            type=Path,
            default=None,
            metavar="PATH",
            help="the netnode program the units run (default: this one)",
        )
        p.set_defaults(func=func)

    sub.add_command(
        "install-service",
        arguments,
        help="write systemd units for netnode serve and netnode agent, and say how to start them",
        description="write netnode-serve.service and netnode-agent.service (Type=notify, "
        "watchdog, Restart=on-failure) and, if absent, a commented netnode.toml; prints the "
        "systemctl commands to run",
    )


def unit(command: str, executable: Path) -> str:
    """The unit file of ``netnode COMMAND``."""
    caps = " ".join(CAPABILITIES)
    return f"""\
[Unit]
Description=netnode {command}: {COMMANDS[command]}
Wants=network-online.target openvswitch-switch.service
After=network-online.target openvswitch-switch.service
StartLimitIntervalSec=300
StartLimitBurst=10

[Service]
Type=notify
NotifyAccess=main
# Options: {config.DEFAULT_CONFIG}, or NETNODE_* variables in this file.
EnvironmentFile=-{ENVIRONMENT_FILE}
ExecStart={executable} {command}
Restart=on-failure
RestartSec=2
# READY=1 comes after the first pass (agent) or once the API listens (serve); the loop
# sends WATCHDOG=1 while it makes passes: a loop stuck this long is restarted.
TimeoutStartSec=300
WatchdogSec={WATCHDOG_SECONDS}
# The processes netnode started (HAProxy, keepalived, dnsmasq) outlive its restarts.
KillMode=process
# netnode runs as root: the bounding set is what it may use of root's powers.
CapabilityBoundingSet={caps}
StateDirectory=netnode
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def this_executable() -> Path:
    """The ``netnode`` program beside this interpreter (a virtualenv's), or on PATH."""
    beside = Path(sys.executable).with_name("netnode")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    import shutil

    found = shutil.which("netnode")
    if found is None:
        raise NetnodeError(
            "no netnode program beside this Python or on PATH: give --executable PATH"
        )
    return Path(found).resolve()


def sample_config(parser: argparse.ArgumentParser) -> str:
    """A configuration file with every option of netnode and of the services' commands
    commented out, from the parser itself (every other command's options are keys too)."""
    lines = [
        "# netnode's configuration (netnode --help, netnode COMMAND --help for each option).",
        "# Flags and NETNODE_* environment variables win over this file; this file wins",
        "# over the defaults. Unknown keys are refused. Uncomment what you set.",
        "",
    ]
    lines += _sample_options(parser)
    commands = config._commands(parser)
    for name in SAMPLE_SECTIONS:
        lines += ["", f"# [{name}]", *_sample_options(commands[name])]
    return "\n".join(lines) + "\n"


def _sample_options(parser: argparse.ArgumentParser) -> list[str]:
    import textwrap

    lines: list[str] = []
    for key, action in config.options(parser).items():
        for text in textwrap.wrap(action.help or "", 86):
            lines.append(f"# {text}")
        lines.append(f"# {key} = {_toml(action)}")
    return lines


def _toml(action: argparse.Action) -> str:
    default = action.default
    if action.nargs == 0:
        return "true" if not default else "false"
    if isinstance(default, list):
        return "[]"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, int | float):
        return repr(default)
    if default is None:
        return '""'
    return '"' + str(default).replace("\\", "\\\\").replace('"', '\\"') + '"'


def install(root: Path, executable: Path | None, parser: argparse.ArgumentParser) -> int:
    if root == Path("/") and os.geteuid() != 0:
        raise NetnodeError(
            "netnode install-service writes /etc/systemd/system: run it as root, or give "
            "--root DIR to write the files elsewhere"
        )
    program = executable or this_executable()
    if not (program.is_file() and os.access(program, os.X_OK)):
        raise NetnodeError(f"--executable {program}: not an executable file")
    units = root / UNIT_DIR
    units.mkdir(parents=True, exist_ok=True)
    for command in COMMANDS:
        path = units / f"netnode-{command}.service"
        path.write_text(unit(command, program))
        print(f"wrote {path}")
    conf = root / config.DEFAULT_CONFIG.relative_to("/")
    if conf.exists():
        print(f"kept {conf} (it exists)")
    else:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(sample_config(parser))
        conf.chmod(0o640)
        print(f"wrote {conf} (every option commented out)")
    print(
        '\nSet serve\'s authentication in the configuration ([serve] tokens = "FILE"),'
        "\nthen start one of them (serve has a reconcile loop of its own):\n"
        "  systemctl daemon-reload\n"
        "  systemctl enable --now netnode-serve.service   # the API and the loop\n"
        "  systemctl enable --now netnode-agent.service   # or: the loop alone\n"
        "  systemctl status netnode-serve.service; journalctl -u netnode-serve.service"
    )
    return 0
