"""Tenant flow logs: receiving what every HAProxy of the node sends to netnode's socket,
writing it per load balancer with rotation, and reading it back (``netnode logs``).

HAProxy (``netnode.render.flow_log``) sends syslog datagrams (RFC 3164: ``<PRI>Mmm dd
hh:mm:ss TAG[PID]: MESSAGE``) to a unix datagram socket of the state directory. A unix
socket is a file, not an address of a network namespace: HAProxy reaches it from inside
the load balancer's namespace. The process running the node's reconcile loop (``netnode
agent``, ``netnode serve``) owns the socket and a thread of its receives each datagram:

- the tag is the load balancer's id; a tag that is not an id is dropped (nothing outside
  the logs directory is ever written);
- facility local0 at level info is the tenant's flow log, written as it came (one line
  of Octavia's user log format) to ``<logs>/<lb id>.log``;
- anything else (servers up and down, proxies stopping, alerts) is the administrative
  log, ``<logs>/<lb id>.admin.log``, each line after the time and level it came with;
- every file rotates at ``MAX_BYTES`` keeping ``BACKUPS`` old ones (``.1`` newest), mode
  0600.

HAProxy's workers run as the unprivileged user ``haproxy``: the socket is mode 0660 in a
directory 0750, both of group haproxy, and the directories above it inside the state
directory get search permission for others (o+x, never read): HAProxy can send, not list
or read. Nobody can read the logs but root.
"""

from __future__ import annotations

import contextlib
import grp
import io
import logging
import logging.handlers
import os
import re
import socket
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from netnode.errors import HostError

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 4
# Open files kept at once (two per load balancer logging); the least recent is closed.
MAX_OPEN = 256
RECEIVE_BUFFER = 4 * 1024 * 1024
DATAGRAM = 65536
# Datagrams received at once before the files are flushed.
BATCH = 256
GROUP = "haproxy"
log = logging.getLogger("netnode.flow_logs")
TENANT_FACILITY = 16  # local0
INFO = 6
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_SYSLOG = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) "
    r"(?P<tag>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<message>.*)",
    re.DOTALL,
)
_LB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Datagram:
    facility: int
    severity: int
    time: str
    lb_id: str
    message: str

    @property
    def tenant(self) -> bool:
        return self.facility == TENANT_FACILITY and self.severity == INFO

    def line(self) -> str:
        """The line written to the load balancer's file: the flow line as HAProxy made
        it, an administrative message after its time and level."""
        if self.tenant:
            return self.message
        return f"{self.time} {SEVERITIES[self.severity]}: {self.message}"


