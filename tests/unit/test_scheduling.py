"""netnode.cluster.scheduling: where load balancers and routers go, and where they go
when their node dies."""

from __future__ import annotations

import itertools

from netnode.cluster.scheduler import describe
from netnode.cluster.scheduling import BACKUP, MASTER, Candidate, Placement, Wanted, schedule

LB = "load_balancers"
W = Wanted(LB)
HA = Wanted(LB, replicas=2)


def ids() -> itertools.count:
    return itertools.count(1)


def run(desired, placements, nodes):  # type: ignore[no-untyped-def]
    counter = ids()
    return schedule(desired, placements, nodes, lambda: f"amp-{next(counter)}")


def up(*names: str) -> list[Candidate]:
    return [Candidate(n, alive=True) for n in names]


def test_new_objects_go_to_the_least_loaded_node_ties_by_name() -> None:
    held = [Placement("p1", "api", "lb0", LB, "a")]
    desired = {
        ("api", "lb0"): W,
        ("api", "lb1"): W,
        ("api", "lb2"): W,
        ("api", "r1"): Wanted("routers"),
    }
    d = run(desired, held, up("a", "b", "c"))
    assert [(p.holder, p.node) for p in d.add] == [("lb1", "b"), ("lb2", "c"), ("r1", "a")]
    assert d.drop == [] and d.unplaced == []
    assert [p.id for p in d.add] == ["amp-1", "amp-2", "amp-3"]
    assert d.add[2].kind == "routers"


def test_what_is_placed_on_live_nodes_stays() -> None:
    held = [Placement("p1", "api", "lb1", LB, "a"), Placement("p2", "api", "lb2", LB, "a")]
    d = run({("api", "lb1"): W, ("api", "lb2"): W}, held, up("a", "b"))
    assert d.empty


def test_objects_of_a_dead_node_get_new_instances_on_live_ones() -> None:
    held = [
        Placement("p1", "api", "lb1", LB, "a"),
        Placement("p2", "api", "lb2", LB, "a"),
        Placement("p3", "api", "lb3", LB, "b"),
    ]
    nodes = [Candidate("a", alive=False), *up("b", "c")]
    d = run({("api", "lb1"): W, ("api", "lb2"): W, ("api", "lb3"): W}, held, nodes)
    assert sorted(p.id for p in d.drop) == ["p1", "p2"]
    assert [(p.holder, p.node, p.id) for p in d.add] == [
        ("lb1", "c", "amp-1"),
        ("lb2", "b", "amp-2"),
    ]


def test_a_node_that_comes_back_takes_nothing_back() -> None:
    # lb1 moved from a to b while a was dead; a is alive again.
    held = [Placement("p9", "api", "lb1", LB, "b")]
    assert run({("api", "lb1"): W}, held, up("a", "b")).empty


def test_a_node_set_down_keeps_its_objects_and_takes_no_new_one() -> None:
    held = [Placement("p1", "api", "lb1", LB, "a")]
    nodes = [Candidate("a", alive=True, admin_state_up=False), Candidate("b", alive=True)]
    d = run({("api", "lb1"): W, ("api", "lb2"): W}, held, nodes)
    assert d.drop == []
    assert [(p.holder, p.node) for p in d.add] == [("lb2", "b")]


def test_nothing_can_take_work_leaves_objects_unplaced_and_keeps_dead_placements_off() -> None:
    held = [Placement("p1", "api", "lb1", LB, "a")]
    nodes = [Candidate("a", alive=False), Candidate("b", alive=True, admin_state_up=False)]
    d = run({("api", "lb1"): W, ("api", "lb2"): W}, held, nodes)
    assert [p.id for p in d.drop] == ["p1"]
    assert d.add == []
    assert d.unplaced == [("api", "lb1"), ("api", "lb2")]


