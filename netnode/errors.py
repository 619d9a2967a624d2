"""The errors netnode raises, as a small tree.

    NetnodeError
    ├── TopologyError      the description is wrong; nothing was changed (exit 2)
    └── HostError          the host refused or failed an operation (exit 1)
        ├── Refused        the host will not take this desired state (a permanent error)
        ├── MissingTool    a program netnode needs is not installed
        └── StoreUnavailable  the store (SQLite, PostgreSQL) cannot be reached or is locked

A HostError is *temporary* unless it is ``Refused``: the reconcile loop retries it with
back-off. A ``Refused`` one (HAProxy rejecting a configuration, say) is reported as
the object's ERROR with its reason, and tried again only when the desired state changes.

A TopologyError carries ``Problem``s, each with a code: ``invalid`` (the description
is wrong) or ``conflict`` (it collides with something the topology already holds). The
API answers 409 when any problem is a conflict and 400 otherwise, from the code, never
from a message's words.

Every message says what went wrong and, where there is one, what to do about it.
"""

from __future__ import annotations

# Start-up: every command imports this module (the CLI's parser catches these errors), so
# it imports nothing: dataclasses would bring inspect, ast and dis (~10 ms of
# `netnode --help`), typing ~3 ms. TYPE_CHECKING = False reads as typing's to mypy.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal


class NetnodeError(Exception):
    """Base of every error netnode raises on purpose."""

    exit_code = 1


# What kind of wrong a Problem is, for those that answer it (the API: 400 or 409).
# invalid:  the description itself is wrong (a bad value, a missing field, an unknown name).
# conflict: it collides with something the topology already holds (a name, an address,
#           a port, a VLAN tag, a bridge taken twice).
if TYPE_CHECKING:
    ProblemCode = Literal["invalid", "conflict"]
INVALID: ProblemCode = "invalid"
CONFLICT: ProblemCode = "conflict"


class Problem:
    """One thing wrong with a topology: where (a field path), what, and its code.

    Immutable and compared by value, as a frozen dataclass (written out: see the top)."""

    __slots__ = ("code", "message", "path")
    path: str
    message: str
    code: ProblemCode

    def __init__(self, path: str, message: str, code: ProblemCode = INVALID) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "code", code)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a Problem is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a Problem is immutable")

    def _fields(self) -> tuple[str, str, str]:
        return (self.path, self.message, self.code)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Problem) and other.__class__ is self.__class__:
            return self._fields() == other._fields()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> tuple[type[Problem], tuple[str, str, str]]:
        return (self.__class__, self._fields())  # copy and pickle, past __setattr__

    def __repr__(self) -> str:
        return f"Problem(path={self.path!r}, message={self.message!r}, code={self.code!r})"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class TopologyError(NetnodeError):
    """The topology does not validate. Carries every problem found, each with its field path."""

    exit_code = 2

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{where}invalid topology ({len(problems)} problem(s)):\n{lines}")


class HostError(NetnodeError):
    """An operation on the host failed: a command, a netlink call, a process."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.hint = hint
        super().__init__(f"{message}\n  hint: {hint}" if hint else message)


class Refused(HostError):
    """The host refused the desired state itself: retrying the same state cannot help."""


class MissingTool(HostError):
    """A program netnode runs is not installed."""

    def __init__(self, program: str, package: str) -> None:
        super().__init__(
            f"{program} is not installed",
            hint=f"install it with 'apt-get install {package}' (or run 'make demo', which does)",
        )


class StoreUnavailable(HostError):
    """The store did not answer: PostgreSQL down or restarting, the connection lost, a
    SQLite file locked past its timeout. Temporary: the agent backs off and tries again
    (SQLAlchemy's pool reconnects), the API answers 503."""
