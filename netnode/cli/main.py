"""netnode's command line: parse, call the layers below, present."""

# Start-up: this module imports only light modules (argparse, the error tree, the
# defaults; not even typing). A command's parser is built only when that command is
# parsed (cli/commands.py), by a builder that imports the modules holding its options.
# Each command imports what it uses inside its function: the model (pydantic) for a
# file, the store (SQLAlchemy, Alembic) and the drivers (pyroute2) for the host, the API
# server for serve. `netnode --help` answered in 0.85 s when everything was imported up
# front, 0.08 s when every parser was built; tests/unit/test_cli_imports.py holds the
# line, bench/startup.py times it.

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from netnode.cli import backup as backup_cli
from netnode.cli import completion as completion_cli
from netnode.cli import config as config_cli
from netnode.cli import units as units_cli
from netnode.cli.commands import Commands
from netnode.errors import NetnodeError, TopologyError
from netnode.model.defaults import DEFAULT_NODE

TYPE_CHECKING = False  # typing's, without importing typing (start-up); mypy reads it
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from netnode.cli.commands import Build
    from netnode.plan import operations as op
    from netnode.plan.diff import Plan
    from netnode.reconcile import converge
    from netnode.reconcile.host import Host

    Func = Callable[[argparse.Namespace], int]

DEFAULT_STATE_DIR = "/var/lib/netnode"
SYMBOLS = {"create": "+", "change": "~", "delete": "-"}


# pydantic looks for plugins when it builds its first model: the entry points of every
# installed distribution, read from their metadata (~13 ms of each command that loads
# the model, on this project's virtualenv). netnode uses none: to use one anyway, set
# PYDANTIC_DISABLE_PLUGINS to an empty value.
PYDANTIC_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault(PYDANTIC_PLUGINS, "__all__")
    try:
        try:
            parser = _parser()
            config_cli.apply(parser, sys.argv[1:] if argv is None else argv)
            args = parser.parse_args(argv)
            code = int(args.func(args) or 0)
        except TopologyError as exc:
            print(f"netnode: {exc}", file=sys.stderr)
            print("Nothing was changed on the host.", file=sys.stderr)
            code = exc.exit_code
        except NetnodeError as exc:
            print(f"netnode: error: {exc}", file=sys.stderr)
            code = exc.exit_code
        except KeyboardInterrupt:
            print("netnode: interrupted; run the same command again to converge", file=sys.stderr)
            code = 130
        # What is still buffered is written now, where a closed pipe can be caught, and
        # not at the interpreter's exit.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Whoever read stdout stopped (`netnode status | head`): stop quietly, with the
        # status of a command that SIGPIPE ended (128 + 13). Python flushes stdout again
        # at exit: pointed at /dev/null, that flush has nowhere to fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netnode", description=__doc__)
    config_cli.add_argument(parser)
    parser.add_argument(
        "--node",
        default=os.environ.get("NETNODE_NODE", DEFAULT_NODE),
        help="this node's name; keeps two netnode instances on one host apart (env NETNODE_NODE)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("NETNODE_STATE_DIR", DEFAULT_STATE_DIR)),
        help="where netnode keeps its ledger, configs and sockets (env NETNODE_STATE_DIR)",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("NETNODE_DB"),
        metavar="URL",
        help="the store: a SQLAlchemy URL, e.g. postgresql+psycopg://netnode@/netnode "
        "(env NETNODE_DB; default: SQLite in the state directory)",
    )
    parser.add_argument(
        "--cluster",
        default=os.environ.get("NETNODE_CLUSTER") or None,
        metavar="NAME",
        help="the cluster this node is one of: nodes of one cluster share their desired "
        "state in one store (PostgreSQL) and each converges what is scheduled on it "
        "(env NETNODE_CLUSTER; default: none, the node on its own)",
    )
    parser.add_argument(
        "--datapath",
        default=os.environ.get("NETNODE_DATAPATH") or None,
        metavar="system|netdev",
        help="the Open vSwitch datapath of the bridges netnode creates: system (the "
        "kernel's) or netdev (ovs-vswitchd's userspace one); default: system where the "
        "openvswitch module is loaded or loadable, netdev where not. An existing bridge "
        "keeps its own (env NETNODE_DATAPATH)",
    )
    # Each command's parser is built when it is parsed (cli.commands): a builder below
    # imports the modules holding its options, never at the top of this module.
    sub = parser.add_subparsers(action=Commands, required=True, metavar="COMMAND")
    assert isinstance(sub, Commands)

    def command(
        name: str, func: Func, help: str, *extra: Build, file: bool = True, description: str = ""
    ) -> None:
        def build(p: argparse.ArgumentParser) -> None:
            if file:
                p.add_argument("-f", "--file", required=True, type=Path, help="the topology (YAML)")
            for add in extra:
                add(p)
            p.set_defaults(func=func)

        sub.add_command(name, build, help, description)

    command("apply", cmd_apply, "converge the host to the topology file")
    command("plan", cmd_plan, "print what apply would do, as shell commands; changes nothing")
    command(
        "destroy",
        cmd_destroy,
        "remove everything netnode owns for a topology",
        _destroy_arguments,
        file=False,
        description="remove everything netnode owns for a topology: a file's, or one "
        "recorded on this node by name (--topology api: everything the REST API made)",
    )
    command("validate", cmd_validate, "check a topology file; touches nothing")
    command(
        "status",
        cmd_status,
        "load balancer and member status, from HAProxy",
        _listing_arguments,
        file=False,
    )
    command(
        "draw",
        cmd_draw,
        "draw a topology as SVG: a file's, or this node's coloured by status",
        _draw_arguments,
        file=False,
    )
    command(
        "agent",
        cmd_agent,
        "keep the host converged: reconcile every desired topology, repair drift",
        _agent_arguments,
        file=False,
    )
    command(
        "serve",
        cmd_serve,
        "the REST API (Octavia v2, Neutron v2.0 subset) and the reconcile loop",
        _serve_arguments,
        file=False,
    )
    command(
        "metadata-service",
        cmd_metadata_service,
        "run this node's metadata service in the foreground (apply and the agent start it "
        "on their own; see docs/metadata.md)",
        file=False,
    )
    command(
        "logs",
        cmd_logs,
        "a load balancer's tenant flow log (Octavia's format)",
        _flow_logs_arguments,
        file=False,
    )
    command(
        "nodes",
        cmd_nodes,
        "the nodes sharing this store: alive, dead or left, and what is desired on each",
        _listing_arguments,
        file=False,
    )
    command(
        "demo",
        cmd_demo,
        "build the seed scenario, show it working, clean up",
        _demo_arguments,
        file=False,
    )
    backup_cli.add_commands(sub, cmd_export, cmd_import)
    units_cli.add_command(sub, cmd_install_service)
    completion_cli.add_command(sub, cmd_completion)
    return parser


