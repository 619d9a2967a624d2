"""docs/compatibility.md's table of request attributes is what the API's own OpenAPI
document says it takes (scripts/compatibility.py generates it), and the versions it
names are the ones served."""

from __future__ import annotations

from scripts import compatibility


def test_the_attribute_table_is_current() -> None:
    page = compatibility.PAGE.read_text()
    assert compatibility.page_section(page) == compatibility.section(), (
        "docs/compatibility.md is out of date: run "
        ".venv/bin/python scripts/compatibility.py --write"
    )


def test_refused_and_taken_are_told_apart() -> None:
    found = {(r, a): w for r, a, w in compatibility.rows(compatibility.openapi())}
    assert found[("POST /v2.0/routers", "router.distributed")].startswith("refused")
    assert found[("POST /v2/lbaas/loadbalancers", "loadbalancer.vip_subnet_id")] == "taken"
    protocol = found[("POST /v2/lbaas/listeners", "listener.protocol")]
    assert protocol.startswith("taken: ") and "`TERMINATED_HTTPS`" in protocol