def parse(data: bytes) -> Datagram | None:
    """One syslog datagram from HAProxy; None if it is not one, or its tag is no id."""
    text = data.decode("utf-8", "replace").rstrip("\n")
    match = _SYSLOG.fullmatch(text)
    if match is None or not _LB_ID.fullmatch(match["tag"]):
        return None
    pri = int(match["pri"])
    if pri > 191:
        return None
    message = match["message"].replace("\n", " ")
    return Datagram(pri // 8, pri % 8, match["time"], match["tag"], message)


def log_file(logs_dir: Path, lb_id: str, *, admin: bool = False) -> Path:
    if not _LB_ID.fullmatch(lb_id):
        raise HostError(f"{lb_id!r} is not a load balancer id")
    return logs_dir / f"{lb_id}{'.admin' if admin else ''}.log"


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """A rotating file created 0600 (the handler's own open follows the umask)."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding="utf-8")


class FlowLogReceiver:
    """The socket and the thread that writes what arrives on it (``start``/``stop``)."""

    def __init__(self, socket_path: Path, logs_dir: Path, state_dir: Path) -> None:
        self.socket_path = Path(socket_path)
        self.logs_dir = Path(logs_dir)
        self.state_dir = Path(state_dir)
        self.received = 0
        self.dropped = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._files: OrderedDict[Path, logging.Handler] = OrderedDict()

    def start(self) -> None:
        """Bind the socket (refused while another live process holds it) and start
        receiving."""
        self._prepare_dirs()
        path = str(self.socket_path)
        if self._held_by_another(path):
            raise HostError(
                f"{path} is held by another netnode process of this node: its HAProxies "
                "already log there"
            )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind(path)
            gid = _group()
            if gid is not None:
                os.chown(path, 0, gid)
            os.chmod(path, 0o660 if gid is not None else 0o666)
            sock.settimeout(0.5)
        except OSError as exc:
            sock.close()
            raise HostError(f"cannot receive HAProxy's logs on {path}: {exc.strerror}") from exc
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="netnode-flow-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
        for handler in self._files.values():
            handler.close()
        self._files.clear()

    def _prepare_dirs(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.logs_dir, 0o700)
        folder = self.socket_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        gid = _group()
        if gid is not None:
            os.chown(folder, 0, gid)
        os.chmod(folder, 0o750 if gid is not None else 0o711)
        # HAProxy's user must pass through the directories above (search, not read).
        above = folder.parent
        while above == self.state_dir or self.state_dir in above.parents:
            mode = os.stat(above).st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(above, stat.S_IMODE(mode) | stat.S_IXOTH)
            above = above.parent

    @staticmethod
    def _held_by_another(path: str) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(path)
        except OSError:
            return False  # none, or a socket nobody receives on any more
        finally:
            probe.close()
        return True

    def _run(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while not self._stop.is_set():
            try:
                data = sock.recv(DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.1)
                continue
            # What else is waiting is written with it, and the files flushed once.
            batch = [data]
            # (EAGAIN is a TimeoutError on a socket with a timeout.)
            with contextlib.suppress(BlockingIOError, InterruptedError, TimeoutError):
                while len(batch) < BATCH:
                    batch.append(sock.recv(DATAGRAM, socket.MSG_DONTWAIT))
            try:
                touched = {self.write(item, flush=False) for item in batch}
                for handler in touched - {None}:
                    assert handler is not None
                    handler.flush()
            except Exception:  # a full disk, say: nothing ends the receiving
                self.dropped += len(batch)
                log.exception("tenant flow logs: %d lines lost", len(batch))

    def write(self, data: bytes, *, flush: bool = True) -> logging.Handler | None:
        """One datagram into its load balancer's file (dropped if it is none's); the
        file's handler, to flush."""
        datagram = parse(data)
        if datagram is None:
            self.dropped += 1
            return None
        self.received += 1
        path = log_file(self.logs_dir, datagram.lb_id, admin=not datagram.tenant)
        handler = self._files.get(path)
        if handler is None:
            handler = _PrivateRotatingFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._files[path] = handler
            while len(self._files) > MAX_OPEN:
                _, oldest = self._files.popitem(last=False)
                oldest.close()
        else:
            self._files.move_to_end(path)
        handler.handle(logging.makeLogRecord({"msg": datagram.line(), "levelno": logging.INFO}))
        if flush:
            handler.flush()
        return handler


def _group() -> int | None:
    try:
        return grp.getgrnam(GROUP).gr_gid
    except KeyError:
        return None


# --- reading ---------------------------------------------------------------------------


def last_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of a log, reaching into its rotated files if needed."""
    lines: list[str] = []
    for index in range(BACKUPS + 1):
        part = path if index == 0 else path.with_name(f"{path.name}.{index}")
        try:
            text = part.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            break
        lines = text.splitlines() + lines
        if len(lines) >= count:
            break
    return lines[-count:] if count > 0 else []


def follow(path: Path, stop: threading.Event, interval: float = 0.2) -> Iterator[str]:
    """The lines appended to ``path`` from this call on, across rotations (a file that
    appears or replaces it is read from its start), until ``stop`` is set. The file is
    opened (at its end) before this returns."""
    handle = None
    inode = None
    with contextlib.suppress(FileNotFoundError):
        handle = open(path, "rb")  # noqa: SIM115
        handle.seek(0, os.SEEK_END)
        inode = os.fstat(handle.fileno()).st_ino
    return _following(path, stop, interval, handle, inode)


def _following(
    path: Path, stop: threading.Event, interval: float, handle: BinaryIO | None, inode: int | None
) -> Iterator[str]:
    buffer = b""
    try:
        while not stop.is_set():
            chunk = handle.read() if handle is not None else b""
            if chunk:
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", "replace")
                continue
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_ino != inode or now.st_size < handle_position(handle)):
                if handle is not None:
                    handle.close()
                handle, inode, buffer = open(path, "rb"), now.st_ino, b""  # noqa: SIM115
                continue
            stop.wait(interval)
    finally:
        if handle is not None:
            handle.close()


def handle_position(handle: BinaryIO | None) -> int:
    return 0 if handle is None else handle.tell()
