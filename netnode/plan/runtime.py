"""Member changes that HAProxy takes over its runtime API, without a reload (pure).

``server_changes(old, new)`` compares two haproxy.cfg texts that netnode rendered
(``netnode.render.haproxy``: sections start at column 0, their lines are indented, a
backend's members are ``server <id> <address>:<port> weight <w> [<options>] [disabled]``
lines). When the two differ only in members (added, removed, re-weighted, disabled or
enabled), it returns the runtime changes that turn the running process into one
started from ``new``; anything else, or anything the runtime API cannot do, gives
None: reload.

What HAProxy 2.6 allows, and so what this module lets through:

- ``add server`` only on a backend with a dynamic algorithm (roundrobin, leastconn,
  first, random, or consistent hashing); a disabled backend refuses it too (it
  answers "Backend must use a dynamic load balancing");
- a member's address or port cannot change in place, nor its check options: reload;
- ``add server`` refuses some server keywords ("'cookie' option is not accepted for
  dynamic server"): a new member whose line has one (``RUNTIME_REFUSED``, the
  HTTP_COOKIE persistence's ``cookie <id>``) is added by a reload. ``backup``,
  ``send-proxy``, ``send-proxy-v2``, ``addr`` and ``port`` are accepted;
- ``del server`` needs the server in maintenance and without connections, so a
  removal drains first (the driver does the waiting);
- a dynamic server's TLS files (``ca-file``, ``crl-file``, ``crt``) must be loaded
  already: an added member whose files no server of the running config names yet (a
  TLS pool's first member, a changed certificate) needs a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DYNAMIC_BALANCE = frozenset({"roundrobin", "leastconn", "first", "random"})
# Server options naming a file that HAProxy loads once, when it reads its config.
FILE_OPTIONS = frozenset({"ca-file", "crl-file", "crt"})
# Server keywords HAProxy 2.6 does not take in "add server".
RUNTIME_REFUSED = frozenset({"cookie"})


# --- the changes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AddServer:
    backend: str
    server: str
    address: str
    port: int
    weight: int
    # The rest of the server line, in order (check inter 5s fall 3 observe ...).
    args: tuple[str, ...]
    enabled: bool

    @property
    def checks(self) -> bool:
        return "check" in self.args

    def commands(self) -> tuple[str, ...]:
        """A dynamic server starts in maintenance with its checks off. Added as
        ``disabled`` when it is, so that its admin state is the one a start from the
        config file gives (which the server-state file relies on across reloads)."""
        target = f"{self.backend}/{self.server}"
        words = [f"{self.address}:{self.port}", "weight", str(self.weight), *self.args]
        if not self.enabled:
            words.append("disabled")
        commands = [f"add server {target} {' '.join(words)}"]
        if self.checks:
            commands.append(f"enable health {target}")
        if self.enabled:
            commands.append(f"set server {target} state ready")
        return tuple(commands)


@dataclass(frozen=True)
class RemoveServer:
    backend: str
    server: str

    def commands(self) -> tuple[str, ...]:
        """Drain (no new connection), wait for the current ones to end, then remove."""
        target = f"{self.backend}/{self.server}"
        return (
            f"set server {target} state drain",
            f"set server {target} state maint",
            f"shutdown sessions server {target}",
            f"del server {target}",
        )


@dataclass(frozen=True)
class SetWeight:
    backend: str
    server: str
    weight: int

    def commands(self) -> tuple[str, ...]:
        return (f"set server {self.backend}/{self.server} weight {self.weight}",)


@dataclass(frozen=True)
class SetState:
    backend: str
    server: str
    state: Literal["ready", "maint"]

    def commands(self) -> tuple[str, ...]:
        return (f"set server {self.backend}/{self.server} state {self.state}",)


ServerChange = AddServer | RemoveServer | SetWeight | SetState


# --- the config ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int
    weight: int
    enabled: bool
    args: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    header: str
    # Every line but the servers', in order, unindented.
    lines: tuple[str, ...]
    servers: tuple[Server, ...] = ()

    @property
    def backend(self) -> str | None:
        kind, _, name = self.header.partition(" ")
        return name if kind == "backend" and name else None

    @property
    def dynamic(self) -> bool:
        """Whether HAProxy accepts ``add server`` here: a dynamic algorithm, an enabled
        backend."""
        if "disabled" in self.lines:
            return False
        balance = [line.split()[1:2] for line in self.lines if line.startswith("balance ")]
        algorithm = balance[-1][0] if balance and balance[-1] else "roundrobin"
        return algorithm in DYNAMIC_BALANCE or "hash-type consistent" in self.lines


def parse_config(text: str) -> list[Section] | None:
    """The sections of a config netnode rendered; None if it is not shaped like one
    (a server line it cannot read, a server named twice in a backend)."""
    sections: list[Section] = []
    header: str | None = None
    lines: list[str] = []
    servers: list[Server] = []

    def close() -> bool:
        if header is None:
            return not lines and not servers
        if len({s.name for s in servers}) != len(servers):
            return False
        sections.append(Section(header, tuple(lines), tuple(servers)))
        return True

    for raw in text.splitlines():
        if not raw.strip():
            continue
        if not raw[0].isspace():
            if not close():
                return None
            header, lines, servers = raw.strip(), [], []
            continue
        line = raw.strip()
        if header is not None and header.startswith("backend ") and line.startswith("server "):
            server = _server(line)
            if server is None:
                return None
            servers.append(server)
        else:
            lines.append(line)
    if not close():
        return None
    return sections


def _server(line: str) -> Server | None:
    words = line.split()
    if len(words) < 3:
        return None
    name, target, rest = words[1], words[2], words[3:]
    address, sep, port = target.rpartition(":")
    if not sep or not address or not port.isdigit():
        return None
    weight = 1  # HAProxy's default
    enabled = True
    args: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "weight":
            if i + 1 >= len(rest) or not rest[i + 1].isdigit():
                return None
            weight = int(rest[i + 1])
            i += 2
            continue
        if word == "disabled":
            enabled = False
        else:
            args.append(word)
        i += 1
    return Server(name, address, int(port), weight, enabled, tuple(args))


# --- the comparison ------------------------------------------------------------------------


def server_changes(old_cfg: str, new_cfg: str) -> tuple[ServerChange, ...] | None:
    """The runtime changes that take a process running ``old_cfg`` to ``new_cfg``, or
    None when only a reload can (see the module's docstring). Adds come first and
    removals last, so a pool whose members are replaced is never left empty."""
    old, new = parse_config(old_cfg), parse_config(new_cfg)
    if old is None or new is None or len(old) != len(new):
        return None
    adds: list[ServerChange] = []
    updates: list[ServerChange] = []
    removals: list[ServerChange] = []
    loaded = {f for section in old for server in section.servers for f in _files(server.args)}
    for before, after in zip(old, new, strict=True):
        if before.header != after.header or before.lines != after.lines:
            return None
        backend = after.backend
        if backend is None:
            if before.servers or after.servers:
                return None
            continue
        was = {s.name: s for s in before.servers}
        now = {s.name: s for s in after.servers}
        changed = False
        for server in after.servers:
            previous = was.get(server.name)
            if previous is None:
                if RUNTIME_REFUSED.intersection(server.args) or not _files(server.args) <= loaded:
                    return None
                adds.append(
                    AddServer(
                        backend,
                        server.name,
                        server.address,
                        server.port,
                        server.weight,
                        server.args,
                        server.enabled,
                    )
                )
                changed = True
                continue
            if (previous.address, previous.port, previous.args) != (
                server.address,
                server.port,
                server.args,
            ):
                return None
            if previous.weight != server.weight:
                updates.append(SetWeight(backend, server.name, server.weight))
                changed = True
            if previous.enabled != server.enabled:
                updates.append(
                    SetState(backend, server.name, "ready" if server.enabled else "maint")
                )
                changed = True
        for server in before.servers:
            if server.name not in now:
                removals.append(RemoveServer(backend, server.name))
                changed = True
        if changed and not after.dynamic:
            return None
    return (*adds, *updates, *removals)


def _files(args: tuple[str, ...]) -> set[str]:
    """The files a server line's options name."""
    return {args[i + 1] for i, word in enumerate(args[:-1]) if word in FILE_OPTIONS}


def commands(changes: tuple[ServerChange, ...]) -> list[str]:
    """Every runtime command of ``changes``, in order (for ``netnode plan``)."""
    return [command for change in changes for command in change.commands()]
