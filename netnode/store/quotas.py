"""Octavia's quotas, per project and kind of object, in the store."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from netnode.store import schema


class QuotaStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, project_id: str) -> dict[str, int]:
        q = schema.quotas
        with self.engine.connect() as db:
            rows = db.execute(sa.select(q.c.kind, q.c.quota).where(q.c.project_id == project_id))
            return {r.kind: r.quota for r in rows}

    def all(self) -> dict[str, dict[str, int]]:
        q = schema.quotas
        result: dict[str, dict[str, int]] = {}
        with self.engine.connect() as db:
            for r in db.execute(sa.select(q.c.project_id, q.c.kind, q.c.quota)):
                result.setdefault(r.project_id, {})[r.kind] = r.quota
        return result

    def set(self, project_id: str, values: dict[str, int]) -> None:
        q = schema.quotas
        with self.engine.begin() as db:
            for kind, quota in values.items():
                db.execute(q.delete().where((q.c.project_id == project_id) & (q.c.kind == kind)))
                db.execute(q.insert().values(project_id=project_id, kind=kind, quota=quota))

    def delete(self, project_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(schema.quotas.delete().where(schema.quotas.c.project_id == project_id))
