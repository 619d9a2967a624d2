"""netnode/lab/postgres.py: a private PostgreSQL cluster starts, serves SQLAlchemy, and leaves
nothing behind (no postmaster, no directory), also when the body raises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.engine import make_url

from netnode.lab.postgres import available as postgres_available
from netnode.lab.postgres import postmaster_pid, private_cluster

pytestmark = pytest.mark.functional


@pytest.fixture(autouse=True)
def _postgres_prerequisites() -> None:
    reason = postgres_available()
    if reason is None:
        return
    if os.environ.get("NETNODE_REQUIRE_FUNCTIONAL") == "1":
        pytest.fail(f"NETNODE_REQUIRE_FUNCTIONAL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cluster_serves_sqlalchemy_and_leaves_nothing_behind() -> None:
    with private_cluster() as url:
        parts = make_url(url)
        assert parts.drivername == "postgresql+psycopg"
        assert parts.host is None  # a unix socket only, no TCP
        socket_dir = Path(str(parts.query["host"]))
        assert (socket_dir / f".s.PGSQL.{parts.query['port']}").is_socket()
        pid = postmaster_pid(url)
        assert _alive(pid)

        engine = create_engine(url)
        things = Table(
            "things",
            MetaData(),
            Column("id", Integer, primary_key=True),
            Column("name", String(50), nullable=False),
        )
        with engine.begin() as conn:
            things.metadata.create_all(conn)
            conn.execute(things.insert(), [{"name": "alpha"}])
        with engine.connect() as conn:
            assert conn.execute(select(things.c.id, things.c.name)).all() == [(1, "alpha")]
            assert conn.exec_driver_sql("SHOW listen_addresses").scalar() == ""
            assert conn.exec_driver_sql("SELECT current_database()").scalar() == "netnode"
        # Still open when the cluster stops: stopping must not wait for clients.
        left_open = engine.connect()
    left_open.invalidate()
    engine.dispose()
    assert not _alive(pid)
    assert not socket_dir.exists()


def test_cluster_is_removed_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), private_cluster() as url:
        pid = postmaster_pid(url)
        socket_dir = Path(str(make_url(url).query["host"]))
        raise RuntimeError("boom")
    assert not _alive(pid)
    assert not socket_dir.exists()


def test_two_clusters_run_side_by_side() -> None:
    with private_cluster() as first, private_cluster() as second:
        assert make_url(first).query != make_url(second).query
        for url in (first, second):
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            finally:
                engine.dispose()
