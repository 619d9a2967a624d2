"""The reconcile loop's reports as structured log fields (``--log-format json``): the
pass (``Report.fields``) and each unit it acted on (``Report.units``)."""

from __future__ import annotations

from netnode.plan import operations as op
from netnode.plan.diff import Plan
from netnode.reconcile.agent import Report
from netnode.reconcile.converge import Outcome
from netnode.reconcile.host import Failure


def outcome(*operations: op.Operation, failures: tuple[Failure, ...] = ()) -> Outcome:
    return Outcome(Plan(tuple(operations), ()), 0.25, failures=failures)


def test_a_pass_and_its_units() -> None:
    report = Report(
        "api",
        "changes",
        outcome(
            op.CreateNamespace("qlbaas-a"),
            op.DeleteNamespace("qlbaas-b"),
            failures=(Failure("port tap-c", "qlbaas-c", "ovs-vsctl failed"),),
        ),
    )
    assert report.fields() == {
        "unit": "api",
        "action": "changes pass",
        "duration": 0.25,
        "outcome": "failed",
    }
    assert sorted(report.units()) == [
        ("qlbaas-a", "create", "ok"),
        ("qlbaas-b", "delete", "ok"),
        ("qlbaas-c", "change", "failed"),
    ]


def test_a_refused_unit_and_a_pass_not_run() -> None:
    refused = Failure("haproxy lb-x", "qlbaas-x", "bad config", permanent=True)
    report = Report("lab", "full", outcome(op.CreateNamespace("qlbaas-x"), failures=(refused,)))
    assert report.units() == [("qlbaas-x", "create", "refused")]
    not_run = Report("broken.yaml", "load", error="not YAML")
    assert not_run.fields()["outcome"] == "not run"
    assert not_run.fields()["duration"] is None
    assert not_run.units() == []
