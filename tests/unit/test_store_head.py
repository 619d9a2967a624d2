"""The store opens without Alembic when its schema is already the newest migration's:
``database.HEAD`` must be what Alembic itself calls head."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from netnode.store import database


def test_head_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(database.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [database.HEAD]


def test_a_new_store_is_migrated_and_then_opened_at_head(tmp_path: Path) -> None:
    engine = database.sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        assert not database.at_head(engine)
        database.upgrade(engine)
        assert database.at_head(engine)
    finally:
        engine.dispose()
