"""``netnode export`` and ``netnode import``: the whole desired state of a store, as one
YAML (or JSON) file: a backup, and the way from one store to another (SQLite to
PostgreSQL).

What is exported is what is *desired*, never what a node observed or recorded: every
topology of this node (or, with ``--cluster``, of the cluster), each document whole with
its API metadata (ids, projects, names, timestamps), and Octavia's flavor profiles,
flavors and quotas. Records, placements and heartbeats are each node's own, and are
made again by the nodes' passes.

``import`` checks the whole file first (every topology by the model's rules) and
refuses a topology, flavor, profile or project's quotas that the store already holds
otherwise (``--replace`` overwrites them); then it writes, and the agents converge.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netnode.errors import NetnodeError

TYPE_CHECKING = False  # typing's, without importing typing (start-up); mypy reads it
if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy.engine import Engine

    from netnode.cli.commands import Commands

FORMAT_VERSION = 1
KEYS = ("netnode_export", "scope", "topologies", "flavor_profiles", "flavors", "quotas")


def add_commands(sub: Commands, export: Any, import_: Any) -> None:
    def export_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
        p.add_argument(
            "--format",
            choices=("yaml", "json"),
            default=None,
            help="default: json for a FILE ending in .json, yaml otherwise",
        )
        p.set_defaults(func=export)

    def import_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", type=Path, metavar="FILE", help="what netnode export wrote")
        p.add_argument(
            "--replace",
            action="store_true",
            help="overwrite topologies, flavors and quotas the store already holds",
        )
        p.set_defaults(func=import_)

    sub.add_command(
        "export",
        export_arguments,
        help="write the store's whole desired state (topologies, flavors, quotas) to a file",
        description="write every desired topology of this node (--cluster: of the cluster) "
        "with its API metadata, and the flavors and quotas, as YAML or JSON: a backup, or "
        "what 'netnode import' reads into another store",
    )
    sub.add_command(
        "import",
        import_arguments,
        help="read an export into this store (a new or empty one)",
        description="read a file 'netnode export' wrote into this node's store (--db, "
        "--cluster): checked whole first, refused where the store holds something else "
        "under the same name unless --replace",
    )


def dump(engine: Engine, node: str, cluster: str | None) -> dict[str, Any]:
    """The store's desired state, as ``netnode export`` writes it."""
    from netnode.reconcile.ledger import LedgerStore
    from netnode.store.flavors import FlavorStore
    from netnode.store.quotas import QuotaStore

    ledger = LedgerStore(engine, node, cluster)
    topologies = {}
    for name in ledger.topologies():
        document, _ = ledger.document(name)
        if document is not None:
            topologies[name] = document
    flavors = FlavorStore(engine)
    return {
        "netnode_export": FORMAT_VERSION,
        "scope": ledger.scope,
        "topologies": topologies,
        "flavor_profiles": [_plain(row) for row in flavors.profiles()],
        "flavors": [_plain(row) for row in flavors.flavors()],
        "quotas": QuotaStore(engine).all(),
    }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A table's row with plain ``str`` keys (SQLAlchemy's are a subclass YAML refuses)."""
    return {str(key): value for key, value in row.items()}


def write(data: dict[str, Any], output: Path | None, fmt: str | None) -> None:
    fmt = fmt or ("json" if output is not None and output.suffix == ".json" else "yaml")
    if fmt == "json":
        import json

        text = json.dumps(data, indent=2) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def read(path: Path) -> dict[str, Any]:
    """The file, its shape checked (YAML; JSON is YAML)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise NetnodeError(f"{path}: cannot read it: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise NetnodeError(f"{path}: not YAML or JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("netnode_export") != FORMAT_VERSION:
        raise NetnodeError(
            f"{path}: not a netnode export (version {FORMAT_VERSION}): write one with "
            "'netnode export'"
        )
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise NetnodeError(
            f"{path}: unknown key {unknown[0]!r} (an export holds {', '.join(KEYS)})"
        )
    for key, kind in (
        ("topologies", dict),
        ("flavor_profiles", list),
        ("flavors", list),
        ("quotas", dict),
    ):
        if not isinstance(data.get(key, kind()), kind):
            raise NetnodeError(f"{path}: {key}: expected a {kind.__name__}")
    return data


def load(
    engine: Engine, node: str, cluster: str | None, data: dict[str, Any], source: str, replace: bool
) -> list[str]:
    """Write ``data`` (as ``read`` returned it) into the store; what was written, one
    line each. Nothing is written when anything is refused."""
    from netnode.model.loading import load_data
    from netnode.reconcile.ledger import LedgerStore
    from netnode.store.flavors import FlavorStore
    from netnode.store.quotas import QuotaStore

    ledger = LedgerStore(engine, node, cluster)
    flavors, quotas = FlavorStore(engine), QuotaStore(engine)
    topologies: dict[str, Any] = data.get("topologies") or {}
    for name, document in topologies.items():
        load_data(document, ledger.scope, f"{source}: topology {name}")
    clashes = []
    for name, document in topologies.items():
        held, _ = ledger.document(name)
        if held is not None and held != document:
            clashes.append(f"topology {name!r}")
    for profile in data.get("flavor_profiles") or []:
        held_profile = flavors.profile(str(profile.get("id")))
        if held_profile is not None and held_profile != profile:
            clashes.append(f"flavor profile {profile.get('id')!r}")
    for flavor in data.get("flavors") or []:
        held_flavor = flavors.flavor(str(flavor.get("id")))
        if held_flavor is not None and held_flavor != flavor:
            clashes.append(f"flavor {flavor.get('id')!r}")
    held_quotas = quotas.all()
    for project, values in (data.get("quotas") or {}).items():
        if project in held_quotas and held_quotas[project] != values:
            clashes.append(f"the quotas of project {project!r}")
    if clashes and not replace:
        raise NetnodeError(
            f"{source}: this store already holds {', '.join(clashes)} otherwise; nothing was "
            "imported. Import into a new store, or add --replace to overwrite them"
        )
    done = []
    for profile in data.get("flavor_profiles") or []:
        flavors.put_profile(profile)
    for flavor in data.get("flavors") or []:
        flavors.put_flavor(flavor)
    for project, values in (data.get("quotas") or {}).items():
        quotas.delete(project)
        quotas.set(project, values)
    for name, document in topologies.items():
        ledger.set_desired(name, document)
        done.append(f"topology {name!r}")
    counts = (len(data.get("flavor_profiles") or []), len(data.get("flavors") or []))
    done.append(f"{counts[0]} flavor profile(s), {counts[1]} flavor(s)")
    done.append(f"the quotas of {len(data.get('quotas') or {})} project(s)")
    return done


def cmd_export(args: argparse.Namespace, engine: Engine) -> int:
    write(dump(engine, args.node, args.cluster), args.output, args.format)
    if args.output is not None:
        print(f"Wrote the desired state of {args.cluster or args.node!r} to {args.output}.")
    return 0


def cmd_import(args: argparse.Namespace, engine: Engine) -> int:
    data = read(args.file)
    scope = args.cluster or args.node
    for line in load(engine, args.node, args.cluster, data, str(args.file), args.replace):
        print(f"  imported {line}")
    print(
        f"Imported {args.file} into the store of {scope!r}; its agents converge it "
        "(netnode agent, netnode serve)."
    )
    return 0
