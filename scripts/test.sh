#!/usr/bin/env bash
# The test suite as `make test` (and so CI) runs it: two groups at once, since they share
# no state and the machine has two cores: the API's contract tests are CPU-bound in one
# process, the functional tests mostly wait on the kernel, HAProxy and timers.
#
#   api    tests/api                      the app in-process on SQLite and a private PostgreSQL
#   host   tests/unit tests/functional    pure layers, then real namespaces, OVS, HAProxy
#
# Then, after both (beside them the two cores would be shared three ways, and Tempest's
# timeouts with them), the conformance group: octavia-tempest-plugin's api/v2 and
# Tempest's network API tests against netnode serve and a real Keystone
# (tests/conformance/harness.py; it passes when its failures are the known failures of
# tests/conformance/expectations.yaml). NETNODE_CONFORMANCE=0 leaves it out.
#
# Each group's output goes to a log and is printed whole when both have ended. A group
# that collects no test fails (pytest's exit 5 is not a pass), as does any other
# non-zero exit. Extra arguments go to both pytest runs.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTEST=${PYTEST:-.venv/bin/pytest}
VPYTHON=${VPYTHON:-.venv/bin/python}  # runs the conformance harness
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

declare -A groups=([api]="tests/api" [host]="tests/unit tests/functional")
declare -A pids=()
started=$SECONDS
for name in api host; do
    # shellcheck disable=SC2086  # the group's paths are words
    "$PYTEST" -q -p no:cacheprovider ${groups[$name]} "$@" >"$logs/$name.log" 2>&1 &
    pids[$name]=$!
done

status=0
passed=0
failed=0
for name in api host; do
    wait "${pids[$name]}"
    rc=$?
    echo "=== $name: ${groups[$name]} (exit $rc)"
    cat "$logs/$name.log"
    summary=$(grep -E '^[=]* ?[0-9]+ (passed|failed)' "$logs/$name.log" | tail -n 1)
    p=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
    f=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
    e=$(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
    passed=$((passed + p))
    failed=$((failed + f + e))
    if [ "$rc" -eq 5 ]; then
        echo "test.sh: the $name group collected no test: that is a failure, not a pass" >&2
        status=1
    elif [ "$rc" -ne 0 ]; then
        status=1
    fi
done
echo "=== both groups in $((SECONDS - started)) s"
echo "$passed passed, $failed failed"

if [ "${NETNODE_CONFORMANCE:-1}" != 0 ]; then
    conformance_started=$SECONDS
    echo "=== conformance: tests/conformance (octavia-tempest-plugin api/v2, tempest.api.network)"
    "$VPYTHON" -m tests.conformance.harness || status=1
    echo "=== conformance in $((SECONDS - conformance_started)) s"
fi
echo "=== all groups in $((SECONDS - started)) s"
exit "$status"
