"""The documents the reconcile writes (``netnode.plan.metadata.document``), kept in
memory and re-read only when a file changes (its size, mtime or inode: the reconcile
replaces a file atomically, so a new one is a new inode). A lookup costs one directory
scan, never a read of netnode's store."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Found:
    """The port a request is about, and the topology's Nova settings (None: answer
    from the port)."""

    port: dict[str, Any]
    nova: dict[str, str] | None


class Catalog:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._files: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}

    def documents(self) -> list[dict[str, Any]]:
        with self._lock:
            seen: set[str] = set()
            try:
                entries = list(os.scandir(self.directory))
            except FileNotFoundError:
                entries = []
            for entry in entries:
                if not entry.name.endswith(".json"):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                key = (st.st_ino, st.st_size, st.st_mtime_ns)
                seen.add(entry.name)
                known = self._files.get(entry.name)
                if known is not None and known[0] == key:
                    continue
                try:
                    self._files[entry.name] = (key, json.loads(Path(entry.path).read_text()))
                except (OSError, ValueError):
                    continue  # replaced or half-written: the next request reads it
            for name in set(self._files) - seen:
                del self._files[name]
            return [doc for _, doc in self._files.values()]

    def find(self, address: str, router_id: str | None, network_id: str | None) -> list[Found]:
        """The ports holding ``address`` on the networks behind ``router_id`` (or on
        ``network_id``): one, or none; more only if the topology holds an address twice
        behind one router."""
        found = []
        for doc in self.documents():
            if router_id is not None:
                networks = doc.get("routers", {}).get(router_id, [])
            else:
                networks = [network_id]
            for net in networks:
                port = doc.get("networks", {}).get(net, {}).get(address)
                if port is not None:
                    found.append(Found(port, doc.get("nova")))
        return found
