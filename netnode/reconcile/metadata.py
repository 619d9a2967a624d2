"""The metadata service's side of a pass: publish the topology's document and keep the
service running (``netnode.plan.metadata`` says what and where).

Every pass of a topology (``netnode apply``, each of the agent's) writes its document
when it changed (atomically: the service may be reading) and starts the service if it
is not running: a killed service is back after the agent's next pass. A destroy
withdraws the document; the service stops when no document is left.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from netnode.drivers.helpers import HelperProcesses
from netnode.drivers.procfs import write_private
from netnode.errors import HostError
from netnode.model.topology import Topology
from netnode.plan import metadata as metadata_plan

NAME = "metadata"
MODULE = "netnode.metadata"


class MetadataService:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.dir = Path(metadata_plan.metadata_dir(self.run_dir))
        self.documents = Path(metadata_plan.documents_dir(self.run_dir))
        # The service's config.json, pid and log are in <state>/<node>/metadata/.
        self.processes = HelperProcesses(self.dir.parent)
        # What ``prepare`` did for the pass under way: the topology and its document,
        # and whether it launched the service (``ensure`` then waits for it).
        self._prepared: tuple[Topology, dict] | None = None
        self._launched = False

    @property
    def config(self) -> str:
        return json.dumps(
            {
                "socket": metadata_plan.service_socket(self.run_dir),
                "documents": str(self.documents),
            },
            sort_keys=True,
        )

    def document_file(self, topology: str) -> Path:
        return self.documents / f"{topology}.json"

    def running_pid(self) -> int | None:
        return self.processes.running_pid(NAME)

    def prepare(self, topo: Topology) -> None:
        """Before a pass executes: when ``topo`` will want the service and it is not
        running, launch it now, so that its start-up (a Python interpreter, about 0.1 s)
        overlaps the pass; ``publish`` at the pass's end waits for it."""
        doc = metadata_plan.document(topo)
        self._prepared = (topo, doc)
        if (doc["routers"] or doc["networks"]) and not self._running():
            self.processes.launch(NAME, None, MODULE, self.config)
            self._launched = True

    def publish(self, topo: Topology) -> bool:
        """Write ``topo``'s document (or withdraw it when it has no router with tenant
        interfaces and no port), then make sure the service runs while any document is
        there. True when the service was started."""
        prepared, self._prepared = self._prepared, None
        doc = prepared[1] if prepared is not None and prepared[0] is topo else None
        if doc is None:
            doc = metadata_plan.document(topo)
        name = doc["topology"]
        if not doc["routers"] and not doc["networks"]:
            return self.withdraw(name)
        _write_if_changed(self.document_file(name), metadata_plan.as_text(doc))
        return self.ensure()

    def withdraw(self, topology: str) -> bool:
        """Remove ``topology``'s document; stop the service when it was the last."""
        if self._launched:
            # Launched by ``prepare`` for another document: once it says it is ready,
            # its pid file lets ``stop`` find it.
            self._launched = False
            with contextlib.suppress(HostError):
                self.processes.wait_ready(NAME, None, MODULE)
        self.document_file(topology).unlink(missing_ok=True)
        if not any(self.documents.glob("*.json")):
            self.processes.stop(NAME, keep_dir=True)
            return False
        return self.ensure()

    def ensure(self) -> bool:
        launched, self._launched = self._launched, False
        if launched:
            self.processes.wait_ready(NAME, None, MODULE)
            return True
        if self._running():
            return False
        self.processes.start(NAME, None, MODULE, self.config)
        return True

    def _running(self) -> bool:
        return (
            self.running_pid() is not None
            and self.processes.installed_config(NAME) == self.config
            and Path(metadata_plan.service_socket(self.run_dir)).exists()
        )

    def stop(self) -> None:
        self.processes.stop(NAME, keep_dir=True)


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``path`` (0600, atomically: the service may be reading) unless it already
    holds ``text``."""
    try:
        if path.read_text() == text:
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, text)