# --- each command's options, added when its parser is built -------------------------


def _destroy_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("-f", "--file", type=Path, help="the topology (YAML)")
    what.add_argument("--topology", metavar="NAME", help="a topology recorded on this node")


def _listing_arguments(p: argparse.ArgumentParser) -> None:
    from netnode.cli import listing as listing_cli

    listing_cli.add_arguments(p)


def _draw_arguments(p: argparse.ArgumentParser) -> None:
    from netnode.cli import draw as draw_cli

    draw_cli.add_arguments(p)


def _agent_arguments(p: argparse.ArgumentParser) -> None:
    from netnode.cli import cluster as cluster_cli
    from netnode.cli import log_formats
    from netnode.cli import metrics as metrics_cli
    from netnode.cli import uplinks as uplinks_cli

    p.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        type=Path,
        default=[],
        help="a topology file to keep applied (re-read when it changes); may repeat",
    )
    p.add_argument("--once", action="store_true", help="one full pass, then exit")
    p.add_argument(
        "--metrics-listen",
        metavar="ADDR:PORT",
        type=metrics_cli.listen_address,
        help="serve Prometheus metrics on http://ADDR:PORT/metrics (see docs/operations.md)",
    )
    p.add_argument(
        "--period",
        type=_positive_seconds,
        default=10.0,
        help="seconds between full passes (default 10); changes are acted on at once",
    )
    cluster_cli.add_membership_arguments(p)
    uplinks_cli.add_arguments(p)
    log_formats.add_argument(p)


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    from netnode.cli import cluster as cluster_cli
    from netnode.cli import log_formats
    from netnode.cli import serve as serve_cli
    from netnode.cli import uplinks as uplinks_cli

    serve_cli.add_arguments(p)
    cluster_cli.add_membership_arguments(p)
    uplinks_cli.add_arguments(p)
    log_formats.add_argument(p)


