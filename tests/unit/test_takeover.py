"""netnode.cluster.takeover: the roles of an HA pair follow VRRP, once, and never swap
back by themselves; and netnode.cluster.scheduler.record_takeovers, which swaps them in
the store (SQLite here; the functional tests run it on PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from netnode.cluster import scheduler
from netnode.cluster.scheduling import Placement
from netnode.cluster.takeover import VrrpState, takeovers
from netnode.store import placements as rows
from netnode.store.database import engine_for

LB = "load_balancers"
# The pair's roles were last set at t=100.
A = Placement("amp-a", "svc", "lb1", LB, "a", "MASTER", 0, changed=100.0)
B = Placement("amp-b", "svc", "lb1", LB, "b", "BACKUP", 1, changed=100.0)


def master(since: float) -> VrrpState:
    return VrrpState("MASTER", since)


def test_a_backup_that_took_the_vip_over_becomes_master_and_its_master_backup() -> None:
    (found,) = takeovers([A, B], "b", {"amp-b": master(105.0)})
    assert found.winner == B and found.losers == (A,)
    assert found.roles == {"amp-b": "MASTER", "amp-a": "BACKUP"}
    assert str(found) == (
        "load balancer lb1: instance amp-b on node b took over as MASTER (VRRP); roles swapped"
    )


def test_a_master_placement_saying_master_does_nothing() -> None:
    assert takeovers([A, B], "a", {"amp-a": master(105.0)}) == []


def test_only_this_nodes_keepalived_counts() -> None:
    # Node a cannot know what b's keepalived says: a state given for b's instance is
    # not a's to act on.
    assert takeovers([A, B], "a", {"amp-b": master(105.0)}) == []


def test_a_backup_saying_backup_or_fault_or_nothing_does_nothing() -> None:
    assert takeovers([A, B], "b", {"amp-b": VrrpState("BACKUP", 105.0)}) == []
    assert takeovers([A, B], "b", {"amp-b": VrrpState("FAULT", 105.0)}) == []
    assert takeovers([A, B], "b", {}) == []


def test_both_masters_of_a_partition_swap_once_and_never_back() -> None:
    # Node a is cut off: both instances are MASTER, a's since long before, b's since
    # the cut (t=105). b swaps the roles (at t=106, the rows' new time).
    states = {"amp-a": master(50.0), "amp-b": master(105.0)}
    (swap,) = takeovers([A, B], "b", states)
    swapped = [replace(p, role=swap.roles[p.id], changed=106.0) for p in (A, B)]
    # a, MASTER since before it was made BACKUP, leaves it to VRRP (at 90 it yields
    # when the two meet); b, MASTER now, has nothing more to do. Nobody swaps back.
    assert takeovers(swapped, "a", states) == []
    assert takeovers(swapped, "b", states) == []


def test_a_demoted_master_that_takes_the_vip_again_later_swaps_again() -> None:
    # After the swap (t=106), b's HAProxy dies and a takes the VIP back (t=200): that
    # is a takeover of its own.
    swapped = [replace(A, role="BACKUP", changed=106.0), replace(B, role="MASTER", changed=106.0)]
    (found,) = takeovers(swapped, "a", {"amp-a": master(200.0)})
    assert found.roles == {"amp-a": "MASTER", "amp-b": "BACKUP"}


def test_a_backup_alone_that_is_master_is_made_master() -> None:
    # Its other half gone (dropped by the scheduler): promoted, nobody demoted.
    (found,) = takeovers([B], "b", {"amp-b": master(105.0)})
    assert found.roles == {"amp-b": "MASTER"}


def test_other_pairs_and_standalone_instances_are_left_alone() -> None:
    other = Placement("amp-c", "svc", "lb2", LB, "a", "MASTER", 0, changed=100.0)
    single = Placement("amp-s", "svc", "lb3", LB, "b")
    (found,) = takeovers([A, B, other, single], "b", {"amp-b": master(105.0), "amp-s": master(1)})
    assert found.roles == {"amp-b": "MASTER", "amp-a": "BACKUP"}


def test_the_store_swaps_a_pair_once(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        rows.write(conn, "c1", ({c: getattr(p, c) for c in rows.COLUMNS} for p in (A, B)), ())
    stored = {p.id: p for p in scheduler.placements(engine, "c1")}
    assert stored["amp-b"].changed is not None
    vrrp = {"amp-b": master(stored["amp-b"].changed + 1)}

    (found,) = scheduler.record_takeovers(engine, "c1", "b", vrrp)
    assert found.winner.id == "amp-b"
    after = {p.id: p for p in scheduler.placements(engine, "c1")}
    assert {i: p.role for i, p in after.items()} == {"amp-a": "BACKUP", "amp-b": "MASTER"}
    # Recorded again (a second round, a stale view), or by the other node whose
    # instance was MASTER before the swap: nothing changes.
    assert scheduler.record_takeovers(engine, "c1", "b", vrrp) == []
    assert scheduler.record_takeovers(engine, "c1", "a", {"amp-a": master(0.0)}) == []
    assert {p.id: p.role for p in scheduler.placements(engine, "c1")} == {
        "amp-a": "BACKUP",
        "amp-b": "MASTER",
    }
