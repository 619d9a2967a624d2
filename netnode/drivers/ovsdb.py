"""Reading Open vSwitch's database over its unix socket (RFC 7047 JSON-RPC).

Every pass reads the bridges, ports and interfaces, and asks whether the database
answers. Through ``ovs-vsctl`` that was two processes a pass, each downloading the whole
database: about 30 ms each on the lab machine, growing with the ports (1,000 load
balancers: 1,000 ports). Here one connection stays open and a pass sends one
``transact`` of three ``select``s for the columns it reads (0.2-0.5 ms measured).
Writes stay with ``ovs-vsctl`` (``netnode.drivers.ovs``), which joins each apply's
commands into one transaction.

Not Open vSwitch's own Python library (``ovs`` on PyPI): its blocking calls take no
time limit (a hung ovsdb-server would hang the agent), and it costs about 50 ms to
import in a command that reads the database once. This is one request and its answer
on a socket with a timeout, reconnected when the server went away (restarted, or it
dropped a connection that did not answer its inactivity probe: its ``echo`` requests
are answered while a reply is awaited).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from netnode.errors import HostError

DEFAULT_RUNDIR = "/var/run/openvswitch"
DATABASE = "Open_vSwitch"
# One read's size: the decoder waits for a read shorter than this (see _receive).
RECEIVE_SIZE = 1 << 18


def socket_path() -> Path:
    """ovsdb-server's socket, where Open vSwitch's own tools look for it (OVS_RUNDIR)."""
    return Path(os.environ.get("OVS_RUNDIR", DEFAULT_RUNDIR)) / "db.sock"


class Ovsdb:
    """One connection to ovsdb-server for reads, shared by the threads of a process."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._path: Path | None = None
        self._buffer = b""
        self._ids = itertools.count(1)

    def select(self, *queries: tuple[str, list[str]]) -> list[list[dict[str, Any]]]:
        """The rows of each (table, columns), all read in one transaction."""
        ops = [{"op": "select", "table": t, "where": [], "columns": c} for t, c in queries]
        results = self._call("transact", [DATABASE, *ops])
        rows = []
        for (table, _), result in zip(queries, results, strict=True):
            if "error" in result:
                raise HostError(
                    f"ovsdb-server refused to read table {table}: {result['error']} "
                    f"({result.get('details', '')})",
                    hint="'ovs-vsctl list " + table + "' shows whether the table reads",
                )
            rows.append(result["rows"])
        return rows

    def answers(self) -> bool:
        """Whether ovsdb-server answers an ``echo`` (within the timeout)."""
        try:
            self._call("echo", ["netnode"])
        except HostError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._close()

    def __del__(self) -> None:
        # A Host dropped without close(): its connection goes with it, quietly.
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    # --- the connection -------------------------------------------------------------

    def _call(self, method: str, params: list[Any]) -> Any:
        with self._lock:
            for attempt in (1, 2):
                try:
                    return self._exchange(method, params)
                except (OSError, ValueError) as exc:
                    # Gone (restarted, or it dropped us): once more on a new connection.
                    self._close()
                    if attempt == 2:
                        raise HostError(
                            f"Open vSwitch's database at {self._path or socket_path()} "
                            f"did not answer: {exc}",
                            hint="is Open vSwitch running? 'ovs-vsctl show' should answer",
                        ) from exc
        raise AssertionError("unreachable")

    def _exchange(self, method: str, params: list[Any]) -> Any:
        path = socket_path()
        if self._sock is None or self._path != path:
            self._close()
            self._path = path
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(path))
            except OSError:
                sock.close()
                raise
            self._sock = sock
        request_id = next(self._ids)
        self._send({"method": method, "params": params, "id": request_id})
        while True:
            message = self._receive()
            if message.get("method") == "echo" and "id" in message:
                # The server's inactivity probe: answered, or it hangs up on us.
                self._send(
                    {"result": message.get("params", []), "error": None, "id": message["id"]}
                )
                continue
            if message.get("id") != request_id:
                continue  # a notification, or the answer to a request that timed out
            if message.get("error") is not None:
                raise HostError(f"ovsdb-server refused {method}: {message['error']}")
            return message.get("result")

    def _send(self, message: dict[str, Any]) -> None:
        assert self._sock is not None
        self._sock.sendall(json.dumps(message).encode())

    def _receive(self) -> dict[str, Any]:
        """The next JSON message on the connection (they come back to back).

        The buffer is decoded only when the socket had nothing more to give at once (a
        read shorter than asked for): a large answer (the ports of 1,000 load balancers,
        about 1 MB) arrives in many reads, and decoding the growing buffer after each
        one cost time quadratic in its size (about 7 ms a pass at 300 load balancers)."""
        assert self._sock is not None
        decoder = json.JSONDecoder()
        more = False  # the last read filled what was asked: more is on its way
        while True:
            message = None
            if self._buffer and not more:
                try:
                    text = self._buffer.decode().lstrip()
                    message, end = decoder.raw_decode(text) if text else (None, 0)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    message = None  # not whole yet
            if message is not None:
                self._buffer = text[end:].encode()
                if not isinstance(message, dict):
                    raise ValueError(f"not a JSON-RPC message: {message!r}")
                return message
            chunk = self._sock.recv(RECEIVE_SIZE)
            if not chunk:
                raise ConnectionResetError("ovsdb-server closed the connection")
            self._buffer += chunk
            more = len(chunk) == RECEIVE_SIZE

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._buffer = b""
