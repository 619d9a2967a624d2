"""Octavia's flavor profiles and flavors: an operator's named choices of how load
balancers are built (``flavor_data``: ``loadbalancer_topology`` SINGLE or
ACTIVE_STANDBY, netnode's ``failover_profile`` default or fast), which projects pick by
``flavor_id`` when they create one. Tables ``flavor_profiles`` and ``flavors``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from netnode.store import schema


class FlavorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def profiles(self) -> list[dict[str, Any]]:
        return self._all(schema.flavor_profiles)

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        return self._get(schema.flavor_profiles, profile_id)

    def put_profile(self, values: dict[str, Any]) -> None:
        """Insert or replace the profile of ``values["id"]``."""
        self._put(schema.flavor_profiles, values)

    def delete_profile(self, profile_id: str) -> bool:
        """False when a flavor still uses it (the foreign key says so too)."""
        t, f = schema.flavor_profiles, schema.flavors
        with self.engine.begin() as db:
            used = db.execute(
                sa.select(sa.func.count()).where(f.c.flavor_profile_id == profile_id)
            ).scalar_one()
            if used:
                return False
            db.execute(t.delete().where(t.c.id == profile_id))
        return True

    def flavors(self) -> list[dict[str, Any]]:
        return self._all(schema.flavors)

    def flavor(self, flavor_id: str) -> dict[str, Any] | None:
        return self._get(schema.flavors, flavor_id)

    def put_flavor(self, values: dict[str, Any]) -> None:
        self._put(schema.flavors, values)

    def delete_flavor(self, flavor_id: str) -> None:
        t = schema.flavors
        with self.engine.begin() as db:
            db.execute(t.delete().where(t.c.id == flavor_id))

    # --- one table's rows by id ------------------------------------------------------

    def _all(self, t: sa.Table) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            return [dict(r) for r in db.execute(sa.select(t).order_by(t.c.id)).mappings()]

    def _get(self, t: sa.Table, row_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = db.execute(sa.select(t).where(t.c.id == row_id)).mappings().first()
        return None if row is None else dict(row)

    def _put(self, t: sa.Table, values: dict[str, Any]) -> None:
        with self.engine.begin() as db:
            if db.execute(t.update().where(t.c.id == values["id"]).values(**values)).rowcount:
                return
            db.execute(t.insert().values(**values))
