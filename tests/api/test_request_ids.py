"""Every answer carries ``x-openstack-request-id: req-<uuid4>`` (successes, errors,
404s, refusals of a token, crashes), a new one each time, and the log lines written
while serving a request carry the same id (``netnode/api/request_ids.py``)."""

from __future__ import annotations

import logging
import re

import pytest

from tests.api.conftest import Api

REQUEST_ID = re.compile(
    r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def request_id(r: object) -> str:
    value = r.headers.get("x-openstack-request-id")  # type: ignore[attr-defined]
    assert value is not None and REQUEST_ID.match(value), value
    return str(value)


def test_every_answer_carries_a_request_id_of_its_own(api: Api) -> None:
    answers = [
        api.get("/v2/lbaas/loadbalancers"),
        api.get("/"),
        api.get("/v2/lbaas/loadbalancers/00000000-0000-0000-0000-000000000000"),
        api.get("/no/such/path"),
        api.get("/v2.0/networks", who=None),
        api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"bogus": 1}}),
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 404, 401, 400]
    ids = [request_id(r) for r in answers]
    assert len(set(ids)) == len(ids)


def test_a_crash_logs_and_answers_with_the_same_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(api.svc, "world", broken)
    with caplog.at_level(logging.ERROR, logger="netnode.api"):
        r = api.get("/v2/lbaas/loadbalancers")
    assert r.status_code == 500
    rid = request_id(r)
    failed = [x for x in caplog.records if "failed" in x.getMessage()]
    assert failed and all(getattr(x, "request_id", None) == rid for x in failed)


def test_lines_outside_a_request_carry_no_id(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    api.get("/v2/lbaas/loadbalancers")
    with caplog.at_level(logging.INFO, logger="netnode.test"):
        logging.getLogger("netnode.test").info("between requests")
    assert [getattr(x, "request_id", "unset") for x in caplog.records] == [None]


def test_each_request_is_logged_with_its_id_status_and_duration(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="netnode.api.access"):
        ok = api.get("/v2/lbaas/loadbalancers")
        missing = api.get("/v2/lbaas/loadbalancers/00000000-0000-0000-0000-000000000000")
    lines = [x for x in caplog.records if x.name == "netnode.api.access"]
    assert [(x.request_id, x.outcome) for x in lines] == [  # type: ignore[attr-defined]
        (request_id(ok), "200"),
        (request_id(missing), "404"),
    ]
    assert lines[0].getMessage().startswith("GET /v2/lbaas/loadbalancers 200 ")
    assert all(x.duration >= 0 for x in lines)  # type: ignore[attr-defined]
