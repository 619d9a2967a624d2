"""Which node each load balancer and router runs on: a pure decision from what is
desired, where things are placed, and which nodes can take work.

- An object with no placement goes to the least loaded node that takes new work (alive
  and set up by its operator); ties go to the node first by name, so the decision is
  the same whoever makes it.
- An object placed on a dead node is placed again elsewhere, as a new instance (a new
  amphora, in Octavia's words): the dead node's leftovers keep their names and never
  meet the new one's.
- An HA pair (an ACTIVE_STANDBY load balancer) has two instances on two nodes, MASTER
  (VRRP priority 100) and BACKUP (90); the one on a dead node is placed again, as
  BACKUP, on a node that does not hold the other, and the survivor, which holds the VIP
  now, is made MASTER if it was not: the VIP never moves back by itself.
- A node that comes back takes nothing back by itself: placements on live nodes never
  move, and nothing is rebalanced.
- A node set down by its operator keeps what it runs and takes nothing new.
- A placement whose object is no longer desired goes.
- An object with availability zones (Octavia's ``availability_zone``, Neutron's
  ``availability_zone_hints``) goes only to nodes of those zones, however loaded the
  others; none there able: it stays unplaced, and says why. An HA pair whose zones are
  two or more has its two instances in two zones when nodes there can take them (as
  Neutron's HA scheduler spreads a router), else on two nodes of one zone. Placements on
  live nodes stay where they are, in a zone or not (a node's zone changed, or hints
  given after the fact, move nothing).

Load is the number of placements a node holds, counting those decided in this pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from netnode.cluster.liveness import DEFAULT_ZONE

STANDALONE = "STANDALONE"
# The two instances of an HA pair: the first (VRRP priority 100) and the second (90).
# Which one holds the VIP at a time is VRRP's business (nopreempt: whoever took it
# keeps it), not the scheduler's.
MASTER, BACKUP = "MASTER", "BACKUP"


@dataclass(frozen=True)
class Wanted:
    """An object to place: its kind, how many instances (2: an HA pair), and the
    availability zones its instances may go to (empty: any)."""

    kind: str
    replicas: int = 1
    zones: tuple[str, ...] = ()

    @property
    def roles(self) -> tuple[str, ...]:
        return (MASTER, BACKUP) if self.replicas == 2 else (STANDALONE,)


@dataclass(frozen=True)
class Placement:
    id: str  # the instance's own id (an amphora's id)
    topology: str
    holder: str  # the load balancer's or router's id
    kind: str  # "load_balancers" or "routers"
    node: str
    role: str = STANDALONE
    # Which of the object's per-instance things it takes: an HA pair's VRRP addresses.
    slot: int = 0
    # When it was made or its role last set (its row's updated_at, seconds since the
    # epoch); None for one not read from the store. Not part of its identity: a
    # takeover that happened before it is older news (``cluster.takeover``).
    changed: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Candidate:
    name: str
    alive: bool
    admin_state_up: bool = True
    zone: str = DEFAULT_ZONE

    @property
    def takes_work(self) -> bool:
        return self.alive and self.admin_state_up


@dataclass
class Decisions:
    add: list[Placement] = field(default_factory=list)
    drop: list[Placement] = field(default_factory=list)
    # Placements given another role (the survivor of a pair made MASTER), as they become.
    # Objects no node can take now (none alive and up), by (topology, holder).
    unplaced: list[tuple[str, str]] = field(default_factory=list)
    # Why, in words, for those that name availability zones (topology, holder) -> why.
    why: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.add or self.drop)


def schedule(
    desired: Mapping[tuple[str, str], Wanted],
    placements: Iterable[Placement],
    nodes: Iterable[Candidate],
    new_id: Callable[[], str],
) -> Decisions:
    """``desired``: (topology, holder id) -> what to place, for every object to place.
    The two instances of an HA pair go to two different nodes; when one dies, its role
    is placed again on a node that does not hold the other."""
    by_name = {n.name: n for n in nodes}
    decisions = Decisions()
    load: Counter[str] = Counter()
    placed: dict[tuple[str, str], list[Placement]] = {}
    for p in placements:
        wanted = desired.get((p.topology, p.holder))
        if wanted is None or p.role not in wanted.roles:
            decisions.drop.append(p)
            continue
        placed.setdefault((p.topology, p.holder), []).append(p)
        load[p.node] += 1

    def least_loaded(exclude: set[str], wanted: Wanted, spread: set[str]) -> str | None:
        """The least loaded able node of ``wanted``'s zones outside ``exclude``; one of
        a zone not in ``spread`` first, when the object names several zones."""
        able = [
            n
            for n in by_name.values()
            if n.takes_work
            and n.name not in exclude
            and (not wanted.zones or n.zone in wanted.zones)
        ]
        if len(wanted.zones) > 1:
            able = [n for n in able if n.zone not in spread] or able
        if not able:
            return None
        return min(able, key=lambda n: (load[n.name], n.name)).name

    for key in sorted(desired):
        topology, holder = key
        wanted = desired[key]
        current = placed.get(key, [])
        living = [p for p in current if _alive(by_name.get(p.node))][: wanted.replicas]
        for p in current:
            if p not in living:
                decisions.drop.append(p)
                load[p.node] -= 1
        taken = {p.node for p in current}
        have = {p.role for p in living}
        if wanted.replicas == 2 and len(living) == 1:
            # The survivor of a pair holds the VIP, or is about to: the missing half
            # comes back as the BACKUP. The survivor's own role becomes MASTER when its
            # keepalived says it took over (cluster.takeover: the roles follow VRRP),
            # not here: re-rendering its priority now would reload its keepalived while
            # it waits out the master-down interval, which restarts that wait (measured:
            # the takeover came 0.1-0.2 s later, and a request failed after it).
            have = {MASTER}
        free_slots = [s for s in range(wanted.replicas) if s not in {p.slot for p in living}]
        # The zones the object's instances are in, which its next one avoids if it can.
        spread = {by_name[p.node].zone for p in living}
        for role in wanted.roles:
            if role in have:
                continue
            node = least_loaded(taken, wanted, spread)
            if node is None:
                decisions.unplaced.append(key)
                if wanted.zones:
                    decisions.why[key] = _why(wanted, by_name.values())
                continue
            slot = free_slots.pop(0)
            decisions.add.append(
                Placement(new_id(), topology, holder, wanted.kind, node, role, slot)
            )
            load[node] += 1
            taken.add(node)
            spread.add(by_name[node].zone)
    return decisions


def _why(wanted: Wanted, nodes: Iterable[Candidate]) -> str:
    """Why no node of ``wanted``'s zones can take an instance, in an operator's words."""
    named = ", ".join(wanted.zones)
    zone = f"availability zone{'s' if len(wanted.zones) > 1 else ''} {named}"
    there = [n for n in nodes if n.zone in wanted.zones]
    if not there:
        return f"no node is in {zone}"
    able = [n for n in there if n.takes_work]
    if not able:
        return f"no node of {zone} is alive and up"
    # Every able node of the zones holds an instance already: a pair needs two.
    return f"{zone} has no other node alive and up for the pair's other instance"


def _alive(node: Candidate | None) -> bool:
    # A node that is not in the store at all (its row deleted) is as good as dead.
    return node is not None and node.alive
