"""Who is asking: tokens the operator configured, each mapped to a project and a role.

The tokens file (YAML)::

    tokens:
      - token: "a long random secret"      # or sha256: <hex digest of the token>
        project_id: demo
        role: member                        # admin | member | reader | global_reader

``admin`` sees and changes every project's objects; ``member`` its own project's;
``reader`` only reads its own; ``global_reader`` reads every project's and changes
nothing. With ``--noauth`` every request is an admin of project ``noauth_project``.
Tokens are compared by their SHA-256 digest in constant time and are never logged.

With ``--keystone-url`` (netnode.api.keystone) a Keystone token's roles become a
Context through ``from_roles``: the one place where role names meet permissions.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydantic
import yaml

from netnode.errors import Problem, TopologyError

Role = Literal["admin", "member", "reader", "global_reader"]

# Keystone role names -> netnode's, as Octavia's default policy reads them
# (octavia/policies/base.py; Keystone's own admin/member/reader as its "Keystone default
# roles" do). The first role of this order that a token holds wins.
ROLES: tuple[tuple[str, Role], ...] = (
    ("load-balancer_admin", "admin"),
    ("admin", "admin"),
    ("load-balancer_member", "member"),
    ("member", "member"),
    ("load-balancer_global_observer", "global_reader"),
    ("load-balancer_observer", "reader"),
    ("reader", "reader"),
)
QUOTA_ADMIN_ROLE = "load-balancer_quota_admin"


@dataclass(frozen=True)
class Context:
    project_id: str
    role: Role
    quota_admin: bool = False  # may read and change every project's quotas

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_all(self) -> bool:
        """Reads every project's objects (admin, global reader)."""
        return self.role in ("admin", "global_reader")

    @property
    def writes(self) -> bool:
        return self.role in ("admin", "member")

    @property
    def sets_quotas(self) -> bool:
        return self.is_admin or self.quota_admin

    def may_see(self, project_id: str | None, shared: bool = False) -> bool:
        return self.sees_all or shared or project_id == self.project_id

    def may_see_quota(self, project_id: str) -> bool:
        return self.sets_quotas or self.may_see(project_id)


def from_roles(project_id: str, roles: Iterable[str]) -> Context | None:
    """The Context of a token of ``project_id`` holding ``roles`` (Keystone's names);
    None when none of them gives access to netnode."""
    held = set(roles)
    quota_admin = QUOTA_ADMIN_ROLE in held
    for name, role in ROLES:
        if name in held:
            return Context(project_id, role, quota_admin)
    # Octavia: a quota admin alone may read and set quotas, and nothing else; netnode's
    # nearest is a reader of its own project.
    return Context(project_id, "reader", True) if quota_admin else None


class _Token(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    token: str | None = pydantic.Field(default=None, min_length=16)
    sha256: str | None = pydantic.Field(default=None, pattern=r"^[0-9a-f]{64}$")
    project_id: str = pydantic.Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    role: Role = "member"


class _TokensFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    tokens: list[_Token]


class Tokens:
    def __init__(self, entries: list[tuple[bytes, Context]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> Tokens:
        try:
            data = yaml.safe_load(path.read_text())
            parsed = _TokensFile.model_validate(data)
        except OSError as exc:
            raise TopologyError([Problem("", f"cannot read: {exc.strerror}")], str(path)) from exc
        except yaml.YAMLError as exc:
            raise TopologyError([Problem("", "not valid YAML")], str(path)) from exc
        except pydantic.ValidationError as exc:
            problems = [Problem(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            raise TopologyError(problems, str(path)) from exc
        entries = []
        for i, t in enumerate(parsed.tokens):
            if (t.token is None) == (t.sha256 is None):
                raise TopologyError([Problem(f"tokens[{i}]", "give token or sha256")], str(path))
            digest = bytes.fromhex(t.sha256) if t.sha256 else _digest(t.token or "")
            entries.append((digest, Context(t.project_id, t.role)))
        return cls(entries)

    def context(self, token: str | None) -> Context | None:
        if not token:
            return None
        digest = _digest(token)
        found = None
        for known, context in self._entries:
            if hmac.compare_digest(known, digest):
                found = context
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