def test_a_placement_whose_object_is_gone_is_dropped_and_one_of_a_deleted_node_moves() -> None:
    held = [Placement("p1", "api", "gone", LB, "a"), Placement("p2", "api", "lb1", LB, "x")]
    d = run({("api", "lb1"): W}, held, up("a"))
    assert sorted(p.id for p in d.drop) == ["p1", "p2"]
    assert [(p.holder, p.node) for p in d.add] == [("lb1", "a")]


def test_an_ha_pair_goes_to_two_nodes() -> None:
    d = run({("api", "ha"): HA}, [], up("a", "b", "c"))
    assert [(p.node, p.role, p.slot) for p in d.add] == [("a", "MASTER", 0), ("b", "BACKUP", 1)]


def test_the_dead_half_of_a_pair_is_placed_where_the_other_is_not_as_the_backup() -> None:
    held = [
        Placement("p1", "api", "ha", LB, "a", "MASTER", 0),
        Placement("p2", "api", "ha", LB, "b", "BACKUP", 1),
    ]
    nodes = [Candidate("a", alive=False), *up("b", "c")]
    d = run({("api", "ha"): HA}, held, nodes)
    assert [p.id for p in d.drop] == ["p1"]
    # The new instance goes to c, not b, as BACKUP, with the address slot the dead one
    # had. The survivor's role is left as it is: it becomes MASTER when its keepalived
    # says it took over (cluster.takeover), so that its keepalived is not reloaded
    # while it waits to take over.
    assert [(p.node, p.role, p.slot) for p in d.add] == [("c", "BACKUP", 0)]


def test_a_pair_whose_backup_died_keeps_its_master_as_it_is() -> None:
    held = [
        Placement("p1", "api", "ha", LB, "a", "MASTER", 0),
        Placement("p2", "api", "ha", LB, "b", "BACKUP", 1),
    ]
    d = run({("api", "ha"): HA}, held, [*up("a"), Candidate("b", alive=False), *up("c")])
    assert [p.id for p in d.drop] == ["p2"]
    assert [(p.node, p.role, p.slot) for p in d.add] == [("c", "BACKUP", 1)]


def test_a_pair_with_one_node_left_keeps_its_survivor_and_waits_for_a_second() -> None:
    held = [
        Placement("p1", "api", "ha", LB, "a", "MASTER", 0),
        Placement("p2", "api", "ha", LB, "b", "BACKUP", 1),
    ]
    d = run({("api", "ha"): HA}, held, [Candidate("a", alive=False), *up("b")])
    assert [p.id for p in d.drop] == ["p1"]
    assert d.add == [] and d.unplaced == [("api", "ha")]
    # The next pass, the survivor alone (BACKUP or MASTER), changes nothing again.
    for role in ("BACKUP", "MASTER"):
        alone = Placement("p2", "api", "ha", LB, "b", role, 1)
        again = run({("api", "ha"): HA}, [alone], [*up("b")])
        assert again.drop == [] and again.add == [] and again.unplaced == [("api", "ha")]


def test_a_single_load_balancer_made_a_pair_gets_its_two_roles() -> None:
    held = [Placement("p1", "api", "lb", LB, "a")]  # STANDALONE
    d = run({("api", "lb"): HA}, held, up("a", "b"))
    assert [p.id for p in d.drop] == ["p1"]
    assert sorted((p.node, p.role) for p in d.add) == [("a", "MASTER"), ("b", "BACKUP")]


# --- availability zones -------------------------------------------------------------------


def zoned(**zones: str) -> list[Candidate]:
    """Live nodes by name, each in the zone given."""
    return [Candidate(n, alive=True, zone=z) for n, z in zones.items()]


def test_an_object_with_a_zone_goes_only_to_a_node_of_that_zone() -> None:
    desired = {("api", "lb1"): Wanted(LB, zones=("az2",)), ("api", "lb2"): W}
    d = run(desired, [], zoned(a="az1", b="az2", c="az1"))
    assert [(p.holder, p.node) for p in d.add] == [("lb1", "b"), ("lb2", "a")]
    assert d.unplaced == [] and d.why == {}


