"""The conformance harness's verdict (tests/conformance/harness.py) and its
expectations file: every entry has its reason (and a known failure its fix), and a run
passes only when its failures are the known ones and every skip is listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import harness

EXPECTED = {
    "skipped": [{"reason": "IPv6 testing is disabled", "tests": ["t.skipped"]}],
    "known_failures": [{"reason": "r", "fix": "f", "tests": ["t.known", "t.fixed"]}],
}


def results(**status: str) -> dict[str, dict[str, str]]:
    return {name.replace("_", "."): {"status": s, "reason": "why"} for name, s in status.items()}


def test_the_known_failures_and_listed_skips_pass() -> None:
    verdict = harness.judge(
        "s", results(t_ok="success", t_known="fail", t_skipped="skip"), EXPECTED, 1.0
    )
    assert verdict.ok
    assert (verdict.passed, verdict.failed, verdict.skipped) == (1, 1, 1)
    assert verdict.fixed == []


def test_a_new_failure_or_an_unlisted_skip_fails_and_a_fixed_one_is_named() -> None:
    verdict = harness.judge(
        "s",
        results(t_new="fail", t_fixed="success", t_other="skip", t_known="fail"),
        EXPECTED,
        1.0,
    )
    assert not verdict.ok
    assert verdict.new_failures == ["t.new"]
    assert verdict.unlisted_skips == ["t.other: why"]
    assert verdict.fixed == ["t.fixed"]


def test_the_expectations_file_gives_every_entry_its_reason_and_fix() -> None:
    data = harness.load_expectations()
    assert set(data) == set(harness.SUITES)
    for sections in data.values():
        tests = [
            t
            for name in ("skipped", "known_failures")
            for e in sections.get(name) or []
            for t in e["tests"]
        ]
        assert len(tests) == len(set(tests)), "a test is listed twice"


def test_an_entry_without_a_fix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("octavia:\n  known_failures:\n  - reason: r\n    tests: [t]\n")
    with pytest.raises(SystemExit, match="fix"):
        harness.load_expectations(path)


def test_a_failure_of_an_unstable_cause_is_reported_not_fatal() -> None:
    expected = {
        **EXPECTED,
        "unstable": [{"match": "'NO_MONITOR' != 'OFFLINE'", "reason": "r", "fix": "f"}],
    }
    found = {
        "t.racy": {"status": "fail", "reason": "MismatchError: 'NO_MONITOR' != 'OFFLINE'"},
        "t.broken": {"status": "fail", "reason": "KeyError: 'id'"},
    }
    verdict = harness.judge("s", found, expected, 1.0)
    assert verdict.unstable == ["t.racy"] and verdict.new_failures == ["t.broken"]
    assert not verdict.ok