def _flow_logs_arguments(p: argparse.ArgumentParser) -> None:
    from netnode.cli import flow_logs as flow_logs_cli

    flow_logs_cli.add_arguments(p)


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-f", "--file", type=Path, default=None, help="topology (default: examples/seed.yaml)"
    )
    p.add_argument("-n", "--requests", type=int, default=6, help="requests to send (default 6)")
    p.add_argument("--keep", action="store_true", help="leave the scenario running")
    p.add_argument(
        "--ha",
        action="store_true",
        help="instead: two nodes on a private PostgreSQL, an ACTIVE_STANDBY load balancer "
        "behind an HA router's floating IP; kill the master's node under load, say how "
        "each took over",
    )
    p.add_argument(
        "--failover-profile",
        choices=("default", "fast"),
        default="fast",
        help="with --ha: keepalived's advert interval, 1 s (default) or 0.1 s (fast, the "
        "default here)",
    )
    p.add_argument(
        "--connections",
        type=int,
        default=20,
        help="with --ha: established connections through the router (default 20)",
    )


def _host(args: argparse.Namespace) -> Host:
    from netnode.plan.datapath import DATAPATHS
    from netnode.reconcile.host import Host

    if args.datapath is not None and args.datapath not in DATAPATHS:
        raise NetnodeError(
            f"--datapath {args.datapath!r} (or NETNODE_DATAPATH): give one of "
            f"{', '.join(DATAPATHS)}"
        )
    return Host(
        state_dir=args.state_dir,
        node=args.node,
        db_url=args.db,
        cluster=args.cluster,
        datapath=args.datapath,
    )


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise NetnodeError(
            f"{what} changes namespaces, Open vSwitch and iptables: run it as root (sudo)"
        )


def cmd_metadata_service(args: argparse.Namespace) -> int:
    """The service as the reconcile starts it, with the configuration the last pass
    wrote (``netnode.reconcile.metadata``); stop the one running first."""
    from netnode.metadata.service import serve

    config = Path(args.state_dir).absolute() / args.node / "metadata" / "config.json"
    if not config.is_file():
        raise NetnodeError(
            f"{config} does not exist: no apply has set up the metadata service of node "
            f"{args.node!r}; run 'netnode apply' with a topology that has a router with "
            "tenant interfaces, or give --node/--state-dir of one that did"
        )
    serve(config)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from netnode.model.loading import load_file

    topo = load_file(args.file, args.node)
    print(
        f"{args.file}: valid ({len(topo.networks)} networks, {len(topo.load_balancers)} load balancers, "
        f"{len(topo.routers)} routers, {len(topo.floating_ips)} floating IPs, "
        f"{len(topo.lab.instances) + len(topo.lab.clients)} lab hosts)"
    )
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from netnode.cli import cluster as cluster_cli

    if args.cluster is not None:
        return cluster_cli.cmd_apply(args, _host(args))
    from netnode.model.loading import load_file
    from netnode.reconcile import converge

    topo = load_file(args.file, args.node)
    _require_root("netnode apply")
    host = _host(args)
    try:
        reporter = _Reporter()
        outcome = converge.apply(host, topo, reporter)
    finally:
        host.close()
    if outcome.started_ovs:
        print("netnode: Open vSwitch was not running; started it with ovs-ctl")
    _print_summary("Apply", args.file, outcome)
    return _report_failures(outcome)


def cmd_destroy(args: argparse.Namespace) -> int:
    from netnode.model.loading import load_data, load_file
    from netnode.reconcile import converge

    _require_root("netnode destroy")
    host = _host(args)
    if args.file is not None:
        # A file that names its topology and nothing more is a way to ask for this.
        topo = load_file(args.file, args.node, allow_empty=True)
    else:
        record = host.store.read(args.topology)
        if record.topology is None:
            names = ", ".join(host.store.topologies()) or "none"
            raise NetnodeError(
                f"no topology {args.topology!r} is recorded on node {args.node!r} "
                f"(recorded: {names})"
            )
        topo = load_data(record.topology, host.scope, f"record {args.topology}")
    try:
        outcome = converge.destroy(host, topo, _Reporter())
    finally:
        host.close()
    counts = outcome.plan.summary()
    print(f"Destroy complete in {outcome.seconds:.2f} s: {counts['delete']} deleted.")
    return _report_failures(outcome)