def test_a_node_of_another_zone_is_never_chosen_even_when_least_loaded() -> None:
    # b (az2) holds three; a (az1) holds none: the az2 object still goes to b.
    held = [Placement(f"p{i}", "api", f"x{i}", LB, "b") for i in range(3)]
    desired = {("api", f"x{i}"): W for i in range(3)}
    desired[("api", "lb1")] = Wanted(LB, zones=("az2",))
    d = run(desired, held, zoned(a="az1", b="az2"))
    assert [(p.holder, p.node) for p in d.add] == [("lb1", "b")]


def test_an_object_whose_zone_has_no_able_node_stays_unplaced_and_says_why() -> None:
    nodes = [
        Candidate("a", alive=True, zone="az1"),
        Candidate("b", alive=False, zone="az2"),
        Candidate("c", alive=True, admin_state_up=False, zone="az2"),
    ]
    desired = {
        ("api", "lb1"): Wanted(LB, zones=("az2",)),
        ("api", "lb2"): Wanted(LB, zones=("az9",)),
    }
    d = run(desired, [], nodes)
    assert d.add == []
    assert d.unplaced == [("api", "lb1"), ("api", "lb2")]
    assert d.why[("api", "lb1")] == "no node of availability zone az2 is alive and up"
    assert d.why[("api", "lb2")] == "no node is in availability zone az9"
    lines = describe(d)
    assert (
        "no node can take lb1 of api now: no node of availability zone az2 is alive and up" in lines
    )


def test_a_pair_in_one_zone_takes_two_nodes_of_it_or_stays_half_placed() -> None:
    nodes = zoned(a="az1", b="az2", c="az2")
    d = run({("api", "ha"): Wanted(LB, 2, ("az2",))}, [], nodes)
    assert sorted(p.node for p in d.add) == ["b", "c"]
    # Only one node in its zone: one instance, the other unplaced, with why.
    d = run({("api", "ha"): Wanted(LB, 2, ("az1",))}, [], nodes)
    assert [p.node for p in d.add] == ["a"] and d.unplaced == [("api", "ha")]
    assert "no other node" in d.why[("api", "ha")]


def test_a_pair_whose_hints_name_two_zones_spreads_one_instance_per_zone() -> None:
    # a and b (az1) are the least loaded; the pair still takes one node of each zone.
    held = [Placement("p1", "api", "x", LB, "c"), Placement("p2", "api", "y", LB, "d")]
    desired = {
        ("api", "x"): W,
        ("api", "y"): W,
        ("api", "r"): Wanted("routers", 2, ("az1", "az2")),
    }
    d = run(desired, held, zoned(a="az1", b="az1", c="az2", d="az2"))
    placed = {p.role: p.node for p in d.add}
    assert placed == {"MASTER": "a", "BACKUP": "c"}


def test_a_spread_pairs_lost_half_goes_back_to_the_other_zone_when_it_can() -> None:
    held = [
        Placement("p1", "api", "r", "routers", "a", MASTER, 0),
        Placement("p2", "api", "r", "routers", "c", BACKUP, 1),
    ]
    nodes = [*zoned(a="az1", b="az1"), Candidate("c", alive=False, zone="az2"), *zoned(d="az2")]
    d = run({("api", "r"): Wanted("routers", 2, ("az1", "az2"))}, held, nodes)
    assert [(p.node, p.role) for p in d.add] == [("d", BACKUP)]
    # With no other node of az2 alive, the other node of az1 takes it.
    nodes = [*zoned(a="az1", b="az1"), Candidate("c", alive=False, zone="az2")]
    d = run({("api", "r"): Wanted("routers", 2, ("az1", "az2"))}, held, nodes)
    assert [(p.node, p.role) for p in d.add] == [("b", BACKUP)]
