"""Golden files: ``check_golden(name, text)`` compares ``text`` with
``tests/golden/NAME``; with UPDATE_GOLDEN=1 in the environment it rewrites the file
first (then review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()