def cmd_plan(args: argparse.Namespace) -> int:
    from netnode.model.loading import load_file
    from netnode.reconcile import converge

    topo = load_file(args.file, args.node)
    host = _host(args)
    try:
        readable = os.geteuid() == 0 and host.ovs.is_running()
        the_plan = converge.preview(host, topo, read_host=readable)
    finally:
        host.close()
    note = "" if readable else " (not root or OVS not running: planned from an empty host)"
    _print_plan(the_plan, args.file, note)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from netnode.cli import cluster as cluster_cli
    from netnode.cli import listing as listing_cli
    from netnode.cli.tables import STATUS_HEADERS, stats_table, status_rows, status_table
    from netnode.model.loading import load_data
    from netnode.reconcile import converge
    from netnode.reconcile.live_rows import read_rows
    from netnode.reconcile.status import loadbalancer_stats, loadbalancer_status, to_octavia_json

    host = _host(args)
    local = cluster_cli.placed_here(args, host.store.engine)
    docs = []
    statuses = []
    stats = []
    problems = []
    for name, record in converge.desired(host).items():
        topo = local(load_data(record.topology, node=args.node, source=f"record {name}"))
        for lb in topo.load_balancers:
            rows = read_rows(host.haproxy, lb)
            status = loadbalancer_status(lb, rows, record.status)
            numbers = loadbalancer_stats(lb, rows)
            docs.append({**to_octavia_json(status), "stats": numbers})
            statuses.append(status)
            stats.append((lb.name, numbers))
        problems += [f"{name}: {unit or 'host'}: {f}" for unit, f in record.failures.items()]
    if args.format != "table" or args.columns:
        listing = listing_cli.Listing(STATUS_HEADERS, status_rows(statuses), docs)
        listing_cli.show(listing, args)
        return 0
    if not statuses:
        print("No load balancers applied on node", repr(args.node))
    else:
        print(status_table(statuses))
        print()
        print(stats_table(stats))
    for line in problems:
        print(f"! {line}")
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from netnode.cli import draw as draw_cli

    if args.file is not None:
        return draw_cli.run(args, None)
    host = _host(args)
    try:
        return draw_cli.run(args, host)
    finally:
        host.close()


def cmd_agent(args: argparse.Namespace) -> int:
    import signal
    import threading

    from netnode.cli import cluster as cluster_cli
    from netnode.cli import log_formats
    from netnode.cli import metrics as metrics_cli
    from netnode.cli import uplinks as uplinks_cli
    from netnode.drivers.sdnotify import Notifier
    from netnode.model.loading import load_file
    from netnode.reconcile.agent import Agent

    _require_root("netnode agent")
    if args.cluster is not None and args.files:
        raise NetnodeError(
            "in a cluster, topology files are recorded with 'netnode --cluster NAME apply -f "
            "FILE' and every node's agent converges what is placed on it: drop --file here"
        )
    for path in args.files:
        load_file(path, args.node)  # refuse a bad file before touching anything
    log_formats.configure(args.log_format, db_url=args.db)
    host = _host(args)
    mappings = uplinks_cli.mappings_of(args, host)  # a bad mapping, refused before the loop
    cluster = cluster_cli.cluster_of(args, host.store.engine)
    notifier = Notifier()  # systemd's Type=notify: READY after the first round, watchdog

    def alive() -> None:
        if agent.health.rounds or agent.health.failed_rounds:
            notifier.ready(f"node {args.node!r}: reconcile loop running")
        notifier.alive()

    agent = Agent(
        host,
        files=args.files,
        period=args.period,
        cluster=cluster,
        alive=alive,
        mappings=mappings,
    )
    try:
        if args.once:
            reports = agent.run_once()
            for report in reports:
                print(report)
            if not reports:
                print(f"netnode agent: nothing is desired on node {args.node!r}")
            return 0 if all(r.ok for r in reports) else 1
        stop = threading.Event()

        def stopping(signum: int, _frame: object) -> None:
            agent.log(f"netnode agent: {signal.Signals(signum).name}: stopping")
            notifier.stopping()
            stop.set()
            agent.trigger()

        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        report = cluster_cli.health_report(agent.health)
        with cluster_cli.membership(args, host.store.engine, report, agent.log):
            agent.log(
                f"netnode agent: node {args.node!r} (zone {args.zone!r}), state in "
                f"{args.state_dir}, full pass every {args.period:g} s"
            )
            with metrics_cli.serving(agent, args.metrics_listen):
                agent.run(stop)
        return 0
    finally:
        host.close()


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.05 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"between 0.05 and 86400 seconds, not {text}")
    return value


