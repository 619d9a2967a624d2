"""The store's own keys (``netnode.store.desired``), on SQLite and PostgreSQL: what a
change decided on a state that is gone cannot do even when every row it read is
unchanged. Each test lands one change, then commits another that read none of the rows
the first wrote, as a request decided in parallel would: the store refuses it and
changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from netnode.store.desired import Change, Collision, DesiredStore
from netnode.store.rows import Row, gateways

TOPOLOGY = "t"
NETWORK = {
    "id": "n",
    "name": "n",
    "segmentation_id": 5,
    "subnets": [{"id": "s", "name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}],
}
EXTERNAL = {
    "id": "x",
    "name": "x",
    "external": True,
    "bridge": "br-x",
    "subnets": [{"id": "xs", "name": "xs", "cidr": "10.9.0.0/24", "gateway_ip": "10.9.0.1"}],
}


def lb(key: str, address: str, position: int) -> Row:
    body = {"id": key, "name": key, "vip": {"network": "n", "address": address}}
    return Row(key, "load_balancers", position, body, {})


def adding(*rows: Row) -> Change:
    return Change(writes={r.key: r for r in rows}, expected={r.key: None for r in rows})


@pytest.fixture
def store(engine: Engine) -> DesiredStore:
    desired = DesiredStore(engine, "test-node")
    document = {"name": TOPOLOGY, "networks": [NETWORK, EXTERNAL], "load_balancers": []}
    assert desired.replace(TOPOLOGY, document)
    return desired


def commit(store: DesiredStore, change: Change) -> int | None:
    return store.commit(TOPOLOGY, change, gateways([NETWORK, EXTERNAL]))


def unchanged(store: DesiredStore, before: tuple[Any, int]) -> None:
    document, generation = store.document(TOPOLOGY)
    assert document == before[0] and generation == before[1]


def test_two_changes_never_hold_one_address(store: DesiredStore) -> None:
    assert commit(store, adding(lb("one", "10.0.0.5", 1))) is not None
    before = store.document(TOPOLOGY)
    with pytest.raises(Collision, match=r"address 10\.0\.0\.5 on network n: one holds it"):
        commit(store, adding(lb("two", "10.0.0.5", 2)))
    unchanged(store, before)
    # Another address is free.
    assert commit(store, adding(lb("two", "10.0.0.6", 2))) is not None


def test_a_network_cannot_go_while_something_is_on_it(store: DesiredStore) -> None:
    assert commit(store, adding(lb("one", "10.0.0.5", 1))) is not None
    revision = store.snapshot(TOPOLOGY).rows["n"].revision
    before = store.document(TOPOLOGY)
    gone = Change(deletes={"n"}, expected={"n": revision})  # read the network alone
    with pytest.raises(Collision, match="one still uses network n"):
        commit(store, gone)
    unchanged(store, before)


def test_an_address_cannot_be_released_while_a_floating_ip_is_bound_to_it(
    store: DesiredStore,
) -> None:
    assert commit(store, adding(lb("one", "10.0.0.5", 1))) is not None
    fip = {
        "id": "f",
        "name": "f",
        "network": "x",
        "floating_ip_address": "10.9.0.50",
        "fixed_network": "n",
        "fixed_ip_address": "10.0.0.5",
    }
    assert commit(store, adding(Row("f", "floating_ips", 2, fip, {}))) is not None
    revision = store.snapshot(TOPOLOGY).rows["one"].revision
    before = store.document(TOPOLOGY)
    with pytest.raises(Collision, match=r"f is bound to 10\.0\.0\.5 on network n"):
        commit(store, Change(deletes={"one"}, expected={"one": revision}))
    unchanged(store, before)


def test_a_row_read_before_another_change_landed_is_not_written_over(
    store: DesiredStore,
) -> None:
    assert commit(store, adding(lb("one", "10.0.0.5", 1))) is not None
    read = store.snapshot(TOPOLOGY).rows["one"].revision
    renamed = lb("one", "10.0.0.5", 1)
    renamed.body["admin_state_up"] = False
    assert commit(store, Change(writes={"one": renamed}, expected={"one": read})) is not None
    before = store.document(TOPOLOGY)
    stale = lb("one", "10.0.0.5", 1)
    assert commit(store, Change(writes={"one": stale}, expected={"one": read})) is None
    unchanged(store, before)
