"""Who is asking: tokens the operator configured, each mapped to a project and a role.

The tokens file (YAML)::

    tokens:
      - token: "a long random secret"      # or sha256: <hex digest of the token>
        project_id: demo
        role: member                        # admin | member | reader

``admin`` sees and changes every project's objects; ``member`` its own project's;
``reader`` only reads its own. With ``--noauth`` every request is an admin of project
``noauth_project``. Tokens are compared by their SHA-256 digest in constant time and are
never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydantic
import yaml

from netnode.errors import Problem, TopologyError

Role = Literal["admin", "member", "reader"]


@dataclass(frozen=True)
class Context:
    project_id: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, project_id: str | None, shared: bool = False) -> bool:
        return self.is_admin or shared or project_id == self.project_id


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