def cmd_logs(args: argparse.Namespace) -> int:
    from netnode.cli import flow_logs as flow_logs_cli

    host = _host(args)
    try:
        return flow_logs_cli.run(args, host)
    finally:
        host.close()


def cmd_nodes(args: argparse.Namespace) -> int:
    from netnode.cli import cluster as cluster_cli
    from netnode.store.database import default_url, engine_for

    return cluster_cli.cmd_nodes(args, engine_for(args.db or default_url(args.state_dir)))


def cmd_export(args: argparse.Namespace) -> int:
    from netnode.store.database import default_url, engine_for

    return backup_cli.cmd_export(args, engine_for(args.db or default_url(args.state_dir)))


def cmd_import(args: argparse.Namespace) -> int:
    from netnode.store.database import default_url, engine_for

    return backup_cli.cmd_import(args, engine_for(args.db or default_url(args.state_dir)))


def cmd_serve(args: argparse.Namespace) -> int:
    from netnode.cli import serve as serve_cli

    if not args.no_agent:
        _require_root("netnode serve (its reconcile loop; --no-agent serves the API alone)")
    return serve_cli.run(args, _host(args))


def cmd_install_service(args: argparse.Namespace) -> int:
    return units_cli.install(args.root, args.executable, _parser())


def cmd_completion(args: argparse.Namespace) -> int:
    print(completion_cli.bash(_parser()), end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _require_root("netnode demo")
    if args.ha:
        if args.file is not None or args.keep:
            raise NetnodeError(
                "netnode demo --ha builds its own scenario and always cleans up: "
                "leave out -f and --keep"
            )
        if not 1 <= args.connections <= 1000:
            raise NetnodeError(f"--connections {args.connections}: give 1-1000")
        from netnode.lab import ha_demo

        return ha_demo.run(args.failover_profile, args.connections)
    from netnode.cli.demo import run_demo

    return run_demo(args)


# --- presentation --------------------------------------------------------------------


class _Reporter:
    """Prints each host object once, as its first operation completes."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, operation: op.Operation) -> None:
        if operation.subject in self.seen:
            return
        self.seen.add(operation.subject)
        verb = {"create": "created", "change": "changed", "delete": "deleted"}[operation.action]
        print(f"  {SYMBOLS[operation.action]} {operation.subject}: {verb}", flush=True)


def _report_failures(outcome: converge.Outcome) -> int:
    if outcome.ok:
        return 0
    print(f"netnode: {len(outcome.failures)} operation(s) failed:", file=sys.stderr)
    for failure in outcome.failures:
        print(f"  ! {failure}", file=sys.stderr)
    print(
        "The other objects were converged. Temporary errors: run the command again, or "
        "let 'netnode agent' retry them; refused ones need a change to the topology.",
        file=sys.stderr,
    )
    return 1


def _print_summary(verb: str, path: Path, outcome: converge.Outcome) -> None:
    counts = outcome.plan.summary()
    if outcome.plan.empty:
        print(
            f"No changes: the host already matches {path} "
            f"({counts['unchanged']} objects checked in {outcome.seconds:.3f} s)."
        )
        return
    print(
        f"{verb} complete in {outcome.seconds:.2f} s: {counts['create']} created, {counts['change']} changed, "
        f"{counts['delete']} deleted, {counts['unchanged']} unchanged."
    )


def _print_plan(the_plan: Plan, path: Path, note: str) -> None:
    import shlex

    if the_plan.empty:
        print(f"No changes: the host already matches {path}.{note}")
        return
    changes = the_plan.changes()
    current = None
    for operation in the_plan.operations:
        if operation.subject != current:
            current = operation.subject
            print(f"# {SYMBOLS[changes[current]]} {current}")
        for argv in operation.shell():
            print(shlex.join(argv))
    counts = the_plan.summary()
    print(
        f"# Plan: {counts['create']} to create, {counts['change']} to change, {counts['delete']} to delete, "
        f"{counts['unchanged']} unchanged.{note}"
    )


if __name__ == "__main__":
    sys.exit(main())
