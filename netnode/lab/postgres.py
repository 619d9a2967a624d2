"""A private PostgreSQL cluster for tests, benchmarks and ``netnode demo --ha``: started
from scratch, thrown away afterwards.

``private_cluster()`` runs Debian's server binaries (``apt-get install postgresql``, which
``scripts/setup-host.sh`` does) straight from ``/usr/lib/postgresql/<version>/bin``, the
highest version installed; it never touches Debian's own clusters or the postgresql
service. Each cluster lives in a fresh directory under /tmp:

    /tmp/nn-pg-XXXXXXXX/            0700, owned by the postgres user
        data/                       initdb's data directory
        .s.PGSQL.<port>             the only way in: listen_addresses='' (no TCP)
        postgres.log                the server's output

The server runs as the ``postgres`` system user (it refuses to run as root), so this
needs root to switch to it; ``available()`` says why not when it cannot. The port only
names the socket, but it is still one no process is listening on, so the cluster's
socket name is unique on the host. fsync, synchronous_commit and full_page_writes are off:
nothing here is meant to survive a crash. ``restartable_cluster()`` yields the cluster
itself, which a test can stop (as ``pg_ctl -m immediate stop`` does) and start again on
the same data; its commits are synchronous, so an acknowledged write survives the stop.

The yielded URL is for SQLAlchemy with psycopg 3::

    postgresql+psycopg://postgres@/netnode?host=/tmp/nn-pg-XXXXXXXX&port=<port>

(``port`` is needed too: libpq looks for ``<host>/.s.PGSQL.<port>``.) On exit the server
is stopped by the pid this module started it with (SIGQUIT, PostgreSQL's immediate
shutdown, which also ends open client sessions; SIGKILL if it has not exited within
ten seconds) and the directory is removed, whether the body raised or not.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

PG_LIB = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
SETUP_HINT = "run scripts/setup-host.sh as root (it installs Debian's postgresql package)"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class Account(NamedTuple):
    """Whom the server's processes run as (it refuses root)."""

    uid: int
    gid: int


class ClusterUnavailable(RuntimeError):
    """A private cluster cannot be started on this host (see ``available()``)."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def bin_dir() -> Path:
    """The bin directory of the highest PostgreSQL version installed."""
    candidates = [p.parent for p in PG_LIB.glob("*/bin/postgres") if (p.parent / "initdb").exists()]
    if not candidates:
        raise ClusterUnavailable(
            f"PostgreSQL is not installed (no {PG_LIB}/*/bin/postgres and initdb): {SETUP_HINT}"
        )
    return max(candidates, key=_version_key)


def available() -> str | None:
    """None when ``private_cluster()`` can run here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "a private PostgreSQL cluster needs root (to run the server as the postgres user)"
    try:
        bin_dir()
    except ClusterUnavailable as exc:
        return str(exc)
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return f"there is no '{SYSTEM_USER}' system user: {SETUP_HINT}"
    return None


def _free_port() -> int:
    # Not needed for a socket in a private directory, but it keeps socket names (and
    # the port in the URL and in ps) unique on the host.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ready(pidfile: Path) -> bool:
    # The postmaster writes its status as the 8th line of postmaster.pid; "ready" once
    # it accepts connections (this is what pg_ctl start --wait reads).
    try:
        lines = pidfile.read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    # Popen.send_signal does nothing once the child is reaped, so this can only reach the
    # postmaster started here, never a process that reused its pid.
    server.send_signal(signal.SIGQUIT)
    try:
        server.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


