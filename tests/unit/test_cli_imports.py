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
from typing import Any

import pytest

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"

# Top-level packages, and netnode's own layers that pull them in.
API_SERVER = {"fastapi", "starlette", "uvicorn", "netnode.api"}
STORE = {"sqlalchemy", "alembic", "netnode.store"}
NETLINK = {"pyroute2"}
MODEL = {"pydantic", "yaml"}
HEAVY = API_SERVER | STORE | NETLINK | MODEL
# Lighter, but what `netnode --help` answered without once its parser was built lazily
# (netnode.cli.commands): dataclasses (which imports inspect, ast and dis), typing,
# logging, uuid (platform), tomllib with no configuration file, pydantic's plugin lookup
# (importlib.metadata), and the modules holding the other commands' options.
STDLIB = {"dataclasses", "inspect", "typing", "logging", "uuid", "tomllib", "importlib.metadata"}
COMMAND_MODULES = {
    f"netnode.cli.{m}"
    for m in ("cluster", "draw", "flow_logs", "listing", "log_formats", "metrics", "serve")
} | {"netnode.cli.uplinks", "netnode.cluster", "netnode.model.ids"}

# Runs `netnode ARGS...` as the console script does, then writes which of HEAVY it
# imported (beyond what the interpreter had imported at its start). As a user (geteuid patched, as in test_cli.py): `plan` plans from an
# empty host whoever runs the tests, and nothing needs root.
DRIVER = """
import sys
started = set(sys.modules)  # what the interpreter imported before netnode (site...)
import json, os
out, args = sys.argv[1], sys.argv[2:]
os.geteuid = lambda: 1000
from netnode.cli.main import main
try:
    code = main(args)
except SystemExit as exc:
    code = exc.code
heavy = json.loads(os.environ["HEAVY"])
new = set(sys.modules) - started
found = sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in new))
# pydantic's cache of its plugins: None until it looked them up in every distribution's
# metadata.
plugins = getattr(sys.modules.get("pydantic.plugin._loader"), "_plugins", None)
with open(out, "w") as f:
    json.dump({"code": code, "imported": found, "plugins_read": plugins is not None}, f)
"""


def run(tmp_path: Path, *args: str, modules: set[str] = HEAVY) -> tuple[int, set[str], str]:
    """Exit code, which of ``modules`` (default: the heavy ones) were imported, stdout of
    ``netnode ARGS`` in a fresh interpreter (its state directory under ``tmp_path``)."""
    report, stdout = _report(tmp_path, args, modules, {})
    return report["code"], set(report["imported"]), stdout


def plugins_read(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[int, bool]:
    """Exit code of ``netnode ARGS``, and whether pydantic looked up its plugins."""
    report, _ = _report(tmp_path, args, set(), env)
    return report["code"], report["plugins_read"]


def _report(
    tmp_path: Path, args: tuple[str, ...], modules: set[str], env: dict[str, str]
) -> tuple[dict[str, Any], str]:
    out = tmp_path / "imported.json"
    argv = ["--state-dir", str(tmp_path / "state"), *args]
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**_environ(), **env, "HEAVY": json.dumps(sorted(modules))},
    )
    assert out.exists(), result.stderr
    return json.loads(out.read_text()), result.stdout


def _environ() -> dict[str, str]:
    # The command's own settings from the environment would change what it does, and
    # so would the user's choice about pydantic's plugins.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NETNODE_") and k != "PYDANTIC_DISABLE_PLUGINS"
    }


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


@pytest.mark.parametrize("command", ["", "validate", "serve"], ids=lambda c: c or "netnode")
def test_help_imports_neither_slow_stdlib_modules_nor_other_commands(
    tmp_path: Path, command: str
) -> None:
    """``netnode --help`` builds no command's parser, so it imports none of the modules
    holding their options; a command's ``--help`` imports its own (serve's: logging)."""
    code, imported, out = run(
        tmp_path, *filter(None, [command]), "--help", modules=STDLIB | COMMAND_MODULES
    )
    assert code == 0
    assert "usage: netnode" in out
    if command == "serve":
        assert {"netnode.cli.serve", "netnode.cli.cluster"} <= imported
        assert not imported & {"netnode.cli.listing", "netnode.cli.draw", "netnode.cli.metrics"}
    else:
        assert imported == set()


def test_validate_imports_no_other_command_and_skips_pydantics_plugin_lookup(
    tmp_path: Path,
) -> None:
    """``validate`` needs the model (hence dataclasses, typing, uuid through pydantic and
    ids), never the other commands' modules; pydantic is told there are no plugins, so
    it reads no distribution's metadata."""
    code, imported, out = run(
        tmp_path, "validate", "-f", str(SEED), modules=COMMAND_MODULES | {"tomllib"}
    )
    assert code == 0
    assert "valid (2 networks" in out
    assert imported == {"netnode.model.ids"}


def test_pydantics_plugins_are_not_looked_up_unless_the_user_asks(tmp_path: Path) -> None:
    """netnode sets PYDANTIC_DISABLE_PLUGINS only where it is absent: set, even empty,
    it is the user's, and with it empty pydantic reads its plugins again."""
    seed = ("validate", "-f", str(SEED))
    assert plugins_read(tmp_path, *seed, env={}) == (0, False)
    assert plugins_read(tmp_path, *seed, env={"PYDANTIC_DISABLE_PLUGINS": ""}) == (0, True)
