"""A lab instance's DHCP client: busybox's udhcpc on the instance's tap, as a guest's
would run at boot. Run by ``drivers.helpers`` inside the instance's namespace::

    python -m netnode.lab.dhcp_client CONFIG.json   # {"interface": "tap..."}

(``plan/desired.py`` writes that config for an instance with ``dhcp: true``.)

It writes udhcpc's script beside its config (the address, the routes of option 121 or
the router, never the host's /etc/resolv.conf; what the server said goes to
``INTERFACE.lease``), starts udhcpc in the foreground, writes its own pid
(``drivers.helpers.announce_ready``) and stops udhcpc on SIGTERM.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from netnode.drivers.helpers import announce_ready

SCRIPT = """#!/bin/sh
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    exit 0 ;;
bound|renew) ;;
*) exit 0 ;;
esac
ip -4 addr replace "$ip/$mask" dev "$interface"
ip link set "$interface" up
if [ -n "$staticroutes" ]; then
    set -- $staticroutes
    while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
elif [ -n "$router" ]; then
    ip route replace default via "${router%% *}" dev "$interface"
fi
{
    echo "ip=$ip"; echo "mask=$mask"; echo "router=$router"; echo "dns=$dns"
    echo "staticroutes=$staticroutes"; echo "hostname=$hostname"; echo "serverid=$serverid"
} > "$(dirname "$0")/$interface.lease"
"""


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG.json", file=sys.stderr)
        return 2
    config = Path(argv[1])
    interface = str(json.loads(config.read_text())["interface"])
    udhcpc = shutil.which("udhcpc")
    if udhcpc is None:
        print("udhcpc is not installed (apt-get install udhcpc)", file=sys.stderr)
        return 1
    script = config.parent / "udhcpc.sh"
    script.write_text(SCRIPT)
    script.chmod(0o700)
    # In the foreground, for ever: three discovers a second apart, then again after 1 s.
    argv = [udhcpc, "-f", "-i", interface, "-s", str(script), "-O", "staticroutes"]
    argv += ["-t", "3", "-T", "1", "-A", "1"]
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        child.terminate()

    signal.signal(signal.SIGTERM, stop)
    announce_ready(config)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
