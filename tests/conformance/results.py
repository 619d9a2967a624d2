"""Read a subunit v2 stream (stdin) into JSON (stdout): test id -> status and reason.

Runs in ``.venv-tempest`` (where python-subunit and testtools are), called by
tests/conformance/harness.py on what ``stestr last --subunit`` prints. The id loses
Tempest's ``[id-...,tags]`` suffix; a skip's reason is its ``reason`` attachment.
"""

from __future__ import annotations

import json
import re
import sys

import subunit  # type: ignore[import-not-found]
import testtools  # type: ignore[import-not-found]

SUFFIX = re.compile(r"\[[^\]]*\]$")


def main() -> None:
    found: dict[str, dict[str, str]] = {}

    def on_test(test: dict) -> None:
        status = test["status"]
        if status in ("exists", "inprogress"):
            return
        reason = ""
        details = test.get("details") or {}
        if "reason" in details:
            reason = details["reason"].as_text()
        elif status == "fail" and "traceback" in details:
            reason = details["traceback"].as_text()[-2000:]
        found[SUFFIX.sub("", test["id"])] = {"status": status, "reason": reason.strip()}

    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()
    json.dump(found, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
