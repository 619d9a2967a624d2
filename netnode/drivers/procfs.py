"""What the process drivers (HAProxy's, netnode's helpers') share: a private file
written atomically, whether a pid is a live process, and the processes whose command
line names a file of netnode's own (how a process whose pid file was lost is found:
by the exact path of its configuration under netnode's state directory, never by a
program's name)."""

from __future__ import annotations

import os
from pathlib import Path


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
    """The live processes of ``program`` (its basename) with ``argument`` as one
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
        if argv and os.path.basename(argv[0]) == program.encode() and wanted in argv:
            pid = int(entry.name)
            if alive(pid):
                found.append(pid)
    return found
