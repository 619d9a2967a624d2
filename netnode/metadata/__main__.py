"""``python -m netnode.metadata CONFIG``: the metadata service (see ``service``)."""

from __future__ import annotations

import sys
from pathlib import Path

from netnode.metadata.service import serve

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m netnode.metadata CONFIG.json")
    serve(Path(sys.argv[1]))
