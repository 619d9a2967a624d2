"""What the process drivers (HAProxy's, keepalived's, netnode's helpers') share: a
private file written atomically, whether a pid is a live process, waiting for a
condition or for a process to go, stopping a process that is still ours, and the processes whose command
line names a file of netnode's own (how a process whose pid file was lost is found:
by the exact path of its configuration under netnode's state directory, never by a
program's name)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def write_private(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)
    os.replace(tmp, path)


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself hold ")".
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def naming(program: str, argument: str) -> list[int]:
    """The live processes of ``program`` (their argv[0]'s basename is it, or begins
    with it: an HA instance's HAProxy runs as ``haproxy<id>``) with ``argument`` as one
    whole word of their command line."""
    wanted = argument.encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]).startswith(program.encode()) and wanted in argv:
            pid = int(entry.name)
            if alive(pid):
                found.append(pid)
    return found


def wait_for(probe: Callable[[], T | None], timeout: float, interval: float = 0.01) -> T | None:
    """``probe()``'s first value that is not None, polling every ``interval`` seconds;
    None when ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_gone(pid: int, timeout: float) -> bool:
    """True once ``pid`` is gone (or a zombie), False if it outlived ``timeout``."""
    return wait_for(lambda: None if alive(pid) else True, timeout) is not None


def terminate(pid: int, still_ours: Callable[[int], bool], timeout: float) -> None:
    """SIGTERM ``pid``; SIGKILL it if it outlives ``timeout`` and ``still_ours(pid)``
    (a pid reused meanwhile by another process is never signalled)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout) and still_ours(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, timeout)


def log_tail(path: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of a process's log, on one line, for an error message."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def process_dir(run_dir: Path, name: str) -> Path:
    """The directory of a managed process ``name`` under ``run_dir``; ValueError for a
    name that is no single, visible directory name (empty, a path, ``.``-prefixed)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"not a usable process name: {name!r}")
    return run_dir / name


def read_pid(pid_file: Path) -> int | None:
    """The pid a pid file names (its first word); None when it is missing or unreadable."""
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def managed_names(run_dir: Path) -> list[str]:
    """Every process name with a directory under ``run_dir``, running or not."""
    if not run_dir.is_dir():
        return []
    return sorted(p.name for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
