"""A lab instance's UDP service: every datagram on ``address:port`` is answered with
the instance's body (what HAProxy cannot do). Run by ``drivers.helpers`` inside the
instance's namespace::

    python -m netnode.lab.udp_server CONFIG.json   # {"address": ..., "port": ..., "body": ...}

(``plan/desired.py`` writes that config from the instance.)

It writes its pid beside its config once bound (``drivers.helpers.announce_ready``),
and stops on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
from pathlib import Path

from netnode.drivers.helpers import announce_ready


def serve(address: str, port: int, body: bytes, config: Path | None = None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        if config is not None:
            announce_ready(config)
        while True:
            _, peer = sock.recvfrom(65535)
            try:
                sock.sendto(body, peer)
            except OSError:
                continue  # the peer's network went away; keep serving the others


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG.json", file=sys.stderr)
        return 2
    path = Path(argv[1])
    data = json.loads(path.read_text())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(str(data["address"]), int(data["port"]), str(data["body"]).encode(), path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
