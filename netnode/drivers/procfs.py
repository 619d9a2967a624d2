"""What the process drivers (HAProxy's, netnode's helpers') share: a private file
written atomically, and whether a pid is a live process."""

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
