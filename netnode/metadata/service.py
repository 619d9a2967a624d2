"""The metadata service: HTTP on a UNIX socket, a thread per request.

Its only clients are the metadata proxies (``render.metadata_proxy``), which set
``X-Forwarded-For`` to the instance's address and ``X-Neutron-Router-ID`` or
``X-Neutron-Network-ID`` to where the request came through. The port is looked up by
both; the answer is made from it (``answers``) or asked of Nova (``nova``).
"""

from __future__ import annotations

import json
import os
import signal
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from netnode.drivers.helpers import announce_ready
from netnode.metadata import answers, nova
from netnode.metadata.answers import Answer
from netnode.metadata.catalog import Catalog

ROUTER_HEADER = "X-Neutron-Router-ID"
NETWORK_HEADER = "X-Neutron-Network-ID"


def respond(catalog: Catalog, headers: Any, path: str) -> Answer:
    """The answer to a GET of ``path`` with the proxy's ``headers``."""
    address = (headers.get("X-Forwarded-For") or "").split(",")[-1].strip()
    router = headers.get(ROUTER_HEADER)
    network = headers.get(NETWORK_HEADER)
    if not address or (router is None) == (network is None):
        return Answer.text(
            "400 Bad Request: the metadata proxy sets X-Forwarded-For and one of "
            f"{ROUTER_HEADER} or {NETWORK_HEADER}\n",
            400,
        )
    found = catalog.find(address, router, network)
    if not found:
        return Answer.text(f"404 Not Found: no port has {address} there\n", 404)
    if len(found) > 1:
        return Answer.text(f"409 Conflict: {len(found)} ports have {address} there\n", 409)
    port, settings = found[0].port, found[0].nova
    if settings is not None:
        return nova.ask(settings["url"], settings["shared_secret"], port, address, path)
    return answers.answer(port, path)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    catalog: Catalog


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    server_version = "netnode-metadata"

    def do_GET(self) -> None:
        self._send(respond(self.server.catalog, self.headers, self.path))

    def do_HEAD(self) -> None:
        self._send(respond(self.server.catalog, self.headers, self.path), body=False)

    def _send(self, answer: Answer, body: bool = True) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if body:
            self.wfile.write(answer.body)

    def address_string(self) -> str:
        return self.headers.get("X-Forwarded-For", "-") if self.headers else "-"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


# How often the service checks that its directory is still there.
ORPHAN_CHECK = 2.0


def _orphan_watch(server: Server, config_file: Path) -> None:
    """Stop serving once the config file is gone (its state directory was removed
    without a destroy): a service nobody can reach or stop by pid ends by itself."""
    while config_file.exists():
        time.sleep(ORPHAN_CHECK)
    server.shutdown()


def serve(config_file: Path) -> None:
    """Run the service of ``config_file`` (``socket``, ``documents``) until SIGTERM."""
    config = json.loads(config_file.read_text())
    socket_path = Path(config["socket"])
    socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    socket_path.unlink(missing_ok=True)
    old = os.umask(0o077)
    try:
        server = Server(str(socket_path), Handler)
    finally:
        os.umask(old)
    server.catalog = Catalog(Path(config["documents"]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=_orphan_watch, args=(server, config_file), daemon=True).start()
    announce_ready(config_file)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        socket_path.unlink(missing_ok=True)
