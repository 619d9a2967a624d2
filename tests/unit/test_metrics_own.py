"""netnode.reconcile.metrics: what one pass's outcome adds to netnode's own metrics."""

from __future__ import annotations

from prometheus_client import generate_latest

from netnode.plan import operations as op
from netnode.plan.diff import Plan
from netnode.plan.spec import ProcessSpec
from netnode.reconcile.converge import Outcome
from netnode.reconcile.host import Failure
from netnode.reconcile.ledger import UnitFailure
from netnode.reconcile.metrics import Metrics, haproxy_changes


def process(name: str, namespace: str, program: str = "haproxy") -> ProcessSpec:
    return ProcessSpec(name, namespace, "loadbalancer", "cfg", program=program)


def outcome(*operations: op.Operation, failures: tuple[Failure, ...] = (), **kw: object) -> Outcome:
    return Outcome(Plan(operations, ()), 0.3, failures=failures, **kw)  # type: ignore[arg-type]


def test_haproxy_changes_count_runtime_reload_and_start_of_units_that_worked() -> None:
    done = outcome(
        op.ChangeServers(process=process("lb-a", "qlbaas-a"), changes=()),
        op.EnsureProcess(process=process("lb-b", "qlbaas-b"), start=False),
        op.EnsureProcess(process=process("lb-c", "qlbaas-c"), start=True),
        op.EnsureProcess(process=process("lb-d", "qlbaas-d"), start=False),
        # Not HAProxy: the UDP checker.
        op.EnsureProcess(process=process("u-a", "qlbaas-a", "netnode.udpcheck"), start=True),
        failures=(Failure("haproxy lb-d", "qlbaas-d", "refused"),),
    )
    assert haproxy_changes(done) == {"runtime": 1, "reload": 1, "start": 1}


def test_a_pass_counts_and_its_failing_units_show_with_a_bounded_reason() -> None:
    metrics = Metrics()
    failing = {
        "qlbaas-a": UnitFailure("HAProxy refused: line 12: unknown keyword 'x'", True, 3),
        "": UnitFailure("ovs-vsctl: timeout", False, 1),
    }
    metrics.record_pass("t", "full", outcome(unit_failures=failing))
    metrics.record_pass("t", "changes", None, "the store did not answer")
    text = generate_latest(metrics.registry).decode()
    assert 'netnode_reconcile_passes_total{kind="full",result="ok"} 1.0' in text
    assert 'netnode_reconcile_passes_total{kind="changes",result="error"} 1.0' in text
    assert 'netnode_reconcile_pass_duration_seconds_count{kind="full"} 1.0' in text
    assert 'netnode_units_failing{reason="refused",topology="t",unit="qlbaas-a"} 3.0' in text
    assert 'netnode_units_failing{reason="failed",topology="t",unit="(host)"} 1.0' in text
    assert "unknown keyword" not in text
    # A topology no longer desired leaves.
    metrics.forget([])
    assert "netnode_units_failing{" not in generate_latest(metrics.registry).decode()
