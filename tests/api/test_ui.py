"""The status page, ``/ui/``: signing in with a token (a cookie only the page's paths
read), a project sees only its own objects, everything shown is escaped, and the
page's state carries its sections, statistics and statuses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.api.conftest import TOKENS, Api

COOKIE = "netnode_ui_token"


def signed_in(api: Api, who: str) -> None:
    r = api.client.post("/ui/login", data={"token": TOKENS[who][0]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/ui" in cookie and "SameSite=strict" in cookie


def test_the_page_without_a_token_asks_to_sign_in(api: Api) -> None:
    r = api.client.get("/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    r = api.client.get("/ui/login")
    assert r.status_code == 200 and 'name="token"' in r.text
    assert api.client.get("/ui/state").status_code == 401
    assert api.client.get("/ui/ui.js").status_code == 200


def test_a_wrong_token_is_refused_and_sets_nothing(api: Api) -> None:
    r = api.client.post("/ui/login", data={"token": "wrong-token-0000000000000"})
    assert r.status_code == 401
    assert "not in this node&#x27;s tokens file" in r.text
    assert "set-cookie" not in r.headers
    assert api.client.get("/ui/state").status_code == 401


def test_signed_in_the_page_shows_the_projects_load_balancers(api: Api) -> None:
    mine = api.loadbalancer("alpha", name="mine")
    theirs = api.loadbalancer("beta", name="theirs")
    signed_in(api, "alpha")
    r = api.client.get("/ui/")
    assert r.status_code == 200
    assert "project alpha (member)" in r.text
    assert f'data-id="{mine["id"]}"' in r.text and ">mine " in r.text
    assert theirs["id"] not in r.text and "theirs" not in r.text
    state = api.client.get("/ui/state").json()
    assert set(state["stats"]) == {mine["id"]}
    assert mine["id"] in state["statuses"] and theirs["id"] not in state["statuses"]
    sections = "".join(state["sections"].values())
    assert theirs["id"] not in sections
    svg = ET.fromstring(state["sections"]["topology"])
    drawn = {e.get("data-id") for e in svg.iter() if e.get("data-id")}
    assert mine["id"] in drawn and theirs["id"] not in drawn
    assert api.network_id("tenant1") in drawn  # the operator's networks are shared


def test_the_admin_sees_every_project(api: Api) -> None:
    mine = api.loadbalancer("alpha", name="mine")
    theirs = api.loadbalancer("beta", name="theirs")
    signed_in(api, "admin")
    state = api.client.get("/ui/state").json()
    assert set(state["stats"]) == {mine["id"], theirs["id"]}


def test_the_cookie_is_read_by_the_page_only(api: Api) -> None:
    signed_in(api, "admin")
    assert api.client.get("/ui/state").status_code == 200
    r = api.client.get("/v2/lbaas/loadbalancers")  # the cookie goes to /ui only...
    assert r.status_code == 401
    api.client.cookies.set(COOKIE, TOKENS["admin"][0])  # ...and sent anyway, is not read
    assert api.client.get("/v2/lbaas/loadbalancers").status_code == 401
    api.client.cookies.clear()


def test_signing_out_forgets_the_token(api: Api) -> None:
    signed_in(api, "alpha")
    r = api.client.post("/ui/logout", follow_redirects=False)
    assert r.status_code == 303 and COOKIE in r.headers["set-cookie"]
    assert api.client.get("/ui/state").status_code == 401


def test_the_header_token_works_too(api: Api) -> None:
    lb = api.loadbalancer("alpha", name="mine")
    r = api.get("/ui/state", "alpha")
    assert r.status_code == 200 and lb["id"] in r.json()["stats"]
    r = api.get("/ui/topology.svg", "alpha")
    assert r.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(r.text)


def test_names_are_escaped(api: Api) -> None:
    lb = api.loadbalancer("alpha", name='<script>alert("x")</script>')
    page = api.get("/ui/", "alpha").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert lb["id"] in page


def test_the_statuses_and_statistics_of_a_load_balancer_never_observed(api: Api) -> None:
    lb = api.loadbalancer("alpha", name="mine")
    listener = api.listener(lb["id"], "alpha")
    pool = api.pool("alpha", listener_id=listener["id"])
    member = api.member(pool["id"], "alpha")
    state = api.get("/ui/state", "alpha").json()
    # No HAProxy here: OFFLINE, as the API shows an object before its first status.
    for object_id in (lb["id"], listener["id"], pool["id"], member["id"]):
        assert state["statuses"][object_id] == "OFFLINE"
    stats = state["stats"][lb["id"]]
    assert stats["requests"] == 0 and stats["total_connections"] == 0
    section = state["sections"]["loadbalancers"]
    assert f'<tr class="member" data-id="{member["id"]}" data-status="OFFLINE">' in section


def test_the_page_is_not_in_the_openapi_document(api: Api) -> None:
    paths = api.get("/openapi.json", None).json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]
