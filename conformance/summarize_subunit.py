#!/usr/bin/env python3
"""Summarise a Tempest subunit v2 stream into passed/failed/skipped counts.

Run it with the Tempest venv's python (it needs python-subunit/testtools)::

    summarize_subunit.py RESULTS.subunit [--selected selected-tests.txt]
                         [--failing-out failing.txt] [--json-out summary.json]

Tempest reports a class whose ``skip_checks``/``setUpClass`` skipped or failed
as one pseudo-test ``setUpClass (module.Class)``; the tests of that class do
not appear at all.  With ``--selected`` (the ``tempest run --list-tests``
output for the same filters) such entries are expanded to the selected tests
of the class, and selected tests without any result are reported as
"missing" (counted as failed).  ``tearDownClass`` failures (failed cleanups)
are counted as failures too.

The last line printed is ``conformance: N passed, N failed, N skipped``.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys

import subunit
import testtools

_FIXTURE_RE = re.compile(r"^(setUpClass|tearDownClass|setUpModule|tearDownModule) \((.+)\)$")


def _base(test_id: str) -> str:
    """Drop the ``[id-...,smoke]`` attribute suffix of a tempest test id."""
    return test_id.split("[", 1)[0]


def read_stream(path: str) -> dict[str, dict]:
    """Return ``{test_id: {"status": ..., "reason": ...}}`` (last event wins)."""
    results: dict[str, dict] = {}

    def on_test(test: dict) -> None:
        status = test["status"]
        if status in (None, "exists", "inprogress"):
            return
        reason = ""
        details = test.get("details") or {}
        for key in ("reason", "traceback"):
            if key in details:
                try:
                    reason = details[key].as_text()
                except Exception:  # pragma: no cover - odd mime types
                    reason = ""
                break
        results[test["id"]] = {"status": status, "reason": reason.strip()}

    with open(path, "rb") as fh:
        case = subunit.ByteStreamToStreamResult(fh, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            case.run(result)
        finally:
            result.stopTestRun()
    return results


def summarize(results: dict[str, dict], selected: list[str] | None = None) -> dict:
    """Compute per-test outcomes, expanding class-level fixture entries."""
    outcome: dict[str, str] = {}        # base test id -> passed/failed/skipped
    reasons: dict[str, str] = {}
    fixture_failures: list[str] = []
    class_fixture: dict[str, tuple[str, str]] = {}  # class path -> (status, reason)

    for tid, res in results.items():
        status, reason = res["status"], res["reason"]
        m = _FIXTURE_RE.match(tid)
        if m:
            kind, owner = m.groups()
            if kind.startswith("setUp"):
                class_fixture[owner] = (status, reason)
            if status == "fail":
                fixture_failures.append(tid)
                reasons[tid] = reason
            continue
        base = _base(tid)
        if status in ("success", "xfail"):
            outcome[base] = "passed"
        elif status == "skip":
            outcome[base] = "skipped"
            reasons[base] = reason
        else:  # fail, uxsuccess
            outcome[base] = "failed"
            reasons[base] = reason

    missing: list[str] = []
    if selected:
        for tid in selected:
            base = _base(tid)
            if base in outcome:
                continue
            owner = base.rsplit(".", 1)[0]          # module.Class
            module = owner.rsplit(".", 1)[0]
            fx = class_fixture.get(owner) or class_fixture.get(module)
            if fx and fx[0] == "skip":
                outcome[base] = "skipped"
                reasons[base] = fx[1]
            elif fx and fx[0] == "fail":
                outcome[base] = "failed"
                reasons[base] = "setUpClass failed"
            else:
                outcome[base] = "failed"
                reasons[base] = "no result (missing from the stream)"
                missing.append(base)
    else:
        # Without the selection, count each class-level skip as one skip.
        for owner, (status, reason) in class_fixture.items():
            if status == "skip":
                outcome[f"setUpClass ({owner})"] = "skipped"
                reasons[f"setUpClass ({owner})"] = reason

    counts = collections.Counter(outcome.values())
    # tearDownClass/setUpClass failures not already expanded into tests
    extra_failures = [f for f in fixture_failures if f.startswith(("tearDown",))]
    if not selected:
        extra_failures = fixture_failures
    return {
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + len(extra_failures),
        "skipped": counts.get("skipped", 0),
        "failed_tests": sorted(t for t, o in outcome.items() if o == "failed"),
        "fixture_failures": sorted(fixture_failures),
        "skipped_tests": sorted(t for t, o in outcome.items() if o == "skipped"),
        "missing": sorted(missing),
        "reasons": reasons,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("subunit_file")
    ap.add_argument("--selected", help="file with the selected test ids (tempest run --list-tests)")
    ap.add_argument("--failing-out", help="write the failed test ids here")
    ap.add_argument("--json-out", help="write the full summary as JSON here")
    ap.add_argument("--quiet", action="store_true", help="print only the closing line")
    args = ap.parse_args(argv)

    results = read_stream(args.subunit_file)
    selected = None
    if args.selected:
        with open(args.selected, encoding="utf-8") as fh:
            selected = [ln.strip() for ln in fh if ln.strip().startswith("tempest.")]
    s = summarize(results, selected)

    if args.failing_out:
        with open(args.failing_out, "w", encoding="utf-8") as fh:
            for t in s["failed_tests"] + [f for f in s["fixture_failures"]
                                          if f not in s["failed_tests"]]:
                fh.write(t + "\n")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump(s, fh, indent=2, sort_keys=True)

    if not args.quiet:
        if s["failed_tests"]:
            print("failed:")
            for t in s["failed_tests"]:
                why = s["reasons"].get(t, "")
                print(f"  {t}" + ("  (setUpClass failed)" if why == "setUpClass failed" else ""))
        if s["fixture_failures"]:
            print("class fixtures that failed (setUpClass: its tests count as failed; "
                  "tearDownClass: counted once each):")
            for t in s["fixture_failures"]:
                print(f"  {t}")
        if s["skipped_tests"]:
            print("skipped:")
            for t in s["skipped_tests"]:
                why = " ".join(s["reasons"].get(t, "").split())[:100]
                print(f"  {t}  ({why})" if why else f"  {t}")
        if s["missing"]:
            print(f"{len(s['missing'])} selected tests produced no result (counted as failed)")
    print(f"conformance: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
