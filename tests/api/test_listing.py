"""Listings as Octavia and Neutron define them (netnode/api/listing.py): pages walked by
marker both ways, sorting, fields, filters on every attribute and on tags, the answers
to a bad query; and operating statuses read from the status cache, never from HAProxy
by a listing."""

from __future__ import annotations

from typing import Any

import pytest

from netnode.api.listing import MAX_LIMIT
from tests.api.conftest import Api

LBS = "/v2/lbaas/loadbalancers"


def walk(
    api: Api, path: str, key: str, rel: str, who: str = "admin", **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page from the first one, following the ``rel`` links ("next" forward,
    "previous" from a page_reverse start); the pages in the order read."""
    pages = []
    r = api.get(path, who, params=params)
    for _ in range(100):
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body[key])
        links = {link["rel"]: link["href"] for link in body.get(f"{key}_links", [])}
        if rel not in links:
            return pages
        r = api.get(links[rel], who)
    raise AssertionError(f"more than 100 pages of {path}")


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [x["id"] for x in items]


def default_order(items: list[dict[str, Any]]) -> list[str]:
    return ids(sorted(items, key=lambda x: (x["created_at"], x["id"])))


def test_marker_walk_of_load_balancers_both_ways(api: Api) -> None:
    made = [api.loadbalancer(name=f"lb{n}") for n in range(7)]
    everything = api.get(LBS).json()
    assert everything["loadbalancers_links"] == []  # one page: no link, but the key
    order = default_order(everything["loadbalancers"])
    assert sorted(order) == sorted(ids(made))

    forward = walk(api, LBS, "loadbalancers", "next", limit=2)
    assert [len(p) for p in forward] == [2, 2, 2, 1]
    assert [i for p in forward for i in ids(p)] == order

    backward = walk(api, LBS, "loadbalancers", "previous", limit=2, page_reverse="True")
    assert [len(p) for p in backward] == [2, 2, 2, 1]
    # Each page in the listing's order, the pages from the end.
    assert [i for p in reversed(backward) for i in ids(p)] == order

    # A page in the middle links both ways, keeping the query's other parameters.
    middle = api.get(LBS, params={"limit": 2, "marker": order[1], "fields": "id"}).json()
    assert ids(middle["loadbalancers"]) == order[2:4]
    links = {link["rel"]: link["href"] for link in middle["loadbalancers_links"]}
    assert set(links) == {"next", "previous"}
    assert links["next"].endswith(f"{LBS}?limit=2&fields=id&marker={order[3]}")
    assert links["previous"].endswith(
        f"{LBS}?limit=2&fields=id&marker={order[2]}&page_reverse=True"
    )
    # After the last one: an empty page, as openstacksdk asks for once more.
    last = api.get(LBS, params={"limit": 2, "marker": order[-1]}).json()
    assert last == {"loadbalancers": [], "loadbalancers_links": []}


def test_marker_walk_of_members_with_a_filter(api: Api) -> None:
    lb = api.loadbalancer()
    pool = api.pool(loadbalancer_id=lb["id"])
    members = [api.member(pool["id"], address=f"10.0.0.{80 + n}", weight=n % 2) for n in range(6)]
    path = f"/v2/lbaas/pools/{pool['id']}/members"
    order = default_order(api.get(path).json()["members"])
    forward = walk(api, path, "members", "next", limit=4)
    assert [i for p in forward for i in ids(p)] == order
    backward = walk(api, path, "members", "previous", limit=4, page_reverse="true")
    assert [i for p in reversed(backward) for i in ids(p)] == order
    # The filter goes along in the links; the pages hold only what it keeps.
    odd = walk(api, path, "members", "next", limit=1, weight=1)
    assert [i for p in odd for i in ids(p)] == [
        i for i in order if i in {m["id"] for m in members if m["weight"]}
    ]
    assert api.get(path, params={"pool_id": pool["id"]}).json()["members"]
    assert api.get(path, params={"pool_id": lb["id"]}).json()["members"] == []


def test_marker_walk_of_networks(api: Api) -> None:
    for n in range(5):
        api.create("/v2.0/networks", "network", {"name": f"net{n}"})
    listed = api.get("/v2.0/networks").json()
    assert "networks_links" not in listed  # Neutron: no key without a link
    order = sorted(ids(listed["networks"]))  # Neutron's default order: by id
    assert len(order) == 7  # and the operator's two
    forward = walk(api, "/v2.0/networks", "networks", "next", limit=3)
    assert [len(p) for p in forward] == [3, 3, 1]
    assert [i for p in forward for i in ids(p)] == order
    backward = walk(api, "/v2.0/networks", "networks", "previous", limit=3, page_reverse="True")
    assert [i for p in reversed(backward) for i in ids(p)] == order
    # A filtered-out marker still marks a place in the order.
    named = api.get(
        "/v2.0/networks",
        params={"name": ["net0", "net1", "net2", "net3"], "marker": order[3], "limit": 10},
    ).json()
    expected = [
        x["id"]
        for x in sorted(listed["networks"], key=lambda x: x["id"])[4:]
        if x["name"] in ("net0", "net1", "net2", "net3")
    ]
    assert ids(named["networks"]) == expected


def test_each_project_walks_only_its_own(api: Api) -> None:
    mine = [api.loadbalancer("alpha", name=f"a{n}") for n in range(3)]
    theirs = api.loadbalancer("beta", name="b")
    pages = walk(api, LBS, "loadbalancers", "next", "alpha", limit=1)
    assert sorted(i for p in pages for i in ids(p)) == sorted(ids(mine))
    # Another project's object is no marker; its project_id is no way in.
    r = api.get(LBS, "alpha", params={"marker": theirs["id"]})
    assert r.status_code == 400 and theirs["id"] in r.json()["faultstring"]
    listed = api.get(LBS, "alpha", params={"project_id": "beta"}).json()["loadbalancers"]
    assert sorted(ids(listed)) == sorted(ids(mine))
    assert ids(api.get(LBS, params={"project_id": "beta"}).json()["loadbalancers"]) == [
        theirs["id"]
    ]


def test_sorting_one_and_two_keys_both_ways(api: Api) -> None:
    made = [
        api.loadbalancer(name=name, description=str(n))
        for n, name in enumerate(["b", "a", "c", "a", "b"])
    ]

    def listed(**params: Any) -> list[str]:
        r = api.get(LBS, params=params)
        assert r.status_code == 200, r.text
        return ids(r.json()["loadbalancers"])

    by_name = sorted(made, key=lambda x: (x["name"], x["created_at"], x["id"]))
    assert listed(sort="name") == listed(sort="name:asc") == ids(by_name)
    assert listed(sort_key="name", sort_dir="asc") == ids(by_name)
    desc = sorted(made, key=lambda x: x["name"], reverse=True)
    assert [
        x["name"] for x in api.get(LBS, params={"sort": "name:desc"}).json()["loadbalancers"]
    ] == [x["name"] for x in desc]
    two = sorted(
        sorted(made, key=lambda x: x["description"], reverse=True), key=lambda x: x["name"]
    )
    assert listed(sort="name:asc,description:desc") == ids(two)
    assert listed(sort_key="name,description", sort_dir="asc,desc") == ids(two)
    # Paging keeps to the asked order.
    pages = walk(api, LBS, "loadbalancers", "next", limit=2, sort="name:asc,description:desc")
    assert [i for p in pages for i in ids(p)] == ids(two)

    # Neutron: repeated sort_key and sort_dir.
    for name in ("y", "x", "y"):
        api.create("/v2.0/networks", "network", {"name": name})
    nets = api.get(
        "/v2.0/networks",
        params=[
            ("sort_key", "name"),
            ("sort_dir", "desc"),
            ("sort_key", "id"),
            ("sort_dir", "asc"),
        ],
    ).json()
    got = nets["networks"]
    assert got == sorted(sorted(got, key=lambda x: x["id"]), key=lambda x: x["name"], reverse=True)
    assert [x["name"] for x in got][:3] == ["y", "y", "x"]


def test_fields(api: Api) -> None:
    api.loadbalancer(name="one")
    for query in ([("fields", "id"), ("fields", "name")], [("fields", "id,name")]):
        items = api.get(LBS, params=query).json()["loadbalancers"]
        assert items and all(set(x) == {"id", "name"} for x in items), items
    # Octavia gives only what is asked, the id too: the links page by id still.
    api.loadbalancer(name="two")
    page = api.get(LBS, params={"fields": "name", "limit": 1}).json()
    assert set(page["loadbalancers"][0]) == {"name"}
    nxt = api.get(page["loadbalancers_links"][0]["href"]).json()
    assert len(nxt["loadbalancers"]) == 1 and nxt["loadbalancers"] != page["loadbalancers"]
    nets = api.get("/v2.0/networks", params=[("fields", "id"), ("fields", "shared")]).json()
    assert all(set(x) == {"id", "shared"} for x in nets["networks"])


def test_filters_on_attributes_and_parents(api: Api) -> None:
    lb1 = api.loadbalancer(name="one")
    lb2 = api.loadbalancer(name="two", admin_state_up=False)
    l1 = api.listener(lb1["id"])
    l2 = api.listener(lb2["id"], protocol_port=8080)
    p1 = api.pool(loadbalancer_id=lb1["id"])
    p2 = api.pool(loadbalancer_id=lb2["id"])
    hm = api.healthmonitor(p2["id"])

    def listed(path: str, key: str, **params: Any) -> list[str]:
        r = api.get(path, params=params)
        assert r.status_code == 200, r.text
        return sorted(ids(r.json()[key]))

    assert listed("/v2/lbaas/listeners", "listeners", loadbalancer_id=lb1["id"]) == [l1["id"]]
    assert listed("/v2/lbaas/listeners", "listeners", loadbalancer_id=lb2["id"]) == [l2["id"]]
    assert listed("/v2/lbaas/pools", "pools", loadbalancer_id=lb2["id"]) == [p2["id"]]
    assert listed("/v2/lbaas/healthmonitors", "healthmonitors", pool_id=p2["id"]) == [hm["id"]]
    assert listed("/v2/lbaas/healthmonitors", "healthmonitors", pool_id=p1["id"]) == []
    assert listed("/v2/lbaas/listeners", "listeners", protocol_port="8080") == [l2["id"]]
    # Booleans in any case; a repeated filter is any of its values.
    assert listed(LBS, "loadbalancers", admin_state_up="FALSE") == [lb2["id"]]
    assert listed(LBS, "loadbalancers", admin_state_up="True") == [lb1["id"]]
    assert listed(LBS, "loadbalancers", name=["one", "two"]) == sorted([lb1["id"], lb2["id"]])
    assert listed(LBS, "loadbalancers", name="one", admin_state_up="false") == []
    # Neutron: on a list's elements, on an object's key=value.
    net_id = api.network_id("tenant1")
    subnets = listed("/v2.0/networks", "networks", subnets=api.subnet_id("tenant1-subnet"))
    assert subnets == [net_id]
    vip_ports = listed("/v2.0/ports", "ports", fixed_ips=f"ip_address={lb1['vip_address']}")
    assert vip_ports == [lb1["vip_port_id"]]
    assert listed("/v2.0/networks", "networks", **{"router:external": "TRUE"}) == [
        api.network_id("public")
    ]


def test_tag_filters(api: Api) -> None:
    ab = api.loadbalancer(tags=["a", "b"])
    a = api.loadbalancer(tags=["a"])
    b = api.loadbalancer(tags=["b", "c"])
    none = api.loadbalancer()

    def listed(query: list[tuple[str, str]]) -> set[str]:
        r = api.get(LBS, params=query)
        assert r.status_code == 200, r.text
        return set(ids(r.json()["loadbalancers"]))

    assert listed([("tags", "a,b")]) == listed([("tags", "a"), ("tags", "b")]) == {ab["id"]}
    assert listed([("tags", "a")]) == {ab["id"], a["id"]}
    assert listed([("tags-any", "a,b")]) == {ab["id"], a["id"], b["id"]}
    assert listed([("not-tags", "a,b")]) == {a["id"], b["id"], none["id"]}
    assert listed([("not-tags-any", "a,b")]) == {none["id"]}
    assert listed([("not-tags-any", "c"), ("tags", "b")]) == {ab["id"]}
    net = api.create("/v2.0/networks", "network", {"name": "tagged", "tags": ["x", "y"]})
    found = api.get("/v2.0/networks", params={"tags-any": "y,z"}).json()["networks"]
    assert ids(found) == [net["id"]]
    found = api.get("/v2.0/networks", params={"not-tags": "x,y"}).json()["networks"]
    assert net["id"] not in ids(found) and len(found) == 2


@pytest.mark.parametrize(
    ("path", "query", "status", "words"),
    [
        (LBS, {"sort": "colour:asc"}, 400, "colour"),
        (LBS, {"sort_key": "listeners"}, 400, "listeners"),
        (LBS, {"sort": "name:up"}, 400, "up"),
        (LBS, {"limit": "ten"}, 400, "ten"),
        (LBS, {"marker": "no-such-id"}, 400, "no-such-id"),
        (LBS, {"colour": "red"}, 400, "colour"),
        (LBS, {"admin_state_up": "maybe"}, 400, "admin_state_up"),
        ("/v2.0/networks", {"sort_key": "colour", "sort_dir": "asc"}, 400, "colour"),
        ("/v2.0/networks", {"sort_key": "name"}, 400, "sort_dirs"),
        ("/v2.0/networks", {"limit": "-1"}, 400, "-1"),
        ("/v2.0/networks", {"marker": "no-such-id"}, 404, "Network no-such-id"),
        ("/v2.0/networks", {"colour": "red"}, 400, "colour"),
    ],
)
def test_bad_queries_are_refused_naming_what(
    api: Api, path: str, query: dict[str, str], status: int, words: str
) -> None:
    api.loadbalancer()
    r = api.get(path, params=query)
    assert r.status_code == status, r.text
    body = r.json()
    message = body["faultstring"] if "faultstring" in body else body["NeutronError"]["message"]
    assert words in message


def test_limits_past_the_maximum_are_the_maximum(api: Api) -> None:
    api.loadbalancer()
    for limit in (str(MAX_LIMIT + 5), "0", "-1"):
        page = api.get(LBS, params={"limit": limit}).json()
        assert len(page["loadbalancers"]) == 1 and page["loadbalancers_links"] == []


# --- operating statuses from the status cache -----------------------------------------------


def test_listings_read_the_status_cache_and_never_haproxy(api: Api) -> None:
    lb = api.loadbalancer(name="live")
    listener = api.listener(lb["id"])
    pool = api.pool(listener_id=listener["id"])
    member = api.member(pool["id"])
    reads: list[str] = []

    def haproxy(read_lb: Any) -> list[dict[str, str]]:
        # What HAProxy's show stat answers for this load balancer, all up.
        reads.append(read_lb.uid)
        return [
            {"pxname": listener["id"], "svname": "FRONTEND", "status": "OPEN"},
            {"pxname": pool["id"], "svname": "BACKEND", "status": "UP"},
            {"pxname": pool["id"], "svname": member["id"], "status": "UP"},
        ]

    cache = api.svc.statuses
    cache.read = haproxy
    # Not observed yet: OFFLINE, as Octavia shows an object before its first status.
    assert api.get(LBS).json()["loadbalancers"][0]["operating_status"] == "OFFLINE"
    assert api.get(f"{LBS}/{lb['id']}").json()["loadbalancer"]["operating_status"] == "OFFLINE"

    cache.refresh(lb for _, lb in api.svc.world().lbs.values())
    assert reads == [lb["id"]]
    assert api.get(LBS).json()["loadbalancers"][0]["operating_status"] == "ONLINE"
    assert api.get("/v2/lbaas/listeners").json()["listeners"][0]["operating_status"] == "ONLINE"
    members = api.get(f"/v2/lbaas/pools/{pool['id']}/members").json()["members"]
    assert members[0]["operating_status"] == "ONLINE"
    assert reads == [lb["id"]]  # the listings asked HAProxy nothing

    # The watcher thread refreshes on its own; a load balancer that is gone leaves.
    cache.interval = 0.05
    api.svc.watch_statuses()
    try:
        assert api.delete(f"{LBS}/{lb['id']}?cascade=true").status_code == 204
        api.converge()
        for _ in range(200):
            if cache.get(lb["id"]) == (False, None):
                break
            cache._stop.wait(0.05)
        assert cache.get(lb["id"]) == (False, None)
    finally:
        cache.stop()
