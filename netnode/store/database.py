"""The store's connection: SQLite in the state directory by default, any SQLAlchemy URL
(PostgreSQL) when given; the schema is brought up to date by Alembic on open."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from netnode.errors import HostError

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_FILE = "netnode.db"

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
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ImportError as exc:
        raise HostError(
            f"store: no driver for {parsed.drivername!r} ({exc}); "
            "for PostgreSQL install psycopg and use postgresql+psycopg://..."
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the agent's reads never wait for the API's writes, nor the other way round.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except sa.exc.OperationalError as exc:
        raise HostError(f"store: cannot open {engine.url!r}: {exc.orig}") from exc


def dispose() -> None:
    """Close every pooled connection (tests, and a process about to exit)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
