"""Which heavy libraries each command imports: the CLI's start-up, held without timing.

Every ``netnode`` command used to import the API server, Alembic, SQLAlchemy and
pyroute2 before parsing its arguments (0.85 s for ``--help``). Each command now imports
what it uses; these tests run a command in a fresh interpreter and read its
``sys.modules`` when it is done, so a module-level import that brings one back fails
here, whatever the machine's speed. ``bench/startup.py`` has the timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"

# Top-level packages, and netnode's own layers that pull them in.
API_SERVER = {"fastapi", "starlette", "uvicorn", "netnode.api"}
STORE = {"sqlalchemy", "alembic", "netnode.store"}
NETLINK = {"pyroute2"}
MODEL = {"pydantic", "yaml"}
HEAVY = API_SERVER | STORE | NETLINK | MODEL

# Runs `netnode ARGS...` as the console script does, then writes which of HEAVY it
# imported. As a user (geteuid patched, as in test_cli.py): `plan` plans from an
# empty host whoever runs the tests, and nothing needs root.
DRIVER = """
import json, os, sys
out, args = sys.argv[1], sys.argv[2:]
os.geteuid = lambda: 1000
from netnode.cli.main import main
try:
    code = main(args)
except SystemExit as exc:
    code = exc.code
heavy = json.loads(os.environ["HEAVY"])
found = sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules))
with open(out, "w") as f:
    json.dump({"code": code, "imported": found}, f)
"""


def run(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """Exit code, the heavy modules imported, stdout of ``netnode ARGS`` in a fresh
    interpreter (its state directory under ``tmp_path``)."""
    out = tmp_path / "imported.json"
    argv = ["--state-dir", str(tmp_path / "state"), *args]
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**_environ(), "HEAVY": json.dumps(sorted(HEAVY))},
    )
    assert out.exists(), result.stderr
    report = json.loads(out.read_text())
    return report["code"], set(report["imported"]), result.stdout


def _environ() -> dict[str, str]:
    # The command's own settings from the environment would change what it does.
    return {k: v for k, v in os.environ.items() if not k.startswith("NETNODE_")}


@pytest.mark.parametrize(
    "command",
    [
        *("", "apply", "plan", "destroy", "validate", "status", "draw", "agent", "serve", "nodes"),
        *("demo", "install-service", "completion", "export", "import"),
    ],
    ids=lambda c: c or "netnode",
)
def test_help_imports_none_of_the_heavy_libraries(tmp_path: Path, command: str) -> None:
    """The parser is built from light modules: every command's options, serve's and the
    cluster's included."""
    code, imported, out = run(tmp_path, *filter(None, [command]), "--help")
    assert code == 0
    assert "usage: netnode" in out
    assert imported == set()


def test_validate_imports_the_model_alone(tmp_path: Path) -> None:
    code, imported, out = run(tmp_path, "validate", "-f", str(SEED))
    assert code == 0
    assert "valid (2 networks" in out
    assert imported == MODEL


def test_draw_of_a_file_imports_the_model_alone(tmp_path: Path) -> None:
    code, imported, out = run(tmp_path, "draw", "-f", str(SEED))
    assert code == 0
    assert out.startswith("<svg ")
    assert imported == MODEL


def test_plan_as_a_user_opens_no_store_and_speaks_no_netlink(tmp_path: Path) -> None:
    """From an empty host: the model, plan and render; SQLAlchemy comes with the
    reconcile layer's modules, but no store is opened (no Alembic), no netlink socket
    (no pyroute2) and no API server."""
    code, imported, out = run(tmp_path, "plan", "-f", str(SEED))
    assert code == 0
    assert "planned from an empty host" in out
    assert imported >= MODEL
    assert not imported & (API_SERVER | NETLINK | {"alembic"})
    assert not (tmp_path / "state").exists()


def test_status_reads_the_store_without_the_api_server_or_netlink(tmp_path: Path) -> None:
    """``status`` has no file form: it reads what is recorded, so it opens the store
    (SQLAlchemy, Alembic's check of the schema), and HAProxy's sockets; never the API
    server, and no netlink for a node with nothing applied."""
    code, imported, out = run(tmp_path, "status")
    assert code == 0
    assert "No load balancers applied" in out
    assert "sqlalchemy" in imported
    assert not imported & (API_SERVER | NETLINK)


def test_completion_imports_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    code, imported, out = run(tmp_path, "completion", "bash")
    assert code == 0
    assert "complete -o filenames -F _netnode netnode" in out
    assert imported == set()
