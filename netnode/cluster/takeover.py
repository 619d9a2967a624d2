"""The roles of an HA pair follow VRRP: a pure decision from the placements and what
this node's keepalived last said.

The placement roles MASTER and BACKUP are VRRP priorities (100 and 90), and VRRP runs
with ``nopreempt``: whoever took the VIP keeps it, whatever the priorities. But two
masters (a partition: each side hears no adverts) are resolved by priority alone. So
when the BACKUP's instance takes the VIP (its master's node cut off, its HAProxy dead),
the roles must follow, or the old master, at 100, takes the VIP back as soon as the two
hear each other again: a second, needless takeover.

The rule, per instance placed on this node:

- its keepalived says MASTER while its placement says BACKUP: it took over; the pair's
  roles swap (it becomes MASTER, the other BACKUP), and both nodes' keepalived are
  reloaded with the new priorities (a reload keeps the VRRP state: the master keeps the
  VIP);
- unless it became MASTER before its placement's role was last set: then the other
  instance took over since (the two of a partition are both masters; the one that took
  over last swapped the roles, and the other must not swap them back), and VRRP settles
  it when the two meet again: the one at 90 yields;
- an instance whose placement is MASTER does nothing, whatever its state.

Deciding again from the store's rows inside the swap's transaction makes the swap
conditional: a swap done meanwhile (by this node's last round) leaves nothing to do.
The survivor of a dead node becomes MASTER this way too (the scheduler leaves its role
alone: see ``scheduling.schedule``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netnode.cluster.scheduling import BACKUP, MASTER, Placement


@dataclass(frozen=True)
class VrrpState:
    """What an instance's keepalived last notified, and when (seconds since the epoch:
    its role file's mtime)."""

    state: str  # MASTER, BACKUP, FAULT, STOP
    since: float


@dataclass(frozen=True)
class Takeover:
    """An instance that took the VIP over from the other of its pair."""

    winner: Placement  # becomes MASTER
    losers: tuple[Placement, ...]  # the pair's MASTER, becomes BACKUP

    @property
    def roles(self) -> dict[str, str]:
        """The new roles, by placement id."""
        return {self.winner.id: MASTER, **{p.id: BACKUP for p in self.losers}}

    def __str__(self) -> str:
        kind = self.winner.kind[:-1].replace("_", " ")
        return (
            f"{kind} {self.winner.holder}: instance {self.winner.id} on node "
            f"{self.winner.node} took over as MASTER (VRRP); roles swapped"
        )


def takeovers(
    placements: Iterable[Placement], node: str, vrrp: Mapping[str, VrrpState]
) -> list[Takeover]:
    """The takeovers to record for the instances placed on ``node``. ``vrrp``: placement
    id -> its keepalived's last state on this node (missing: not running, or not said)."""
    current = list(placements)
    found = []
    for p in current:
        seen = vrrp.get(p.id)
        if p.node != node or p.role != BACKUP or seen is None or seen.state != MASTER:
            continue
        if p.changed is not None and seen.since <= p.changed:
            continue  # the other took over after this one did: VRRP settles it
        losers = tuple(
            q
            for q in current
            if (q.topology, q.holder) == (p.topology, p.holder)
            and q.id != p.id
            and q.role == MASTER
        )
        found.append(Takeover(p, losers))
    return found
