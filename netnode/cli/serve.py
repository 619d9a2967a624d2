"""``netnode serve``: the REST API and, beside it, the reconcile loop that makes what
the API records real. The API writes the desired state and wakes the loop; the loop's
passes move each object from PENDING_* to ACTIVE (or ERROR).

The loop survives what its rounds meet (``Agent.run``). Should its thread end all the
same, the server stops and ``netnode serve`` exits 1, so that a supervisor (systemd)
restarts it: an API whose writes would never converge is worse than none."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netnode.cli import cluster as cluster_cli
from netnode.cli import log_formats
from netnode.cli import uplinks as uplinks_cli
from netnode.errors import NetnodeError

# Every netnode command builds serve's options into its parser: the API server
# (FastAPI, uvicorn) and the host are imported by ``run`` alone (see cli.main).
if TYPE_CHECKING:
    from netnode.api.keystone import Keystone
    from netnode.reconcile.host import Host

DEFAULT_PORT = 9876

log = logging.getLogger("netnode.serve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, loopback only)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}, Octavia's)",
    )
    auth = p.add_mutually_exclusive_group(required=True)
    auth.add_argument(
        "--tokens",
        metavar="FILE",
        help="YAML file of tokens, each with project_id and role (see README)",
    )
    auth.add_argument(
        "--noauth",
        action="store_true",
        help="no authentication: every caller is an admin (loopback only unless --noauth-anywhere)",
    )
    auth.add_argument(
        "--keystone-url",
        metavar="URL",
        help="validate tokens against this Keystone (v3; e.g. http://keystone:5000/v3), "
        "as netnode's service user (--keystone-user...); roles map as Octavia's policy does",
    )
    add_keystone_arguments(p)
    p.add_argument(
        "--noauth-anywhere",
        action="store_true",
        help="with --noauth, allow listening on a non-loopback address",
    )
    p.add_argument(
        "--project",
        default="admin",
        help="the project that owns what topology files define, and that "
        "--noauth callers act as (default admin)",
    )
    p.add_argument(
        "--integration-bridge",
        default="br-int",
        help="the OVS bridge of the API's tenant networks (default br-int)",
    )
    p.add_argument(
        "--certificates-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where TLS containers named through the API live: PEM files under "
        "DIR/<project id>/ (default: <state dir>/certificates)",
    )
    p.add_argument(
        "--period",
        type=float,
        default=10.0,
        help="seconds between the loop's full passes (default 10)",
    )
    p.add_argument(
        "--status-interval",
        type=interval_seconds,
        default=1.0,
        help="seconds between the status watcher's reads of HAProxy (default 1)",
    )
    p.add_argument(
        "--no-agent",
        action="store_true",
        help="serve the API only; another process (netnode agent) converges",
    )


def add_keystone_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keystone-user",
        default="netnode",
        help="with --keystone-url: netnode's service user, which needs Keystone's "
        "service (or admin) role to validate tokens (default netnode)",
    )
    p.add_argument(
        "--keystone-password",
        default=os.environ.get("NETNODE_KEYSTONE_PASSWORD"),
        help="the service user's password (env NETNODE_KEYSTONE_PASSWORD; better: "
        "--keystone-password-file)",
    )
    p.add_argument(
        "--keystone-password-file",
        metavar="FILE",
        type=Path,
        help="a file holding the service user's password (its first line)",
    )
    p.add_argument(
        "--keystone-project",
        default="service",
        help="the service user's project (default service)",
    )
    p.add_argument(
        "--keystone-user-domain",
        default="Default",
        help="the service user's domain (default Default)",
    )
    p.add_argument(
        "--keystone-project-domain",
        default="Default",
        help="the service user's project's domain (default Default)",
    )
    p.add_argument(
        "--keystone-cache-time",
        type=float,
        default=300.0,
        help="seconds a validated token is taken without asking Keystone again, at most "
        "until it expires; a revoked token is refused only once its entry ends "
        "(default 300, keystonemiddleware's token_cache_time)",
    )


def auth_mode(args: argparse.Namespace) -> str:
    """Which of --tokens, --noauth, --keystone-url is given: exactly one (a flag and the
    configuration file may each name one)."""
    given = [
        name
        for name, value in (
            ("--tokens", args.tokens),
            ("--noauth", args.noauth),
            ("--keystone-url", args.keystone_url),
        )
        if value
    ]
    if len(given) != 1:
        raise NetnodeError(
            "netnode serve: give exactly one way to authenticate: --tokens FILE, "
            "--keystone-url URL or --noauth (here: " + (", ".join(given) or "none") + "; "
            "the configuration file's [serve] table counts too)"
        )
    return given[0]


def keystone_of(args: argparse.Namespace) -> Keystone:
    """The Keystone authenticator of ``--keystone-url`` (api.keystone), its options
    checked before anything starts."""
    from netnode.api.keystone import Keystone, ServiceUser

    password = args.keystone_password
    if args.keystone_password_file is not None:
        try:
            lines = args.keystone_password_file.read_text().splitlines()
        except OSError as exc:
            raise NetnodeError(
                f"--keystone-password-file {args.keystone_password_file}: cannot read: "
                f"{exc.strerror}"
            ) from None
        password = lines[0] if lines else ""
    if not password:
        raise NetnodeError(
            "--keystone-url needs the service user's password: --keystone-password-file "
            "FILE, or NETNODE_KEYSTONE_PASSWORD"
        )
    if not args.keystone_url.startswith(("http://", "https://")):
        raise NetnodeError(
            f"--keystone-url {args.keystone_url!r}: give Keystone's URL, "
            "e.g. http://keystone:5000/v3"
        )
    if not args.keystone_cache_time >= 0:
        raise NetnodeError("--keystone-cache-time: give a number of seconds >= 0")
    service = ServiceUser(
        url=args.keystone_url,
        user=args.keystone_user,
        password=password,
        project=args.keystone_project,
        user_domain=args.keystone_user_domain,
        project_domain=args.keystone_project_domain,
    )
    return Keystone(service, cache_time=args.keystone_cache_time)


def interval_seconds(text: str) -> float:
    """``--status-interval``: the API's own parser of it, imported only when the option
    is given (argparse names a type that refuses a value by its ``__name__``: kept)."""
    from netnode.api.status_cache import interval_seconds as parse

    return parse(text)


# glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
# the API's worker threads (AnyIO's pool, 40) each keep one: measured with bench/load.py
# (100 clients, 120 s), the server's RSS grew 1.36x after warm-up with the default and
# 1.18x with two arenas, at the same throughput.
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def _fewer_malloc_arenas() -> None:
    """Cap glibc's malloc arenas before the server's threads start (no-op elsewhere)."""
    import ctypes  # here: ctypes costs every other command ~10 ms of start-up
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass


def run(args: argparse.Namespace, host: Host) -> int:
    import uvicorn

    from netnode.api import health
    from netnode.api import metrics as api_metrics
    from netnode.api.app import create_app
    from netnode.api.auth import Tokens
    from netnode.api.service import Service
    from netnode.drivers.haproxy import HAProxyProcesses
    from netnode.drivers.sdnotify import Notifier
    from netnode.reconcile.agent import Agent
    from netnode.reconcile.host import Host
    from netnode.reconcile.metrics import Metrics
    from netnode.store.quotas import QuotaStore

    mode = auth_mode(args)
    if args.noauth and not args.noauth_anywhere and not _loopback(args.host):
        raise NetnodeError(
            f"--noauth on {args.host} would let anyone who reaches it change this node; "
            "listen on 127.0.0.1, use --tokens, or add --noauth-anywhere if you mean it"
        )
    _fewer_malloc_arenas()
    log_formats.configure(args.log_format, db_url=args.db)
    if mode == "--keystone-url":
        tokens = keystone_of(args)
    else:
        tokens = None if args.noauth else Tokens.load(Path(args.tokens))
    store = host.store  # opens the store and migrates its schema before serving
    cluster_cli.cluster_of(args, store.engine)  # a bad --bridge-map, refused before serving
    mappings = uplinks_cli.mappings_of(args, host)  # and a bad uplink
    stop = threading.Event()
    notifier = Notifier()  # systemd's Type=notify: READY once listening, the watchdog
    metrics = Metrics()  # the agent's passes, the API's requests, the load balancers
    agent_box: dict[str, Any] = {}
    ready = threading.Event()

    died: list[str] = []

    def loop() -> None:
        # The agent's host lives in the agent's thread (netlink sockets are per thread).
        try:
            own = Host(
                state_dir=host.state_dir,
                node=host.node,
                db_url=host.db_url,
                cluster=host.cluster,
                datapath=host.datapath,
            )
            agent = Agent(
                own,
                period=args.period,
                cluster=cluster_cli.cluster_of(args, own.store.engine),
                alive=notifier.alive,  # the watchdog is fed by the loop's rounds
                metrics=metrics,
                mappings=mappings,
            )
            agent_box["agent"] = agent
            ready.set()
            try:
                agent.run(stop)
            finally:
                own.close()
        except BaseException:
            died.append(traceback.format_exc().rstrip())
        finally:
            if not stop.is_set():
                # The loop is gone while the API would go on taking writes: stop serving.
                if not died:
                    died.append("the reconcile loop returned while the server was running")
                ready.set()
                server.should_exit = True

    def wake() -> None:
        agent = agent_box.get("agent")
        if agent is not None:
            agent.trigger()

    svc = Service(
        store,
        host.scope,
        quotas=QuotaStore(store.engine),
        haproxy=HAProxyProcesses(host.run_dir),
        operator_project=args.project,
        integration_bridge=args.integration_bridge,
        on_change=wake,
        status_interval=args.status_interval,
        certificates_dir=args.certificates_dir or host.state_dir / "certificates",
    )
    app = create_app(svc, tokens, noauth_project=args.project)
    api_metrics.install(app, svc, metrics)  # GET /metrics
    worker = None

    async def listening() -> None:
        # uvicorn calls this on its ticks, once it listens: READY; without a loop of
        # its own the server's ticks feed the watchdog.
        notifier.ready(f"serving on {args.host}:{args.port}")
        if args.no_agent:
            notifier.alive()

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        callback_notify=listening if notifier.enabled else None,
        timeout_notify=0,
        log_config=None,  # uvicorn's lines go through netnode's (--log-format)
    )
    server = uvicorn.Server(config)

    def stopping(signum: int, _frame: object) -> None:
        log.info("netnode serve: %s: stopping", signal.Signals(signum).name)
        notifier.stopping()
        stop.set()
        wake()
        server.should_exit = True

    def report() -> dict[str, Any]:
        agent = agent_box.get("agent")
        return {} if agent is None else cluster_cli.health_report(agent.health)()

    with contextlib.ExitStack() as stack:
        if not args.no_agent:
            # A node that joins the cluster is one with a reconcile loop; joining
            # first refuses a second process of the same node before anything starts.
            stack.enter_context(cluster_cli.membership(args, store.engine, report, log.info))
            worker = threading.Thread(target=loop, name="netnode-agent", daemon=True)
            worker.start()
            app.state.loop = health.Loop(
                thread=worker,
                health=lambda: None if "agent" not in agent_box else agent_box["agent"].health,
                max_age=health.Loop.max_age_for(args.period),
                started=time.monotonic(),
            )
            ready.wait(10)
        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        mode = {
            "--noauth": "no authentication",
            "--tokens": f"tokens from {args.tokens}",
            "--keystone-url": f"Keystone at {args.keystone_url}",
        }[mode]
        log.info(
            "%s",
            f"netnode serve: http://{args.host}:{args.port}/ ({mode}), node {host.node!r}"
            + ("" if worker else ", no reconcile loop"),
        )
        svc.watch_statuses()
        try:
            if not died:
                server.run()
        finally:
            svc.statuses.stop()
            stop.set()
            wake()
            if worker is not None:
                worker.join(timeout=60)
    if died:
        log.error(
            "%s",
            "netnode serve: exiting with status 1, the reconcile loop is gone:\n" + "\n".join(died),
        )
        return 1
    return 0


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"
