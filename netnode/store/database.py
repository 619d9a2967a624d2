"""The store's connection: SQLite in the state directory by default, any SQLAlchemy URL
(PostgreSQL) when given; the schema is brought up to date by Alembic on open.

An outage of the store (PostgreSQL stopped or restarting, a connection cut, a SQLite
file locked past its busy timeout) leaves this module as ``StoreUnavailable``, a
temporary ``HostError``, whatever statement met it: the engine's ``handle_error`` hook
translates SQLAlchemy's ``OperationalError``/``InterfaceError`` where they are raised, so
no caller has to know SQLAlchemy's exception tree. The pool is pre-pinged (PostgreSQL)
and invalidated on a disconnect, so the first statement after the store is back opens
a fresh connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from netnode.errors import HostError, StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_FILE = "netnode.db"
SQLITE_TIMEOUT = 30.0
# The advisory lock migrations run under on PostgreSQL: "nm" (node locks are "nn").
MIGRATION_LOCK = 0x6E6D


def _dumps(value: Any) -> str:
    # Keys that are not strings become strings, as json.dumps makes them.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# The JSON columns (a node's record: every object's fingerprint and status, about 1 MB
# at 1,000 load balancers, read and written by every pass) through orjson: 6 ms -> 1 ms
# to write such a record, 5 ms -> 3.4 ms to read it.
JSON_CODEC: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": orjson.loads}

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def default_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / SQLITE_FILE}"


def engine_for(url: str) -> Engine:
    """One engine per URL and process, its schema migrated the first time."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            upgrade(engine)
            _engines[url] = engine
        return engine


def _create(url: str) -> Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise HostError(f"store: {url!r} is not a database URL ({exc})") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # How long a statement waits for a lock another process holds before the
        # store counts as unavailable: ?timeout=SECONDS in the URL, default 30.
        timeout = float(parsed.query.get("timeout", SQLITE_TIMEOUT))  # type: ignore[arg-type]
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": timeout},
            **JSON_CODEC,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        folder = Path(parsed.database or ".").parent

        def hint() -> str:
            return _sqlite_hint(folder, timeout)
    else:
        try:
            engine = sa.create_engine(
                url, pool_pre_ping=True, connect_args=_keepalive(parsed), **JSON_CODEC
            )
        except ImportError as exc:
            raise HostError(
                f"store: no driver for {parsed.drivername!r} ({exc}); "
                "for PostgreSQL install psycopg and use postgresql+psycopg://..."
            ) from exc

        def hint() -> str:
            return "netnode retries by itself; check that the database is running and reachable"

    where = parsed.render_as_string(hide_password=True)
    sa.event.listen(engine, "handle_error", lambda context: _outage(where, hint, context))
    return engine


# The errors that mean "the store did not answer", not "the statement is wrong".
OUTAGES = (sa.exc.OperationalError, sa.exc.InterfaceError)


def _outage(where: str, hint: Callable[[], str], context: sa.engine.ExceptionContext) -> None:
    error = context.sqlalchemy_exception
    # The pool's pre-ping meeting a dead connection is not an outage: the pool
    # replaces that connection and goes on (raising here would defeat it).
    if isinstance(error, OUTAGES) and not context.is_pre_ping:
        raise StoreUnavailable(
            f"store: {where} is unavailable: {_first_line(error.orig or error)}", hint=hint()
        ) from error


# Below this, SQLite's "disk I/O error" is a full filesystem.
FULL = 1 << 20


def _sqlite_hint(folder: Path, timeout: float) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < FULL:
        return (
            f"the filesystem holding {folder} is full ({free} bytes free): free some "
            "space there; netnode retries by itself"
        )
    return (
        f"another process may hold the database locked for more than {timeout:g} s, "
        "or its filesystem failed; netnode retries by itself"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _keepalive(parsed: sa.URL) -> dict[str, Any]:
    """TCP keepalive for PostgreSQL (libpq; ignored on a unix socket), so a server that
    vanished (a host dead, a cable cut) is noticed in seconds, not after two hours."""
    if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
        return {}
    return {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the agent's reads never wait for the API's writes, nor the other way round.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# The newest migration (migrations/versions). A store already there is opened without
# Alembic, which costs about 0.16 s to import and read its scripts: most of a no-op
# ``netnode apply``'s own time. tests/unit/test_store_head.py checks this is Alembic's
# head, so a new migration without this line changed fails there.
HEAD = "0006"


def at_head(engine: Engine) -> bool:
    """Whether the store's schema is the newest migration's (no lock needed: a store at
    head has nothing to migrate, and one that is not is migrated under the lock)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return False  # a new store
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        return [row[0] for row in versions] == [HEAD]


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    if at_head(engine):
        return
    # Alembic is imported only to migrate, not by every command that imports this
    # module or opens a store already at head.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migrating(engine), engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            # Python's sqlite3 begins a transaction before data changes only: without
            # this, each CREATE TABLE commits by itself, and a process killed halfway
            # leaves tables that no alembic_version counts ("already exists" ever after).
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        if connection.dialect.name == "postgresql":
            # Nodes starting together on a new database: one migrates, the others wait
            # for its commit and then find nothing to do (a lock of this transaction).
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK, 0)))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextlib.contextmanager
def _migrating(engine: Engine) -> Iterator[None]:
    """On SQLite, processes opening a new store together migrate one at a time: an
    flock(2) on the folder holding the database. Not on the database file itself:
    closing any descriptor of that file would drop the POSIX locks SQLite holds on it in
    this process. PostgreSQL's turn is an advisory lock in ``upgrade``."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    folder = os.open(Path(database).resolve().parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # and with it the flock


def dispose() -> None:
    """Close every pooled connection (tests, and a process about to exit)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