class Cluster:
    """A private cluster that a test can stop and start again (a database outage): the
    data directory and the socket stay; only the server process comes and goes."""

    def __init__(
        self,
        top: Path,
        port: int,
        bindir: Path,
        env: dict[str, str],
        as_postgres: Account,
        url: str,
        durable: bool,
    ) -> None:
        self.top, self.port, self.bindir, self.env = top, port, bindir, env
        self.as_postgres = as_postgres
        self.url = url
        self.data, self.log = top / "data", top / "postgres.log"
        self.durable = durable
        self.server: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server (again) on the same data directory and socket."""
        with self.log.open("ab") as log_file:
            self.server = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.top),
                    "-c",
                    "listen_addresses=",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "logging_collector=off",
                    # A commit is in the WAL (the OS's page cache) when it returns, so an
                    # immediate stop loses no acknowledged write; only a host crash could.
                    "-c",
                    f"synchronous_commit={'on' if self.durable else 'off'}",
                ],
                cwd=self.top,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                user=self.as_postgres.uid,
                group=self.as_postgres.gid,
                extra_groups=[],
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _ready(self.data / "postmaster.pid"):
            if self.server.poll() is not None:
                raise ClusterUnavailable(
                    f"postgres exited with status {self.server.returncode} while starting; "
                    f"{self.log}:\n{_log_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                raise ClusterUnavailable(
                    f"postgres not ready after {START_TIMEOUT:.0f}s; "
                    f"{self.log}:\n{_log_tail(self.log)}"
                )
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop the server as ``pg_ctl -m immediate stop`` does (SIGQUIT): every client
        session is cut at once."""
        if self.server is not None:
            _stop(self.server)
            self.server = None


@contextmanager
def restartable_cluster(dbname: str = "netnode", *, durable: bool = True) -> Iterator[Cluster]:
    """Start a brand-new PostgreSQL cluster; yield it (``.url``, ``.stop()``, ``.start()``).
    ``durable``: commits survive ``stop()`` (synchronous_commit on); off is faster."""
    reason = available()
    if reason is not None:
        raise ClusterUnavailable(reason)
    bindir = bin_dir()
    account = pwd.getpwnam(SYSTEM_USER)
    as_postgres = Account(account.pw_uid, account.pw_gid)
    top = Path(tempfile.mkdtemp(prefix="nn-pg-", dir="/tmp"))
    cluster: Cluster | None = None
    try:
        os.chown(top, account.pw_uid, account.pw_gid)
        port = _free_port()
        # A clean environment: no PG* variables, locale or HOME of the caller.
        env = {"PATH": f"{bindir}:{os.defpath}", "LC_ALL": "C", "HOME": str(top)}

        def run(*args: str) -> None:
            done = subprocess.run(
                args,
                cwd=top,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
                user=as_postgres.uid,
                group=as_postgres.gid,
                extra_groups=[],
            )
            if done.returncode != 0:
                raise ClusterUnavailable(
                    f"{args[0]} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
                )

        run(
            str(bindir / "initdb"),
            "--pgdata",
            str(top / "data"),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        url = (
            f"postgresql+psycopg://{SUPERUSER}@/{quote(dbname)}?host={quote(str(top))}&port={port}"
        )
        cluster = Cluster(top, port, bindir, env, as_postgres, url, durable)
        cluster.start()
        run(
            str(bindir / "createdb"),
            "--host",
            str(top),
            "--port",
            str(port),
            "--username",
            SUPERUSER,
            dbname,
        )
        yield cluster
    finally:
        try:
            if cluster is not None:
                cluster.stop()
        finally:
            shutil.rmtree(top, ignore_errors=True)


@contextmanager
def private_cluster(dbname: str = "netnode") -> Iterator[str]:
    """Start a brand-new PostgreSQL cluster; yield a SQLAlchemy URL to database ``dbname``."""
    with restartable_cluster(dbname, durable=False) as cluster:
        yield cluster.url


def postmaster_pid(url: str) -> int:
    """The pid of the server behind a ``private_cluster()`` URL, from its socket lock file."""
    from sqlalchemy.engine import make_url

    query = make_url(url).query
    lock = Path(str(query["host"])) / f".s.PGSQL.{query['port']}.lock"
    return int(lock.read_text().splitlines()[0])
